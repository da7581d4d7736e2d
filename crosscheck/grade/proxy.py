"""The checker's stand-ins for a student's functions and objects: each call is sent to the
sandboxed process running the student's code (student.py) and its result read back as a
restricted tree (wire.py), so the checks never import, run or unpickle anything of the
student's. What the student's code raises comes back as a ForeignError, already described."""
from __future__ import annotations

import os

import numpy as np

from ..check.user_code import ForeignError, current_stage
from . import wire

TEXT_CAP = 2000   # characters kept of a text the student's side sends (an error's description)


class StudentLost(BaseException):
    """The student's process ended or closed its pipe (why is None: the runner learns how it
    ended), or answered with a message that cannot be read (why says so). A BaseException, so
    that no check mistakes it for an error of the student's code: the part ends here."""

    def __init__(self, why: str | None = None):
        super().__init__(why or "the student's process ended")
        self.why, self.where = why, current_stage()   # the call it was lost in, for the reason


class Link:
    """Requests to one student process and its answers, over a pair of pipes."""

    def __init__(self, req_fd: int, resp_fd: int):
        self.req_fd, self.resp_fd = req_fd, resp_fd

    def ask(self, request: dict):
        """The value of a request; ForeignError if the student's code raised; StudentLost."""
        try:
            wire.send(self.req_fd, wire.encode(request))
            reply = wire.decode(wire.receive(self.resp_fd))
        except (wire.PipeClosed, OSError):
            raise StudentLost() from None
        except wire.WireError as err:
            raise StudentLost(f"what your code returned could not be read: {err}") from None
        if type(reply) is not dict or len(reply) not in (1, 2):
            raise StudentLost("what your code returned could not be read: not an answer")
        if "ok" in reply:
            return reply["ok"]
        if "missing" in reply:
            raise AttributeError(request.get("attr", "?"))
        if "raised" in reply:
            return _raise(reply.get("type"), reply["raised"])
        if "error" in reply:
            return _raise("Error", reply["error"])
        raise StudentLost("what your code returned could not be read: not an answer")

    def close(self) -> None:
        for fd in (self.req_fd, self.resp_fd):
            try:
                os.close(fd)
            except OSError:
                pass


def _raise(type_name, text):
    if type(type_name) is not str or type(text) is not str:
        raise StudentLost("what your code returned could not be read: an error without its text")
    raise ForeignError(type_name[:100], text[:TEXT_CAP])


class Channel:
    """The link the proxies use now: a part whose student process died goes on with a fresh one."""

    def __init__(self):
        self.link: Link | None = None

    def ask(self, request: dict):
        assert self.link is not None, "no student process to ask"
        return self.link.ask(request)


class RemoteFunction:
    """A student's function: f(*args) runs there, its result comes back."""

    def __init__(self, channel: Channel, name: str):
        self.channel, self.__name__ = channel, name

    def __call__(self, *args, **kwargs):
        return self.channel.ask({"op": "call", "fn": self.__name__, "args": list(args), "kwargs": kwargs})


class RemoteClass(RemoteFunction):
    """A student's class: calling it builds the object there; here, a RemoteObject whose type
    has the class's name (the feedback names it)."""

    def __call__(self, *args, **kwargs):
        got = super().__call__(*args, **kwargs)
        if not isinstance(got, wire.Handle):
            return got
        cls = type(self.__name__, (RemoteObject,), {})
        return cls(self.channel, got)


class RemoteObject:
    """A student's object: `params` is a copy of its parameters dict, sent back before every
    call of `loss` (the checks set and perturb parameters); other attributes are read there
    (a method comes back as a handle: only `loss` can be called)."""

    def __init__(self, channel: Channel, handle: wire.Handle):
        self._channel, self._handle = channel, handle
        for name in ("params", "loss"):
            try:
                value = channel.ask({"op": "get", "obj": handle, "attr": name})
            except AttributeError:
                continue
            setattr(self, name, self._loss if name == "loss" else value)

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        return self._channel.ask({"op": "get", "obj": self._handle, "attr": name})

    def _loss(self, *args, **kwargs):
        params = self.__dict__.get("params")
        if isinstance(params, dict) and all(isinstance(v, (np.ndarray, np.generic, float, int)) for v in params.values()):
            self._channel.ask({"op": "put", "obj": self._handle, "attr": "params", "values": params})
        return self._channel.ask({"op": "call", "obj": self._handle, "method": "loss", "args": list(args),
                                  "kwargs": kwargs})
