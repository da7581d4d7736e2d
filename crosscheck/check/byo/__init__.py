"""Bring your own NumPy network: wrap hand-written backprop so the harness can check it
against a torch twin and finite differences.

Conventions (each has an example in examples/):

(1) rowmajor(layers, x, y): layer objects with forward(x) and backward(dy), backward(x, dy) or
    backward(dy, lr). Linear layers keep W (in, out) or (out, in) -- told from their own
    forward, or declared with w_layout -- and b, under W/b, weights/bias, w/b, params["W"], ...;
    gradients under dW/db, grads["W"], gradients["W"], ... (or declare param_names=(W, b, dW, db)).
    A linear layer may apply an activation itself (Dense(activation="relu"), act_fn=ReLU()).
    Activation layers are recognised by class name or their forward; slopes are read from
    alpha / negative_slope / slope, or declared: activations=[None, ("leaky_relu", 0.2), None].
    Layer objects as people write them (shared/objects.py): forward/backward returning nothing
    (self.output, self.dinputs), forward_pass/backward_pass, gradients returned with dX, handed
    to an optimizer (W_opt.update), or only applied by backward(grad, lr); layer_api= names others.
(2) colmajor(params, activation, forward, backward, X, Y): Z = W @ X + b, samples as columns,
    forward(A_prev, W, b, activation) -> (A, cache), backward(dA, cache, activation) ->
    (dA_prev, dW, db); `activation` one name or one per layer.
(3) functional(layers, x, y, funcs=module): CS231n affine_forward/affine_backward, relu_*, ...
(4) network(forward, backward, params, X, Y, activations=[...]): whole-network functions.
(5) netclass(net, X, Y, activations=[...]): an object with W1, b1, ... and a backward method.
(6) cnn(layers, x, labels, layout="nchw" or "nhwc"): convolution, pooling, flatten, dropout and
    fully connected layer objects (conv W (F, C, kh, kw) or [kh, kw, Cin, Cout]), their W and b
    found under the names (1) finds, activations=, w_layout= and param_names= as in (1); CS231n
    function pairs wrapped by conv_fn, pool_fn, affine_fn, fn_layer (see convnet/model.py).
(7) program(net, X, Y, activations=[...]): a whole program computing its own loss and gradients:
    CS231n loss(X, y) -> (loss, grads) objects, network.py's per-sample backprop(x, y), or the
    pair (L_model_forward, L_model_backward) with params= (program/styles.py).
(8) recurrent(funcs, params, x, y, mask): CS231n's rnn_*/lstm_* (and step) functions, word
    embedding, temporal affine and softmax loss as a captioning RNN, per time step (recurrent/);
    recurrent_objects(rnn, affine, x, y, mask): RNN/LSTM layer objects keeping Wx, Wh, b, dWx, ...;
    recurrent_dlai(globals(), parameters, x, y): deeplearning.ai's column-major rnn_cell_*/lstm_cell_*
    and rnn_*/lstm_* functions, read as CS231n's (recurrent_dlai.py).

Normalisation layers (byo/norm/) in (1), (3) and (6): BatchNorm/LayerNorm/GroupNorm objects with
gamma/beta (weight/bias, scale/shift), running_mean/running_var (moving_mean/moving_var), eps,
momentum and a train/eval flag (mode="train", training=True, bn_param["mode"]); CS231n pairs
("batchnorm", gamma, beta, bn_param), "layernorm", "spatial_batchnorm", "spatial_groupnorm" in
(3), norm_fn(...) in (6). The running-average convention is declared with norm={'momentum':
'torch' or 'keep', 'running_var': 'unbiased' or 'biased'}, else told by the momentum's value.

Residual blocks (byo/residual/) in (1) and (6), either layout: a layer object computing x + f(x)
or proj(x) + f(x), f a list of your layer objects (under layers, branch, ...; the projection under
shortcut, proj, ...), each inner layer read as it would be alone; residual= declares one.

Folders: shared/ (the one discovery of W and b, the adapter base, UserModel), mlp/ (conventions
1-5), convnet/ (convention 6); check.py checks a UserModel of either, result.py shows it.

Your own loss: pass loss_fn=(pred, target) -> (loss, dpred) (or loss_fn and loss_grad) and name
the loss it implements with loss=; it is judged first (its value and gradient against torch's),
then the gradients your code produces for it end to end (check.py). A last layer whose
backward takes the labels is a softmax + cross-entropy layer, checked as your loss
(shared/combined.py). Gradient conventions, one argument each on every convention
(shared/convention.py): l2=λ or (λ, μ), batch_mean="loss" (torch's, the default) / "layers"
(grads_are_batch_means=True) / "update" / "none", ascent=True; undeclared, a failing check
names the one that explains it exactly and the argument (recognise.py).

    result = byo.check(model)      # prints as a table; HTML in Jupyter
    crosscheck.assert_matches_torch(model)   # in a pytest test
    def test_net(crosscheck): crosscheck(model)   # the pytest plugin's fixture (crosscheck/pytest_plugin.py)

A file that defines `crosscheck_model()` returning one of these can be checked with
`python -m crosscheck --user FILE.py` (exit 0 pass, 1 mismatch, 2 bad input, 3 your code raised,
4 a bug of ours).
"""
from .check import TorchMismatch, assert_matches_torch, check
from .convnet import CNNModel, affine_fn, cnn, conv_fn, fn_layer, pool_fn
from .mlp import colmajor, functional, netclass, network, rowmajor
from .norm import norm_fn
from .program import ProgramModel, program
from .recurrent import RecurrentModel, recurrent, recurrent_objects
from .recurrent_dlai import recurrent_dlai
from .result import UserCheckResult
from .shared import UserModel, build_twin, call_model_factory, infer_activation

__all__ = ["CNNModel", "ProgramModel", "TorchMismatch", "UserCheckResult", "UserModel", "affine_fn", "assert_matches_torch", "build_twin",
           "call_model_factory", "check", "cnn", "colmajor", "conv_fn", "fn_layer", "functional", "infer_activation",
           "netclass", "network", "norm_fn", "pool_fn", "program", "recurrent", "recurrent_dlai", "recurrent_objects", "RecurrentModel",
           "rowmajor"]
