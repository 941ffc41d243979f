"""The models: the RIN backbones and the diffusion models built on them."""

from keras_rin.models.rin_backbone import RINBackbone
from keras_rin.models.rin_backbone_base import RINBackboneBase
from keras_rin.models.rin_diffusion_model import RINDiffusionModel
from keras_rin.models.rin_image_generator import RINImageGenerator
from keras_rin.models.rin_video_backbone import RINVideoBackbone
from keras_rin.models.rin_video_predictor import RINVideoPredictor

__all__ = [
    "RINBackbone",
    "RINBackboneBase",
    "RINDiffusionModel",
    "RINImageGenerator",
    "RINVideoBackbone",
    "RINVideoPredictor",
]
