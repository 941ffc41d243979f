"""Diffusion maths: noise schedules, prediction targets, samplers and
the spacing of their steps."""

from keras_rin.diffusion import noise_grids
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
    "noise_grids",
    "samplers",
    "schedules",
    "targets",
]
