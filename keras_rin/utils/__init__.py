"""Utilities: parameter and FLOPs counts."""

from keras_rin.utils.flops import count_flops
from keras_rin.utils.flops import count_params
from keras_rin.utils.flops import count_sampling_flops

__all__ = ["count_flops", "count_params", "count_sampling_flops"]
