"""Run a check of user code in a forked child process, so that nothing the user's code does to
the process can pass for a verdict: os._exit(0), a fatal signal, or a call that never returns
(--timeout). The child writes its output to the same terminal, reports entering and leaving
each call into user code on a pipe (user_code.call_user), and its exit status on that pipe
when it finishes; a child that ends without saying so ended inside the user's code.

Contained: os._exit, sys.exit anywhere, a crash of the interpreter (segfault, abort), and with a
timeout a user call that loops or blocks, in Python or in C. Not contained: what the user's code
does outside the process (files, other processes it starts), and platforms without os.fork
(the check then runs in this process, as the Python API always does)."""
from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
import time
from typing import Callable

from . import user_code

EXIT_USER_CODE = 3  # nn_crosscheck_common.EXIT_USER_CODE (this library does not import the CLI's module)
EXIT_INTERNAL = 4


def can_contain() -> bool:
    return hasattr(os, "fork")


def run_contained(run: Callable[[], int], timeout: float | None, prog: str) -> int:
    """run() in a forked child; its exit status, or 3 with one line on stderr when the user's
    code ended the child or ran past `timeout` seconds in one call (None: no limit)."""
    read_end, write_end = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: run the check, then say how it ended
        os.close(read_end)
        status = EXIT_INTERNAL
        try:
            user_code.report_stages_to(write_end)
            status = run()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.write(write_end, f"exit\t{status}\n".encode())
            os._exit(status)
    os.close(write_end)
    try:
        return _watch(pid, read_end, timeout, prog)
    except BaseException:  # Ctrl-C here: the child goes too, and no zombie is left
        with contextlib.suppress(ProcessLookupError, ChildProcessError):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        raise
    finally:
        os.close(read_end)


def _watch(pid: int, fd: int, timeout: float | None, prog: str) -> int:
    """Follow the child's stage lines until it exits or a user call outlasts `timeout`."""
    stack: list[str] = []
    pending, last = b"", time.monotonic()
    while True:
        wait = None if timeout is None or not stack else max(0.0, last + timeout - time.monotonic())
        ready, _, _ = select.select([fd], [], [], wait)
        if not ready:  # inside a user call for `timeout` seconds with no news
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            print(f"{prog}: your code: {stack[-1]} did not return within {timeout:g} s (--timeout); it may loop "
                  f"forever", file=sys.stderr)
            return EXIT_USER_CODE
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        last = time.monotonic()
        *lines, pending = (pending + chunk).split(b"\n")
        for line in lines:
            kind, _, what = line.decode("utf-8", "replace").partition("\t")
            if kind == "enter":
                stack.append(what)
            elif kind == "leave" and stack:
                stack.pop()
            elif kind == "exit":
                os.waitpid(pid, 0)
                return int(what)
    _, raw = os.waitpid(pid, 0)
    return _ended_early(raw, stack, prog)


def _ended_early(raw: int, stack: list[str], prog: str) -> int:
    """The child ended without reporting its status: inside the user's code, or (no stage open)
    somewhere in ours."""
    if os.WIFSIGNALED(raw):
        sig = signal.Signals(os.WTERMSIG(raw)).name
        how = f"was killed by {sig}" + (" (out of memory?)" if sig == "SIGKILL" else "")
    else:
        how = f"exited with status {os.WEXITSTATUS(raw)} (os._exit or a crash)"
    if stack:
        print(f"{prog}: your code: the check's process {how} during {stack[-1]}, before any verdict",
              file=sys.stderr)
        return EXIT_USER_CODE
    print(f"{prog}: internal error: the check's process {how} outside your code, before any verdict; please "
          f"report it with the command you ran (exit status {EXIT_INTERNAL})", file=sys.stderr)
    return EXIT_INTERNAL
