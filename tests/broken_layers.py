"""Deliberately broken NumPy layers, each with the classic slip it plants; defined once."""
import numpy as np

from numpy_impl.layers import Activation, Linear


class WrongTanh(Activation):
    """tanh with its derivative taken at the output: 1 - tanh(y)^2."""
    def __init__(self):
        super().__init__("tanh")

    def backward(self, dy):
        x, y, *_ = self._take_cache()
        return dy * (1 - np.tanh(y) ** 2)


class TanhDerivativeOfInput(Activation):
    """tanh's derivative written in terms of the output but fed the input: 1 - x^2."""
    def __init__(self):
        super().__init__("tanh")

    def backward(self, dy):
        return dy * (1 - self._take_cache()[0] ** 2)


class LinearExtraMean(Linear):
    """dW divided by N although dy already carries the loss's 1/N."""
    def backward(self, dy):
        dx = super().backward(dy)
        self.grads["weight"] = self.grads["weight"] / dy.shape[0]
        return dx


class LinearMissingMean(Linear):
    """db summed with a loss whose derivative lacked its 1/N: N times too large."""
    def backward(self, dy):
        dx = super().backward(dy)
        self.grads["bias"] = self.grads["bias"] * dy.shape[0]
        return dx


class LinearTransposed(Linear):
    def backward(self, dy):
        dx = super().backward(dy)
        self.grads["weight"] = self.grads["weight"].T
        return dx


class LinearOneWrongEntry(Linear):
    """dW right everywhere but one entry: invisible to most entry samples, not to a direction."""
    def backward(self, dy):
        dx = super().backward(dy)
        self.grads["weight"][3, 1] *= 1.01
        return dx


def plant(model, index, broken):
    """Put `broken` at `index` of a numpy_impl Sequential, keeping the old layer's parameters."""
    import numpy_impl as ni
    if isinstance(broken, Linear):
        broken.params = model.layers[index].params
    layers = list(model.layers)
    layers[index] = broken
    return ni.Sequential(layers)
