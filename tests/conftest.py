import numpy as np
import pytest
from hypothesis import settings

# Property tests draw the same examples on every run: a verdict of the suite never depends on chance
# (an edge case hypothesis finds is then added as an explicit example, not found by luck in CI).
settings.register_profile("deterministic", derandomize=True)
settings.load_profile("deterministic")
from mnist_helpers import write_tiny_mnist


@pytest.fixture
def rng():
    """A seeded generator, so every test sees the same numbers on every run."""
    return np.random.default_rng(1234)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A folder of tiny MNIST-format data (mnist_helpers.write_tiny_mnist), one per test module."""
    return str(write_tiny_mnist(tmp_path_factory.mktemp("mnist")))
