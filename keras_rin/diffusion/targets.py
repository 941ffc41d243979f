"""Prediction targets (eps, x, v), their conversions, and input scaling.

All functions work in float32 on tensors of any rank; `gamma` broadcasts
against the images (pass it with trailing singleton axes).
"""

import keras
from keras import ops

PREDICTION_TARGETS = ("eps", "x", "v")

# Keeps 1 - gamma away from 0 where gamma(t) rounds to 1 in float32.
_MIN_VARIANCE = 1e-12


def float32(*values):
    """Converts arrays or numbers to float32 tensors."""
    return tuple(ops.cast(ops.convert_to_tensor(v), "float32") for v in values)


def check_prediction_target(prediction_target):
    if prediction_target not in PREDICTION_TARGETS:
        raise ValueError(
            f"`prediction_target` must be one of {PREDICTION_TARGETS}. "
            f"Received: prediction_target={prediction_target!r}"
        )


def images_to_inputs(images, input_scale):
    """Maps images (float in [0, 1], or uint8 in [0, 255]) to the diffusion
    space [-b, b], in float32."""
    if keras.backend.standardize_dtype(images.dtype) == "uint8":
        images = ops.cast(images, "float32") / 255.0
    return (ops.cast(images, "float32") * 2.0 - 1.0) * input_scale


def inputs_to_images(x, input_scale):
    """Maps the diffusion space [-b, b] back to images in [0, 1]."""
    return ops.clip((x / input_scale + 1.0) / 2.0, 0.0, 1.0)


def add_noise(x, noise, gamma):
    """The forward process `x_t = sqrt(gamma) x + sqrt(1 - gamma) eps`."""
    x, noise, gamma = float32(x, noise, gamma)
    return ops.sqrt(gamma) * x + ops.sqrt(1.0 - gamma) * noise


def training_target(x, noise, gamma, prediction_target):
    """The regression target of the network for clean `x` and `noise`."""
    x, noise, gamma = float32(x, noise, gamma)
    if prediction_target == "eps":
        return noise
    if prediction_target == "x":
        return x
    return ops.sqrt(gamma) * noise - ops.sqrt(1.0 - gamma) * x


def prediction_to_x0(x_t, prediction, gamma, prediction_target):
    """The clean-data estimate implied by a network prediction."""
    x_t, prediction, gamma = float32(x_t, prediction, gamma)
    if prediction_target == "eps":
        return (x_t - ops.sqrt(1.0 - gamma) * prediction) / ops.sqrt(gamma)
    if prediction_target == "x":
        return prediction
    return ops.sqrt(gamma) * x_t - ops.sqrt(1.0 - gamma) * prediction


def x0_to_eps(x_t, x0, gamma):
    """The noise that, with clean `x0`, gives `x_t` at noise level gamma."""
    x_t, x0, gamma = float32(x_t, x0, gamma)
    variance = ops.maximum(1.0 - gamma, _MIN_VARIANCE)
    return (x_t - ops.sqrt(gamma) * x0) / ops.sqrt(variance)
