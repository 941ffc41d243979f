"""Optimizers and learning rate schedules of the official RIN recipe."""

from keras_rin.optimizers.lamb import LAMB
from keras_rin.optimizers.warmup_cosine_decay import WarmupCosineDecay

__all__ = ["LAMB", "WarmupCosineDecay"]
