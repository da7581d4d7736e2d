"""deeplearning.ai's recurrent convention (Sequence Models, week 1), seen as CS231n's functions.

Theirs is column-major: xt (n_x, m), a_prev (n_a, m), sequences x (n_x, m, T_x), parameters in a
dict; an RNN cell computes a_next = tanh(Wax xt + Waa a_prev + ba), an LSTM cell acts on
concat = [a_prev; xt] (a_prev first) with Wf, Wi, Wc, Wo (n_a, n_a + n_x) and bf, bi, bc, bo
(n_a, 1). Its backward functions return gradients dicts ({dxt, da_prev, dWax, ...}).

dlai_functions(module) gives CS231n's signatures (x (N, D), h (N, H), sequences (N, T, D),
Wx (D, G*H), Wh (H, G*H), b (G*H,), the LSTM's gate blocks in the order i, f, o, g) by
transposing, splitting the weights into the user's parameters and stacking their gradients back.
Nothing is checked or corrected on the way: a user's slip reaches the CS231n outputs unchanged,
and what a user function raises passes through unchanged (its file and line with it). Only a
result of the wrong kind, keys or shape is refused, as a ValueError naming the function.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Callable, Mapping

import numpy as np

from numpy_impl.functional import MASKED, temporal_ce

from .shared import validate as V
from .shared.model import dtype_of

Array = np.ndarray

RNN_NAMES = ("rnn_cell_forward", "rnn_cell_backward", "rnn_forward", "rnn_backward")
LSTM_NAMES = ("lstm_cell_forward", "lstm_cell_backward", "lstm_forward", "lstm_backward")
# CS231n's gate blocks along 4H, in order, and the letter deeplearning.ai names each gate by
GATES = (("i", "i"), ("f", "f"), ("o", "o"), ("g", "c"))
N_Y = 2  # rows of the output weights Wya / Wy handed in (zeros): yt_pred is computed, then ignored


@dataclass(frozen=True)
class DlaiCache:
    """What a wrapped forward hands its backward: the user's own cache (handed back to the user's
    backward as a fresh deep copy each time) and the sizes its gradients must have."""
    user_cache: Any
    n_x: int
    n_a: int
    m: int
    T: int | None = None  # None: one cell


# --- layouts -------------------------------------------------------------------------------

def _col(a: Array) -> Array:
    """(N, D) -> (D, N), or (N, T, D) -> (D, N, T): a fresh array of its own."""
    a = np.asarray(a)
    return np.array(a.T if a.ndim == 2 else a.transpose(2, 0, 1), copy=True)


def _row(a: Array) -> Array:
    """(D, N) -> (N, D), or (D, N, T) -> (N, T, D): a fresh array of its own."""
    return np.array(a.T if a.ndim == 2 else a.transpose(1, 2, 0), copy=True)


def _rnn_params(Wx: Array, Wh: Array, b: Array, names: Mapping[str, str]) -> dict:
    """CS231n's Wx (D, H), Wh (H, H), b (H,) -> {Wax, Waa, Wya, ba, by} (column-major)."""
    H = np.shape(Wh)[0]
    own = {"Wax": np.array(np.asarray(Wx).T), "Waa": np.array(np.asarray(Wh).T),
           "Wya": np.zeros((N_Y, H), np.asarray(Wx).dtype), "ba": np.array(np.reshape(b, (H, 1))),
           "by": np.zeros((N_Y, 1), np.asarray(Wx).dtype)}
    return {names.get(k, k): v for k, v in own.items()}


def _lstm_params(Wx: Array, Wh: Array, b: Array, names: Mapping[str, str]) -> dict:
    """CS231n's Wx (D, 4H), Wh (H, 4H), b (4H,) in blocks i, f, o, g -> {Wf, bf, Wi, bi, Wc, bc,
    Wo, bo, Wy, by}, each W (H, H + D) acting on [a_prev; xt]."""
    Wx, Wh, b = np.asarray(Wx), np.asarray(Wh), np.asarray(b)
    H = Wh.shape[0]
    blocks = {}
    for k, (_, letter) in enumerate(GATES):
        cols = slice(k * H, (k + 1) * H)
        blocks[letter] = (np.concatenate([Wh[:, cols].T, Wx[:, cols].T], axis=1), np.array(b[cols].reshape(H, 1)))
    own = {}
    for letter in "fico":  # the course's order, for code that unpacks parameters.values()
        own[f"W{letter}"], own[f"b{letter}"] = blocks[letter]
    own["Wy"], own["by"] = np.zeros((N_Y, H), Wx.dtype), np.zeros((N_Y, 1), Wx.dtype)
    return {names.get(k, k): v for k, v in own.items()}


# --- what the user's functions return --------------------------------------------------------

def _parts(fn_name: str, out: Any, sizes: tuple[int, ...], what: str) -> tuple:
    """The user's returned tuple, of one of `sizes` lengths."""
    if not isinstance(out, (tuple, list)) or len(out) not in sizes:
        got = f"{len(out)} values" if isinstance(out, (tuple, list)) else type(out).__name__
        raise ValueError(f"{fn_name}: returned {got}, expected ({what})")
    return tuple(out)


def _array(fn_name: str, label: str, value: Any, shape: tuple[int, ...], alt: tuple[int, ...] | None = None) -> Array:
    """`value` as an array of `shape` (or `alt`, e.g. a bias gradient (n_a,) for (n_a, 1))."""
    a = np.asarray(value) if isinstance(value, (np.ndarray, np.generic, float, int, list)) else None
    if a is None:
        raise ValueError(f"{fn_name}: {label} is a {type(value).__name__}, expected an array of shape {shape}")
    if a.shape != shape and a.shape != alt:
        raise ValueError(f"{fn_name}: {label} has shape {a.shape}, expected {shape}")
    return a.reshape(shape)


def _grads(fn_name: str, out: Any, wanted: dict[str, tuple], names: Mapping[str, str]) -> dict[str, Array]:
    """The user's gradients dict, each wanted key checked for its shape: {key: (shape, alt)}."""
    if not isinstance(out, Mapping):
        raise ValueError(f"{fn_name}: returned a {type(out).__name__}, expected its gradients dict")
    got = {}
    for key, (shape, alt) in wanted.items():
        theirs = "d" + names[key[1:]] if key[1:] in names else key
        if theirs not in out:
            raise ValueError(f"{fn_name}: its gradients dict has no {theirs!r}")
        got[key] = _array(fn_name, f"gradients[{theirs!r}]", out[theirs], shape, alt)
    return got


def _fresh(cache: Any, fn_name: str) -> Any:
    if not isinstance(cache, DlaiCache):
        raise ValueError(f"{fn_name}: cache is not what the wrapped forward returned")
    return copy.deepcopy(cache.user_cache)  # a backward that edits its cache cannot change the next call


def _rnn_param_grads(g: dict, n_a: int, d: str = "d") -> tuple[Array, Array, Array]:
    """dWax (n_a, n_x), dWaa, dba -> dWx (D, H), dWh (H, H), db (H,); with d="" the
    parameters themselves (Wax, Waa, ba -> Wx, Wh, b): one layout change for both."""
    return np.array(g[f"{d}Wax"].T), np.array(g[f"{d}Waa"].T), np.array(g[f"{d}ba"].reshape(n_a))


def _lstm_param_grads(g: dict, n_a: int, d: str = "d") -> tuple[Array, Array, Array]:
    """dW* (n_a, n_a + n_x), db* -> dWx (D, 4H), dWh (H, 4H), db (4H,) in blocks i, f, o, g; with
    d="" the parameters themselves (Wf, bf, ... -> Wx, Wh, b)."""
    dWx = np.concatenate([g[f"{d}W{c}"][:, n_a:].T for _, c in GATES], axis=1)
    dWh = np.concatenate([g[f"{d}W{c}"][:, :n_a].T for _, c in GATES], axis=1)
    db = np.concatenate([g[f"{d}b{c}"].reshape(n_a) for _, c in GATES])
    return dWx, dWh, db


def _rnn_wanted(n_x: int, n_a: int, dx: str, dx_shape: tuple, dh: str) -> dict[str, tuple]:
    """{key: (shape, alternative shape)} of an RNN gradients dict; dx_shape[1] is m."""
    return {dx: (dx_shape, None), dh: ((n_a, dx_shape[1]), None),
            "dWax": ((n_a, n_x), None), "dWaa": ((n_a, n_a), None), "dba": ((n_a, 1), (n_a,))}


def _lstm_wanted(n_x: int, n_a: int) -> dict[str, tuple]:
    out = {}
    for _, c in GATES:
        out[f"dW{c}"] = ((n_a, n_a + n_x), None)
        out[f"db{c}"] = ((n_a, 1), (n_a,))
    return out


# --- the wrapped functions -------------------------------------------------------------------

def _rnn_functions(fns: dict[str, Callable], names: Mapping[str, str]) -> dict[str, Callable]:
    """The CS231n RNN functions over the user's rnn_cell_* and rnn_forward/backward."""

    def rnn_step_forward(x, prev_h, Wx, Wh, b):
        """x (N, D), prev_h (N, H) -> (next_h (N, H), cache), through rnn_cell_forward."""
        (N, D), H = np.shape(x), np.shape(Wh)[0]
        res = fns["rnn_cell_forward"](_col(x), _col(prev_h), _rnn_params(Wx, Wh, b, names))
        a_next, *_, cache = _parts("rnn_cell_forward", res, (2, 3), "a_next, yt_pred, cache")
        a_next = _array("rnn_cell_forward", "a_next", a_next, (H, N))
        return _row(a_next), DlaiCache(cache, D, H, N)

    def rnn_step_backward(dnext_h, cache):
        """-> (dx, dprev_h, dWx, dWh, db), through rnn_cell_backward."""
        name = "rnn_cell_backward"
        res = fns[name](_col(dnext_h), _fresh(cache, "rnn_step_backward"))
        g = _grads(name, res, _rnn_wanted(cache.n_x, cache.n_a, "dxt", (cache.n_x, cache.m), "da_prev"), names)
        return (_row(g["dxt"]), _row(g["da_prev"]), *_rnn_param_grads(g, cache.n_a))

    def rnn_forward(x, h0, Wx, Wh, b):
        """x (N, T, D), h0 (N, H) -> (h (N, T, H), cache), through the user's rnn_forward."""
        (N, T, D), H = np.shape(x), np.shape(Wh)[0]
        res = fns["rnn_forward"](_col(x), _col(h0), _rnn_params(Wx, Wh, b, names))
        a, *_, caches = _parts("rnn_forward", res, (2, 3), "a, y_pred, caches")
        a = _array("rnn_forward", "a", a, (H, N, T))
        return _row(a), DlaiCache(caches, D, H, N, T)

    def rnn_backward(dh, cache):
        """dh (N, T, H) -> (dx (N, T, D), dh0, dWx, dWh, db), through the user's rnn_backward."""
        name = "rnn_backward"
        res = fns[name](_col(dh), _fresh(cache, name))
        g = _grads(name, res, _rnn_wanted(cache.n_x, cache.n_a, "dx", (cache.n_x, cache.m, cache.T), "da0"), names)
        return (_row(g["dx"]), _row(g["da0"]), *_rnn_param_grads(g, cache.n_a))

    return {**_pair((rnn_step_forward, rnn_step_backward), RNN_NAMES[:2], fns),
            **_pair((rnn_forward, rnn_backward), RNN_NAMES[2:], fns)}


def _lstm_functions(fns: dict[str, Callable], names: Mapping[str, str]) -> dict[str, Callable]:
    """The CS231n LSTM functions over the user's lstm_cell_* and lstm_forward/backward."""

    def lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b):
        """x (N, D), prev_h, prev_c (N, H) -> (next_h, next_c, cache), through lstm_cell_forward."""
        name, (N, D), H = "lstm_cell_forward", np.shape(x), np.shape(Wh)[0]
        res = fns[name](_col(x), _col(prev_h), _col(prev_c), _lstm_params(Wx, Wh, b, names))
        a_next, c_next, *_, cache = _parts(name, res, (3, 4), "a_next, c_next, yt_pred, cache")
        a_next, c_next = _array(name, "a_next", a_next, (H, N)), _array(name, "c_next", c_next, (H, N))
        return _row(a_next), _row(c_next), DlaiCache(cache, D, H, N)

    def lstm_step_backward(dnext_h, dnext_c, cache):
        """-> (dx, dprev_h, dprev_c, dWx, dWh, db), through lstm_cell_backward."""
        name, n_x, n_a, m = "lstm_cell_backward", cache.n_x, cache.n_a, cache.m
        res = fns[name](_col(dnext_h), _col(dnext_c), _fresh(cache, "lstm_step_backward"))
        wanted = {"dxt": ((n_x, m), None), "da_prev": ((n_a, m), None), "dc_prev": ((n_a, m), None),
                  **_lstm_wanted(n_x, n_a)}
        g = _grads(name, res, wanted, names)
        return (_row(g["dxt"]), _row(g["da_prev"]), _row(g["dc_prev"]), *_lstm_param_grads(g, n_a))

    def lstm_forward(x, h0, Wx, Wh, b):
        """x (N, T, D), h0 (N, H) -> (h (N, T, H), cache), through the user's lstm_forward (c0 = 0)."""
        (N, T, D), H = np.shape(x), np.shape(Wh)[0]
        res = fns["lstm_forward"](_col(x), _col(h0), _lstm_params(Wx, Wh, b, names))
        a, *_, caches = _parts("lstm_forward", res, (2, 3, 4), "a, y, c, caches")
        a = _array("lstm_forward", "a", a, (H, N, T))
        return _row(a), DlaiCache(caches, D, H, N, T)

    def lstm_backward(dh, cache):
        """dh (N, T, H) -> (dx (N, T, D), dh0, dWx, dWh, db), through the user's lstm_backward."""
        name, n_x, n_a, m = "lstm_backward", cache.n_x, cache.n_a, cache.m
        res = fns[name](_col(dh), _fresh(cache, name))
        wanted = {"dx": ((n_x, m, cache.T), None), "da0": ((n_a, m), None), **_lstm_wanted(n_x, n_a)}
        g = _grads(name, res, wanted, names)
        return (_row(g["dx"]), _row(g["da0"]), *_lstm_param_grads(g, n_a))

    return {**_pair((lstm_step_forward, lstm_step_backward), LSTM_NAMES[:2], fns),
            **_pair((lstm_forward, lstm_backward), LSTM_NAMES[2:], fns)}


def _pair(ours: tuple[Callable, Callable], theirs: tuple[str, str], fns: dict[str, Callable]) -> dict[str, Callable]:
    """{name: wrapped} of the forward (and backward) where the user defines the forward (and backward)."""
    fwd, bwd = theirs
    if bwd in fns and fwd not in fns:
        raise ValueError(f"dlai_functions: {bwd} is defined but {fwd} is not; a backward needs its forward's cache")
    return {f.__name__: f for f, theirs_name in zip(ours, theirs) if theirs_name in fns}


# --- entry points ----------------------------------------------------------------------------

def _lookup(module: Any) -> dict[str, Callable]:
    """The deeplearning.ai functions a module, namespace or dict defines."""
    get = module.get if isinstance(module, Mapping) else (lambda n: getattr(module, n, None))
    fns = {}
    for name in RNN_NAMES + LSTM_NAMES:
        fn = get(name)
        if fn is None:
            continue
        if not callable(fn):
            raise ValueError(f"dlai_functions: {name} is a {type(fn).__name__}, not a function")
        fns[name] = fn
    return fns


def dlai_functions(module: Any, *, names: Mapping[str, str] | None = None) -> SimpleNamespace:
    """CS231n-style rnn_step_forward/backward, rnn_forward/backward, lstm_step_forward/backward,
    lstm_forward/backward over the deeplearning.ai-style functions `module` (a module, namespace or
    dict) defines. `names` renames parameters where yours differ, e.g. {"Wi": "Wu", "bi": "bu"}
    (the gradients then read dWu, dbu)."""
    names = dict(names or {})
    known = {"Wax", "Waa", "Wya", "ba", "by", "Wf", "bf", "Wi", "bi", "Wc", "bc", "Wo", "bo", "Wy"}
    unknown = sorted(set(names) - known)
    if unknown:
        raise ValueError(f"dlai_functions: names= renames unknown parameters {unknown}; known: {sorted(known)}")
    fns = _lookup(module)
    if not fns:
        raise ValueError(f"dlai_functions: found none of {', '.join(RNN_NAMES + LSTM_NAMES)}")
    wrapped = {**_rnn_functions(fns, names), **_lstm_functions(fns, names)}
    return SimpleNamespace(**wrapped, convention="deeplearning.ai", user_functions=tuple(fns))


def _cs231n_params(parameters: Mapping[str, Any], names: Mapping[str, str], kind: str) -> dict[str, Array]:
    """Your parameters dict (RNN: Wax, Waa, ba, Wya, by; LSTM: Wf, bf, Wi, bi, Wc, bc, Wo, bo, Wy,
    by) as CS231n's Wx, Wh, b (LSTM blocks i, f, o, g) and W_vocab (H, V), b_vocab (V,)."""

    def get(key: str) -> Array:
        theirs = names.get(key, key)
        if theirs not in parameters:
            raise ValueError(f"parameters: no {theirs!r} (an RNN has Wax, Waa, ba, Wya, by; an LSTM Wf, bf, ..., Wy, by)")
        a = np.asarray(parameters[theirs])
        return np.array(a, dtype=np.float64 if a.dtype.kind in "iub" else a.dtype)  # a copy of its own

    if kind == "lstm":
        own = {f"{w}{c}": get(f"{w}{c}") for _, c in GATES for w in "Wb"}
        (Wx, Wh, b), out_w = _lstm_param_grads(own, own["Wf"].shape[0], d=""), get("Wy")
    else:
        own = {k: get(k) for k in ("Wax", "Waa", "ba")}
        (Wx, Wh, b), out_w = _rnn_param_grads(own, own["Waa"].shape[0], d=""), get("Wya")
    return {"Wx": Wx, "Wh": Wh, "b": b, "W_vocab": np.array(out_w.T), "b_vocab": get("by").reshape(-1)}


def _temporal_affine_forward(x, w, b):
    """The output layer y = Wya a + by at every step, as CS231n's temporal affine (ours, not yours)."""
    return x @ w + b, (x, w)


def _temporal_affine_backward(dout, cache):
    x, w = cache
    flat = x.reshape(-1, x.shape[-1])
    return dout @ w.T, flat.T @ dout.reshape(-1, w.shape[1]), dout.sum(axis=(0, 1))


def _temporal_softmax_loss(x, y, mask):
    """The softmax cross-entropy of every unmasked step, summed and divided by N (ours)."""
    return temporal_ce(x, np.where(mask, y, MASKED))


def recurrent_dlai(module: Any, parameters: Mapping[str, Any], x, y, mask=None, *, a0=None,
                   names: Mapping[str, str] | None = None, name: str = "recurrent (deeplearning.ai)"):
    """Your deeplearning.ai-style RNN or LSTM checked by byo.recurrent, step by step.

    Args:
        module: a module, namespace or dict (`globals()`) with your rnn_cell_*/rnn_* or
            lstm_cell_*/lstm_* functions.
        parameters: your parameters dict, column-major: an RNN's Wax (n_a, n_x), Waa, ba (n_a, 1),
            Wya (n_y, n_a), by (n_y, 1); an LSTM's Wf, Wi, Wc, Wo (n_a, n_a + n_x), bf, ..., Wy, by.
        x: (n_x, m, T_x) inputs. y: (m, T_x) integer labels in [0, n_y): the class each step's
            softmax(Wy a + by) should give. mask: (m, T_x) booleans, False on padded steps.
        a0: (n_a, m) initial hidden state; None: zeros. names: your names where they differ,
            e.g. {"Wi": "Wu", "bi": "bu"}.
    Your cells' recurrence, their gradients and the gradient they hand back through time are
    judged; the output layer (Wy a + by) and its softmax loss are computed with ours, since the
    course's cells compute yt_pred without a backward for it."""
    from .recurrent import recurrent  # the CS231n-style check; imported here, where it is needed
    names = dict(names or {})
    fns = dlai_functions(module, names=names)
    if not isinstance(parameters, Mapping):
        raise ValueError(f"parameters: give your parameters dict, got {type(parameters).__name__}")
    kind = "lstm" if names.get("Wf", "Wf") in parameters else "rnn"
    params = _cs231n_params(parameters, names, kind)
    for fn in (f"{kind}_forward", f"{kind}_backward"):
        if not hasattr(fns, fn):
            raise ValueError(f"recurrent_dlai: your parameters are an {kind.upper()}'s, but {fn} is not defined")
    # validated in your layout, so that a NaN is named at your index, before being transposed
    dtype = dtype_of(*params.values())
    seq = V.batch(x, dtype, min_ndim=3, name="x")
    if seq.ndim != 3:
        raise ValueError(f"x: give (n_x, m, T_x) inputs, got shape {seq.shape}")
    h0 = None if a0 is None else np.array(V.batch(a0, dtype, name="a0").T)
    both = SimpleNamespace(**vars(fns), temporal_affine_forward=_temporal_affine_forward,
                           temporal_affine_backward=_temporal_affine_backward,
                           temporal_softmax_loss=_temporal_softmax_loss)
    return recurrent(both, params, seq.transpose(1, 2, 0), y, mask, h0=h0, cell=kind,
                     gate_order="ifog" if kind == "lstm" else None, name=name)
