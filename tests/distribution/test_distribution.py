import json
import os
import re
import subprocess
import sys

import keras
import pytest

from keras_rin.distribution import check_variable_layouts
from keras_rin.distribution import layout_map_from_config
from keras_rin.distribution import make_distribution
from tests.helpers import TINY_CONFIG
from tests.helpers import tiny_backbone
from tests.helpers import tiny_video_backbone

BACKEND = keras.config.backend()
jax_only = pytest.mark.skipif(
    BACKEND != "jax",
    reason="keras.distribution is implemented for the JAX backend only",
)
SCRIPT = os.path.join(os.path.dirname(__file__), "multi_device_checks.py")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))


def fake_mesh(model_size, data_size=1):
    """A mesh on device names only: building a layout map never touches
    the devices, so this works with one device and on every backend."""
    devices = [f"cpu:{i}" for i in range(data_size * model_size)]
    return keras.distribution.DeviceMesh(
        (data_size, model_size), ("data", "model"), devices=devices
    )


def expected_axes(path):
    """The layout that the Megatron-style map should give a variable."""
    parts = path.split("/")
    layer, name = parts[-2], parts[-1]
    owner = "/".join(parts[:-2])
    in_attention = re.search(r"(read|write|compute)_attention(_\d+)?$", owner)
    in_mlp = re.search(
        r"((read|write)_mlp|compute_mlp_\d+|self_conditioning/mlp)$", owner
    )
    if in_attention and layer in ("query", "key", "value"):
        return {"kernel": (None, "model"), "bias": ("model",)}[name]
    if in_mlp and layer == "hidden":
        return {"kernel": (None, "model"), "bias": ("model",)}[name]
    if (in_attention or in_mlp) and layer == "output" and name == "kernel":
        return ("model", None)
    return None


@pytest.mark.parametrize("make_backbone", [tiny_backbone, tiny_video_backbone])
def test_layout_map_shards_attention_and_mlp_weights_only(make_backbone):
    backbone = make_backbone()
    layout_map = backbone.get_layout_map(fake_mesh(2))
    assert all(key.startswith(".*") for key in layout_map)
    sharded = 0
    for variable in backbone.weights:
        layout = layout_map[variable.path]
        axes = None if layout is None else layout.axes
        assert axes == expected_axes(variable.path), variable.path
        sharded += axes is not None
    # Per block: 3 attentions x 7 sharded variables, 3 MLPs x 3; plus the
    # self-conditioning MLP.
    assert sharded == TINY_CONFIG["num_blocks"] * (3 * 7 + 3 * 3) + 3


def test_layout_map_from_config_matches_the_method():
    mesh = fake_mesh(2, data_size=2)
    from_config = layout_map_from_config(mesh, TINY_CONFIG)
    from_backbone = tiny_backbone().get_layout_map(mesh)
    assert list(from_config) == list(from_backbone)
    for key in from_config:
        assert from_config[key].axes == from_backbone[key].axes


def test_layout_map_uses_the_given_axis_names():
    mesh = keras.distribution.DeviceMesh(
        (1, 2), ("batch", "tensor"), devices=["cpu:0", "cpu:1"]
    )
    layout_map = layout_map_from_config(
        mesh, TINY_CONFIG, model_axis="tensor", data_axis="batch"
    )
    axes = layout_map["block_0/compute_mlp_0/output/kernel"].axes
    assert axes == ("tensor", None)


@pytest.mark.parametrize(
    "model_size, overrides, named",
    [
        (
            3,
            {},
            [
                "latent_dim) = 32",
                "interface_dim)) = 16",
                "latent_mlp_ratio) = 64",
                "interface_mlp_ratio) = 32",
                "latent_num_heads) = 4",
                "rw_num_heads) = 2",
            ],
        ),
        (4, {}, ["rw_num_heads) = 2"]),
        (
            2,
            dict(latent_dim=27, latent_num_heads=3),
            ["latent_dim) = 27", "latent_num_heads) = 3"],
        ),
        (
            4,
            dict(interface_dim=34, interface_mlp_ratio=1, rw_num_heads=4),
            ["interface_mlp_ratio) = 34"],
        ),
    ],
)
def test_indivisible_layout_raises_naming_the_width(
    model_size, overrides, named
):
    config = dict(TINY_CONFIG, **overrides)
    with pytest.raises(ValueError, match=f"'model' of size {model_size}") as e:
        layout_map_from_config(fake_mesh(model_size), config)
    for text in named:
        assert text in str(e.value)
    assert str(e.value).count(") = ") == len(named), str(e.value)


@pytest.mark.parametrize(
    "kwargs", [dict(model_axis="tensor"), dict(data_axis="batch")]
)
def test_axis_not_in_mesh_raises(kwargs):
    with pytest.raises(ValueError, match="is not an axis of the device mesh"):
        layout_map_from_config(fake_mesh(2), TINY_CONFIG, **kwargs)


def test_layout_map_needs_the_widths():
    with pytest.raises(ValueError, match="must give `latent_dim`"):
        layout_map_from_config(fake_mesh(2), {"interface_dim": 16})


def test_make_distribution_none_and_argument_checks():
    assert make_distribution("none") is None
    with pytest.raises(ValueError, match="`kind` must be one of"):
        make_distribution("pipeline")
    with pytest.raises(ValueError, match="must be 1 for kind='data'"):
        make_distribution("data", model_parallel=2)


def test_check_variable_layouts_rejects_unsharded_variables():
    # Created without a distribution, nothing is sharded.
    backbone = tiny_backbone()
    with pytest.raises(ValueError, match="do not have the layout") as e:
        check_variable_layouts(
            backbone, layout_map_from_config(fake_mesh(2), TINY_CONFIG)
        )
    assert "block_0/read_attention/query/kernel" in str(e.value)


def test_check_variable_layouts_needs_a_matching_variable():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    layout_map = layout_map_from_config(fake_mesh(2), TINY_CONFIG)
    with pytest.raises(ValueError, match="No variable of the model matches"):
        check_variable_layouts(model, layout_map)


@pytest.mark.skipif(BACKEND == "jax", reason="JAX supports distribution")
@pytest.mark.parametrize("kind", ["data", "model"])
def test_distribution_on_other_backends_raises_clear_error(kind):
    advice = {
        "tensorflow": "MirroredStrategy",
        "torch": "DistributedDataParallel",
    }[BACKEND]
    with pytest.raises(ValueError, match="needs the JAX backend") as e:
        make_distribution(kind, TINY_CONFIG)
    assert advice in str(e.value)
    assert "single device" in str(e.value) or "one device" in str(e.value)


@pytest.mark.skipif(BACKEND != "torch", reason="the torch behaviour")
def test_keras_distribution_fails_obscurely_on_torch():
    # What the error message of `make_distribution` tells torch users.
    with pytest.raises(AttributeError):
        keras.distribution.DataParallel()


@pytest.mark.skipif(BACKEND != "tensorflow", reason="the TF behaviour")
def test_keras_distribution_is_ignored_on_tensorflow():
    # What the error message of `make_distribution` tells TF users: the
    # objects build, but the variables stay ordinary TF variables.
    from tensorflow.experimental import dtensor

    with keras.distribution.DataParallel().scope():
        layer = keras.layers.Dense(2)
        layer.build((None, 4))
    assert not dtensor.is_dtensor(layer.kernel.value)


@jax_only
def test_single_device_model_parallel_passes_the_layout_check():
    devices = keras.distribution.list_devices()[:1]
    distribution = make_distribution(
        "model", TINY_CONFIG, model_parallel=1, devices=devices
    )
    with distribution.scope():
        backbone = tiny_backbone()
    sharded = check_variable_layouts(backbone, distribution)
    assert sharded["block_0/compute_mlp_0/hidden/kernel"] == (None, "model")


# ----------------------------------------------------------------------
# 8 simulated CPU devices, in a subprocess (JAX fixes its device count
# when it starts).
# ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def multi_device():
    env = dict(
        os.environ,
        KERAS_BACKEND="jax",
        JAX_PLATFORMS="cpu",
        XLA_FLAGS="--xla_force_host_platform_device_count=8 "
        "--xla_backend_optimization_level=0",
        TF_CPP_MIN_LOG_LEVEL="3",
    )
    result = subprocess.run(
        [sys.executable, SCRIPT],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    assert lines, f"no output; stderr:\n{result.stderr[-3000:]}"
    results = json.loads(lines[-1])
    assert results["num_devices"] == 8, (
        f"expected 8 simulated CPU devices, got {results['num_devices']}"
    )
    return results


@pytest.mark.large
@jax_only
def test_model_parallel_shards_the_variables(multi_device):
    layouts = multi_device["layouts"]
    assert layouts["mesh_shape"] == [4, 2]
    axes = layouts["axes"]
    expected = {
        "block_0/compute_attention_0/query/kernel": [None, "model"],
        "block_0/compute_attention_0/query/bias": ["model"],
        "block_0/compute_attention_0/output/kernel": ["model", None],
        "block_0/compute_attention_0/output/bias": [None],
        "block_0/read_attention/key/kernel": [None, "model"],
        "block_0/write_attention/output/kernel": ["model", None],
        "block_0/compute_mlp_0/hidden/kernel": [None, "model"],
        "block_0/compute_mlp_0/hidden/bias": ["model"],
        "block_0/compute_mlp_0/output/kernel": ["model", None],
        "block_0/write_mlp/hidden/kernel": [None, "model"],
        "self_conditioning/mlp/hidden/kernel": [None, "model"],
        "block_0/compute_attention_0/query_norm/gamma": [None],
        "block_0/compute_mlp_0/norm/gamma": [None],
        "tokenizer/stem/kernel": [None] * 4,
        "readout/dense/kernel": [None, None],
    }
    for path, spec in expected.items():
        assert axes[path] == spec, f"{path}: sharding {axes[path]}"
    # check_variable_layouts passed on every variable of the model.
    assert layouts["num_sharded"] == 33


@pytest.mark.large
@jax_only
def test_indivisible_layouts_raise_on_devices(multi_device):
    errors = multi_device["indivisible_errors"]
    assert "'model' of size 8" in errors["mesh_1x8"]
    assert "latent_num_heads) = 4" in errors["mesh_1x8"]
    assert "rw_num_heads) = 2" in errors["widths_of_48"]
    assert "divisor of the number of devices (8)" in errors["model_parallel_3"]


@pytest.mark.large
@jax_only
@pytest.mark.parametrize(
    "run",
    [
        "data_parallel_after_2_steps",
        "data_parallel_after_3_steps",
        "model_parallel_after_2_steps",
    ],
)
def test_distributed_training_matches_one_device(multi_device, run):
    training = multi_device["training"]
    difference = training[run]
    # The steps moved the weights by far more than the tolerance.
    assert training["weight_change_in_3_steps"]["max_abs"] > 1e-2
    assert difference["max_abs"] < 1e-4, (
        f"{run}: weights differ from the single-device run by "
        f"{difference['max_abs']:.3g} ({difference['variable']})"
    )


@pytest.mark.large
@jax_only
def test_model_parallel_training_keeps_the_layouts(multi_device):
    assert multi_device["training"]["model_parallel_layouts_after_fit"] == 33
