"""The worker's side of one submission: read the reports of its checker and of its child, keep
the first bytes of what they print, and enforce what a process cannot be trusted to enforce on
itself: the wall clock of the import and of each part, and the number of processes. Only the
checker's pipe can start a part's clock or give a part its result; the child ran the student's
code, so from its pipe only the end of the import and notes are read."""
from __future__ import annotations

import json
import os
import select
import signal
import time

from .assignment import Assignment
from .parts import PartOutcome, zero
from .tree import descendants, exited, kill_tree

TICK_S = 0.02        # how often the process count is looked at
SLACK_S = 10.0       # the whole run may last the sum of its limits plus this
UNTRUSTED_KINDS = ("imported", "bug")   # what the child's pipe may say


class Watch:
    """Follows one submission's tree until its child is done (or is stopped)."""

    def __init__(self, assignment: Assignment):
        self.a = assignment
        self.cap = assignment.limits.output_kib * 1024
        self.output, self.output_bytes = bytearray(), 0
        self.outcomes: dict[int, PartOutcome] = {}
        self.notes: list[str] = []
        self.stopped: tuple[str, str] | None = None   # (status, why) when the whole tree was stopped
        self.import_done = False
        self.part, self.stage, self.since = -1, "", time.monotonic()
        self.pending: dict[int, bytes] = {}
        self.child = self.checker = 0

    def run(self, pid: int, checker: int, status_fd: int, trusted_fd: int, out_fd: int) -> None:
        """Until every pipe is closed: `pid` the child (reports on status_fd), `checker` the
        checker (reports on trusted_fd)."""
        self.child, self.checker = pid, checker
        backstop = self.since + self.a.limits.import_time_s + sum(p.time_limit_s for p in self.a.parts) + SLACK_S
        fds, child_done = [status_fd, trusted_fd, out_fd], False
        while fds:
            ready, _, _ = select.select(fds, [], [], TICK_S)
            for fd in ready:   # in the order of fds: the child's "imported" before the checker's first part
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    fds.remove(fd)
                elif fd == out_fd:
                    self._keep_output(chunk)
                else:
                    self._read_status(fd, chunk, trusted=fd == trusted_fd)
            if not child_done and exited(pid):
                child_done = True
                kill_tree(spare=(checker,))   # what it left running goes, so its pipes close
            else:
                self._police(backstop)
        exited(pid, block=True)
        exited(checker, block=True)
        kill_tree()

    def _keep_output(self, chunk: bytes) -> None:
        self.output_bytes += len(chunk)
        room = self.cap - len(self.output)
        if room > 0:
            self.output += chunk[:room]

    def _read_status(self, fd: int, chunk: bytes, trusted: bool) -> None:
        *lines, self.pending[fd] = (self.pending.get(fd, b"") + chunk).split(b"\n")
        for raw in lines:
            kind, _, rest = raw.decode("utf-8", "replace").partition("\t")
            if not trusted and kind not in UNTRUSTED_KINDS:
                continue   # a result or a clock from the process that ran the student's code: ignored
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
            self.part, self.stage, self.since = int(rest.split("\t")[0]), "", now
        elif kind == "enter":
            self.stage = rest
        elif kind == "leave":
            self.stage = ""
        elif kind == "result":
            i, _, text = rest.partition("\t")
            outcome = PartOutcome.from_json(json.loads(text))
            if int(i) not in self.outcomes and outcome.part == self.a.parts[int(i)].name:
                self.outcomes[int(i)] = outcome
            self.part = -1   # until the next part starts, no part's clock runs
        elif kind == "ended":
            i, status = (int(v) for v in rest.split("\t"))
            if i not in self.outcomes:
                self.outcomes[i] = zero(self.a.parts[i], *_ended(status, self._where(i)))
            self.part, self.since = -1, now
        elif kind == "bug":
            self.notes.append("internal error of the grader (please report it): " + rest.replace("\\n", "\n"))

    def _where(self, i: int) -> str:
        return f"in {self.stage}" if self.stage else f"in part {self.a.parts[i].name!r}"

    def _police(self, backstop: float) -> None:
        now = time.monotonic()
        limits = self.a.limits
        count = len([p for p in descendants() if p != self.checker])
        if count > limits.processes:
            self._stop("processes", f"started more than {limits.processes} processes")
        elif not self.import_done and now - self.since > limits.import_time_s:
            self._stop("timeout", f"timed out after {limits.import_time_s:g} s during import")
        elif self.import_done and self.part >= 0 and now - self.since > self.a.parts[self.part].time_limit_s:
            part = self.a.parts[self.part]
            self._stop("timeout", f"timed out after {part.time_limit_s:g} s {self._where(self.part)}")
        elif now > backstop:   # whatever it is doing, the whole tree goes
            self.stopped = self.stopped or ("timeout", "ran past the sum of its time limits")
            kill_tree()

    def _stop(self, status: str, why: str) -> None:
        """Stop the part running now (its grandchild and everything under it), or during the
        import the whole tree."""
        if self.import_done and self.part >= 0:
            i = self.part
            self.outcomes.setdefault(i, zero(self.a.parts[i], status, why))
            kill_tree(spare=(self.child, self.checker))
            self.part = -1
        else:
            self.stopped = self.stopped or (status, why)
            kill_tree()

    def outcomes_in_order(self) -> tuple[PartOutcome, ...]:
        """Every part's outcome; a part that never reported gets 0 with the reason the tree stopped."""
        status, why = self.stopped or (("exited", "it exited during import") if not self.import_done
                                       else ("not run", "the run stopped early"))
        return tuple(self.outcomes.get(i) or zero(part, status, f"not graded: {why}")
                     for i, part in enumerate(self.a.parts))


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
