"""The models: the RIN backbone and the diffusion models built on it."""

from keras_rin.models.rin_backbone import RINBackbone
from keras_rin.models.rin_image_generator import RINImageGenerator

__all__ = ["RINBackbone", "RINImageGenerator"]
