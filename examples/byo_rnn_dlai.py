"""A deeplearning.ai-style LSTM (Sequence Models, week 1): column-major arrays, xt (n_x, m) and
x (n_x, m, T_x), parameters and gradients in dicts, the gates acting on concat = [a_prev; xt].
byo.recurrent_dlai checks it as CS231n-style functions (transposed, gates stacked i, f, o, g);
`python -m crosscheck --user examples/byo_rnn_dlai.py`."""
import numpy as np


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def softmax(x):
    e = np.exp(x - x.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


def lstm_cell_forward(xt, a_prev, c_prev, parameters):
    """xt (n_x, m), a_prev and c_prev (n_a, m) -> (a_next, c_next, yt_pred, cache)."""
    p = parameters
    concat = np.concatenate((a_prev, xt), axis=0)
    ft = sigmoid(p["Wf"] @ concat + p["bf"])      # forget gate
    it = sigmoid(p["Wi"] @ concat + p["bi"])      # update (input) gate
    cct = np.tanh(p["Wc"] @ concat + p["bc"])     # candidate value
    ot = sigmoid(p["Wo"] @ concat + p["bo"])      # output gate
    c_next = ft * c_prev + it * cct
    a_next = ot * np.tanh(c_next)
    yt_pred = softmax(p["Wy"] @ a_next + p["by"])
    cache = (a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt, parameters)
    return a_next, c_next, yt_pred, cache


def lstm_cell_backward(da_next, dc_next, cache):
    """da_next, dc_next (n_a, m) -> gradients {dxt, da_prev, dc_prev, dWf, dbf, ...}."""
    a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt, p = cache
    n_a = a_next.shape[0]
    tc = np.tanh(c_next)
    dc = dc_next + da_next * ot * (1 - tc ** 2)
    dot = da_next * tc * ot * (1 - ot)
    dcct = dc * it * (1 - cct ** 2)
    dit = dc * cct * it * (1 - it)
    dft = dc * c_prev * ft * (1 - ft)
    concat = np.concatenate((a_prev, xt), axis=0)
    gradients = {"dc_prev": dc * ft}
    dconcat = 0
    for gate, dz in (("f", dft), ("i", dit), ("c", dcct), ("o", dot)):
        gradients["dW" + gate] = dz @ concat.T
        gradients["db" + gate] = dz.sum(axis=1, keepdims=True)
        dconcat = dconcat + p["W" + gate].T @ dz
    gradients["da_prev"], gradients["dxt"] = dconcat[:n_a], dconcat[n_a:]
    return gradients


def lstm_forward(x, a0, parameters):
    """x (n_x, m, T_x), a0 (n_a, m) -> (a, y, c, caches), c starting at zero."""
    n_x, m, T_x = x.shape
    n_y, n_a = parameters["Wy"].shape
    a, c, y = np.zeros((n_a, m, T_x)), np.zeros((n_a, m, T_x)), np.zeros((n_y, m, T_x))
    a_next, c_next, caches = a0, np.zeros((n_a, m)), []
    for t in range(T_x):
        a_next, c_next, yt, cache = lstm_cell_forward(x[:, :, t], a_next, c_next, parameters)
        a[:, :, t], c[:, :, t], y[:, :, t] = a_next, c_next, yt
        caches.append(cache)
    return a, y, c, (caches, x)


def lstm_backward(da, caches):
    """da (n_a, m, T_x), the loss's gradient of every a -> gradients {dx, da0, dWf, dbf, ...}."""
    caches, x = caches
    n_a, m, T_x = da.shape
    dx = np.zeros(x.shape)
    da_prevt, dc_prevt = np.zeros((n_a, m)), np.zeros((n_a, m))
    totals = {}
    for t in reversed(range(T_x)):
        g = lstm_cell_backward(da[:, :, t] + da_prevt, dc_prevt, caches[t])
        da_prevt, dc_prevt, dx[:, :, t] = g["da_prev"], g["dc_prev"], g["dxt"]
        for key in ("dWf", "dbf", "dWi", "dbi", "dWc", "dbc", "dWo", "dbo"):
            totals[key] = totals.get(key, 0) + g[key]
    return {"dx": dx, "da0": da_prevt, **totals}


def initialize_parameters(n_x, n_a, n_y, seed=1):
    """The course's LSTM parameters: every gate W (n_a, n_a + n_x) acts on [a_prev; xt]."""
    rng = np.random.default_rng(seed)
    p = {}
    for gate in "fico":
        p["W" + gate] = rng.normal(size=(n_a, n_a + n_x)) / np.sqrt(n_a + n_x)
        p["b" + gate] = 0.1 * rng.normal(size=(n_a, 1))
    p["Wy"], p["by"] = rng.normal(size=(n_y, n_a)) / np.sqrt(n_a), 0.1 * rng.normal(size=(n_y, 1))
    return p


def crosscheck_model():
    from crosscheck import byo
    n_x, n_a, n_y, m, T_x = 3, 5, 4, 6, 10
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n_x, m, T_x))
    labels = rng.integers(0, n_y, size=(m, T_x))  # the class each step's softmax(Wy a + by) should give
    a0 = 0.5 * rng.normal(size=(n_a, m))
    return byo.recurrent_dlai(globals(), initialize_parameters(n_x, n_a, n_y), x, labels, a0=a0)
