"""keras-rin: Recurrent Interface Networks for Keras 3 (JAX, TensorFlow,
PyTorch)."""

# First: the keras-rin command chooses the backend before keras is imported.
from keras_rin import _cli_startup  # noqa: F401
from keras_rin import callbacks
from keras_rin import data
from keras_rin import diffusion
from keras_rin import distribution
from keras_rin import layers
from keras_rin import metrics
from keras_rin import optimizers
from keras_rin import presets
from keras_rin import training
from keras_rin import utils
from keras_rin import visualization
from keras_rin.models.rin_backbone import RINBackbone
from keras_rin.models.rin_diffusion_model import RINDiffusionModel
from keras_rin.models.rin_image_generator import RINImageGenerator
from keras_rin.models.rin_video_backbone import RINVideoBackbone
from keras_rin.models.rin_video_predictor import RINVideoPredictor
from keras_rin.presets.preset_upload import upload_preset
from keras_rin.version import __version__

__all__ = [
    "RINBackbone",
    "RINDiffusionModel",
    "RINImageGenerator",
    "RINVideoBackbone",
    "RINVideoPredictor",
    "__version__",
    "callbacks",
    "data",
    "diffusion",
    "distribution",
    "presets",
    "layers",
    "metrics",
    "training",
    "optimizers",
    "upload_preset",
    "utils",
    "visualization",
]
