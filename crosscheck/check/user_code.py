"""User code is foreign: load it, call it, and turn what it raises into one line naming the
user's file and line, never a traceback that looks like a verdict."""
from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import traceback
from contextlib import contextmanager
from typing import Any, Callable, Iterator


class UserCodeError(Exception):
    """The user's own code raised (or exited); the message names where. Exit status 3."""


class ForeignError(Exception):
    """What the user's code raised in another process (the grader's sandbox), already described
    there: its type's name and describe()'s text, which describe() then gives back unchanged."""

    def __init__(self, type_name: str, described: str):
        super().__init__(described)
        self.type_name, self.described = type_name, described


class WrongKind(TypeError):
    """Our validation was handed the wrong kind of object (a layer where a list was meant, a
    function where its result was): a TypeError naming it, bad input like a refused value."""


_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Source folders of this project's packages: a frame in one of them is ours, not the user's.
OUR_PACKAGES = ("crosscheck", "numpy_impl", "reference", "mnist_cnn", "nn_crosscheck_common")
_OURS = tuple(os.path.join(_ROOT, pkg) for pkg in OUR_PACKAGES)


def _users_frame(tb) -> str:
    """file:line of the innermost frame outside this project's packages and the libraries,
    i.e. the user's own line; the innermost frame when there is none."""
    frames = traceback.extract_tb(tb)
    users = [f for f in frames if not f.filename.startswith(_OURS) and "site-packages" not in f.filename
             and not f.filename.startswith("<frozen")]
    frame = (users or frames or [None])[-1]
    return f"{frame.filename}:{frame.lineno}" if frame is not None else "?"


def describe(err: BaseException) -> str:
    """'ZeroDivisionError: division by zero (at net.py:12)'."""
    if isinstance(err, ForeignError):
        return err.described
    if isinstance(err, SystemExit):
        return f"called sys.exit({err.code!r}) (at {_users_frame(err.__traceback__)})"
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''} (at {_users_frame(err.__traceback__)})"


def _raised_here(tb) -> bool:
    """Was the error raised by this project's own code (its innermost Python frame ours)?"""
    frames = traceback.extract_tb(tb)
    return bool(frames) and frames[-1].filename.startswith(_OURS)


def refused_on_purpose(err: BaseException) -> bool:
    """Did this project's own validation refuse a value: a ValueError raised by a `raise`
    statement in our source, or a WrongKind? That is bad input, exit
    status 2. A ValueError that numpy or torch raised on one of our lines is a bug of ours."""
    frames = traceback.extract_tb(err.__traceback__)
    if isinstance(err, WrongKind):
        return True
    return (isinstance(err, ValueError) and _raised_here(err.__traceback__)
            and (frames[-1].line or "").startswith("raise "))


def call_user(what: str, fn: Callable, *args, **kwargs) -> Any:
    """fn(*args, **kwargs), with anything it raises (SystemExit included) turned into a
    UserCodeError that starts with `what` (e.g. 'layer 2 (Dense).backward'). Two exceptions
    pass through unchanged: a UserCodeError from a nested call (it already names the place),
    and a ValueError that this project raised itself while checking what the user handed it
    (byo.rowmajor(...) inside crosscheck_model(): a usage error, exit 2, not a crash)."""
    stage(f"enter\t{what}")
    try:
        return fn(*args, **kwargs)
    except UserCodeError:
        raise
    except ValueError as err:
        if _raised_here(err.__traceback__):
            raise
        raise UserCodeError(f"{what} raised {describe(err)}") from err
    except WrongKind:  # our validation refusing the wrong kind of object is a usage error too
        raise
    except (Exception, SystemExit) as err:  # SystemExit too: a user's sys.exit must not end the check
        raise UserCodeError(f"{what} raised {describe(err)}") from err
    finally:
        stage("leave")


_STAGE_FD: int | None = None  # where call_user reports entering and leaving user code (contain.py)
_CURRENT = ""                 # the call into user code under way, as the last stage line said


def current_stage() -> str:
    """The call into user code under way ('' between calls), as the watching parent sees it."""
    return _CURRENT


def report_stages_to(fd: int | None) -> None:
    """From now on, write a line to file descriptor `fd` on entering ('enter\t<what>') and on
    leaving ('leave') each call into user code, for a parent process watching (contain.py)."""
    global _STAGE_FD
    _STAGE_FD = fd


def stage(line: str) -> None:
    """Tell the watching parent, if any, where the check is (one line, written at once)."""
    global _CURRENT
    _CURRENT = line.partition("\t")[2] if line.startswith("enter\t") else ""
    if _STAGE_FD is not None:
        os.write(_STAGE_FD, (line.replace("\n", " ") + "\n").encode("utf-8", "replace"))


def load_user_file(path: str, entry: str = "crosscheck_model"):
    """Import FILE.py (its folder on sys.path, for its own imports) and return its `entry`
    function. A missing file or function is a usage error (ValueError); anything the file
    raises while being imported is a UserCodeError naming the line."""
    if not os.path.isfile(path):
        raise ValueError(f"--user: no such file {path!r}")
    module_spec = importlib.util.spec_from_file_location("crosscheck_user_model", path)
    if module_spec is None or module_spec.loader is None:
        raise ValueError(f"--user: {path} is not a Python file")
    module = importlib.util.module_from_spec(module_spec)
    folder = os.path.dirname(os.path.abspath(path))
    stage(f"enter\timporting {path}")
    try:
        with _users_own_modules(folder):
            module_spec.loader.exec_module(module)
    except SyntaxError as err:  # in their file, or in a module of theirs that it imports
        where = err.filename or path
        imported = "" if os.path.abspath(where) == os.path.abspath(path) else f" (imported by {path})"
        raise UserCodeError(f"{where}:{err.lineno}: syntax error: {err.msg}{imported}") from None
    except (Exception, SystemExit) as err:
        raise UserCodeError(f"importing {path} raised {describe(err)}") from err
    finally:
        stage("leave")
    fn = getattr(module, entry, None)
    if not callable(fn):
        raise ValueError(f"--user: {path} defines no {entry}() function (see examples/)")
    return fn


@contextmanager
def _users_own_modules(folder: str) -> Iterator[None]:
    """Put the user's folder first on sys.path, as Python does for a script, and while their
    file is imported let its `import reference` (or numpy_impl, ...) find their own module of
    that name beside it, not ours: our packages of clashing names step out of sys.modules and
    come back afterwards. The user's modules stay bound in their file's globals."""
    clashing = {name for name in OUR_PACKAGES
                if os.path.isfile(os.path.join(folder, name + ".py"))
                or os.path.isfile(os.path.join(folder, name, "__init__.py"))}
    for name in clashing:  # ours loaded first, so that no later import of ours finds theirs
        importlib.import_module(name)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    ours = {key: sys.modules.pop(key) for key in list(sys.modules) if key.split(".")[0] in clashing}
    try:
        yield
    finally:
        for key in [key for key in sys.modules if key.split(".")[0] in clashing]:
            del sys.modules[key]
        sys.modules.update(ours)
