"""The classic MNIST CNN: conv-pool-conv-pool-fc-dropout-fc, trained with Adam or SGD.

Importing the package imports no torch: `mnist_cnn.spec` is the torch-free model
description that numpy_impl builds too."""
from nn_crosscheck_common.launch import ignore_working_folder

ignore_working_folder()  # first: `python -m` must not see the user's folder

from .spec import INITS, cnn_spec

__all__ = ["INITS", "cnn_spec"]
