"""The student's side of a part: a sandboxed process, forked after the submission's import, that
runs the student's functions for the checker (checker.py) and nothing else. It reads a request
(call a function, call a method of an object it holds, read or set an attribute), runs it and
answers with the result as a restricted tree (wire.py); what cannot be sent stays here, and the
checker gets a handle to it. Everything here may be tampered with by the student's code: the
checker trusts none of it beyond what wire.decode accepts."""
from __future__ import annotations

import os
import sys

from ..check.user_code import describe
from . import sandbox, wire


def serve(namespace: dict, stopped: str, req_fd: int, resp_fd: int) -> None:
    """Answer requests until the checker closes its end (then exit 0); never returns."""
    objects: dict[int, object] = {}

    def keep(obj) -> wire.Handle:
        objects[len(objects) + 1] = obj
        return wire.Handle(len(objects))

    while True:
        try:
            request = wire.decode(wire.receive(req_fd), objects.__getitem__)
            reply = _answer(request, namespace, stopped)
        except wire.PipeClosed:
            os._exit(0)
        except (wire.WireError, KeyError) as err:
            reply = {"error": f"a request the student's side could not read: {err}"}
        try:
            data = wire.encode(reply, keep)
        except BaseException as err:  # noqa: BLE001 - the student's object may raise anything
            data = wire.encode({"error": f"what your code returned could not be sent: {describe(err)}"})
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            wire.send(resp_fd, data)
        except OSError:   # the checker let this process go (it sent what could not be read)
            os._exit(0)


def _answer(request: dict, namespace: dict, stopped: str) -> dict:
    op = request["op"]
    if op == "hello":
        return {"ok": {"kinds": {n: _kind(namespace.get(n)) for n in request["names"]}, "stopped": stopped}}
    if op == "part":   # a part starts: its CPU seconds from now
        sandbox.set_cpu_limit(sandbox.cpu_used() + request["cpu_s"])
        return {"ok": None}
    try:
        if op == "call":
            target = namespace[request["fn"]] if "fn" in request else getattr(request["obj"], request["method"])
            return {"ok": target(*request["args"], **request["kwargs"])}
        if op == "get":
            if not hasattr(request["obj"], request["attr"]):
                return {"missing": True}
            return {"ok": getattr(request["obj"], request["attr"])}
        if op == "put":   # the checker's values of a dict attribute's entries (a program's params)
            held = getattr(request["obj"], request["attr"])
            for key, value in request["values"].items():
                held[key] = value
            return {"ok": None}
    except (Exception, SystemExit) as err:   # the student's code raised (or exited): said, not fatal
        return {"raised": describe(err), "type": type(err).__name__}
    return {"error": f"unknown request {op!r}"}


def _kind(obj) -> str | None:
    if isinstance(obj, type):
        return "class"
    return "function" if callable(obj) else None
