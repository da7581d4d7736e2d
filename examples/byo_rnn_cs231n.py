"""Bring your own recurrent network, CS231n style (assignment 3's rnn_layers.py): the functions
as students write them, checked as a captioning RNN (word embedding -> vanilla RNN -> temporal
affine -> temporal softmax loss with a mask) against torch, layer by layer and step by step:

    python -m crosscheck --user examples/byo_rnn_cs231n.py

byo.recurrent takes any module, namespace or dict exposing these names; examples/byo_lstm_cs231n.py
checks the LSTM functions below."""
import numpy as np

from crosscheck import byo


def rnn_step_forward(x, prev_h, Wx, Wh, b):
    next_h = np.tanh(x @ Wx + prev_h @ Wh + b)
    return next_h, (x, prev_h, Wx, Wh, next_h)


def rnn_step_backward(dnext_h, cache):
    x, prev_h, Wx, Wh, next_h = cache
    da = dnext_h * (1 - next_h ** 2)
    return da @ Wx.T, da @ Wh.T, x.T @ da, prev_h.T @ da, da.sum(axis=0)


def rnn_forward(x, h0, Wx, Wh, b):
    N, T, _ = x.shape
    h = np.zeros((N, T, h0.shape[1]), dtype=x.dtype)
    prev_h, cache = h0, []
    for t in range(T):
        prev_h, step_cache = rnn_step_forward(x[:, t], prev_h, Wx, Wh, b)
        h[:, t] = prev_h
        cache.append(step_cache)
    return h, cache


def rnn_backward(dh, cache):
    N, T, H = dh.shape
    x0, _, Wx, Wh, _ = cache[0]
    dx = np.zeros((N, T, x0.shape[1]), dtype=dh.dtype)
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros(H, dtype=Wh.dtype)
    dprev_h = np.zeros((N, H), dtype=dh.dtype)
    for t in reversed(range(T)):
        dx[:, t], dprev_h, dWx_t, dWh_t, db_t = rnn_step_backward(dh[:, t] + dprev_h, cache[t])
        dWx += dWx_t
        dWh += dWh_t
        db += db_t
    return dx, dprev_h, dWx, dWh, db


def sigmoid(x):
    return 0.5 * (1 + np.tanh(0.5 * x))  # no overflow for large |x|


def lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b):
    H = prev_h.shape[1]
    a = x @ Wx + prev_h @ Wh + b
    i, f, o = sigmoid(a[:, :H]), sigmoid(a[:, H:2 * H]), sigmoid(a[:, 2 * H:3 * H])
    g = np.tanh(a[:, 3 * H:])
    next_c = f * prev_c + i * g
    tanh_c = np.tanh(next_c)
    next_h = o * tanh_c
    return next_h, next_c, (x, prev_h, prev_c, Wx, Wh, i, f, o, g, tanh_c)


def lstm_step_backward(dnext_h, dnext_c, cache):
    x, prev_h, prev_c, Wx, Wh, i, f, o, g, tanh_c = cache
    dc = dnext_c + dnext_h * o * (1 - tanh_c ** 2)
    da = np.concatenate([dc * g * i * (1 - i), dc * prev_c * f * (1 - f),
                         dnext_h * tanh_c * o * (1 - o), dc * i * (1 - g ** 2)], axis=1)
    return da @ Wx.T, da @ Wh.T, dc * f, x.T @ da, prev_h.T @ da, da.sum(axis=0)


def lstm_forward(x, h0, Wx, Wh, b):
    N, T, _ = x.shape
    h = np.zeros((N, T, h0.shape[1]), dtype=x.dtype)
    prev_h, prev_c, cache = h0, np.zeros_like(h0), []
    for t in range(T):
        prev_h, prev_c, step_cache = lstm_step_forward(x[:, t], prev_h, prev_c, Wx, Wh, b)
        h[:, t] = prev_h
        cache.append(step_cache)
    return h, cache


def lstm_backward(dh, cache):
    N, T, H = dh.shape
    x0, _, _, Wx, Wh = cache[0][:5]
    dx = np.zeros((N, T, x0.shape[1]), dtype=dh.dtype)
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros(4 * H, dtype=Wh.dtype)
    dprev_h, dprev_c = np.zeros((N, H), dtype=dh.dtype), np.zeros((N, H), dtype=dh.dtype)
    for t in reversed(range(T)):
        dx[:, t], dprev_h, dprev_c, dWx_t, dWh_t, db_t = lstm_step_backward(dh[:, t] + dprev_h, dprev_c, cache[t])
        dWx += dWx_t
        dWh += dWh_t
        db += db_t
    return dx, dprev_h, dWx, dWh, db


def word_embedding_forward(x, W):
    return W[x], (x, W)


def word_embedding_backward(dout, cache):
    x, W = cache
    dW = np.zeros_like(W)
    np.add.at(dW, x, dout)  # a word used twice gets both gradients
    return dW


def temporal_affine_forward(x, w, b):
    out = x @ w + b
    return out, (x, w)


def temporal_affine_backward(dout, cache):
    x, w = cache
    N, T, D = x.shape
    dx = dout @ w.T
    dw = x.reshape(N * T, D).T @ dout.reshape(N * T, -1)
    return dx, dw, dout.sum(axis=(0, 1))


def temporal_softmax_loss(x, y, mask):
    N, T, V = x.shape
    flat = x.reshape(N * T, V)
    probs = np.exp(flat - flat.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    y, m = y.reshape(N * T), mask.reshape(N * T)
    loss = -np.sum(m * np.log(probs[np.arange(N * T), y])) / N
    dx = probs.copy()
    dx[np.arange(N * T), y] -= 1
    dx *= m[:, None] / N
    return loss, dx.reshape(N, T, V)


def captioning_batch(cell="rnn", n=4, steps=12, vocab=9, dim=5, hidden=6, seed=0):
    """CS231n's CaptioningRNN parameters and a batch with repeated words and a padded tail."""
    rng = np.random.default_rng(seed)
    g = 4 if cell == "lstm" else 1
    params = {"W_embed": rng.normal(size=(vocab, dim)), "Wx": rng.normal(size=(dim, g * hidden)) / np.sqrt(dim),
              "Wh": rng.normal(size=(hidden, g * hidden)) / np.sqrt(hidden), "b": 0.1 * rng.normal(size=g * hidden),
              "W_vocab": rng.normal(size=(hidden, vocab)) / np.sqrt(hidden), "b_vocab": 0.1 * rng.normal(size=vocab)}
    captions = rng.integers(0, vocab, (n, steps + 1))
    mask = np.ones((n, steps), bool)
    mask[0, steps // 2:] = False
    return params, captions[:, :-1], captions[:, 1:], mask


def crosscheck_model():
    params, x, y, mask = captioning_batch("rnn")
    return byo.recurrent(globals(), params, x, y, mask, name="cs231n rnn")  # this file's functions
