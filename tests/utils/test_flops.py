import json
import math
import os
import re

import keras
import numpy as np
import pytest

import keras_rin
from keras_rin.utils import count_flops
from keras_rin.utils import count_params
from tests.helpers import TINY_CONFIG
from tests.helpers import tiny_backbone


def _cifar10_backbone_config():
    directory = keras_rin.RINImageGenerator.presets["rin_cifar10"]["path"]
    with open(os.path.join(directory, "config.json")) as file:
        return json.load(file)["config"]["backbone"]["config"]


# Interface wider than the latents, unconditional, patch 1, odd ratios.
VARIANTS = [
    {},
    dict(num_classes=None),
    dict(interface_dim=48, latent_dim=32, rw_num_heads=4),
    dict(patch_size=1, latent_mlp_ratio=3, interface_mlp_ratio=1),
    dict(image_shape=(8, 4, 3), num_blocks=1, block_depth=3),
    # Video backbones: 3-D patches, and one frame per patch.
    dict(video_shape=(4, 8, 8, 3)),
    dict(video_shape=(3, 8, 4, 1), frames_per_patch=1, num_classes=5),
]


@pytest.mark.parametrize("overrides", VARIANTS)
def test_count_params_matches_the_built_model(overrides):
    backbone = tiny_backbone(**overrides)
    assert count_params(backbone) == backbone.count_params()
    assert count_params(backbone.get_config()) == backbone.count_params()


def test_cifar10_counts_match_the_official_numbers():
    # 30.95 M parameters (the paper) and 8.59 GFLOPs (a multiply-add counts
    # 2, attention included).
    config = _cifar10_backbone_config()
    assert count_params(config) == 30_951_180
    assert count_flops(config) / 1e9 == pytest.approx(8.59, rel=2e-3)


def test_counts_accept_a_generator_and_reject_other_things():
    backbone = tiny_backbone()
    generator = keras_rin.RINImageGenerator(backbone)
    assert count_flops(generator) == count_flops(backbone)
    with pytest.raises(ValueError, match="backbone config"):
        count_flops(42)
    with pytest.raises(ValueError, match="lacks"):
        count_params({"image_shape": (8, 8, 1)})
    with pytest.raises(ValueError, match="frames_per_patch"):
        config = tiny_backbone(video_shape=(4, 8, 8, 3)).get_config()
        del config["frames_per_patch"]
        count_params(config)


def test_kinetics600_counts():
    # Table C.1: 2,048 interface tokens; the paper prints 411 M parameters
    # and 386 GFLOPs (its convention is undocumented, see the model card).
    directory = keras_rin.RINVideoPredictor.presets["rin_kinetics600"]["path"]
    with open(os.path.join(directory, "config.json")) as file:
        config = json.load(file)["config"]["backbone"]["config"]
    assert count_params(config) == pytest.approx(395.3e6, rel=1e-3)
    assert count_flops(config) / 1e9 == pytest.approx(288.17, rel=1e-4)


def _inputs(backbone, batch):
    data_shape = (batch,) + backbone.data_shape
    inputs = {
        backbone.data_input_name: np.zeros(data_shape, "float32"),
        "noise_levels": np.full((batch,), 0.5, "float32"),
        "latents": np.zeros((batch,) + backbone.latent_shape, "float32"),
    }
    if backbone.num_classes:
        inputs["labels"] = np.zeros((batch,), "int32")
    return inputs


@pytest.mark.skipif(
    keras.config.backend() != "torch", reason="PyTorch's flop counter"
)
@pytest.mark.parametrize("overrides", VARIANTS)
def test_count_flops_matches_torch_flop_counter(overrides, monkeypatch):
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    # The counter does not look inside the fused CPU attention kernel, so
    # attention runs as the two matrix products it computes.
    def explicit_attention(query, key, value, scale=None, **kwargs):
        scale = query.shape[-1] ** -0.5 if scale is None else scale
        weights = torch.softmax(query @ key.transpose(-2, -1) * scale, -1)
        return weights @ value

    monkeypatch.setattr(
        torch.nn.functional,
        "scaled_dot_product_attention",
        explicit_attention,
    )
    backbone = tiny_backbone(**overrides)
    batch = 3
    counter = FlopCounterMode(display=False)
    with counter:
        backbone(_inputs(backbone, batch))
    assert counter.get_total_flops() == batch * count_flops(backbone)


@pytest.mark.skipif(keras.config.backend() != "jax", reason="the XLA graph")
@pytest.mark.parametrize("overrides", VARIANTS)
def test_count_flops_matches_the_matrix_products_of_the_xla_graph(overrides):
    import jax

    backbone = tiny_backbone(**overrides)
    batch = 2

    def forward(trainable, non_trainable, inputs):
        outputs, _ = backbone.stateless_call(trainable, non_trainable, inputs)
        return outputs["prediction"]

    lowered = jax.jit(forward).lower(
        [v.value for v in backbone.trainable_variables],
        [v.value for v in backbone.non_trainable_variables],
        _inputs(backbone, batch),
    )
    graph_flops = _matrix_product_flops(lowered.as_text(dialect="hlo"))
    assert graph_flops == batch * count_flops(backbone)
    # XLA's own cost analysis also counts element-wise work (LayerNorm,
    # GELU, softmax), so it can only be larger.
    cost = lowered.compile().cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    assert cost["flops"] >= graph_flops


_INSTRUCTION = re.compile(r"^\s*(?:ROOT\s+)?([\w.\-]+) = \w+\[([\d,]*)\]")


def _matrix_product_flops(hlo_text):
    """FLOPs of every dot and convolution in an HLO module (a multiply-add
    counts 2)."""
    shapes = {}
    for line in hlo_text.splitlines():
        match = _INSTRUCTION.match(line)
        if match:
            dims = match.group(2)
            shapes[match.group(1)] = [int(d) for d in dims.split(",") if d]
    total = 0
    for line in hlo_text.splitlines():
        match = _INSTRUCTION.match(line)
        if not match:
            continue
        output = math.prod(shapes[match.group(1)])
        if " dot(" in line:
            lhs = re.search(r" dot\(([\w.\-]+),", line).group(1)
            contracting = re.search(r"lhs_contracting_dims=\{([\d,]*)\}", line)
            dims = [int(d) for d in contracting.group(1).split(",") if d]
            total += 2 * output * math.prod(shapes[lhs][d] for d in dims)
        elif " convolution(" in line:
            kernel = re.search(r" convolution\([\w.\-]+, ([\w.\-]+)\)", line)
            kernel_shape = shapes[kernel.group(1)]
            labels = re.search(r"dim_labels=\w+_(\w+)->", line).group(1)
            out_features = kernel_shape[labels.index("o")]
            total += 2 * output * math.prod(kernel_shape) // out_features
    return total


def test_tiny_config_flops_by_hand():
    # Written out term by term for TINY_CONFIG, as a readable cross-check.
    n, m, dz, dx, rw = 16, 12, 32, 16, 16
    stem = readout = n * 4 * dx
    embeddings = dz // 4 * dz + dz * dz + 3 * dz
    self_conditioning = m * 2 * 2 * dz * dz
    read = 2 * m * dz * rw + 2 * n * dx * rw + 2 * m * n * rw + m * 4 * dz * dz
    compute = 4 * m * dz * dz + 2 * m * m * dz + m * 4 * dz * dz
    write = 2 * n * dx * rw + 2 * m * dz * rw + 2 * n * m * rw + n * 4 * dx**2
    macs = stem + readout + embeddings + self_conditioning
    macs += 2 * (read + compute + write)
    assert count_flops(TINY_CONFIG) == 2 * macs
