"""Bring your own LSTM, CS231n style: the lstm_step_*/lstm_* functions of byo_rnn_cs231n.py (gates
in CS231n's order i, f, o, g, told by probing lstm_step_forward, or declared with gate_order="ifog")
checked as a captioning LSTM against torch's nn.LSTM, step by step:

    python -m crosscheck --user examples/byo_lstm_cs231n.py"""
import byo_rnn_cs231n as rnn_layers

from crosscheck import byo


def crosscheck_model():
    params, x, y, mask = rnn_layers.captioning_batch("lstm")
    return byo.recurrent(rnn_layers, params, x, y, mask, gate_order="ifog", name="cs231n lstm")
