"""What crosses the pipe between the checker and the process running a student's code: a
restricted tree, never a pickle (unpickling runs code). A message is numeric arrays (dtype,
shape and raw bytes), Python scalars, str, None, and lists, tuples and dicts (str or int keys)
of those. Anything else the student's code returns stays in its process; the checker gets a
Handle to pass back unchanged. A message that breaks these rules, or is larger than
MAX_MESSAGE, raises WireError: the part gets 0 with the reason, the grader goes on."""
from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass
from typing import Callable

import numpy as np

MAX_MESSAGE = 64 << 20    # bytes of one message: far above any check's arrays; the checker has no memory limit
MAX_DEPTH = 32            # nesting of lists, tuples and dicts
_NUMERIC = (np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64,
            np.float16, np.float32, np.float64, np.complex64, np.complex128)
_DTYPES = {np.dtype(t).newbyteorder(order).str for t in _NUMERIC for order in "<>="}


class WireError(Exception):
    """A message that is not a well-formed restricted tree (or too large, or cut short)."""


class PipeClosed(Exception):
    """The other end went away (its process ended or closed the pipe) before a whole message."""


@dataclass(frozen=True)
class Handle:
    """An object that stayed in the student's process: its number there."""
    id: int


def encode(tree, to_handle: Callable[[object], Handle] | None = None) -> bytes:
    """`tree` as one message. An object outside the restricted tree becomes to_handle(obj);
    without to_handle it is a TypeError (the checker only sends what it built)."""
    blobs: list[bytes] = []
    size = [0]
    header = json.dumps(_enc(tree, blobs, size, to_handle, 0)).encode()
    return struct.pack(">I", len(header)) + header + b"".join(blobs)


def _enc(x, blobs: list, size: list, to_handle, depth: int):
    if depth > MAX_DEPTH:
        return _other(x, to_handle)
    if x is None or type(x) in (bool, int, str):
        return x if type(x) is not int or abs(x) < 1 << 63 else _other(x, to_handle)
    if type(x) is float:
        return {"f": repr(x)}
    if isinstance(x, Handle):
        return {"h": x.id}
    if isinstance(x, (np.ndarray, np.generic)):
        a = np.asarray(x)
        if a.dtype.str not in _DTYPES:
            return _other(x, to_handle)
        data = np.ascontiguousarray(a).tobytes()
        blobs.append(data)
        size[0] += len(data)
        return {"a": a.dtype.str, "s": list(a.shape), "o": size[0] - len(data), "n": len(data),
                "g": isinstance(x, np.generic)}
    if type(x) in (list, tuple):
        return {"l" if type(x) is list else "t": [_enc(v, blobs, size, to_handle, depth + 1) for v in x]}
    if type(x) is dict and all(type(k) in (str, int) for k in x):
        return {"d": [[k, _enc(v, blobs, size, to_handle, depth + 1)] for k, v in x.items()]}
    return _other(x, to_handle)


def _other(x, to_handle):
    if to_handle is None:
        raise TypeError(f"cannot send a {type(x).__name__} to the student's process")
    return {"h": to_handle(x).id}


def decode(data: bytes, resolve: Callable[[int], object] = Handle):
    """The tree in one message, built only from the restricted kinds (WireError otherwise);
    a handle becomes resolve(id) (the checker: a Handle; the student's side: its object)."""
    try:
        (n,) = struct.unpack(">I", data[:4])
        if n > len(data) - 4:
            raise WireError("header longer than the message")
        blob = memoryview(data)[4 + n:]
        return _dec(json.loads(data[4:4 + n].decode("utf-8")), blob, resolve, 0)
    except WireError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, RecursionError, UnicodeDecodeError, struct.error) as err:
        raise WireError(f"malformed message ({type(err).__name__}: {err})") from None


def _dec(x, blob: memoryview, resolve, depth: int):
    if depth > MAX_DEPTH:
        raise WireError("nested too deeply")
    if x is None or type(x) in (bool, int, str):
        return x
    if type(x) is not dict or len(x) not in (1, 5):
        raise WireError(f"unexpected {type(x).__name__} in a message")
    if "f" in x:
        return float(_str(x["f"]))
    if "h" in x:
        if type(x["h"]) is not int:
            raise WireError("a handle must be a number")
        return resolve(x["h"])
    if "a" in x:
        return _array(x, blob)
    if "l" in x or "t" in x:
        items = x.get("l", x.get("t"))
        if type(items) is not list:
            raise WireError("a list must hold a list")
        out = [_dec(v, blob, resolve, depth + 1) for v in items]
        return out if "l" in x else tuple(out)
    if "d" in x and type(x["d"]) is list:
        out = {}
        for pair in x["d"]:
            if type(pair) is not list or len(pair) != 2 or type(pair[0]) not in (str, int):
                raise WireError("a dict entry must be [str or int key, value]")
            out[pair[0]] = _dec(pair[1], blob, resolve, depth + 1)
        return out
    raise WireError(f"unknown kind {sorted(x)[0]!r} in a message")


def _str(v) -> str:
    if type(v) is not str or len(v) > 40:
        raise WireError("a float must be given as its repr")
    return v


def _array(x: dict, blob: memoryview):
    dtype, shape, off, n = x["a"], x["s"], x["o"], x["n"]
    if type(dtype) is not str or dtype not in _DTYPES:
        raise WireError(f"dtype {str(dtype)[:20]!r} is not a numeric dtype")
    if (type(shape) is not list or len(shape) > 32 or not all(type(d) is int and d >= 0 for d in shape)
            or type(off) is not int or type(n) is not int or off < 0 or n < 0 or off + n > len(blob)):
        raise WireError("an array's shape or extent is not valid")
    dt = np.dtype(dtype)
    if int(np.prod(shape, dtype=object)) * dt.itemsize != n:
        raise WireError("an array's bytes do not match its shape")
    a = np.frombuffer(blob[off:off + n], dtype=dt).reshape(shape).copy()
    if x["g"] is True:
        return a[()]
    if x["g"] is not False:
        raise WireError("an array's scalar flag must be true or false")
    return a


# --- frames on a pipe: 4-byte length, then the message ---------------------------------------

def send(fd: int, message: bytes) -> None:
    data = struct.pack(">I", len(message)) + message
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def receive(fd: int) -> bytes:
    """One whole message (PipeClosed at the end of the pipe, WireError past MAX_MESSAGE)."""
    (n,) = struct.unpack(">I", _exactly(fd, 4))
    if n > MAX_MESSAGE:
        raise WireError(f"a message of {n} bytes, more than {MAX_MESSAGE >> 20} MiB")
    return _exactly(fd, n)


def _exactly(fd: int, n: int) -> bytes:
    parts, left = [], n
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise PipeClosed()
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)
