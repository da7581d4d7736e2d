"""A functional Adam over a list of (W, b), update(params, grads, lr) -> new params, checked
against torch.optim.Adam from identical gradients:
`python -m crosscheck train --update examples/byo_update_functional.py`."""
import numpy as np

BETA1, BETA2, EPS = 0.9, 0.999, 1e-8
_state = {"t": 0, "m": None, "v": None}


def update(params, grads, lr):
    """One Adam step; params and grads are lists of (W, b)."""
    s = _state
    if s["m"] is None:
        s["m"] = [tuple(np.zeros_like(a) for a in group) for group in params]
        s["v"] = [tuple(np.zeros_like(a) for a in group) for group in params]
    s["t"] += 1
    new, ms, vs = [], [], []
    for group, g_group, m_group, v_group in zip(params, grads, s["m"], s["v"]):
        out, m_out, v_out = [], [], []
        for p, g, m, v in zip(group, g_group, m_group, v_group):
            m = BETA1 * m + (1 - BETA1) * g
            v = BETA2 * v + (1 - BETA2) * g * g
            m_hat, v_hat = m / (1 - BETA1 ** s["t"]), v / (1 - BETA2 ** s["t"])
            out.append(p - lr * m_hat / (np.sqrt(v_hat) + EPS))
            m_out.append(m)
            v_out.append(v)
        new.append(tuple(out))
        ms.append(tuple(m_out))
        vs.append(tuple(v_out))
    s["m"], s["v"] = ms, vs
    return new


def crosscheck_update():
    from crosscheck.train.byo_optim import functional_rule
    from numpy_impl import OptimSpec
    rng = np.random.default_rng(0)
    params = [(rng.uniform(-0.5, 0.5, (3, 8)), np.zeros(8)), (rng.uniform(-0.5, 0.5, (8, 1)), np.zeros(1))]
    _state.update(t=0, m=None, v=None)
    return OptimSpec("adam", lr=0.01), functional_rule(update, params)
