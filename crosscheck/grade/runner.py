"""Grade one submission in its own process tree, watched from outside.

The worker (trusted, warm: numpy, torch and the checks imported) forks the submission's child,
which confines itself (sandbox.py), runs the student's files into one namespace, then forks a
grandchild that runs the parts' checks in order (parts.py) and reports each; where the worker
stops it at a part's time limit, or the student's code kills it, a fresh grandchild goes on
with the next part. The worker reads
their reports on a pipe, keeps the first bytes of their stdout and stderr from another, and
enforces what a process cannot be trusted to enforce on itself: the wall clock of the import and
of each part, and the number of processes. When it stops anything, or when the child is done,
it kills every process left under it (it is their subreaper)."""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import traceback
from dataclasses import dataclass

from . import sandbox
from .assignment import Assignment
from .parts import PartOutcome, grade_part, zero
from .submissions import Source, Submission
from .watch import Watch


@dataclass(frozen=True)
class SubmissionResult:
    """One submission's grade: its parts, notes (skipped notebook lines, what its import did),
    and the start of what it printed. Deterministic: nothing in it depends on the clock."""
    student: str
    key: str                       # sha256 of its files and of the assignment file
    assignment: str                # sha256 of the assignment file
    parts: tuple[PartOutcome, ...]
    notes: tuple[str, ...]
    output: str
    output_bytes: int

    @property
    def points(self) -> float:
        return sum(p.points for p in self.parts)

    def to_json(self) -> dict:
        return {"student": self.student, "key": self.key, "assignment": self.assignment, "points": self.points,
                "parts": [p.to_json() for p in self.parts], "notes": list(self.notes), "output": self.output,
                "output_bytes": self.output_bytes}

    @staticmethod
    def from_json(d: dict) -> "SubmissionResult":
        return SubmissionResult(d["student"], d["key"], d["assignment"], tuple(PartOutcome.from_json(p) for p in d["parts"]),
                                tuple(d["notes"]), d["output"], int(d["output_bytes"]))


def grade_submission(assignment: Assignment, sub: Submission, sources: list[Source], notes: list[str],
                     work_root: str | None = None) -> SubmissionResult:
    """Run `sources` (the submission's code, in order) in a fresh confined child and grade every part."""
    box = tempfile.mkdtemp(prefix="crosscheck-grade-", dir=work_root)
    try:
        for rel, path in sub.files:
            dest = os.path.join(box, rel)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            shutil.copyfile(path, dest)
        watch = Watch(assignment)
        status_r, status_w = os.pipe()
        out_r, out_w = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _child(assignment, box, sources, status_w, out_w)   # never returns
        os.close(status_w)
        os.close(out_w)
        watch.run(pid, status_r, out_r)
        os.close(status_r)
        os.close(out_r)
        return SubmissionResult(sub.student, sub.key, assignment.digest, watch.outcomes_in_order(),
                                tuple(notes + watch.notes), bytes(watch.output).decode("utf-8", "replace"),
                                watch.output_bytes)
    finally:
        shutil.rmtree(box, ignore_errors=True)


# --- the child: confine, import, one grandchild per part -----------------------------------------

def _child(assignment: Assignment, box: str, sources: list[Source], status_fd: int, out_fd: int) -> None:
    code = 0
    try:
        me = os.getpid()
        sandbox.die_with_parent()
        os.setsid()
        fd = os.open("/dev/null", os.O_RDONLY)
        os.dup2(fd, 0)
        os.dup2(out_fd, 1)
        os.dup2(out_fd, 2)
        os.closerange(3, status_fd)
        os.closerange(status_fd + 1, 1 << 16)
        limits = assignment.limits
        total = limits.import_time_s + sum(p.time_limit_s for p in assignment.parts)
        sandbox.scrub_environment(box)
        os.chdir(box)
        sandbox.set_limits(limits.memory_mib, limits.import_time_s + 1, total + 5)
        notes = [n for n in (sandbox.drop_capabilities(), sandbox.landlock(box)) if n]
        _send(status_fd, "import")
        namespace, stopped = _run_sources(sources, box, limits.memory_mib)
        if os.getpid() != me:   # a process the student's code forked: it reports nothing
            os._exit(0)
        _send(status_fd, "imported\t" + json.dumps({"notes": notes, "stopped": stopped}))
        _run_parts(assignment, namespace, status_fd, stopped)
        _send(status_fd, "done")
    except BaseException:   # a bug of ours: said on the pipe, the worker shows it
        _send(status_fd, "bug\t" + traceback.format_exc().replace("\n", "\\n"))
        code = 4
    os._exit(code)


def _send(fd: int, line: str) -> None:
    data = (line.replace("\n", " ") + "\n").encode("utf-8", "replace")
    while data:
        data = data[os.write(fd, data):]


def _run_sources(sources: list[Source], box: str, memory_mib: int) -> tuple[dict, str]:
    """Run every source into one namespace (`__name__` is not "__main__"): a .py file stops at
    its first exception, a notebook cell too but the next cell runs. Returns the namespace and,
    when it exited or raised, what happened in words."""
    from ..check.user_code import describe
    sys.path.insert(0, box)
    sys.argv = [sources[0].filename if sources else "submission"]
    # display(): what a notebook cell shows; here it prints
    namespace = {"__name__": "submission", "__builtins__": __builtins__, "display": print}
    said = []
    for src in sources:
        try:
            exec(compile(src.code, src.filename, "exec"), namespace)
        except SystemExit as err:
            return namespace, f"it exited during import: {describe(err)}"
        except MemoryError as err:
            said.append(f"{src.filename} used more than {memory_mib} MiB: {describe(err)}")
        except BaseException as err:  # noqa: BLE001 - the student's code may raise anything
            said.append(f"{src.filename} raised {describe(err)}")
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
        if said and not src.keep_going:
            break
    return namespace, "; ".join(said)


def _run_parts(assignment: Assignment, namespace: dict, status_fd: int, stopped: str) -> None:
    """Grade the parts in order in a grandchild; when it dies (stopped by the worker at a time
    limit, or by the student's code), a fresh grandchild from this child's state goes on with
    the next part. The grandchild says on its own pipe which part it starts."""
    n, start = len(assignment.parts), 0
    while start < n:
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            _grade_parts(assignment, namespace, status_fd, write_end, start, stopped)   # never returns
        os.close(write_end)
        _, status = os.waitpid(pid, 0)
        with os.fdopen(read_end) as f:
            said = f.read().split()
        if said and said[-1] == "done":
            return
        last = int(said[-1]) if said else start
        _send(status_fd, f"ended\t{last}\t{status}")
        start = last + 1


def _grade_parts(assignment: Assignment, namespace: dict, status_fd: int, started_fd: int, start: int,
                 stopped: str) -> None:
    """The grandchild: parts start.. in order, each reported as it starts and when it is graded."""
    from ..check import user_code
    me = os.getpid()
    try:
        sandbox.die_with_parent()
        os.setpgid(0, 0)
        for i in range(start, len(assignment.parts)):
            part = assignment.parts[i]
            os.write(started_fd, f"{i}\n".encode())
            sandbox.set_cpu_limit(sandbox.cpu_used() + part.time_limit_s + 1)
            _send(status_fd, f"part\t{i}")
            user_code.report_stages_to(status_fd)
            line = json.dumps(_grade_one_part(assignment, part, namespace, stopped).to_json())
            if os.getpid() != me:   # a process the student's code forked: it reports nothing
                os._exit(0)
            user_code.report_stages_to(None)
            _send(status_fd, f"result\t{i}\t{line}")
        os.write(started_fd, b"done\n")
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def _grade_one_part(assignment: Assignment, part, namespace: dict, stopped: str) -> PartOutcome:
    try:
        outcome = grade_part(assignment, part, namespace)
    except BaseException:   # a bug of ours, or the student's code escaping the check
        return zero(part, "crashed", "the check itself failed: "
                    + traceback.format_exc(limit=-3).strip().splitlines()[-1])
    if stopped and outcome.status == "missing":
        return zero(part, "missing", f"{outcome.feedback}: {stopped}")
    return outcome
