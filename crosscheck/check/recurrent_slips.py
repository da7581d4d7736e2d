"""Name the usual slips of a hand-written recurrent layer from what its step rows show: the
carried dh_next / dc_next left out, a parameter gradient taken from one step instead of summed
over all, gates in another order than torch's (or than declared), time reversed in the backward
loop, tanh' at the wrong value, gradient clipping inside the code checked; where the side keeps
its loop's totals to itself (a user's rnn_backward), the loop rebuilt from torch's values with
each of these changed; an embedding's gradient assigned where repeated indices must add up; a
temporal loss divided by the tokens or with its mask ignored. Every candidate is built from
torch's values (never from the NumPy side's own, which may be the bug)."""
from __future__ import annotations

from itertools import permutations

import numpy as np
import torch

from numpy_impl import recurrent_functional as RF
from reference.recurrent import torch_step

from .compare import relative_error
from .verdict import SLIP_MATCH, agrees

GATE_NAMES = {"lstm": "ifgo", "gru": "rzn"}


def _close(candidate, expected) -> bool:
    return agrees(relative_error(candidate, expected), SLIP_MATCH)


def sequence_slips(check, side, ref) -> list[str]:
    """Phrases for the slips `check` (a StepCheck) shows on `side` (recurrent_steps.StepSide)
    against torch's unrolled run `ref`."""
    found = []
    for finder in (_gate_order, _missing_carry, _reversed_time, _tanh_derivative, _lstm_tanh_derivative, loop_slip):
        try:
            phrase = finder(check, side, ref)
        except (ValueError, TypeError, IndexError, RuntimeError):  # a candidate that does not fit
            phrase = ""
        if phrase:
            found.append(phrase)
    return found + _unsummed_params(side, ref) + clipped_params(side, ref)


def _gate_order(check, side, ref) -> str:
    """The first wrong forward step matches torch's cell with W's gate blocks in another order."""
    row = check.culprit()
    if row is None or row.quantity not in ("h", "c") or ref.kind not in GATE_NAMES:
        return ""
    k, t, names = row.stack, row.t, GATE_NAMES[ref.kind]
    x = torch.tensor(ref.inputs[k][t])
    prev = tuple(torch.tensor(s[t]) for s in ref.states[k])
    # the NumPy step on torch's own inputs: what the failing local row compared
    mine = side.step_forward(k, ref.inputs[k][t], tuple(s[t] for s in ref.states[k]))[0]
    for order in permutations(range(len(names))):
        if order == tuple(range(len(names))):
            continue
        w = [_blocks(a, order) for a in ref.weights[k]]
        if _close(mine, torch_step(ref.kind, x, prev, *w)[0].numpy()):
            own = getattr(side, "gate_phrase", None)  # a side with its own declared order says it its way
            what = own(order) if own is not None else (f"gates in the order ({', '.join(names[i] for i in order)}) "
                                                       f"where torch's are ({', '.join(names)})")
            return f"{what} (layer {k}, from step {t})"
    return ""


def _blocks(a: torch.Tensor, order) -> torch.Tensor:
    """`a` with its gate blocks (rows) taken in `order`."""
    parts = a.chunk(len(order), 0)
    return torch.cat([parts[i] for i in order], 0)


def _missing_carry(check, side, ref) -> str:
    """The first wrong total dh (dc) equals the output's gradient alone: nothing carried back."""
    row = check.culprit()
    if row is None or row.quantity not in ("dh", "dc"):
        return ""
    k, t = row.stack, row.t
    j = 0 if row.quantity == "dh" else 1
    mine = check.side_runs[k].dstates[j][t]
    own = ref.douts[k][t] if j == 0 else np.zeros_like(mine)
    if _close(mine, own) and not _close(own, ref.dstates[k][j][t]):
        nxt = "dh_next" if j == 0 else "dc_next"
        return (f"the carried {nxt} is missing: d{'hc'[j]} at step {t} of layer {k} is only "
                f"{'the output gradient' if j == 0 else 'zero'}, without what step {t + 1} handed back")
    return ""


def _reversed_time(check, side, ref) -> str:
    """The backward loop ran forward in time: NumPy's totals are torch's with t reversed at step T-1."""
    first = check.first_divergence()
    if first is None or first.quantity != "dh":
        return ""
    k = first.stack
    mine, douts = check.side_runs[k].dstates[0], ref.douts[k]
    # step 0 got nothing carried while the last step did (a carry left out everywhere is another slip)
    if (_close(mine[0], douts[0]) and not _close(douts[0], ref.dstates[k][0][0])
            and not _close(mine[-1], douts[-1])):
        return f"the backward loop runs forward in time (layer {k}: step 0 gets no carried gradient)"
    return ""


def _tanh_derivative(check, side, ref) -> str:
    """A vanilla tanh RNN's first wrong step backward matches tanh' taken at the wrong value:
    1 - tanh(h)^2 (at the output h = tanh(a)), 1 - a^2 (the output's form fed the input a) or
    1 - h_prev^2 (at the state the step started from)."""
    row = check.culprit()
    if row is None or ref.kind != "rnn_tanh" or row.quantity != "dx":
        return ""
    k, t = row.stack, row.t
    w_ih, w_hh, b_ih, b_hh = (w.numpy() for w in ref.weights[k])
    a = ref.inputs[k][t] @ w_ih.T + b_ih + ref.states[k][0][t] @ w_hh.T + b_hh
    h, dh = np.tanh(a), ref.dstates[k][0][t]
    mine = side.step_backward(k, ref.inputs[k][t], (ref.states[k][0][t],), (dh,))[0]
    h_prev = ref.states[k][0][t]
    for deriv, what in ((1 - np.tanh(h) ** 2, "at the output (1 - tanh(h)^2 with h = tanh(a))"),
                        (1 - a * a, "from the output's form fed the pre-activation (1 - a^2)"),
                        (1 - h_prev * h_prev, "at the previous hidden state (1 - h_prev^2)")):
        if _close(mine, (dh * deriv) @ w_ih):
            return f"tanh' taken {what} instead of 1 - tanh(a)^2 (layer {k}, from step {t})"
    return ""


def _lstm_tanh_derivative(check, side, ref) -> str:
    """An LSTM's first wrong step backward matches one with a tanh' written wrongly: tanh'(c)
    left out of dh's way into dc, taken at the output (1 - tanh(tanh(c))^2) or as 1 - c^2, or g's
    taken at its output (1 - tanh(g)^2)."""
    row = check.culprit()
    if row is None or ref.kind != "lstm" or row.kind != "gradient":
        return ""
    k, t = row.stack, row.t
    w_ih, w_hh, b_ih, b_hh = (w.numpy() for w in ref.weights[k])
    prev = tuple(s[t] for s in ref.states[k])
    x, (dh, dc) = ref.inputs[k][t], tuple(d[t] for d in ref.dstates[k])
    i, f, g, o, tc, c_prev = RF.cell_of("lstm").forward(x @ w_ih.T + b_ih, prev[0] @ w_hh.T + b_hh, prev)[1]
    mine = side.step_backward(k, x, prev, (dh, dc))[0]
    for tc_deriv, g_deriv, what in ((1.0, 1 - g * g, "tanh'(c) left out: dc gets dh * o"),
                                    (1 - np.tanh(tc) ** 2, 1 - g * g, "tanh'(c) taken at the output, "
                                                                      "1 - tanh(tanh(c))^2"),
                                    (1 - tc * tc, 1 - np.tanh(g) ** 2, "g's tanh' taken at the output, "
                                                                       "1 - tanh(g)^2"),
                                    (1 - np.arctanh(tc) ** 2, 1 - g * g, "tanh'(c) taken as 1 - c^2, the "
                                                                         "output's form fed c")):
        total = dc + dh * o * tc_deriv
        da = np.concatenate([total * g * i * (1 - i), total * c_prev * f * (1 - f), total * i * g_deriv,
                             dh * tc * o * (1 - o)], axis=1)
        if _close(mine, da @ w_ih):
            return f"{what} (layer {k}, from step {t})"
    return ""


def _unsummed_params(side, ref) -> list[str]:
    """A parameter gradient (or, in a gated cell, one gate's block of it) equal to one step's
    share: the sum over steps left out; or its gate blocks in another order than the forward's."""
    out = []
    gates = GATE_NAMES.get(ref.kind, "")
    for k, steps in enumerate(ref.vjp):
        total = [sum(v[2][p] for v in steps) for p in range(len(steps[0][2]))]
        for p, name in enumerate(side.param_names):
            mine = side.grads.get(f"{name}_l{k}")
            if mine is None or _close(mine, total[p]):
                continue
            phrase = _one_step_share(mine, [v[2][p] for v in steps], total[p], f"{name}_l{k}.grad", gates)
            if not phrase and gates:
                phrase = _swapped_blocks(mine, total[p], f"{name}_l{k}.grad", gates)
            out += [phrase] if phrase else []
    return out


def _one_step_share(mine, shares: list, total, what: str, gates: str) -> str:
    """`mine` is the last (or first) step's share of the gradient, whole or in one gate's block."""
    blocks = len(gates) or 1
    if np.shape(mine) != np.shape(total) or np.shape(mine)[0] % blocks:
        return ""
    for t, which in ((len(shares) - 1, "the last"), (0, "the first")):
        # from a zero initial state, step 0's share of weight_hh is exactly zero: no candidate
        if np.any(shares[t]) and _close(mine, shares[t]):
            return f"{what} is {which} step's share only: not summed over the {len(shares)} time steps"
        if blocks > 1:
            mb, sb, tb = (np.split(np.asarray(a), blocks) for a in (mine, shares[t], total))
            wrong = [j for j in range(blocks) if not _close(mb[j], tb[j])]
            # one block wrong, the others right: a zero share (the forget gate's at step 0, from
            # c0 = 0) still says which step the block came from
            if len(wrong) == 1 and _close(mb[wrong[0]], sb[wrong[0]]):
                zero = "" if np.any(sb[wrong[0]]) else " (zero there: nothing reaches that gate at that step)"
                return (f"{what}: gate {gates[wrong[0]]}'s block is {which} step's share only{zero}: not "
                        f"summed over the {len(shares)} time steps")
    return ""


def _swapped_blocks(mine, total, what: str, gates: str) -> str:
    """`mine` is the summed gradient with its gate blocks in another order (dWf handed back as
    dWi, ...), while the forward used them in the right one."""
    if np.shape(mine) != np.shape(total) or np.shape(mine)[0] % len(gates):
        return ""
    for order in permutations(range(len(gates))):
        if order != tuple(range(len(gates))) and _close(mine, _blocks(torch.as_tensor(total), order).numpy()):
            moved = ", ".join(f"{gates[i]}'s in {gates[j]}'s place" for j, i in enumerate(order) if i != j)
            return f"gates in another order in the backward: {what} has {moved} (the forward's order is right)"
    return ""


def _rebuilt_dx(ref, k: int, carry=(True, True), forward_time: bool = False, clip: float | None = None):
    """dx (T, N, I) of stacked layer k rebuilt from torch's states and weights with the backward
    loop changed: a carried gradient dropped, time run forward, the total dh clipped at `clip`."""
    w_ih, w_hh, b_ih, b_hh = (w.numpy() for w in ref.weights[k])
    cell, T = RF.cell_of(ref.kind), len(ref.douts[k])
    caches = []
    for t in range(T):
        prev = tuple(s[t] for s in ref.states[k])
        caches.append(cell.forward(ref.inputs[k][t] @ w_ih.T + b_ih, prev[0] @ w_hh.T + b_hh, prev)[1])
    carried = tuple(np.zeros_like(s[0]) for s in ref.states[k])
    dx = np.empty_like(ref.inputs[k])
    for t in (range(T) if forward_time else reversed(range(T))):
        kept = tuple(c * keep for c, keep in zip(carried, carry))
        total = (ref.douts[k][t] + kept[0], *kept[1:])
        if clip is not None:
            total = (np.clip(total[0], -clip, clip), *total[1:])
        dxw, dhw, direct = cell.backward(total, caches[t])
        carried = RF.hand_back(dhw, direct, w_hh)
        dx[t] = dxw @ w_ih
    return dx


def _round_values(lo: float, hi: float) -> list[float]:
    """Values of two significant digits in (lo, hi] (lo at least hi / 1000): where a clipping
    threshold someone typed lies."""
    lo = max(lo, hi / 1000)
    out = []
    for e in range(int(np.floor(np.log10(lo))) - 1, int(np.ceil(np.log10(hi))) + 1):
        out += [m * 10.0 ** e for m in range(10, 100) if lo < m * 10.0 ** e <= hi]
    return sorted(set(out))


def loop_slip(check, side, ref) -> str:
    """Where the side keeps its per-step totals to itself (a user's rnn_backward), every step is
    right on torch's inputs and dx still fails: the loop's dx matches one rebuilt with a carried
    gradient dropped, time run forward, or the total dh clipped."""
    first = check.first_divergence()
    if first is None or check.culprit() is not None or check.side_runs[first.stack].dstates is not None:
        return ""
    k, mine = first.stack, check.side_runs[first.stack].dx
    two = ref.kind == "lstm"
    tries = [((False, True), False, "the carried dh_next is missing"),
             ((True, False), False, "the carried dc_next is missing"),
             ((False, False), False, "the carried dh_next and dc_next are missing")][:3 if two else 1]
    tries.append(((True, True), True, "the backward loop runs forward in time"))
    for carry, forward_time, what in tries:
        if _close(mine, _rebuilt_dx(ref, k, carry, forward_time)):
            return f"{what} (layer {k}: your loop over time, from step {first.t}; each step alone is right)"
    totals = np.abs(ref.dstates[k][0])
    if first.quantity == "dx":
        later = float(totals[first.t + 1:].max()) if first.t + 1 < len(totals) else 0.0
        for clip in _round_values(later, float(totals[first.t].max())):
            if _close(mine, _rebuilt_dx(ref, k, clip=clip)):
                return (f"gradient clipping inside the code checked: dh clipped to [-{clip:g}, {clip:g}] in the "
                        f"backward loop (layer {k}, from step {first.t}); clip after a check, never inside it")
    return ""


def clipped_params(side, ref) -> list[str]:
    """A parameter gradient equal to torch's clipped element-wise at its own largest |value|
    (np.clip(dW, -5, 5) after the loop, min-char-rnn's habit)."""
    out = []
    for k, steps in enumerate(ref.vjp):
        for p, name in enumerate(side.param_names):
            mine, total = side.grads.get(f"{name}_l{k}"), sum(v[2][p] for v in steps)
            if mine is None or _close(mine, total):
                continue
            c = float(np.abs(mine).max())
            if 0 < c < float(np.abs(total).max()) and _close(mine, np.clip(total, -c, c)):
                out.append(f"gradient clipping inside the code checked: {name}_l{k}.grad clipped to "
                           f"[-{c:g}, {c:g}]; clip after a check, never inside it")
    return out


def embedding_slip(run) -> str:
    """An embedding's weight gradient written with assignment (dW[idx] = dy): with repeated indices
    only one use of each survives, where torch adds them all (np.add.at)."""
    if getattr(run.layer, "kind", "") != "embedding":
        return ""
    idx = np.rint(np.asarray(run.input)).astype(np.int64).reshape(-1)
    dy = np.asarray(run.upstream, np.float64).reshape(len(idx), -1)
    assigned = np.zeros(np.shape(run.local_ref.grads["weight"]))
    assigned[idx] = dy
    if _close(run.local.grads.get("weight"), assigned) and len(np.unique(idx)) < len(idx):
        return ("embedding gradient assigned, not accumulated: dW[idx] = dy keeps one use of a repeated "
                "index where they must add up (np.add.at(dW, idx, dy))")
    return ""


MASK_FILL = 0  # the label a padded step is handed with where the mask comes apart (CS231n's <NULL>)


def _temporal_ce(logits, labels, divisor: int) -> tuple[float, np.ndarray]:
    """torch's cross-entropy of logits (N, T, V) summed over the labelled steps (-1 left out),
    divided by `divisor`, and its gradient."""
    z = torch.tensor(np.asarray(logits, np.float64), requires_grad=True)
    lab = torch.as_tensor(np.asarray(labels, np.int64)).reshape(-1)
    value = torch.nn.functional.cross_entropy(z.reshape(-1, z.shape[-1]), lab, ignore_index=-1,
                                              reduction="sum") / divisor
    value.backward()
    return float(value.detach()), z.grad.numpy()


def temporal_loss_slip(quantity: str, actual, logits, labels) -> str:
    """A temporal loss (its value, or its whole gradient: `actual`, on torch's logits (N, T, V))
    averaged over the tokens where torch's sums over the steps and divides by the batch N, or
    with the mask ignored (the padded steps counted with label MASK_FILL). A gradient row's worst
    element alone cannot tell the conventions apart: only a whole gradient is tried."""
    lab = np.asarray(labels)
    if quantity not in ("loss", "dloss/dpred") or (quantity != "loss" and np.size(actual) != np.size(logits)):
        return ""
    n, kept, padded = len(lab), int((lab != -1).sum()), bool((lab == -1).any())
    filled = np.where(lab == -1, MASK_FILL, lab)
    tokens = f"divided by {{}} where it is divided by the batch N = {n} (summed over the steps, CS231n's " \
             f"temporal_softmax_loss)"
    ignored = (f"the mask is ignored: the {lab.size - kept} padded steps (mask False) count in the loss "
               f"as if labelled {MASK_FILL}")
    candidates = [(lab, kept, "the loss is " + tokens.format(f"the {kept} unmasked tokens")),
                  (lab, lab.size, "the loss is " + tokens.format(f"all {lab.size} tokens")),
                  (filled, n, ignored), (filled, lab.size, f"{ignored}, and the loss is divided by all "
                                                           f"{lab.size} tokens, not by the batch N = {n}")]
    for cand, divisor, what in candidates:
        if (cand is lab and divisor == n) or (cand is filled and not padded):
            continue
        value, grad = _temporal_ce(logits, cand, divisor)
        if _close(np.atleast_1d(actual), np.atleast_1d(value if quantity == "loss" else grad)):
            return what
    return ""
