"""Layer objects as people write them (byo/shared/objects.py, updates.py), each style written
here in that style: clean nets pass with one or two lines of glue, a planted bug is detected and
pinned, and what still cannot be read gets one line naming the layer and the argument."""
import numpy as np
import pytest

from crosscheck import byo


# --- nnfs style: forward() returns nothing and stores self.output; backward() sets dinputs ---
class LayerDense:
    def __init__(self, n_inputs, n_neurons, rng, bias_slip=False):
        self.weights = 0.5 * rng.normal(size=(n_inputs, n_neurons))
        self.biases = 0.1 * rng.normal(size=(1, n_neurons))
        self.bias_slip = bias_slip

    def forward(self, inputs):
        self.inputs = inputs
        self.output = np.dot(inputs, self.weights) + self.biases

    def backward(self, dvalues):
        self.dweights = np.dot(self.inputs.T, dvalues)
        self.dbiases = np.sum(dvalues, axis=0, keepdims=True)
        if self.bias_slip:
            self.dbiases = self.dbiases / len(dvalues)
        self.dinputs = np.dot(dvalues, self.weights.T)


class ActivationReLU:
    def forward(self, inputs):
        self.inputs = inputs
        self.output = np.maximum(0, inputs)

    def backward(self, dvalues):
        self.dinputs = dvalues.copy()
        self.dinputs[self.inputs <= 0] = 0


def _data(rng, n=16, d=4, out=2):
    return rng.normal(size=(n, d)), rng.normal(size=(n, out))


def test_nnfs_style_passes_and_a_bias_slip_is_pinned(rng):
    x, y = _data(rng)
    layers = [LayerDense(4, 6, rng), ActivationReLU(), LayerDense(6, 2, rng)]
    assert byo.check(byo.rowmajor(layers, x, y, loss="mse")).passed
    layers[2].bias_slip = True
    culprit = byo.check(byo.rowmajor(layers, x, y, loss="mse")).culprit()
    assert (culprit.layer, culprit.quantity) == (2, "bias.grad")


def test_an_output_it_keeps_elsewhere_is_declared_with_layer_api(rng):
    class Stores(LayerDense):
        def forward(self, inputs):
            self.inputs = inputs
            self.result = np.dot(inputs, self.weights) + self.biases

    x, y = _data(rng)
    with pytest.raises(ValueError, match=r"layer 0 \(Stores\)\.forward returned nothing and set no output, "
                                         r".*layer_api=\{'output'"):
        byo.rowmajor([Stores(4, 2, rng)], x, y)
    assert byo.check(byo.rowmajor([Stores(4, 2, rng)], x, y, layer_api={"output": "result"})).passed


# --- ML-From-Scratch style: forward_pass/backward_pass, w0 biases, gradients handed only to an
# optimizer object (layer.W_opt.update(W, grad_w)) ---
class MomentumSGD:
    def __init__(self, learning_rate=0.01, momentum=0.9):
        self.learning_rate, self.momentum, self.w_updt = learning_rate, momentum, None

    def update(self, w, grad_wrt_w):
        if self.w_updt is None:
            self.w_updt = np.zeros(np.shape(w))
        self.w_updt = self.momentum * self.w_updt + (1 - self.momentum) * grad_wrt_w
        return w - self.learning_rate * self.w_updt


class ScratchDense:
    def __init__(self, n_in, n_units, rng, dx_after_update=False):
        self.W = rng.uniform(-0.5, 0.5, (n_in, n_units))
        self.w0 = np.zeros((1, n_units))
        self.dx_after_update = dx_after_update

    def initialize(self, optimizer):
        import copy
        self.W_opt, self.w0_opt = copy.copy(optimizer), copy.copy(optimizer)

    def forward_pass(self, X, training=True):
        self.layer_input = X
        return X.dot(self.W) + self.w0

    def backward_pass(self, accum_grad):
        W = self.W
        grad_w = self.layer_input.T.dot(accum_grad)
        grad_w0 = np.sum(accum_grad, axis=0, keepdims=True)
        self.W = self.W_opt.update(self.W, grad_w)
        self.w0 = self.w0_opt.update(self.w0, grad_w0)
        return accum_grad.dot((self.W if self.dx_after_update else W).T)


class ScratchTanh:
    def forward_pass(self, X, training=True):
        self.layer_input = X
        return np.tanh(X)

    def backward_pass(self, accum_grad):
        return accum_grad * (1 - np.tanh(self.layer_input) ** 2)


def test_ml_from_scratch_style_passes_and_dx_from_the_updated_weight_is_pinned(rng):
    x, y = _data(rng)
    layers = [ScratchDense(4, 5, rng), ScratchTanh(), ScratchDense(5, 2, rng)]
    for layer in layers[::2]:
        layer.initialize(MomentumSGD())  # glue: what NeuralNetwork.add does
    w = layers[0].W
    assert byo.check(byo.rowmajor(layers, x, y, loss="mse")).passed
    assert layers[0].W is w  # the layer's own array put back
    layers[2].dx_after_update = True
    culprit = byo.check(byo.rowmajor(layers, x, y, loss="mse")).culprit()
    assert (culprit.layer, culprit.quantity) == (2, "grad_in")


# --- backward(grad, lr) updating in place, no gradient kept ---
class SGDDense:
    def __init__(self, n_in, n_out, rng, slip=None, momentum=0.0):
        self.W, self.b = rng.normal(size=(n_in, n_out)), rng.normal(size=n_out)
        self.slip, self.momentum, self.v = slip, momentum, 0.0

    def forward(self, x):
        self.x = x
        return x @ self.W + self.b

    def backward(self, grad, learning_rate):
        dW, db = self.x.T @ grad, grad.sum(axis=0)
        if self.slip == "db mean":
            db = grad.mean(axis=0)
        dx = grad @ self.W.T
        self.v = self.momentum * self.v - learning_rate * dW
        self.W += self.v
        self.b -= learning_rate * db
        return grad @ self.W.T if self.slip == "dx after update" else dx


class SGDSigmoid:
    def forward(self, x):
        self.y = 1 / (1 + np.exp(-x))
        return self.y

    def backward(self, grad, lr):
        return grad * self.y * (1 - self.y)


@pytest.mark.parametrize("slip,layer,quantity", [(None, None, None), ("db mean", 2, "bias.grad"),
                                                 ("dx after update", 2, "grad_in")])
def test_backward_with_lr_updating_in_place_is_read_from_the_update(rng, slip, layer, quantity):
    x, y = _data(rng)
    layers = [SGDDense(4, 5, rng), SGDSigmoid(), SGDDense(5, 2, rng, slip=slip)]
    w = layers[0].W.copy()
    result = byo.check(byo.rowmajor(layers, x, y, loss="mse"))
    np.testing.assert_array_equal(layers[0].W, w)  # nothing moved
    if slip is None:
        assert result.passed
    else:
        assert (result.culprit().layer, result.culprit().quantity) == (layer, quantity)


def test_an_update_with_a_moving_momentum_buffer_is_refused_in_one_line(rng):
    """(A fresh buffer is read: from the same zero state the first step is a plain one.)"""
    x, y = _data(rng)
    layer = SGDDense(4, 2, rng, momentum=0.9)
    layer.v = np.full((4, 2), 0.3)
    with pytest.raises(ValueError, match=r"layer 0 \(SGDDense\)\.backward\(grad, lr\) moves its parameters "
                                         r"other than by lr \* dW .*param_names="):
        byo.check(byo.rowmajor([layer], x, y, loss="mse"))


# --- private attributes, a bias named `bias`, (dX, [dW, db]) returned ---
class Private:
    def __init__(self, n_in, n_out, rng):
        self._w, self._b = rng.normal(size=(n_in, n_out)), np.zeros(n_out)

    def forward(self, x):
        self._x = x
        return x @ self._w + self._b

    def backward(self, dy):
        self._dw, self._db = self._x.T @ dy, dy.sum(0)
        return dy @ self._w.T


class ReturnsList:
    def __init__(self, n_in, n_out, rng):
        self.W, self.bias = rng.normal(size=(n_in, n_out)), rng.normal(size=n_out)

    def forward(self, x):
        self.x = x
        return x @ self.W + self.bias

    def backward(self, dy):
        return dy @ self.W.T, [self.x.T @ dy, dy.sum(0)]


def test_private_names_and_returned_gradients_are_read(rng):
    x, y = _data(rng)
    assert byo.check(byo.rowmajor([Private(4, 3, rng), ActivationReLU(), ReturnsList(3, 2, rng)], x, y,
                                  loss="mse")).passed


def test_a_layer_without_forward_names_layer_api(rng):
    class Odd:
        def run(self, x):
            return x

        def backward(self, dy):
            return dy

    x, y = _data(rng)
    with pytest.raises(ValueError, match=r"layer 0 \(Odd\): has no forward\(\) method"):
        byo.rowmajor([Odd()], x, y)
    with pytest.raises(ValueError, match=r"layer 0 \(Odd\): has no forward\(\) method .*layer_api="):
        byo.cnn([Odd()], rng.normal(size=(2, 1, 4, 4)), np.array([0, 1]))


# --- numpy-ml 0.1.2's Conv2D (act_fn built in), Pool2D (kernel_shape, mode), Flatten ---
@pytest.mark.parametrize("mode", ["max", "average"])
def test_numpy_ml_cnn_passes_and_a_planted_conv_bug_is_pinned(mode):
    from examples_loader import load_example
    example = load_example("byo_numpy_ml_cnn")  # first: it lets numpy-ml 0.1.2 import on Python 3.10+
    pytest.importorskip("numpy_ml", reason="numpy-ml is not installed (pip install numpy-ml==0.1.2)")
    layers, x, labels = example.layers_and_data(mode)
    model = byo.cnn(layers, x, labels, layout="nhwc")
    assert [layer.kind for layer in model.model.layers] == ["conv2d", {"max": "maxpool", "average": "avgpool"}[mode], "flatten", "linear"]
    assert byo.check(model).passed
    real = layers[0]._bwd
    layers[0]._bwd = lambda dy, X, Z: (lambda dx, dw, db: (dx, 2 * dw, db))(*real(dy, X, Z))
    culprit = byo.check(byo.cnn(layers, x, labels, layout="nhwc")).culprit()
    assert (culprit.layer, culprit.quantity) == (0, "weight.grad")


# --- an NHWC CNN with private _w/_dw, pool_size, and the two CNN slips named ---
class PrivConv:
    """3x3 convolution, stride 1, padding `pad`, NHWC, kernel [kh, kw, Cin, Cout] in _w."""

    def __init__(self, cin, cout, rng, pad=1, slice_slip=0):
        self._w, self._b = 0.5 * rng.normal(size=(3, 3, cin, cout)), 0.1 * rng.normal(size=cout)
        self.pad, self.slice_slip = pad, slice_slip

    def forward(self, x):
        p = self.pad
        self._xp = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
        win = np.lib.stride_tricks.sliding_window_view(self._xp, (3, 3), axis=(1, 2))  # N,Ho,Wo,C,3,3
        return np.einsum("nhwcij,ijcf->nhwf", win, self._w) + self._b

    def backward(self, dy):
        n, ho, wo, _ = dy.shape
        dxp = np.zeros_like(self._xp)
        self._dw = np.zeros_like(self._w)
        for i in range(3):
            for j in range(3):
                self._dw[i, j] = np.einsum("nhwc,nhwf->cf", self._xp[:, i:i + ho, j:j + wo], dy)
                dxp[:, i:i + ho, j:j + wo] += dy @ self._w[i, j].T
        self._db = dy.sum(axis=(0, 1, 2))
        p, h, w = self.pad, dxp.shape[1] - 2 * self.pad, dxp.shape[2] - 2 * self.pad
        s = p + self.slice_slip  # the slip: a slice one row and column off
        return dxp[:, s:s + h, s:s + w]


class PrivMaxPool:
    def __init__(self, pool_size=2, every=False):
        self.pool_size, self.every = pool_size, every

    def forward(self, x):
        n, h, w, c = x.shape
        k = self.pool_size
        self._win = x.reshape(n, h // k, k, w // k, k, c)
        self._out = self._win.max(axis=(2, 4))
        return self._out

    def backward(self, dy):
        k = self.pool_size
        n, ho, _, wo, _, c = self._win.shape
        flat = self._win.transpose(0, 1, 3, 5, 2, 4).reshape(n, ho, wo, c, k * k)
        mask = np.zeros_like(flat)  # the first maximum of each window gets the gradient
        np.put_along_axis(mask, flat.argmax(-1)[..., None], 1.0, -1)
        if self.every:  # the slip: every element of the window gets the gradient
            mask = np.ones_like(mask)
        dx = mask * dy[..., None]
        return dx.reshape(n, ho, wo, c, k, k).transpose(0, 1, 4, 2, 5, 3).reshape(n, ho * k, wo * k, c)


class PrivFlatten:
    def forward(self, x):
        self._shape = x.shape
        return x.reshape(len(x), -1)

    def backward(self, dy):
        return dy.reshape(self._shape)


def _priv_cnn(rng, **slips):
    conv = PrivConv(2, 3, rng, slice_slip=slips.get("slice", 0))
    return [conv, PrivMaxPool(every=slips.get("every", False)), PrivFlatten(), Private(27, 3, rng)]


@pytest.mark.parametrize("slip,layer,quantity,named", [
    ({}, None, None, None),
    ({"every": True}, 1, "grad_in", "max-pool gradient routed to every element of its window"),
    ({"slice": 1}, 0, "grad_in", "padding off by one in backward"),
    ({"slice": -1}, 0, "grad_in", "padding off by one in backward")])
def test_private_nhwc_cnn_and_its_slips_named(slip, layer, quantity, named):
    rng = np.random.default_rng(3)
    x, labels = rng.normal(size=(3, 6, 6, 2)), np.array([0, 2, 1])
    result = byo.check(byo.cnn(_priv_cnn(rng, **slip), x, labels, layout="nhwc"))
    if not slip:
        assert result.passed
        return
    culprit = result.culprit()
    assert (culprit.layer, culprit.quantity) == (layer, quantity)
    assert named in culprit.slip


# --- an ELU layer object: recognised from its forward, its alpha read from the object ---
class ActivationELU:
    def __init__(self, alpha=1.0, slip=False):
        self.alpha, self.slip = alpha, slip

    def forward(self, inputs):
        self.inputs = inputs
        self.output = np.where(inputs > 0, inputs, self.alpha * (np.exp(inputs) - 1))

    def backward(self, dvalues):
        slope = np.where(self.inputs > 0, 1.0, 0.0 if self.slip else self.alpha * np.exp(self.inputs))
        self.dinputs = dvalues * slope


@pytest.mark.parametrize("alpha", [1.0, 0.3])
def test_an_elu_object_is_recognised_and_its_lost_negative_branch_named(rng, alpha):
    x, y = _data(rng)
    layers = [LayerDense(4, 6, rng), ActivationELU(alpha), LayerDense(6, 2, rng)]
    assert byo.check(byo.rowmajor(layers, x, y, loss="mse")).passed
    layers[1].slip = True
    culprit = byo.check(byo.rowmajor(layers, x, y, loss="mse")).culprit()
    assert (culprit.layer, culprit.quantity) == (1, "grad_in")
    assert "elu derivative is 0 for x < 0" in culprit.slip


# --- layers that create their weights on their first forward (numpy-ml, tinynn style) ---------
class LazyDense:
    def __init__(self, n_out, seed, slip=False):
        self.n_out, self.seed, self.slip = n_out, seed, slip
        self.params = {"w": None, "b": None}

    def forward(self, x):
        if self.params["w"] is None:
            rng = np.random.default_rng(self.seed)
            self.params = {"w": 0.5 * rng.normal(size=(x.shape[1], self.n_out)), "b": 0.1 * rng.normal(size=self.n_out)}
        self.x = x
        return x @ self.params["w"] + self.params["b"]

    def backward(self, dy):
        self.grads = {"w": self.x.T @ dy, "b": dy.sum(0) / (len(dy) if self.slip else 1)}
        return dy @ self.params["w"].T


class Tanh:
    def forward(self, x):
        self.y = np.tanh(x)
        return self.y

    def backward(self, dy):
        return dy * (1 - self.y ** 2)


@pytest.mark.parametrize("slip", [False, True])
def test_layers_sized_on_their_first_forward_need_no_glue(slip):
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(12, 4)), rng.integers(0, 3, 12)
    layers = [LazyDense(6, 1), Tanh(), LazyDense(3, 2, slip=slip)]
    result = byo.check(byo.rowmajor(layers, x, y, loss="softmax_ce"))
    assert layers[0].params["w"].shape == (4, 6)
    assert any("first forward" in note for note in result.notes)
    if slip:
        assert not result.passed and (result.culprit().layer, result.culprit().quantity) == (2, "bias.grad")
    else:
        assert result.passed, result


def test_a_lazy_layer_is_not_run_on_a_batch_that_is_not_finite():
    x = np.ones((3, 4))
    x[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"input: contains NaN"):
        byo.rowmajor([LazyDense(3, 1)], x, np.array([0, 1, 2]), loss="softmax_ce")


# --- a linear layer without a bias (torch's bias=False) ------------------------------------------
class NoBias:
    def __init__(self, n_in, n_out, rng, slip=False, adds_one=False):
        self.W, self.slip, self.adds_one = rng.normal(size=(n_in, n_out)), slip, adds_one

    def forward(self, x):
        self.x = x
        return x @ self.W + (1.0 if self.adds_one else 0.0)

    def backward(self, dy):
        self.dW = self.x.T @ dy / (len(dy) if self.slip else 1)
        return dy @ self.W.T


@pytest.mark.parametrize("slip", [False, True])
def test_a_linear_layer_without_a_bias_is_checked_as_torchs_bias_false(rng, slip):
    x, y = _data(rng, n=8, out=2)
    result = byo.check(byo.rowmajor([NoBias(4, 6, rng), ActivationReLU(), NoBias(6, 2, rng, slip=slip)], x, y,
                                    loss="mse"), fd=True)
    assert not any(r.quantity == "bias.grad" for r in result.rows)
    if slip:
        assert (result.culprit().layer, result.culprit().quantity) == (2, "weight.grad")
    else:
        assert result.passed, result


def test_a_weight_alone_whose_forward_adds_something_asks_for_the_bias(rng):
    x, y = _data(rng, n=8, out=2)
    with pytest.raises(ValueError, match=r"^layer 0 \(NoBias\): keeps a weight W but no bias"):
        byo.rowmajor([NoBias(4, 2, rng, adds_one=True)], x, y, loss="mse")


class ZeroBeta(NoBias):
    """A bias kept under a name nobody looks for, still zero: its forward adds it."""
    def __init__(self, n_in, n_out, rng):
        super().__init__(n_in, n_out, rng)
        self.beta = np.zeros(n_out)

    def forward(self, x):
        return super().forward(x) + self.beta


def test_a_bias_named_otherwise_and_still_zero_is_asked_for_not_dropped(rng):
    x, y = _data(rng, n=8, out=2)
    with pytest.raises(ValueError, match=r"^layer 0 \(ZeroBeta\): keeps a weight W and its forward adds beta"):
        byo.rowmajor([ZeroBeta(4, 2, rng)], x, y, loss="mse")


class RunningMean:
    """A batch norm without affine parameters keeping an unbiased running variance (NaN for a
    batch of one), which a sizing forward must not move."""
    def __init__(self, c):
        self.running_mean, self.running_var, self.gamma, self.beta = np.full(c, .3), np.full(c, 2.), np.ones(c), np.zeros(c)

    def forward(self, x):
        self.x, self.mu, self.var = x, x.mean(0), x.var(0)
        self.running_mean = .9 * self.running_mean + .1 * self.mu
        self.running_var = .9 * self.running_var + .1 * x.var(0, ddof=1)
        self.xhat = (x - self.mu) / np.sqrt(self.var + 1e-5)
        return self.gamma * self.xhat + self.beta

    def backward(self, dy):
        self.dgamma, self.dbeta = (dy * self.xhat).sum(0), dy.sum(0)
        d = dy * self.gamma
        return (d - d.mean(0) - self.xhat * (d * self.xhat).mean(0)) / np.sqrt(self.var + 1e-5)


def test_sizing_a_lazy_layer_leaves_every_other_layer_as_it_was():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(12, 4)), rng.integers(0, 3, 12)
    norm = RunningMean(6)
    byo.rowmajor([LazyDense(6, 1), norm, Tanh(), LazyDense(3, 2)], x, y, loss="softmax_ce")
    assert np.array_equal(norm.running_mean, np.full(6, .3)) and np.array_equal(norm.running_var, np.full(6, 2.))
