"""deeplearning.ai's column-major recurrent functions seen as CS231n's (byo/recurrent_dlai.py):
a correct RNN and LSTM wrapped agree with the NumPy mirror over 50 steps; each planted slip of
tests/corpus/recurrent_dlai_cases.py reaches the wrapped outputs unchanged, from the step listed;
what user code raises passes through; a result of the wrong shape is refused in one line."""
import traceback
from types import SimpleNamespace

import numpy as np
import pytest
from corpus.recurrent_dlai_cases import rows as cases
from corpus.recurrent_dlai_student import student
from examples_loader import load_example

from crosscheck.check.byo.recurrent_dlai import dlai_functions, recurrent_dlai
from crosscheck.check.user_code import describe
from numpy_impl import recurrent_functional as RF

# float64, 50 steps of the same maths in another order (matmuls of other shapes, per-step sums):
# rounding differences stay near 1e-15 relative; 1e-12 leaves room and still catches any slip.
REL = 1e-12
N, D, H, T = 4, 3, 5, 50      # all different, so a transposed array cannot pass for another
LSTM_TO_TORCH = [0, 1, 3, 2]  # CS231n's gate blocks i, f, o, g -> torch's i, f, g, o (its own inverse)
BUGGY = [c for c in cases() if not c.clean and c.refused is None]


def rel(mine, ref) -> float:
    mine, ref = np.asarray(mine), np.asarray(ref)
    assert mine.shape == ref.shape, (mine.shape, ref.shape)
    return float(np.abs(mine - ref).max() / max(np.abs(ref).max(), 1e-300))


def _blocks(a, kind, axis):
    """`a` with its gate blocks along `axis` reordered between CS231n's and torch's order."""
    if kind == "rnn":
        return a
    return np.concatenate([np.split(a, 4, axis=axis)[k] for k in LSTM_TO_TORCH], axis=axis)


def to_torch(kind, Wx, Wh, b):
    """CS231n's Wx (D, G*H), Wh (H, G*H), b (G*H,) -> the mirror's (w_ih, w_hh, b_ih, b_hh)."""
    return (_blocks(Wx, kind, 1).T, _blocks(Wh, kind, 1).T, _blocks(b, kind, 0), np.zeros(b.shape))


def from_torch(kind, dw_ih, dw_hh, db_ih):
    """The mirror's parameter gradients -> CS231n's dWx, dWh, db (b_hh is zero and b's twin)."""
    return _blocks(dw_ih.T, kind, 1), _blocks(dw_hh.T, kind, 1), _blocks(db_ih, kind, 0)


def problem(kind, seed=0, t=T):
    """x (N, t, D), h0 (N, H), Wx, Wh, b, dh (N, t, H): small weights, so tanh is not saturated."""
    rng = np.random.default_rng(seed)
    G = 4 if kind == "lstm" else 1
    return SimpleNamespace(x=rng.normal(size=(N, t, D)), h0=rng.normal(size=(N, H)) * 0.5,
                           Wx=rng.normal(size=(D, G * H)) * 0.4, Wh=rng.normal(size=(H, G * H)) * 0.4,
                           b=rng.normal(size=G * H) * 0.2, dh=rng.normal(size=(N, t, H)))


def mirror(kind, p):
    """The mirror's h (N, T, H), dx, dh0, dWx, dWh, db for problem p (c0 = 0, no final-state gradient)."""
    torch_kind = "lstm" if kind == "lstm" else "rnn_tanh"
    w = to_torch(kind, p.Wx, p.Wh, p.b)
    state0 = (p.h0, np.zeros_like(p.h0)) if kind == "lstm" else (p.h0,)
    rec = RF.layer_forward(torch_kind, p.x, state0, *w)
    zero = tuple(np.zeros_like(s) for s in state0)
    dx, carry, (dw_ih, dw_hh, db_ih, _) = RF.layer_backward(rec, p.dh, zero, w[0], w[1])
    return SimpleNamespace(h=rec.states[0][1:].swapaxes(0, 1), dx=dx, dh0=carry[0], rec=rec,
                           grads=from_torch(kind, dw_ih, dw_hh, db_ih))


def run_sequence(fns, kind, p):
    h, cache = getattr(fns, f"{kind}_forward")(p.x, p.h0, p.Wx, p.Wh, p.b)
    return h, getattr(fns, f"{kind}_backward")(p.dh, cache)


# --- a correct implementation, wrapped, is the mirror ---------------------------------------

@pytest.mark.parametrize("kind, source", [("rnn", "student"), ("lstm", "student"), ("lstm", "example")])
def test_sequence_matches_the_mirror_over_50_steps(kind, source):
    module = student() if source == "student" else load_example("byo_rnn_dlai")
    p = problem(kind)
    h, (dx, dh0, dWx, dWh, db) = run_sequence(dlai_functions(module), kind, p)
    ref = mirror(kind, p)
    for name, mine, want in (("h", h, ref.h), ("dx", dx, ref.dx), ("dh0", dh0, ref.dh0),
                             *zip(("dWx", "dWh", "db"), (dWx, dWh, db), ref.grads)):
        assert rel(mine, want) <= REL, name


@pytest.mark.parametrize("source", ["student", "example"])
def test_lstm_step_matches_the_mirror(source):
    module = student() if source == "student" else load_example("byo_rnn_dlai")
    fns, p, rng = dlai_functions(module), problem("lstm"), np.random.default_rng(5)
    x, c, dnext_h, dnext_c = p.x[:, 0], rng.normal(size=(N, H)), rng.normal(size=(N, H)), rng.normal(size=(N, H))
    h1, c1, cache = fns.lstm_step_forward(x, p.h0, c, p.Wx, p.Wh, p.b)
    got = fns.lstm_step_backward(dnext_h, dnext_c, cache)
    w = to_torch("lstm", p.Wx, p.Wh, p.b)
    rh, rc, rcache = RF.lstm_step_forward(x, p.h0, c, *w)
    dx, dh, dc, dw_ih, dw_hh, db_ih, _ = RF.lstm_step_backward(dnext_h, dnext_c, rcache)
    for name, mine, want in zip(("h", "c", "dx", "dprev_h", "dprev_c", "dWx", "dWh", "db"), (h1, c1, *got),
                                (rh, rc, dx, dh, dc, *from_torch("lstm", dw_ih, dw_hh, db_ih))):
        assert rel(mine, want) <= REL, name


def test_rnn_step_matches_the_mirror():
    fns, p, dnext = dlai_functions(student()), problem("rnn"), np.random.default_rng(6).normal(size=(N, H))
    h1, cache = fns.rnn_step_forward(p.x[:, 0], p.h0, p.Wx, p.Wh, p.b)
    got = fns.rnn_step_backward(dnext, cache)
    w = to_torch("rnn", p.Wx, p.Wh, p.b)
    rh, rcache = RF.rnn_step_forward(p.x[:, 0], p.h0, *w)
    dx, dh, dw_ih, dw_hh, db_ih, _ = RF.rnn_step_backward(dnext, rcache)
    for name, mine, want in zip(("h", "dx", "dprev_h", "dWx", "dWh", "db"), (h1, *got),
                                (rh, dx, dh, *from_torch("rnn", dw_ih, dw_hh, db_ih))):
        assert rel(mine, want) <= REL, name


# --- each planted slip reaches the wrapped outputs unchanged, from the step listed ------------

def first_failing_step(clean, buggy):
    """Where the buggy run first parts from the clean one, in execution order: ("h", t) forward
    (t = 0..T-1), ("dx", t) backward (t = T-1..0), ("params", None) when only a summed parameter
    gradient differs. Runs on the same inputs, so equal means bitwise equal."""
    (h0, g0), (h1, g1) = clean, buggy
    fwd = [t for t in range(T) if not np.array_equal(h0[:, t], h1[:, t])]
    if fwd:
        return "h", fwd[0]
    bwd = [t for t in reversed(range(T)) if not np.array_equal(g0[0][:, t], g1[0][:, t])]
    if bwd:
        return "dx", bwd[0]
    assert np.array_equal(g0[1], g1[1]), "dh0 differs while every dx agrees"
    return "params", None


CS231N_OUTPUTS = {"step_forward": ("h", "c"), "step_backward": ("dx", "dprev_h", "dprev_c", "dWx", "dWh", "db"),
                  "backward": ("dx", "dh0", "dWx", "dWh", "db")}


def run_function(fns, function, kind, p):
    """{output name: value} of the wrapped CS231n `function` on problem p (its step at t = 0)."""
    if function.endswith("_step_forward") or function.endswith("_step_backward"):
        args = (p.x[:, 0], p.h0, *((np.full((N, H), 0.3),) if kind == "lstm" else ()), p.Wx, p.Wh, p.b)
        *states, cache = getattr(fns, f"{kind}_step_forward")(*args)
        if function.endswith("forward"):
            return dict(zip(CS231N_OUTPUTS["step_forward"], states))
        ups = (p.dh[:, 0], np.full((N, H), 0.2))[:len(states)]
        names = [n for n in CS231N_OUTPUTS["step_backward"] if kind == "lstm" or n != "dprev_c"]
        return dict(zip(names, getattr(fns, function)(*ups, cache)))
    h, grads = run_sequence(fns, kind, p)
    return {"h": h, **dict(zip(CS231N_OUTPUTS["backward"], grads))}


@pytest.mark.parametrize("case", BUGGY, ids=lambda c: c.name)
def test_a_planted_slip_shows_from_its_step(case):
    p = problem(case.kind)
    clean = run_sequence(dlai_functions(student()), case.kind, p)
    buggy = run_sequence(dlai_functions(case.make_module()), case.kind, p)
    quantity, t = first_failing_step(clean, buggy)
    assert t == (None if case.t is None else case.t % T), (quantity, t)
    assert quantity == (case.quantity if case.quantity in ("h", "dx") else "params")
    if case.t is None:  # h, every dx and dh0 bitwise equal; the parameter gradient named differs
        assert not np.array_equal(clean[1][2:][("dWx", "dWh", "db").index(case.quantity)],
                                  buggy[1][2:][("dWx", "dWh", "db").index(case.quantity)])
    mine = run_function(dlai_functions(case.make_module()), case.function, case.kind, p)
    ref = run_function(dlai_functions(student()), case.function, case.kind, p)
    assert not np.array_equal(mine[case.quantity], ref[case.quantity]), f"{case.function}: {case.quantity}"


@pytest.mark.parametrize("case", [c for c in cases() if c.clean], ids=lambda c: c.name)
def test_a_clean_row_is_clean(case):
    p = problem(case.kind)
    h, grads = run_sequence(dlai_functions(case.make_module()), case.kind, p)
    ref = mirror(case.kind, p)
    assert max(rel(a, b) for a, b in ((h, ref.h), (grads[0], ref.dx), *zip(grads[2:], ref.grads))) <= REL


def _case(name):
    return next(c for c in cases() if c.name == name)


@pytest.mark.parametrize("name", ["rnn-dWax-last-step", "lstm-dWf-last-step"])
def test_a_parameter_gradient_from_one_step_is_that_steps_share(name):
    """The backward loop runs from T-1 down, so the value kept is step 0's share, exactly."""
    case = _case(name)
    p = problem(case.kind)
    _, (_, _, dWx, dWh, db) = run_sequence(dlai_functions(case.make_module()), case.kind, p)
    share = from_torch(case.kind, *mirror(case.kind, p).rec.step_grads(0)[:3])
    if case.kind == "rnn":
        assert rel(dWx, share[0]) <= REL
        return
    f = slice(H, 2 * H)  # CS231n's f block; the other gates are summed as they should be
    assert rel(dWx[:, f], share[0][:, f]) <= REL and rel(dWh[:, f], share[1][:, f]) <= REL
    assert rel(dWx[:, :H], mirror(case.kind, p).grads[0][:, :H]) <= REL


@pytest.mark.parametrize("name", ["rnn-missing-da-prev", "lstm-missing-da-prev"])
def test_a_missing_carry_gives_each_steps_own_gradient_alone(name):
    """At T-2 dx is what the output's gradient alone gives (at T-1 nothing was carried anyway);
    the LSTM's dc is still carried, and step T-1, right itself, handed back the mirror's."""
    case, t = _case(name), T - 2
    p = problem(case.kind)
    _, (dx, *_) = run_sequence(dlai_functions(case.make_module()), case.kind, p)
    rec = mirror(case.kind, p).rec
    w = to_torch(case.kind, p.Wx, p.Wh, p.b)
    state = tuple(s[t] for s in rec.states)
    _, cache = RF.step_forward(rec.kind, p.x[:, t], state, *w)
    alone = RF.step_backward((p.dh[:, t], *(s[t + 1] for s in rec.handed[1:])), cache)[0]
    assert rel(dx[:, t], alone) <= REL


def test_tanh_at_a_prev_reaches_dx_as_written():
    fns, p = dlai_functions(_case("rnn-tanh-at-a-prev").make_module()), problem("rnn")
    _, cache = fns.rnn_step_forward(p.x[:, 0], p.h0, p.Wx, p.Wh, p.b)
    dx = fns.rnn_step_backward(p.dh[:, 0], cache)[0]
    assert rel(dx, ((1 - p.h0 ** 2) * p.dh[:, 0]) @ p.Wx.T) <= REL


# --- user code is foreign: its errors pass through, it gets copies, bad results are refused --

RAISED = []


def _raising_cell_forward(xt, a_prev, parameters):
    err = ZeroDivisionError("the user's own division")
    RAISED.append(err)
    raise err  # the line the traceback must end on


def test_a_user_exception_passes_through_unchanged():
    fns, p = dlai_functions({"rnn_cell_forward": _raising_cell_forward}), problem("rnn")
    with pytest.raises(ZeroDivisionError) as info:
        fns.rnn_step_forward(p.x[:, 0], p.h0, p.Wx, p.Wh, p.b)
    assert info.value is RAISED[-1]
    last = traceback.extract_tb(info.value.__traceback__)[-1]
    assert (last.filename, last.line) == (__file__, "raise err  # the line the traceback must end on")
    assert describe(info.value).endswith(f"(at {__file__}:{last.lineno})")  # our frames are skipped


def test_a_users_numpy_error_names_the_users_line():
    """dba left unsummed: the cell is refused (below); the user's own rnn_backward already fails
    adding it up, and that error is theirs, unchanged."""
    fns, p = dlai_functions(_case("rnn-dba-not-summed").make_module()), problem("rnn")
    h, cache = fns.rnn_forward(p.x, p.h0, p.Wx, p.Wh, p.b)
    with pytest.raises(ValueError) as info:
        fns.rnn_backward(p.dh, cache)
    last = traceback.extract_tb(info.value.__traceback__)[-1]
    assert last.filename.endswith("recurrent_dlai_student.py") and last.line == "dba += dbat"


def _vandal(module):
    """The student's RNN functions, each writing zeros over every array it was handed once it is
    done: the inputs, the parameters, and (backward) its cache."""
    def spoil(value):
        if isinstance(value, np.ndarray):
            value[...] = 0
        elif isinstance(value, dict):
            for v in value.values():
                spoil(v)
        elif isinstance(value, (tuple, list)):
            for v in value:
                spoil(v)

    def wrap(fn):
        def vandal(*args):
            out = fn(*args)
            spoil(args)
            return out
        return vandal
    return {name: wrap(getattr(module, name)) for name in
            ("rnn_cell_forward", "rnn_cell_backward", "rnn_forward", "rnn_backward")}


def _spoils_its_cache(module):
    """The student's RNN functions, the backward ones spoiling what they are handed (_vandal)."""
    spoiling = _vandal(module)
    return {name: spoiling[name] if "backward" in name else getattr(module, name) for name in spoiling}


@pytest.mark.parametrize("steps", ["sequence", "step"])
def test_user_code_gets_copies(steps):
    """The caller's arrays survive, and a backward may be run twice on one cache (as a local
    check does) even when the user's backward spoils the cache it was handed."""
    p = problem("rnn")
    kept = {k: v.copy() for k, v in vars(p).items()}
    fns, vandal = dlai_functions(student()), dlai_functions(_vandal(student()))
    if steps == "sequence":
        forward, backward, args, dh = "rnn_forward", "rnn_backward", (p.x, p.h0), p.dh
    else:
        forward, backward, args, dh = "rnn_step_forward", "rnn_step_backward", (p.x[:, 0], p.h0), p.dh[:, 0]
    h, cache = getattr(fns, forward)(*args, p.Wx, p.Wh, p.b)
    want = getattr(fns, backward)(dh, cache)
    h2, cache2 = getattr(vandal, forward)(*args, p.Wx, p.Wh, p.b)
    getattr(vandal, backward)(dh, cache2)
    assert all(np.array_equal(v, kept[k]) for k, v in vars(p).items())
    assert np.array_equal(h, h2)
    spoiling = dlai_functions(_spoils_its_cache(student()))
    cache3 = getattr(spoiling, forward)(*args, p.Wx, p.Wh, p.b)[1]
    twice = [getattr(spoiling, backward)(dh, cache3) for _ in range(2)]
    assert all(np.array_equal(a, b) for got in twice for a, b in zip(got, want))


def _edited(kind, fn_name, edit):
    """The student's functions with `fn_name`'s result passed through edit(result)."""
    module = vars(student()).copy()
    fn = module[fn_name]
    module[fn_name] = lambda *args: edit(fn(*args))
    return module


def _drop(key):
    return lambda g: {k: v for k, v in g.items() if k != key}


def _set(key, value):
    return lambda g: {**g, key: value(g[key])}


REFUSED = [
    ("lstm_cell_backward", _drop("dWf"), "lstm_step_backward", "lstm_cell_backward: its gradients dict has no 'dWf'"),
    ("lstm_backward", _drop("da0"), "lstm_backward", "lstm_backward: its gradients dict has no 'da0'"),
    ("rnn_cell_backward", _set("dWax", lambda a: a.T), "rnn_step_backward",
     "rnn_cell_backward: gradients['dWax'] has shape (3, 5), expected (5, 3)"),
    ("rnn_cell_backward", _set("dba", lambda a: a.sum(axis=0, keepdims=True)), "rnn_step_backward",
     "rnn_cell_backward: gradients['dba'] has shape (1, 1), expected (5, 1)"),
    ("rnn_cell_backward", lambda g: list(g.values()), "rnn_step_backward",
     "rnn_cell_backward: returned a list, expected its gradients dict"),
    ("rnn_cell_forward", lambda out: (out[0].T, *out[1:]), "rnn_step_forward",
     "rnn_cell_forward: a_next has shape (4, 5), expected (5, 4)"),
    ("lstm_cell_forward", lambda out: out[0], "lstm_step_forward",
     "lstm_cell_forward: returned ndarray, expected (a_next, c_next, yt_pred, cache)"),
    ("lstm_forward", lambda out: (None, *out[1:]), "lstm_forward",
     "lstm_forward: a is a NoneType, expected an array of shape (5, 4, 50)"),
    ("rnn_backward", _set("dx", lambda a: a[:, :, :-1]), "rnn_backward",
     "rnn_backward: gradients['dx'] has shape (3, 4, 49), expected (3, 4, 50)"),
]


@pytest.mark.parametrize("fn_name, edit, function, message", REFUSED, ids=lambda v: v if isinstance(v, str) else "")
def test_a_wrong_result_is_refused_in_one_line(fn_name, edit, function, message):
    kind = fn_name.split("_")[0]
    fns, p = dlai_functions(_edited(kind, fn_name, edit)), problem(kind)
    with pytest.raises(ValueError) as info:
        run_function(fns, function, kind, p)
    assert str(info.value) == message


def test_dba_unsummed_is_refused_naming_it():
    case = _case("rnn-dba-not-summed")
    with pytest.raises(ValueError, match=r"^" + case.refused.replace("[", r"\[")):
        run_function(dlai_functions(case.make_module()), case.function, "rnn", problem("rnn"))


# --- the common variants ---------------------------------------------------------------------

def _unpacking_rnn():
    """RNN functions that unpack parameters.values() in the course's order, return no yt_pred,
    and keep dba as (n_a,)."""
    module = vars(student()).copy()

    def rnn_cell_forward(xt, a_prev, parameters):
        Wax, Waa, Wya, ba, by = parameters.values()
        a_next = np.tanh(Wax @ xt + Waa @ a_prev + ba)
        return a_next, (a_next, a_prev, xt, parameters)

    cell_backward = module["rnn_cell_backward"]

    def rnn_cell_backward(da_next, cache):
        g = cell_backward(da_next, cache)
        return {**g, "dba": g["dba"].ravel()}
    module.update(rnn_cell_forward=rnn_cell_forward, rnn_cell_backward=rnn_cell_backward)
    return module


def _renamed_lstm():
    """LSTM functions that call the update gate u (Wu, bu; dWu, dbu) and unpack parameters.values()."""
    module = vars(student()).copy()
    cell_forward, cell_backward = module["lstm_cell_forward"], module["lstm_cell_backward"]

    def lstm_cell_forward(xt, a_prev, c_prev, parameters):
        Wf, bf, Wu, bu, Wc, bc, Wo, bo, Wy, by = parameters.values()
        p = {"Wf": Wf, "bf": bf, "Wi": Wu, "bi": bu, "Wc": Wc, "bc": bc, "Wo": Wo, "bo": bo, "Wy": Wy, "by": by}
        return cell_forward(xt, a_prev, c_prev, p)

    def lstm_cell_backward(da_next, dc_next, cache):
        g = cell_backward(da_next, dc_next, cache)
        return {("dWu" if k == "dWi" else "dbu" if k == "dbi" else k): v for k, v in g.items()}
    module.update(lstm_cell_forward=lstm_cell_forward, lstm_cell_backward=lstm_cell_backward)
    del module["lstm_forward"], module["lstm_backward"]
    return module


def test_the_common_variants_are_read():
    rnn, p = dlai_functions(_unpacking_rnn()), problem("rnn")
    got = run_function(rnn, "rnn_step_backward", "rnn", p)
    want = run_function(dlai_functions(student()), "rnn_step_backward", "rnn", p)
    assert all(np.array_equal(got[k], want[k]) for k in want)
    lstm, p = dlai_functions(_renamed_lstm(), names={"Wi": "Wu", "bi": "bu"}), problem("lstm")
    got = run_function(lstm, "lstm_step_backward", "lstm", p)
    want = run_function(dlai_functions(student()), "lstm_step_backward", "lstm", p)
    assert all(np.array_equal(got[k], want[k]) for k in want)
    assert not hasattr(lstm, "lstm_forward")  # only what the user defines is wrapped


def test_the_example_is_an_lstm_only():
    fns = dlai_functions(load_example("byo_rnn_dlai"))
    assert fns.user_functions == ("lstm_cell_forward", "lstm_cell_backward", "lstm_forward", "lstm_backward")
    assert [n for n in vars(fns) if n.startswith(("rnn", "lstm"))] == [
        "lstm_step_forward", "lstm_step_backward", "lstm_forward", "lstm_backward"]


@pytest.mark.parametrize("module, kwargs, message", [
    ({}, {}, "dlai_functions: found none of rnn_cell_forward"),
    ({"rnn_cell_backward": print}, {}, "dlai_functions: rnn_cell_backward is defined but rnn_cell_forward is not"),
    ({"lstm_forward": 3}, {}, "dlai_functions: lstm_forward is a int, not a function"),
    (student(), {"names": {"Wu": "Wi"}}, "dlai_functions: names= renames unknown parameters ['Wu']"),
], ids=["nothing", "backward-alone", "not-callable", "unknown-name"])
def test_what_dlai_functions_refuses(module, kwargs, message):
    with pytest.raises(ValueError) as info:
        dlai_functions(module, **kwargs)
    assert str(info.value).startswith(message)


def test_the_example_passes_through_byo_recurrent_dlai():
    from crosscheck import byo
    example = load_example("byo_rnn_dlai")
    assert byo.check(example.crosscheck_model()).passed
    x, labels = np.random.default_rng(0).normal(size=(3, 6, 10)), np.zeros((6, 10), int)
    model = recurrent_dlai(example, example.initialize_parameters(3, 5, 4), x, labels)  # a module, as well as globals()
    assert byo.check(model).passed


def test_nan_in_the_column_major_inputs_is_named_at_the_users_index():
    example = load_example("byo_rnn_dlai")
    x = np.random.default_rng(0).normal(size=(3, 6, 10))
    x[1, 2, 3] = np.nan
    with pytest.raises(ValueError, match=r"^x: contains NaN at \[1, 2, 3\]$"):
        recurrent_dlai(example, example.initialize_parameters(3, 5, 4), x, np.zeros((6, 10), int))
    a0 = np.zeros((5, 6))
    a0[4, 0] = np.inf
    with pytest.raises(ValueError, match=r"^a0: contains .*\[4, 0\]$"):
        recurrent_dlai(example, example.initialize_parameters(3, 5, 4), np.ones((3, 6, 10)), np.zeros((6, 10), int), a0=a0)
