"""Sample-quality metrics."""

from keras_rin.metrics.frechet_distance import frechet_distance

__all__ = ["frechet_distance"]
