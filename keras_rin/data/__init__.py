"""Data sets for training and evaluating RIN models."""

from keras_rin.data.digits import load_digits

__all__ = ["load_digits"]
