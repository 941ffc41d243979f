"""Diffusion maths: noise schedules, prediction targets and samplers."""

from keras_rin.diffusion import samplers
from keras_rin.diffusion import schedules
from keras_rin.diffusion import targets
from keras_rin.diffusion.schedules import CosineSchedule
from keras_rin.diffusion.schedules import LinearSchedule
from keras_rin.diffusion.schedules import NoiseSchedule
from keras_rin.diffusion.schedules import SigmoidSchedule

__all__ = [
    "CosineSchedule",
    "LinearSchedule",
    "NoiseSchedule",
    "SigmoidSchedule",
    "samplers",
    "schedules",
    "targets",
]
