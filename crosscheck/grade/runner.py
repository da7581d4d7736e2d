"""Grade one submission in its own process tree, watched from outside.

The worker (trusted, warm: numpy, torch and the checks imported) forks two processes. The
checker (checker.py) runs the parts' checks in order and reports each result; it never runs
the student's code. The submission's child confines itself (sandbox.py), runs the student's
files into one namespace, then, on the checker's request, forks a grandchild that serves the
checker's calls of the student's functions (student.py); where the worker stops it at a part's
time limit, or the student's code kills it, a fresh grandchild goes on with the next part. The
worker reads the checker's reports on one pipe (the only one whose results count), the child's
on another, keeps the first bytes of their stdout and stderr from a third, and enforces what a
process cannot be trusted to enforce on itself: the wall clock of the import and of each part,
and the number of processes. When it stops anything, or when the child is done, it kills every
process left under it (it is their subreaper)."""
from __future__ import annotations

import json
import os
import shutil
import socket
import sys
import tempfile
import traceback
from dataclasses import dataclass

from . import checker, sandbox, student
from .assignment import Assignment
from .parts import PartOutcome
from .submissions import Source, Submission
from .watch import Watch

CHECKER_MEMORY_MIB = 4096   # the checker's address space beyond the worker's: the checks on small arrays need little


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
    """Run `sources` (the submission's code, in order) in a fresh confined child and grade every
    part from a checker process beside it."""
    box = tempfile.mkdtemp(prefix="crosscheck-grade-", dir=work_root)
    try:
        for rel, path in sub.files:
            dest = os.path.join(box, rel)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            shutil.copyfile(path, dest)
        watch = Watch(assignment)
        out_r, out_w = os.pipe()
        ctl_checker, ctl_child = socket.socketpair()
        sys.stdout.flush()
        sys.stderr.flush()
        trusted_r, trusted_w = os.pipe()
        checker_pid = os.fork()
        if checker_pid == 0:
            _checker(assignment, trusted_w, out_w, ctl_checker, (trusted_r, out_r, ctl_child.fileno()))
        os.close(trusted_w)
        ctl_checker.close()
        status_r, status_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            _child(assignment, box, sources, status_w, out_w, ctl_child.fileno())   # never returns
        ctl_child.close()
        os.close(status_w)
        os.close(out_w)
        watch.run(pid, checker_pid, status_r, trusted_r, out_r)
        for fd in (status_r, trusted_r, out_r):
            os.close(fd)
        return SubmissionResult(sub.student, sub.key, assignment.digest, watch.outcomes_in_order(),
                                tuple(notes + watch.notes), bytes(watch.output).decode("utf-8", "replace"),
                                watch.output_bytes)
    finally:
        shutil.rmtree(box, ignore_errors=True)


# --- the checker: trusted, never runs the student's code ------------------------------------

def _checker(assignment: Assignment, status_fd: int, out_fd: int, ctl: socket.socket, theirs: tuple) -> None:
    code = 0
    try:
        sandbox.die_with_parent()
        sandbox.not_dumpable()
        sandbox.limit_memory(CHECKER_MEMORY_MIB)
        for fd in theirs:
            os.close(fd)
        fd = os.open("/dev/null", os.O_RDONLY)
        os.dup2(fd, 0)
        os.dup2(out_fd, 1)   # what the checks print (a warning) goes where it always went
        os.dup2(out_fd, 2)
        checker.check_submission(assignment, status_fd, ctl)
    except BaseException:   # a bug of ours: said on the pipe, the worker shows it
        checker.send(status_fd, "bug\t" + traceback.format_exc().replace("\n", "\\n"))
        code = 4
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


# --- the child: confine, import, one grandchild per run of parts ----------------------------------

def _child(assignment: Assignment, box: str, sources: list[Source], status_fd: int, out_fd: int,
           ctl_fd: int) -> None:
    code = 0
    try:
        me = os.getpid()
        sandbox.die_with_parent()
        os.setsid()
        fd = os.open("/dev/null", os.O_RDONLY)
        os.dup2(fd, 0)
        os.dup2(out_fd, 1)
        os.dup2(out_fd, 2)
        low, high = sorted((status_fd, ctl_fd))
        os.closerange(3, low)
        os.closerange(low + 1, high)
        os.closerange(high + 1, 1 << 16)
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
        _serve_runs(namespace, stopped, socket.socket(fileno=ctl_fd), status_fd)
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


def _serve_runs(namespace: dict, stopped: str, ctl: socket.socket, status_fd: int) -> None:
    """On each request of the checker (with the far ends of two pipes), say how the previous
    grandchild ended and fork a fresh one that serves the checker's calls; until the checker
    closes the socket."""
    previous, status = 0, 0
    while True:
        try:
            msg, fds, _, _ = socket.recv_fds(ctl, 16, 2)
        except OSError:   # the checker is done (it may close without reading our last reply)
            msg, fds = b"", []
        if previous:
            _, status = os.waitpid(previous, 0)
        if not msg:
            return
        try:
            ctl.sendall(f"status\t{status}\n".encode() if previous else b"none\n")
        except OSError:
            return
        previous = os.fork() if len(fds) == 2 else 0
        if previous == 0 and len(fds) == 2:
            try:
                sandbox.die_with_parent()
                os.setpgid(0, 0)
                ctl.close()
                os.close(status_fd)
                student.serve(namespace, stopped, fds[0], fds[1])
            finally:
                os._exit(0)
        for fd in fds:
            os.close(fd)
