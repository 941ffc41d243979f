"""Multi-device training with `keras.distribution` (JAX backend).

- `make_distribution`: the `DataParallel` or `ModelParallel` distribution
  for a backbone configuration (`distributions.py`).
- `layout_map_from_config`, `check_variable_layouts`: the tensor-parallel
  sharding policy and its check (`sharding.py`).

Keras 3 implements `keras.distribution` for JAX only. On TensorFlow it
constructs but does not distribute anything (training silently runs on one
device), and on PyTorch it fails with an `AttributeError`;
`make_distribution` raises a `ValueError` there that says what is supported
instead.
"""

from keras_rin.distribution.distributions import DISTRIBUTION_KINDS
from keras_rin.distribution.distributions import (
    check_backend_supports_distribution,
)
from keras_rin.distribution.distributions import make_distribution
from keras_rin.distribution.sharding import check_variable_layouts
from keras_rin.distribution.sharding import layout_map_from_config

__all__ = [
    "DISTRIBUTION_KINDS",
    "check_backend_supports_distribution",
    "check_variable_layouts",
    "layout_map_from_config",
    "make_distribution",
]
