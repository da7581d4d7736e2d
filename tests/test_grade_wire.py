"""What crosses between the checker and the student's process (crosscheck/grade/wire.py,
proxy.py): restricted trees both ways, handles for everything else, and every malformed
message refused as a WireError (or a lost student process), never unpickled, never a crash."""
from __future__ import annotations

import json
import os
import pickle
import struct

import numpy as np
import pytest

from crosscheck.check.user_code import ForeignError
from crosscheck.grade import wire
from crosscheck.grade.proxy import Link, StudentLost


def _roundtrip(tree, to_handle=None):
    return wire.decode(wire.encode(tree, to_handle))


@pytest.mark.parametrize("dtype", ["bool", "int8", "uint16", "int32", "int64", "float16", "float32", "float64",
                                   "complex128", ">f8"])
def test_numeric_arrays_and_scalars_come_back_equal(dtype):
    a = (np.arange(12) % 3).astype(dtype).reshape(3, 4)
    got = _roundtrip((a, a[0, 0], np.zeros((0, 2), dtype)))
    assert got[0].dtype == a.dtype and np.array_equal(got[0], a) and got[0].flags.writeable
    assert isinstance(got[1], np.generic) and got[1] == a[0, 0]
    assert got[2].shape == (0, 2)


def test_python_values_keep_their_kinds():
    tree = {"lr": 0.1, 3: [None, True, "s", (1, float("inf"))], "nan": float("nan")}
    got = _roundtrip(tree)
    assert got["lr"] == 0.1 and got[3] == [None, True, "s", (1, float("inf"))] and np.isnan(got["nan"])
    assert type(got[3][3]) is tuple and type(got[3]) is list


def test_anything_else_becomes_a_handle_or_is_refused():
    kept = []

    def keep(obj):
        kept.append(obj)
        return wire.Handle(len(kept))

    odd = (object(), np.array([object()]), {(1, 2): 3}, 1 << 70, np.zeros(2, dtype=[("a", "f8")]))
    got = _roundtrip(odd, keep)
    assert got == tuple(wire.Handle(i) for i in range(1, 6)) and kept[0] is odd[0]
    with pytest.raises(TypeError):
        wire.encode(object())


def _message(header, blob=b""):
    data = json.dumps(header).encode()
    return struct.pack(">I", len(data)) + data + blob


@pytest.mark.parametrize("message, words", [
    (_message({"a": "|O", "s": [1], "o": 0, "n": 8, "g": False}, b"\0" * 8), "not a numeric dtype"),
    (_message({"a": "<f8", "s": [2], "o": 0, "n": 8, "g": False}, b"\0" * 8), "do not match its shape"),
    (_message({"a": "<f8", "s": [1], "o": 8, "n": 8, "g": False}, b"\0" * 8), "not valid"),
    (_message({"x": 1}), "unknown kind"),
    (_message({"a": "<f8"}), "malformed"),
    (_message(json.loads("[" * 40 + "]" * 40)), "unexpected list"),
    (_message({"l": [{"l": [{"l": []}]}]}), ""),   # fine: shallow
    (b"\0\0\1\0{", "header longer"),
    (struct.pack(">I", 3) + b"\xff\xfe{", "malformed"),
    (pickle.dumps(object()), ""),
])
def test_a_malformed_message_is_a_wire_error(message, words):
    if not words:   # a well-formed one, or a pickle: either read as a tree or refused, never unpickled
        try:
            wire.decode(message)
        except wire.WireError:
            pass
        return
    with pytest.raises(wire.WireError, match=words):
        wire.decode(message)


def test_nesting_deeper_than_the_cap_is_refused():
    deep = {"l": []}
    for _ in range(wire.MAX_DEPTH + 5):
        deep = {"l": [deep]}
    with pytest.raises(wire.WireError, match="nested too deeply"):
        wire.decode(_message(deep))


def test_frames_are_capped_and_a_closed_pipe_is_said():
    r, w = os.pipe()
    os.write(w, struct.pack(">I", wire.MAX_MESSAGE + 1))
    with pytest.raises(wire.WireError, match="more than"):
        wire.receive(r)
    os.write(w, struct.pack(">I", 10) + b"abc")
    os.close(w)
    with pytest.raises(wire.PipeClosed):
        wire.receive(r)
    os.close(r)


def _link_answering(*replies: bytes) -> Link:
    """A Link whose student side has already written these raw replies (its requests go to /dev/null)."""
    resp_r, resp_w = os.pipe()
    for reply in replies:
        os.write(resp_w, reply)
    os.close(resp_w)
    return Link(os.open("/dev/null", os.O_WRONLY), resp_r)


def _frame(tree) -> bytes:
    data = wire.encode(tree)
    return struct.pack(">I", len(data)) + data


def test_the_proxy_turns_answers_into_values_errors_or_a_lost_process():
    link = _link_answering(_frame({"ok": (np.ones(2), wire.Handle(3))}), _frame({"raised": "ZeroDivisionError: x (at s.py:3)",
                                                                              "type": "ZeroDivisionError"}),
                           _frame({"weird": 1}))
    value, handle = link.ask({"op": "call", "fn": "f", "args": [], "kwargs": {}})
    assert np.array_equal(value, np.ones(2)) and handle == wire.Handle(3)
    with pytest.raises(ForeignError, match="at s.py:3"):
        link.ask({"op": "call", "fn": "f", "args": [], "kwargs": {}})
    with pytest.raises(StudentLost, match="could not be read") as lost:
        link.ask({"op": "call", "fn": "f", "args": [], "kwargs": {}})
    assert lost.value.why
    with pytest.raises(StudentLost) as ended:   # the pipe is closed: it ended
        link.ask({"op": "call", "fn": "f", "args": [], "kwargs": {}})
    assert ended.value.why is None
