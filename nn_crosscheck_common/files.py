"""Files that are never seen half-written, and run folders that are never shared.

What `atomic_write` guarantees (docs/reliability.md lists the tests that show it):

* only regular files: a target that exists and is not a regular file (a directory, a character
  device such as /dev/null, a FIFO, a socket) is refused with `NotARegularFile` before anything
  is written; a symlink is written *through*: its target is replaced, the link stays;
* the user's umask: a new file gets 0o666 & ~umask (mkstemp alone would make it 0600); a file
  that is replaced keeps its mode;
* no stale temporary files: a writer holds an exclusive lock (flock) on the target's folder
  while its temporary file exists, so a temporary file of ours (`.<name>.XXXXXXXX.tmp`, the
  pattern mkstemp makes) found by a writer holding that lock was left by a writer that died
  (SIGKILL, power loss: the kernel drops a dead process's locks) and is removed; a live
  writer's is never touched, because a live writer holds the lock. Writers of other names in
  the folder wait their turn, briefly (the lock is held while one file is written).
"""
from __future__ import annotations

import fcntl
import os
import re
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, IO, Iterator

from .cli import UsageError

_TEMP_CHARS = "[a-z0-9_]{8}"  # tempfile's random names: 8 of "abcdefghijklmnopqrstuvwxyz0123456789_"


class NotARegularFile(UsageError):
    """The target of a write exists and is a directory, a device, a FIFO or a socket."""


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def write_target(path: str | os.PathLike) -> Path:
    """The file a write to `path` replaces: `path`, or what its symlinks lead to. Raises
    NotARegularFile when that exists and is not a regular file."""
    target = Path(os.path.realpath(path))
    try:
        mode = target.stat().st_mode
    except FileNotFoundError:
        return target
    except NotADirectoryError:
        raise NotARegularFile(f"{path}: a parent of it is a file, not a folder") from None
    if not stat.S_ISREG(mode):
        shown = f"{path} (a link to {target})" if str(target) != os.path.abspath(path) else str(path)
        raise NotARegularFile(f"{shown} is {_kind(mode)}; only a regular file is written there, "
                              f"so give the path of a file")
    return target


def umask() -> int:
    """This process's umask, read without changing it where Linux allows (/proc), else by the
    classic set-and-restore."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


@contextmanager
def folder_lock(folder: Path) -> Iterator[bool]:
    """An exclusive flock on `folder` for as long as the block runs (released by the kernel
    when the process dies); yields whether it is held. Where the file system refuses locks,
    the block runs unlocked (and then no temporary file may be judged stale)."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            locked = True
        except OSError:
            locked = False
        yield locked
    finally:
        os.close(fd)  # closing drops the lock


def _stale_pattern(name: str) -> re.Pattern:
    return re.compile(rf"\.{re.escape(name)}\.{_TEMP_CHARS}\.tmp")


def _remove_stale(target: Path) -> list[Path]:
    """Our temporary files for `target` in its folder; the caller holds the folder's lock."""
    pattern, removed = _stale_pattern(target.name), []
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return removed
    for entry in entries:
        if pattern.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
            try:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
            except OSError:
                pass
    return removed


def remove_stale_temps(path: str | os.PathLike) -> list[Path]:
    """Remove the temporary files that writers of `path` killed mid-write left beside it
    (never a live writer's: see the module's docstring); returns what was removed."""
    target = Path(os.path.realpath(path))
    if not target.parent.is_dir():
        return []
    with folder_lock(target.parent) as locked:
        return _remove_stale(target) if locked else []


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> None:
    """Call write(f) on a temporary file beside `path` (beside its symlink's target), then
    rename it over that file.

    A reader sees the old file or the new one, never half of one; on any failure (a full
    disk, an exception in `write`) the temporary file is removed and the old file stays.
    Raises NotARegularFile (a UsageError) when the target is a directory, device, FIFO or socket."""
    target = write_target(path)  # refused before a folder is made
    target.parent.mkdir(parents=True, exist_ok=True)
    with folder_lock(target.parent) as locked:
        target = write_target(path)  # again under the lock: no writer of ours changes it meanwhile
        try:
            mode = stat.S_IMODE(target.stat().st_mode)  # a replaced file keeps its mode
        except FileNotFoundError:
            mode = 0o666 & ~umask()
        if locked:
            _remove_stale(target)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                os.fchmod(f.fileno(), mode)
                write(f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise


def claim_run_dir(parent: str | os.PathLike, name: str, also_free_in: tuple = ()) -> Path:
    """Create and return parent/<name>, or <name>-2, -3, ...: the first that no other run holds.

    The folder is created exclusively (os.mkdir fails if it exists), so two runs started at
    the same moment never get the same one. A name is also skipped when it exists in any of
    `also_free_in` (e.g. the checkpoint folder)."""
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    candidate, k = name, 2
    while True:
        if not any((Path(other) / candidate).exists() for other in also_free_in):
            try:
                (parent / candidate).mkdir()
                return parent / candidate
            except FileExistsError:
                pass
        candidate, k = f"{name}-{k}", k + 1
