"""The process tree under a grading worker: the worker is the subreaper of everything a
submission starts, so every process it left is found under it and killed."""
from __future__ import annotations

import os
import signal
import time

def exited(pid: int, block: bool = False) -> bool:
    """Has the child ended (and been reaped, here or by kill_tree)?"""
    try:
        return os.waitpid(pid, 0 if block else os.WNOHANG)[0] == pid
    except ChildProcessError:
        return True


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


_HAS_CHILDREN_FILE = os.path.exists(f"/proc/self/task/{os.getpid()}/children")


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (the kernel's list where it keeps one, else a scan)."""
    if not _HAS_CHILDREN_FILE:
        return [p for p, parent in _all_parents() if parent == pid]
    kids = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                kids += [int(k) for k in f.read().split()]
    except OSError:
        pass
    return kids


def _all_parents() -> list[tuple[int, int]]:
    """(pid, parent pid) of every process (kernels without CONFIG_PROC_CHILDREN)."""
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    out.append((int(name), int(f.read().rpartition(")")[2].split()[1])))
            except (OSError, ValueError, IndexError):
                continue
    return out


def descendants(root: int | None = None) -> list[int]:
    """Every process under `root` (default: this one, the subreaper of all of them)."""
    found, todo = [], [os.getpid() if root is None else root]
    while todo:
        kids = children(todo.pop())
        found += kids
        todo += kids
    return found


def kill_tree(spare: tuple[int, ...] = ()) -> None:
    """SIGKILL every process under this one (but those in `spare`), until none is left, and reap them."""
    for _ in range(10000):
        victims = [p for p in descendants() if p not in spare and alive(p)]
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
