"""Grade one submission in its own process tree, watched from outside.

The worker (trusted, warm: numpy, torch and the checks imported) forks the submission's child,
which confines itself (sandbox.py), runs the student's files into one namespace, then forks one
grandchild per part that runs that part's check (parts.py) and reports it. The worker reads
their reports on a pipe, keeps the first bytes of their stdout and stderr from another, and
enforces what a process cannot be trusted to enforce on itself: the wall clock of the import and
of each part, and the number of processes. When it stops anything, or when the child is done,
it kills every process left under it (it is their subreaper)."""
from __future__ import annotations

import json
import os
import select
import shutil
import signal
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass

from . import sandbox
from .assignment import Assignment
from .parts import PartOutcome, grade_part, zero
from .submissions import Source, Submission

TICK_S = 0.02        # how often the process count is looked at
SLACK_S = 10.0       # the whole run may last the sum of its limits plus this


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
        watch = _Watch(assignment)
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
        return watch.result(sub, notes)
    finally:
        shutil.rmtree(box, ignore_errors=True)


# --- the child: confine, import, one grandchild per part -----------------------------------------

def _child(assignment: Assignment, box: str, sources: list[Source], status_fd: int, out_fd: int) -> None:
    code = 0
    try:
        me = os.getpid()
        os.setsid()
        fd = os.open("/dev/null", os.O_RDONLY)
        os.dup2(fd, 0)
        os.dup2(out_fd, 1)
        os.dup2(out_fd, 2)
        os.closerange(3, status_fd)
        os.closerange(status_fd + 1, 1 << 16)
        limits = assignment.limits
        longest = max([limits.import_time_s] + [p.time_limit_s for p in assignment.parts])
        sandbox.scrub_environment(box)
        os.chdir(box)
        sandbox.set_limits(limits.memory_mib, limits.import_time_s + 1, longest + 5)
        notes = [n for n in (sandbox.drop_capabilities(), sandbox.landlock(box)) if n]
        _send(status_fd, "import")
        namespace, stopped = _run_sources(sources, box, limits.memory_mib)
        if os.getpid() != me:   # a process the student's code forked: it reports nothing
            os._exit(0)
        _send(status_fd, "imported\t" + json.dumps({"notes": notes, "stopped": stopped}))
        for i, part in enumerate(assignment.parts):
            _run_part(assignment, i, namespace, status_fd, stopped)
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
    namespace = {"__name__": "submission", "__builtins__": __builtins__}
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


def _run_part(assignment: Assignment, i: int, namespace: dict, status_fd: int, stopped: str) -> None:
    from ..check import user_code
    part = assignment.parts[i]
    pid = os.fork()
    if pid == 0:
        me = os.getpid()
        try:
            os.setpgid(0, 0)
            sandbox.set_cpu_limit(part.time_limit_s + 1)
            _send(status_fd, f"part\t{i}\t{me}")
            user_code.report_stages_to(status_fd)
            outcome = grade_part(assignment, part, namespace)
            if stopped and outcome.status == "missing":
                outcome = zero(part, "missing", f"{outcome.feedback}: {stopped}")
            line = json.dumps(outcome.to_json())
        except BaseException:   # a bug of ours, or the student's code escaping the check
            line = json.dumps(zero(part, "crashed", "the check itself failed: "
                                   + traceback.format_exc(limit=-3).strip().splitlines()[-1]).to_json())
        if os.getpid() == me:
            user_code.report_stages_to(None)
            _send(status_fd, f"result\t{i}\t{line}")
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    _send(status_fd, f"ended\t{i}\t{status}")


# --- the worker's side: read, time, count, kill ---------------------------------------------------

class _Watch:
    """Follows one submission's tree until its child is done (or is stopped)."""

    def __init__(self, assignment: Assignment):
        self.a = assignment
        self.cap = assignment.limits.output_kib * 1024
        self.output, self.output_bytes = bytearray(), 0
        self.outcomes: dict[int, PartOutcome] = {}
        self.notes: list[str] = []
        self.stopped = ""          # why the whole tree was stopped, '' when it was not
        self.import_done = False
        self.part, self.part_pid, self.stage, self.since = -1, 0, "", time.monotonic()
        self.pending = b""
        self.child = 0

    def run(self, pid: int, status_fd: int, out_fd: int) -> None:
        self.child = pid
        start = self.since
        backstop = start + self.a.limits.import_time_s + sum(p.time_limit_s for p in self.a.parts) + SLACK_S
        fds, child_done = [status_fd, out_fd], False
        while fds:
            ready, _, _ = select.select(fds, [], [], TICK_S)
            for fd in ready:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    fds.remove(fd)
                elif fd == out_fd:
                    self._keep_output(chunk)
                else:
                    self._read_status(chunk)
            if not child_done and _exited(pid):
                child_done = True
                kill_tree()   # what it left running goes, so its pipes close
            elif not child_done:
                self._police(pid, backstop)
        if not child_done:
            _exited(pid, block=True)
        kill_tree()

    def _keep_output(self, chunk: bytes) -> None:
        self.output_bytes += len(chunk)
        room = self.cap - len(self.output)
        if room > 0:
            self.output += chunk[:room]

    def _read_status(self, chunk: bytes) -> None:
        *lines, self.pending = (self.pending + chunk).split(b"\n")
        for raw in lines:
            kind, _, rest = raw.decode("utf-8", "replace").partition("\t")
            try:
                self._on(kind, rest)
            except (ValueError, KeyError, IndexError, TypeError):
                continue   # a line the student's code wrote to our pipe: ignored

    def _on(self, kind: str, rest: str) -> None:
        now = time.monotonic()
        if kind == "imported":
            got = json.loads(rest)
            self.import_done, self.since = True, now
            self.notes += got["notes"] + ([got["stopped"]] if got["stopped"] else [])
        elif kind == "part":
            i, pid = (int(v) for v in rest.split("\t"))
            self.part, self.part_pid, self.stage, self.since = i, pid, "", now
        elif kind == "enter":
            self.stage = rest
        elif kind == "leave":
            self.stage = ""
        elif kind == "result":
            i, _, text = rest.partition("\t")
            outcome = PartOutcome.from_json(json.loads(text))
            if int(i) not in self.outcomes and outcome.part == self.a.parts[int(i)].name:
                self.outcomes[int(i)] = outcome
        elif kind == "ended":
            i, status = (int(v) for v in rest.split("\t"))
            if i not in self.outcomes:
                self.outcomes[i] = zero(self.a.parts[i], *_ended(status, self._where(i)))
            self.part, self.since = -1, now
        elif kind == "bug":
            self.notes.append("internal error of the grader (please report it): " + rest.replace("\\n", "\n"))

    def _where(self, i: int) -> str:
        return f"in {self.stage}" if self.stage else f"in part {self.a.parts[i].name!r}"

    def _police(self, pid: int, backstop: float) -> None:
        now = time.monotonic()
        limits = self.a.limits
        count = len(descendants())
        if count > limits.processes:
            self._stop("processes", f"started more than {limits.processes} processes")
        elif not self.import_done and now - self.since > limits.import_time_s:
            self._stop("timeout", f"timed out after {limits.import_time_s:g} s during import")
        elif self.import_done and self.part >= 0 and now - self.since > self.a.parts[self.part].time_limit_s:
            part = self.a.parts[self.part]
            self._stop("timeout", f"timed out after {part.time_limit_s:g} s {self._where(self.part)}")
        elif now > backstop:
            self._stop("timeout", "ran past the sum of its time limits")

    def _stop(self, status: str, why: str) -> None:
        """Stop the part running now (its grandchild and everything under it), or during the
        import the whole tree."""
        if self.import_done and self.part >= 0:
            i = self.part
            self.outcomes.setdefault(i, zero(self.a.parts[i], status, why))
            kill_tree(spare=self.child)
            self.part = -1
        else:
            self.stopped = self.stopped or f"{why}"
            kill_tree()

    def result(self, sub: Submission, notes: list[str]) -> SubmissionResult:
        why = self.stopped or ("" if self.import_done else "it exited during import")
        parts = []
        for i, part in enumerate(self.a.parts):
            got = self.outcomes.get(i)
            if got is None:
                got = zero(part, "not run", f"not graded: {why}" if why else "not graded: the run stopped early")
                if why and "import" in why and "timed out" not in why:
                    got = zero(part, "exited", f"not graded: {why}")
                elif "timed out" in why:
                    got = zero(part, "timeout", f"not graded: {why}")
                elif "processes" in why:
                    got = zero(part, "processes", f"not graded: {why}")
            parts.append(got)
        return SubmissionResult(sub.student, sub.key, self.a.digest, tuple(parts), tuple(notes + self.notes),
                                bytes(self.output).decode("utf-8", "replace"), self.output_bytes)


def _ended(status: int, where: str) -> tuple[str, str]:
    """A part's grandchild that ended without a result: why, in words."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig == signal.SIGXCPU:
            return "cpu", f"used more than its CPU time {where}"
        if sig == signal.SIGKILL:
            return "crashed", f"was killed (SIGKILL) {where}"
        return "crashed", f"crashed with {signal.Signals(sig).name} {where}"
    return "exited", f"exited (status {os.WEXITSTATUS(status)}) {where}"


# --- the process tree ------------------------------------------------------------------------------

def _exited(pid: int, block: bool = False) -> bool:
    """Has the child ended (and been reaped, here or by kill_tree)?"""
    try:
        return os.waitpid(pid, 0 if block else os.WNOHANG)[0] == pid
    except ChildProcessError:
        return True


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def children(pid: int) -> list[int]:
    kids = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                kids += [int(k) for k in f.read().split()]
    except OSError:
        pass
    return kids


def descendants(root: int | None = None) -> list[int]:
    """Every process under `root` (default: this one, the subreaper of all of them)."""
    found, todo = [], [os.getpid() if root is None else root]
    while todo:
        kids = children(todo.pop())
        found += kids
        todo += kids
    return found


def kill_tree(spare: int = 0) -> None:
    """SIGKILL every process under this one (but `spare`), until none is left, and reap them."""
    for _ in range(10000):
        victims = [p for p in descendants() if p != spare and _alive(p)]
        if not victims:
            break
        for p in victims:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        _reap()
        time.sleep(0.001)
    _reap()


def _reap() -> None:
    """Collect the exit statuses of dead children (orphans come to the subreaper too)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
