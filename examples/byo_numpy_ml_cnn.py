"""numpy-ml's Conv2D, Pool2D, Flatten and FullyConnected layers (a third-party NumPy library,
`pip install numpy-ml==0.1.2`), checked with `python -m crosscheck --user
examples/byo_numpy_ml_cnn.py`. NHWC, kernels [kh, kw, Cin, Cout] in parameters["W"], the
activation built into the convolution (act_fn), pool_shape as kernel_shape, mode "max" or
"average", gradients summed in gradients["W"]: all read by byo.cnn."""
import collections
import collections.abc

import numpy as np

collections.Hashable = collections.abc.Hashable  # numpy-ml 0.1.2 predates Python 3.10's removal of it


def layers_and_data(mode: str = "max"):
    from numpy_ml.neural_nets.layers import Conv2D, Flatten, FullyConnected, Pool2D
    np.random.seed(0)  # numpy-ml initialises from the global generator
    rng = np.random.default_rng(0)
    x, labels = rng.normal(size=(4, 6, 6, 2)), np.array([0, 1, 2, 1])
    layers = [Conv2D(3, (3, 3), pad=1, act_fn="ReLU"), Pool2D((2, 2), stride=2, mode=mode), Flatten(),
              FullyConnected(3)]
    return layers, x, labels


def crosscheck_model():
    from crosscheck import byo
    layers, x, labels = layers_and_data()
    return byo.cnn(layers, x, labels, layout="nhwc", name="numpy-ml CNN")
