"""Bring your own recurrent layer objects: an RNN class keeping Wx, Wh, b and, after backward,
dWx, dWh, db, with an embedding and a temporal affine beside it, checked like CS231n's functions
(byo.recurrent_objects): layer by layer and time step by time step, its forward(x, h0) running a
step alone on torch's inputs.

    python -m crosscheck --user examples/byo_rnn_objects.py"""
import numpy as np

from crosscheck import byo


class Embedding:
    def __init__(self, vocab, dim, rng):
        self.W = rng.normal(size=(vocab, dim))

    def forward(self, x):
        self.x = x
        return self.W[x]

    def backward(self, dout):
        self.dW = np.zeros_like(self.W)
        np.add.at(self.dW, self.x, dout)


class RNN:
    def __init__(self, dim, hidden, rng):
        self.Wx = rng.normal(size=(dim, hidden)) / np.sqrt(dim)
        self.Wh = rng.normal(size=(hidden, hidden)) / np.sqrt(hidden)
        self.b = np.zeros(hidden)

    def forward(self, x, h0):
        self.x, self.hs = x, [h0]
        for t in range(x.shape[1]):
            self.hs.append(np.tanh(x[:, t] @ self.Wx + self.hs[-1] @ self.Wh + self.b))
        return np.stack(self.hs[1:], axis=1)

    def backward(self, dh):
        dx = np.zeros_like(self.x)
        self.dWx, self.dWh, self.db = np.zeros_like(self.Wx), np.zeros_like(self.Wh), np.zeros_like(self.b)
        dnext = np.zeros_like(self.hs[0])
        for t in reversed(range(dh.shape[1])):
            da = (dh[:, t] + dnext) * (1 - self.hs[t + 1] ** 2)
            dx[:, t] = da @ self.Wx.T
            self.dWx += self.x[:, t].T @ da
            self.dWh += self.hs[t].T @ da
            self.db += da.sum(axis=0)
            dnext = da @ self.Wh.T
        return dx, dnext


class TemporalAffine:
    def __init__(self, hidden, vocab, rng):
        self.w, self.b = rng.normal(size=(hidden, vocab)) / np.sqrt(hidden), np.zeros(vocab)

    def forward(self, x):
        self.x = x
        return x @ self.w + self.b

    def backward(self, dout):
        self.dw = np.einsum("nth,ntv->hv", self.x, dout)
        self.db = dout.sum(axis=(0, 1))
        return dout @ self.w.T


def temporal_softmax_loss(scores, y, mask):
    n = len(scores)
    p = np.exp(scores - scores.max(axis=2, keepdims=True))
    p /= p.sum(axis=2, keepdims=True)
    picked = np.take_along_axis(p, y[..., None], axis=2)[..., 0]
    dscores = p.copy()
    np.put_along_axis(dscores, y[..., None], np.take_along_axis(p, y[..., None], axis=2) - 1, axis=2)
    return -np.sum(mask * np.log(picked)) / n, dscores * mask[..., None] / n


def crosscheck_model():
    rng = np.random.default_rng(0)
    vocab, steps = 9, 12
    captions = rng.integers(0, vocab, (4, steps + 1))
    mask = np.ones((4, steps), bool)
    mask[0, steps // 2:] = False
    return byo.recurrent_objects(RNN(5, 6, rng), TemporalAffine(6, vocab, rng), captions[:, :-1], captions[:, 1:],
                                 mask, embedding=Embedding(vocab, 5, rng), loss_fn=temporal_softmax_loss,
                                 name="rnn objects")
