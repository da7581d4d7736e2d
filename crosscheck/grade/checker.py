"""The checker: a process of the worker's that grades every part of one submission and never
imports, runs or unpickles any of the student's code. It calls the student's functions through
proxies (proxy.py) in a sandboxed student process (student.py) that the submission's own child
forks on request, one after its import and a fresh one whenever a part's process dies; it alone
writes the parts' results on the worker's trusted pipe (watch.py)."""
from __future__ import annotations

import json
import os
import select
import socket
import traceback

from ..check import user_code
from .assignment import Assignment, Part
from .parts import PartOutcome, grade_part, zero
from .proxy import TEXT_CAP, Channel, Link, RemoteClass, RemoteFunction, StudentLost

STATUS_WAIT_S = 5.0    # how long the submission's child may take to say how a part's process ended
UNKNOWN_END = 9        # a wait status for a process whose end was not told: reported as killed


class Runs:
    """Student processes, started on request by the submission's child over a control socket:
    the checker makes the two pipes and hands the child their far ends."""

    def __init__(self, ctl: socket.socket):
        self.ctl, self.pending, self.buffer = ctl, 0, b""

    def start(self) -> Link | None:
        """A fresh student process, or None when the child is gone."""
        req_r, req_w = os.pipe()
        resp_r, resp_w = os.pipe()
        try:
            socket.send_fds(self.ctl, [b"run\n"], [req_r, resp_w])
        except OSError:
            for fd in (req_r, req_w, resp_r, resp_w):
                os.close(fd)
            return None
        os.close(req_r)
        os.close(resp_w)
        self.pending += 1
        return Link(req_w, resp_r)

    def last_status(self) -> int:
        """How the previous student process ended (a wait status), as the child reports it when
        it starts the next one; UNKNOWN_END when it does not say in time."""
        status = UNKNOWN_END
        while self.pending:
            line = self._line()
            if line is None:
                return UNKNOWN_END
            self.pending -= 1
            kind, _, value = line.partition("\t")
            status = int(value) if kind == "status" and value.isdigit() and len(value) < 10 else UNKNOWN_END
        return status

    def _line(self) -> str | None:
        while b"\n" not in self.buffer:
            ready, _, _ = select.select([self.ctl], [], [], STATUS_WAIT_S)
            chunk = self.ctl.recv(4096) if ready else b""
            if not chunk or len(self.buffer) > 1 << 16:
                return None
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.decode("ascii", "replace")


def check_submission(assignment: Assignment, status_fd: int, ctl: socket.socket) -> None:
    """Grade every part, each result sent on `status_fd` as it is known."""
    runs, channel = Runs(ctl), Channel()
    channel.link = runs.start()
    names = sorted({n for p in assignment.parts for n in p.functions})
    try:
        hello = channel.ask({"op": "hello", "names": names}) if channel.link else None
    except (StudentLost, user_code.ForeignError, AttributeError):
        hello = None
    if not (isinstance(hello, dict) and isinstance(hello.get("kinds"), dict)):
        return   # the import never finished: the watch says why
    namespace = _namespace({n: k for n, k in hello["kinds"].items() if n in names}, channel)
    stopped = hello.get("stopped") if isinstance(hello.get("stopped"), str) else ""
    for i, part in enumerate(assignment.parts):
        if channel.link is None:
            channel.link = runs.start()
            if channel.link is None:
                return
        send(status_fd, f"part\t{i}")
        if not _begin(runs, channel, part):
            return
        user_code.report_stages_to(status_fd)
        try:
            outcome = _grade_one_part(assignment, part, namespace, stopped[:TEXT_CAP])
        except StudentLost as lost:
            user_code.report_stages_to(None)
            _lost(status_fd, runs, channel, i, part, lost)
            continue
        user_code.report_stages_to(None)
        send(status_fd, f"result\t{i}\t" + _json(outcome))
    send(status_fd, "done")


def _begin(runs: Runs, channel: Channel, part: Part) -> bool:
    """Tell the student process a part starts (its CPU seconds from now). One stopped while the
    checker was still checking the previous part (its time limit) is replaced first; False
    when no process can be had."""
    for _ in range(2):
        try:
            channel.ask({"op": "part", "cpu_s": part.time_limit_s + 1})
            return True
        except StudentLost:
            channel.link.close()
            channel.link = runs.start()
            runs.last_status()
            if channel.link is None:
                return False
    return False


def _namespace(kinds: dict, channel: Channel) -> dict:
    """A proxy for each name the submission defines as a function or a class."""
    out = {}
    for name, kind in kinds.items():
        if type(name) is str and kind == "function":
            out[name] = RemoteFunction(channel, name)
        elif type(name) is str and kind == "class":
            out[name] = RemoteClass(channel, name)
    return out


def _lost(status_fd: int, runs: Runs, channel: Channel, i: int, part: Part, lost: StudentLost) -> None:
    """The part's student process is gone, or said what cannot be read (then it is let go):
    the part gets 0 with why, and the next part a fresh process."""
    channel.link.close()
    channel.link = runs.start()
    status = runs.last_status()
    if lost.why:
        send(status_fd, f"result\t{i}\t" + _json(zero(part, "error", lost.why)))
    else:
        if lost.where:   # call_user has said it left that call; the reason names it
            send(status_fd, f"enter\t{lost.where}")
        send(status_fd, f"ended\t{i}\t{status}")


def _grade_one_part(assignment: Assignment, part: Part, namespace: dict, stopped: str) -> PartOutcome:
    try:
        outcome = grade_part(assignment, part, namespace)
    except StudentLost:
        raise
    except BaseException:   # a bug of ours, or the student's answers escaping the check
        return zero(part, "crashed", "the check itself failed: "
                    + traceback.format_exc(limit=-3).strip().splitlines()[-1])
    if stopped and outcome.status == "missing":
        return zero(part, "missing", f"{outcome.feedback}: {stopped}")
    return outcome


def _json(outcome: PartOutcome) -> str:
    return json.dumps(outcome.to_json())


def send(fd: int, line: str) -> None:
    data = (line.replace("\n", " ") + "\n").encode("utf-8", "replace")
    while data:
        data = data[os.write(fd, data):]
