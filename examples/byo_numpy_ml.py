"""numpy-ml's FullyConnected layers (a third-party NumPy library, `pip install numpy-ml==0.1.2`),
checked with `python -m crosscheck --user examples/byo_numpy_ml.py`. Their W is (in, out), their
gradients live in `gradients["W"]`, the activation is fused (`act_fn`): all read by byo."""
import collections
import collections.abc

import numpy as np

collections.Hashable = collections.abc.Hashable  # numpy-ml 0.1.2 predates Python 3.10's removal of it


def crosscheck_model():
    from numpy_ml.neural_nets.layers import FullyConnected

    from crosscheck import byo
    np.random.seed(0)  # numpy-ml initialises from the global generator
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 4)), rng.normal(size=(32, 1))
    layers = [FullyConnected(8, act_fn="ReLU"), FullyConnected(8, act_fn="Tanh"),
              FullyConnected(1, act_fn="Affine(slope=1, intercept=0)")]
    return byo.rowmajor(layers, x, y, loss="mse", name="numpy-ml")
