"""A deeplearning.ai-style RNN and LSTM (Sequence Models, week 1), written the way students write
them: column-major arrays (n_x, m, T_x), parameters and gradients in dicts, a loop over time,
the RNN's caches as tuples and the LSTM's as dicts. `student(bug)` plants one slip (None: none);
tests/corpus/recurrent_dlai_cases.py lists them."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np

RNN_BUGS = ("missing_da_prev", "dWax_last_step", "tanh_at_a_prev", "tanh_of_a_next", "time_reversed_rnn",
            "dba_not_summed")
LSTM_BUGS = ("missing_da_prev_lstm", "dc_next_dropped", "gates_swapped", "dWi_dWf_swapped", "forget_derivative",
             "dWf_last_step", "time_reversed_lstm", "tanh_c_at_c")


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def softmax(x):
    e_x = np.exp(x - np.max(x, axis=0, keepdims=True))
    return e_x / e_x.sum(axis=0, keepdims=True)


def student(bug: str | None = None) -> SimpleNamespace:
    """The eight functions, with `bug` planted (one of RNN_BUGS + LSTM_BUGS, or None)."""
    assert bug is None or bug in RNN_BUGS + LSTM_BUGS, bug

    # ---------------------------------------------------------------- RNN
    def rnn_cell_forward(xt, a_prev, parameters):
        Wax, Waa, Wya, ba, by = (parameters[k] for k in ("Wax", "Waa", "Wya", "ba", "by"))
        a_next = np.tanh(np.dot(Wax, xt) + np.dot(Waa, a_prev) + ba)
        yt_pred = softmax(np.dot(Wya, a_next) + by)
        cache = (a_next, a_prev, xt, parameters)
        return a_next, yt_pred, cache

    def rnn_cell_backward(da_next, cache):
        (a_next, a_prev, xt, parameters) = cache
        Wax, Waa = parameters["Wax"], parameters["Waa"]
        if bug == "tanh_at_a_prev":
            dtanh = (1 - a_prev ** 2) * da_next
        elif bug == "tanh_of_a_next":
            dtanh = (1 - np.tanh(a_next) ** 2) * da_next
        else:
            dtanh = (1 - a_next ** 2) * da_next
        dxt = np.dot(Wax.T, dtanh)
        dWax = np.dot(dtanh, xt.T)
        da_prev = np.dot(Waa.T, dtanh)
        dWaa = np.dot(dtanh, a_prev.T)
        dba = dtanh if bug == "dba_not_summed" else np.sum(dtanh, axis=1, keepdims=True)
        return {"dxt": dxt, "da_prev": da_prev, "dWax": dWax, "dWaa": dWaa, "dba": dba}

    def rnn_forward(x, a0, parameters):
        caches = []
        n_x, m, T_x = x.shape
        n_y, n_a = parameters["Wya"].shape
        a = np.zeros((n_a, m, T_x))
        y_pred = np.zeros((n_y, m, T_x))
        a_next = a0
        for t in range(T_x):
            a_next, yt_pred, cache = rnn_cell_forward(x[:, :, t], a_next, parameters)
            a[:, :, t] = a_next
            y_pred[:, :, t] = yt_pred
            caches.append(cache)
        return a, y_pred, (caches, x)

    def rnn_backward(da, caches):
        (caches, x) = caches
        (a1, a0, x1, parameters) = caches[0]
        n_a, m, T_x = da.shape
        n_x, m = x1.shape
        dx = np.zeros((n_x, m, T_x))
        dWax = np.zeros((n_a, n_x))
        dWaa = np.zeros((n_a, n_a))
        dba = np.zeros((n_a, 1))
        da_prevt = np.zeros((n_a, m))
        steps = range(T_x) if bug == "time_reversed_rnn" else reversed(range(T_x))
        for t in steps:
            upstream = da[:, :, t] if bug == "missing_da_prev" else da[:, :, t] + da_prevt
            gradients = rnn_cell_backward(upstream, caches[t])
            dxt, da_prevt, dWaxt, dWaat, dbat = (gradients[k] for k in ("dxt", "da_prev", "dWax", "dWaa", "dba"))
            dx[:, :, t] = dxt
            if bug == "dWax_last_step":
                dWax = dWaxt
            else:
                dWax += dWaxt
            dWaa += dWaat
            dba += dbat
        da0 = da_prevt
        return {"dx": dx, "da0": da0, "dWax": dWax, "dWaa": dWaa, "dba": dba}

    # ---------------------------------------------------------------- LSTM
    def lstm_cell_forward(xt, a_prev, c_prev, parameters):
        Wf, bf, Wi, bi = parameters["Wf"], parameters["bf"], parameters["Wi"], parameters["bi"]
        Wc, bc, Wo, bo = parameters["Wc"], parameters["bc"], parameters["Wo"], parameters["bo"]
        Wy, by = parameters["Wy"], parameters["by"]
        if bug == "gates_swapped":  # a student who reads the forget gate's weights as Wi
            Wf, bf, Wi, bi = Wi, bi, Wf, bf
        n_x, m = xt.shape
        n_y, n_a = Wy.shape
        concat = np.zeros((n_a + n_x, m))
        concat[:n_a, :] = a_prev
        concat[n_a:, :] = xt
        ft = sigmoid(np.dot(Wf, concat) + bf)
        it = sigmoid(np.dot(Wi, concat) + bi)
        cct = np.tanh(np.dot(Wc, concat) + bc)
        c_next = ft * c_prev + it * cct
        ot = sigmoid(np.dot(Wo, concat) + bo)
        a_next = ot * np.tanh(c_next)
        yt_pred = softmax(np.dot(Wy, a_next) + by)
        cache = {"a_next": a_next, "c_next": c_next, "a_prev": a_prev, "c_prev": c_prev, "ft": ft, "it": it,
                 "cct": cct, "ot": ot, "xt": xt, "parameters": parameters}
        return a_next, c_next, yt_pred, cache

    def lstm_cell_backward(da_next, dc_next, cache):
        a_prev, c_prev, c_next, xt = cache["a_prev"], cache["c_prev"], cache["c_next"], cache["xt"]
        ft, it, cct, ot, parameters = cache["ft"], cache["it"], cache["cct"], cache["ot"], cache["parameters"]
        Wf, Wi, Wc, Wo = parameters["Wf"], parameters["Wi"], parameters["Wc"], parameters["Wo"]
        if bug == "gates_swapped":
            Wf, Wi = Wi, Wf
        n_x, m = xt.shape
        n_a, m = da_next.shape
        tanh_deriv = (1 - c_next ** 2) if bug == "tanh_c_at_c" else (1 - np.tanh(c_next) ** 2)
        dc = dc_next + da_next * ot * tanh_deriv
        dot = da_next * np.tanh(c_next) * ot * (1 - ot)
        dcct = dc * it * (1 - cct ** 2)
        dit = dc * cct * it * (1 - it)
        dft = dc * c_prev * (1 - ft) if bug == "forget_derivative" else dc * c_prev * ft * (1 - ft)
        concat = np.concatenate((a_prev, xt), axis=0)
        dWf, dWi = np.dot(dft, concat.T), np.dot(dit, concat.T)
        dWc, dWo = np.dot(dcct, concat.T), np.dot(dot, concat.T)
        dbf, dbi = np.sum(dft, axis=1, keepdims=True), np.sum(dit, axis=1, keepdims=True)
        dbc, dbo = np.sum(dcct, axis=1, keepdims=True), np.sum(dot, axis=1, keepdims=True)
        dconcat = Wf.T @ dft + Wi.T @ dit + Wc.T @ dcct + Wo.T @ dot
        da_prev, dxt = dconcat[:n_a, :], dconcat[n_a:, :]
        dc_prev = dc * ft
        if bug in ("gates_swapped", "dWi_dWf_swapped"):  # Wf's gradient is the one of the gate it computed
            dWf, dWi = dWi, dWf
            if bug == "gates_swapped":
                dbf, dbi = dbi, dbf
        return {"dxt": dxt, "da_prev": da_prev, "dc_prev": dc_prev, "dWf": dWf, "dbf": dbf, "dWi": dWi,
                "dbi": dbi, "dWc": dWc, "dbc": dbc, "dWo": dWo, "dbo": dbo}

    def lstm_forward(x, a0, parameters):
        caches = []
        Wy = parameters["Wy"]
        n_x, m, T_x = x.shape
        n_y, n_a = Wy.shape
        a = np.zeros((n_a, m, T_x))
        c = np.zeros((n_a, m, T_x))
        y = np.zeros((n_y, m, T_x))
        a_next = a0
        c_next = np.zeros((n_a, m))
        for t in range(T_x):
            a_next, c_next, yt, cache = lstm_cell_forward(x[:, :, t], a_next, c_next, parameters)
            a[:, :, t] = a_next
            c[:, :, t] = c_next
            y[:, :, t] = yt
            caches.append(cache)
        return a, y, c, (caches, x)

    def lstm_backward(da, caches):
        (caches, x) = caches
        n_a, m, T_x = da.shape
        n_x, m = caches[0]["xt"].shape
        dx = np.zeros((n_x, m, T_x))
        da_prevt = np.zeros((n_a, m))
        dc_prevt = np.zeros((n_a, m))
        grads = {k: np.zeros((n_a, n_a + n_x)) for k in ("dWf", "dWi", "dWc", "dWo")}
        grads.update({k: np.zeros((n_a, 1)) for k in ("dbf", "dbi", "dbc", "dbo")})
        steps = range(T_x) if bug == "time_reversed_lstm" else reversed(range(T_x))
        for t in steps:
            upstream = da[:, :, t] if bug == "missing_da_prev_lstm" else da[:, :, t] + da_prevt
            gradients = lstm_cell_backward(upstream, dc_prevt, caches[t])
            da_prevt = gradients["da_prev"]
            if bug != "dc_next_dropped":
                dc_prevt = gradients["dc_prev"]
            dx[:, :, t] = gradients["dxt"]
            for k in grads:
                if bug == "dWf_last_step" and k == "dWf":
                    grads[k] = gradients[k]
                else:
                    grads[k] += gradients[k]
        return {"dx": dx, "da0": da_prevt, **grads}

    return SimpleNamespace(rnn_cell_forward=rnn_cell_forward, rnn_cell_backward=rnn_cell_backward,
                           rnn_forward=rnn_forward, rnn_backward=rnn_backward,
                           lstm_cell_forward=lstm_cell_forward, lstm_cell_backward=lstm_cell_backward,
                           lstm_forward=lstm_forward, lstm_backward=lstm_backward)
