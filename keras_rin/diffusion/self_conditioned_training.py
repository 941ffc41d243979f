"""The training forward of RIN diffusion models, with latent
self-conditioning, and their loss.

For each example: draw `t ~ U(0, 1)` and noise, form `x_t = sqrt(gamma(t))
x + sqrt(1 - gamma(t)) eps`, and regress the backbone's prediction on the
target (`eps`, `x` or `v`). With probability `self_conditioning_rate` the
previous latents come from a first pass of the backbone on the same `x_t`
with zero latents, under stop-gradient; otherwise they are zeros.

The functions take the model (a `RINDiffusionModel`) as their first
argument, as DiT's diffusion code takes its network: they read its
training settings and its `seed_generator`, and run the backbone through
`model.denoise`, the one path that sampling uses too.
"""

import math

import keras
import numpy as np
from keras import ops

from keras_rin.diffusion import targets


def training_forward(model, x, context, labels, training):
    """The diffusion training forward on clean data.

    Args:
        model: the `RINDiffusionModel`.
        x: float32, the part to generate, in model space `[-b, b]`.
        context: float32 conditioning data in model space, or None.
        labels: int `(batch,)` or None.
        training: bool, enables dropout, drop-path and label dropout.

    Returns:
        A dict with the `"prediction"` of the generated part and its
        regression `"target"`, both float32.
    """
    batch_size = ops.shape(x)[0]
    t = keras.random.uniform((batch_size,), seed=model.seed_generator)
    gamma = model.train_schedule(t)
    noise = keras.random.normal(ops.shape(x), seed=model.seed_generator)
    gamma_b = ops.reshape(gamma, (-1,) + (1,) * (len(x.shape) - 1))
    x_t = targets.add_noise(x, noise, gamma_b)
    if labels is not None and training and model.label_dropout_rate:
        labels = _drop_labels(model, labels)
    counts = previous_counts = None
    if model.elastic_latent_counts:
        counts = _draw_active_counts(model, batch_size)
    latents = ops.zeros((batch_size,) + model.backbone.latent_shape)
    if model.self_conditioning_rate:
        if counts is not None:
            previous_counts = ops.minimum(
                _draw_active_counts(model, batch_size), counts
            )
        latents = self_conditioning_latents(
            model, (x_t, gamma, labels, context), training, previous_counts
        )
    latent_mask = None
    if counts is not None:
        latent_mask = model.backbone.active_latent_mask(counts)
    prediction, _ = model.denoise(
        x_t, gamma, labels, latents, context, training, latent_mask=latent_mask
    )
    return {
        "prediction": prediction,
        "target": targets.training_target(
            x, noise, gamma_b, model.prediction_target
        ),
    }


def self_conditioning_latents(model, batch, training, counts=None):
    """Previous latents for a training batch: the first pass runs only on
    the examples that are self-conditioned, a random subset of
    `ceil(rate * batch)`, and the others get zeros.

    The last example of the subset keeps its estimate with probability
    `rate * batch - (count - 1)`, so that every example is self-conditioned
    with probability `self_conditioning_rate`, as in the official
    per-example draw; only the number per batch varies less (by at most
    one). A static subset size keeps the shapes static for XLA, and the
    skipped examples cost nothing, so a step costs `3 + rate` forward
    passes instead of 4.

    Args:
        model: the `RINDiffusionModel`.
        batch: `(x_t, gamma, labels, context)` of the batch (labels and
            context may be None).
        training: bool, enables dropout and drop-path.
        counts: None, or int `(batch,)` active-latent counts (elastic
            latents): each example's first pass uses its own count, and
            the inactive latents come out as zeros.

    Returns:
        float32 `(batch,) + latent_shape`.
    """
    gamma = batch[1]
    batch_size = ops.shape(gamma)[0]
    rate = model.self_conditioning_rate
    if isinstance(batch_size, int):
        expected = rate * batch_size
        count = max(1, math.ceil(expected - 1e-6))
    else:  # an unknown batch size in a TensorFlow graph
        expected = rate * ops.cast(batch_size, "float32")
        count = ops.cast(ops.ceil(expected - 1e-6), "int32")
    keep_last = ops.cast(expected, "float32") - ops.cast(count - 1, "float32")
    draw = keras.random.uniform((batch_size,), seed=model.seed_generator)
    coin = keras.random.uniform((), seed=model.seed_generator)
    order = ops.argsort(draw)
    chosen = order[:count]
    latent_mask = None
    if counts is not None:
        latent_mask = model.backbone.active_latent_mask(
            ops.take(counts, chosen, axis=0)
        )
    subset = [
        None if value is None else ops.take(value, chosen, axis=0)
        for value in batch
    ]
    estimate = first_pass(model, subset, training, latent_mask=latent_mask)
    last = ops.equal(ops.arange(count), count - 1)
    keep = ops.where(last, ops.cast(coin < keep_last, "float32"), 1.0)
    padding = ops.zeros(
        (batch_size - count,) + model.backbone.latent_shape, "float32"
    )
    in_order = ops.concatenate([estimate * keep[:, None, None], padding], 0)
    return ops.take(in_order, ops.argsort(order), axis=0)


def first_pass(model, batch, training, latent_mask=None, num_latents=None):
    """The self-conditioning estimate: the output latents of a pass with
    zero previous latents (`num_latents` of them, all by default), under
    stop-gradient. `batch` is `(x_t, gamma, labels, context)`."""
    x_t, gamma, labels, context = batch
    count = num_latents or model.backbone.num_latents
    zeros = ops.zeros((ops.shape(gamma)[0], count, model.backbone.latent_dim))
    _, latents = model.denoise(
        x_t,
        gamma,
        labels,
        zeros,
        context,
        training,
        num_active_latents=num_latents,
        latent_mask=latent_mask,
    )
    return ops.stop_gradient(latents)


def self_conditioned_prediction(model, batch, use_self_conditioning, training):
    """`RINDiffusionModel.self_conditioned_prediction`: the prediction of
    the trained pass, whose previous latents are the first pass's output
    for the examples where `use_self_conditioning` is True and zeros
    elsewhere (the first pass is skipped when it is None).

    Args:
        model: the `RINDiffusionModel`.
        batch: `(x_t, gamma, labels, context, num_active_latents)`; the
            last is None for all latents.
        use_self_conditioning: bool `(batch,)` or None.
        training: bool, enables dropout and drop-path.
    """
    x_t, gamma, labels, context, count = batch
    x_t, gamma = targets.float32(x_t, gamma)
    if count is not None:
        count = model.backbone.check_num_active_latents(count)
    full = count or model.backbone.num_latents
    latents = ops.zeros((ops.shape(x_t)[0], full, model.backbone.latent_dim))
    if use_self_conditioning is not None:
        estimate = first_pass(
            model, (x_t, gamma, labels, context), training, num_latents=full
        )
        use = ops.cast(use_self_conditioning, "float32")
        latents = estimate * use[:, None, None]
    prediction, _ = model.denoise(
        x_t, gamma, labels, latents, context, training, num_active_latents=full
    )
    return prediction


def denoising_loss(prediction, target, sample_weight=None):
    """Mean squared error between prediction and target, averaged over the
    generated values of each example, then over examples (weighted by
    `sample_weight` if given)."""
    squared_error = ops.square(prediction - target)
    per_example = ops.mean(
        ops.reshape(squared_error, (ops.shape(squared_error)[0], -1)), axis=-1
    )
    if sample_weight is None:
        return ops.mean(per_example)
    weights = ops.reshape(
        ops.cast(ops.convert_to_tensor(sample_weight), "float32"), (-1,)
    )
    return ops.sum(per_example * weights) / ops.maximum(ops.sum(weights), 1e-12)


def _draw_active_counts(model, batch_size):
    """Active-latent counts `(batch,)` drawn from the model's
    `elastic_latent_counts` with their probabilities."""
    counts = ops.convert_to_tensor(
        np.asarray(model.elastic_latent_counts, "int32")
    )
    cumulative = np.cumsum(model.elastic_latent_probabilities)[:-1]
    draw = keras.random.uniform((batch_size,), seed=model.seed_generator)
    index = ops.sum(
        ops.cast(
            draw[:, None] >= ops.convert_to_tensor(cumulative, "float32"),
            "int32",
        ),
        axis=1,
    )
    return ops.take(counts, index, axis=0)


def _drop_labels(model, labels):
    """Labels set to -1 ("no class") with probability
    `label_dropout_rate`, for classifier-free guidance."""
    labels = ops.cast(labels, "int32")
    draw = keras.random.uniform(ops.shape(labels), seed=model.seed_generator)
    return ops.where(draw < model.label_dropout_rate, -1, labels)
