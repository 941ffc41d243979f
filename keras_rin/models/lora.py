"""Low-rank adaptation (LoRA) of a RIN backbone, on Keras' own
`Dense.enable_lora` (and `Conv.enable_lora` for the patch embedding).

A LoRA layer computes with `W + (alpha / rank) * A @ B`: its kernel `W`
is frozen, `A` (`he_uniform`) and `B` (zeros) are trained, so the adapted
model starts as the base model. `enable_lora` also freezes every other
variable of the backbone (biases, norms, the learned latents), so only
the LoRA weights train. Keras saves a LoRA layer with the product merged
into its kernel (`model.save_weights`, `save_to_preset`); the functions
here give the unmerged values to backups and LoRA-only presets.

Reference:
- [Hu et al., 2021](https://arxiv.org/abs/2106.09685)
"""

import dataclasses

import numpy as np
from keras import ops

from keras_rin.utils import validation

# What `targets` may name, and the layers each adapts.
LORA_TARGETS = ("attention", "mlp", "embeddings", "readout")
DEFAULT_LORA_TARGETS = ("attention", "mlp")


@dataclasses.dataclass(frozen=True)
class LoraConfig:
    """How a backbone's LoRA was enabled: `rank`, `alpha` (the scale is
    `alpha / rank`) and `targets`, a tuple of `LORA_TARGETS` names."""

    rank: int
    alpha: float
    targets: tuple

    def to_dict(self):
        return {
            "rank": self.rank,
            "alpha": self.alpha,
            "targets": list(self.targets),
        }


def check_lora_arguments(rank, targets, alpha):
    """The checked `LoraConfig` of `enable_lora`'s arguments."""
    rank = validation.check_count("rank", rank)
    if isinstance(targets, str):
        targets = (targets,)
    if not isinstance(targets, (list, tuple)) or not targets:
        raise ValueError(
            f"`targets` must be a non-empty list of {LORA_TARGETS}. "
            f"Received: targets={targets!r}"
        )
    unknown = [t for t in targets if t not in LORA_TARGETS]
    if unknown or len(set(targets)) != len(targets):
        raise ValueError(
            f"`targets` must name distinct entries of {LORA_TARGETS}. "
            f"Received: targets={targets!r}"
        )
    if alpha is None:
        alpha = rank
    alpha = validation.check_positive_number("lora_alpha", alpha)
    return LoraConfig(rank=rank, alpha=float(alpha), targets=tuple(targets))


def target_layers(backbone, targets):
    """The layers that LoRA adapts for `targets`, in a fixed order (the
    backbone's structure, so two equal backbones list them alike)."""
    from keras_rin import layers as rin_layers

    sublayers = {
        "attention": {
            rin_layers.RINAttention: (
                "query_dense",
                "key_dense",
                "value_dense",
                "output_dense",
            )
        },
        "mlp": {rin_layers.RINMLP: ("hidden_dense", "output_dense")},
        "embeddings": {
            rin_layers.NoiseLevelEmbedding: ("dense_hidden", "dense_output"),
            rin_layers.ClassEmbedding: ("dense",),
            rin_layers.ImagePatchTokenizer: ("stem",),
            rin_layers.VideoPatchTokenizer: ("stem",),
        },
        "readout": {
            rin_layers.ImagePatchReadout: ("dense",),
            rin_layers.VideoPatchReadout: ("dense",),
        },
    }
    wanted = {}
    for target in targets:
        wanted.update(sublayers[target])
    found = []
    for layer in backbone._flatten_layers(include_self=False):
        for kind, names in wanted.items():
            if isinstance(layer, kind):
                found.extend(getattr(layer, name) for name in names)
    return found


def enable_lora(backbone, config):
    """Enables LoRA on `backbone`'s `config.targets` and freezes every
    other variable; returns the adapted layers."""
    adapted = target_layers(backbone, config.targets)
    for layer in adapted:
        layer.enable_lora(config.rank, lora_alpha=config.alpha)
    trained = {id(v) for layer in adapted for v in _lora_pair(layer)}
    for variable in backbone.weights:
        if id(variable) not in trained:
            variable.trainable = False
    return adapted


def lora_layers(model):
    """The LoRA-enabled layers of a model (or backbone), in order."""
    return [
        layer
        for layer in model._flatten_layers(include_self=False)
        if getattr(layer, "lora_enabled", False)
    ]


def unmerged_states(model):
    """`{name: array}` of each LoRA layer's frozen kernel and its `A` and
    `B`, keyed by position (variable paths carry process-wide counters):
    what Keras' weights files lose by merging them."""
    states = {}
    for index, layer in enumerate(lora_layers(model)):
        for part, variable in zip(
            ("kernel", "a", "b"),
            (layer._kernel,) + _lora_pair(layer),
            strict=True,
        ):
            states[f"lora_{index}_{part}"] = ops.convert_to_numpy(variable)
    return states


def assign_unmerged_states(model, states, what):
    """Assigns `unmerged_states` back; raises a `ValueError` naming `what`
    when they do not fit the model's LoRA layers."""
    layers = lora_layers(model)
    expected = 3 * len(layers)
    found = [name for name in states if name.startswith("lora_")]
    if len(found) != expected:
        raise ValueError(
            f"{what} holds {len(found) // 3} LoRA layers; the model has "
            f"{len(layers)}"
        )
    for index, layer in enumerate(layers):
        for part, variable in zip(
            ("kernel", "a", "b"),
            (layer._kernel,) + _lora_pair(layer),
            strict=True,
        ):
            value = states[f"lora_{index}_{part}"]
            if tuple(value.shape) != tuple(variable.shape):
                raise ValueError(
                    f"{what}: LoRA layer {index} ({layer.name}) holds "
                    f"{part} of shape {tuple(value.shape)}, the model's is "
                    f"{tuple(variable.shape)}"
                )
            variable.assign(value)


def merged_values(model):
    """The model's weights as a model without LoRA holds them (the order
    of its `get_weights()`): the LoRA products merged into their kernels,
    in float32 before the kernel's own dtype."""
    merged = {}
    skipped = set()
    for layer in lora_layers(model):
        kernel = layer._kernel
        a, b = (ops.cast(v, "float32") for v in _lora_pair(layer))
        scale = layer.lora_alpha / layer.lora_rank
        delta = ops.reshape(ops.matmul(a, b), kernel.shape)
        value = ops.cast(kernel, "float32") + scale * delta
        merged[id(kernel)] = ops.convert_to_numpy(ops.cast(value, kernel.dtype))
        skipped.update(id(v) for v in _lora_pair(layer))
    return [
        merged[id(v)] if id(v) in merged else ops.convert_to_numpy(v)
        for v in model.weights
        if id(v) not in skipped
    ]


def count_base_params(model):
    """The number of parameters without the LoRA weights."""
    lora = {id(v) for layer in lora_layers(model) for v in _lora_pair(layer)}
    return int(
        sum(np.prod(v.shape) for v in model.weights if id(v) not in lora)
    )


def lora_weights(model):
    """The LoRA `A` and `B` variables of a model, in order."""
    return [v for layer in lora_layers(model) for v in _lora_pair(layer)]


def _lora_pair(layer):
    return (layer.lora_kernel_a, layer.lora_kernel_b)
