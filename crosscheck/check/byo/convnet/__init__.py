"""Convolutional networks brought in as layer objects or CS231n function pairs (model.py):
adapters (adapters.py, dropout.py), their torch twins in the user's layouts (twins.py), and
the convolution and pooling slips the report names (slips.py)."""
from .model import CNNModel, affine_fn, cnn, conv_fn, fn_layer, pool_fn

__all__ = ["CNNModel", "affine_fn", "cnn", "conv_fn", "fn_layer", "pool_fn"]
