"""`keras.distribution` checks of RIN models on 8 simulated CPU devices.

JAX fixes its device count when it starts, so `test_distribution.py` runs
this script in a fresh process:

    python tests/distribution/multi_device_checks.py

(it sets KERAS_BACKEND=jax and
XLA_FLAGS=--xla_force_host_platform_device_count=8 unless they are set).

It prints one JSON object on its last line of stdout: the device count, the
layouts of representative variables under `ModelParallel`, the errors of
indivisible layouts, and the largest weight difference between training on
one device and training under `DataParallel` / `ModelParallel`.
"""

import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")
# Optimisation level 0 halves the CPU compile time of these tiny programs.
os.environ.setdefault(
    "XLA_FLAGS",
    "--xla_force_host_platform_device_count=8 "
    "--xla_backend_optimization_level=0",
)
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_rin  # noqa: E402
from keras_rin.distribution import check_variable_layouts  # noqa: E402
from keras_rin.distribution import layout_map_from_config  # noqa: E402
from keras_rin.distribution import make_distribution  # noqa: E402
from tests.helpers import TINY_CONFIG  # noqa: E402
from tests.helpers import toy_images  # noqa: E402

NUM_DEVICES = 8
MODEL_PARALLEL = 2
BATCH_SIZE = 16  # two examples per device
# One block keeps the compilations short; the layers are those of any block.
CONFIG = dict(TINY_CONFIG, num_blocks=1)
REPRESENTATIVE_PATHS = (
    "block_0/compute_attention_0/query/kernel",
    "block_0/compute_attention_0/query/bias",
    "block_0/compute_attention_0/output/kernel",
    "block_0/compute_attention_0/output/bias",
    "block_0/read_attention/key/kernel",
    "block_0/write_attention/output/kernel",
    "block_0/compute_mlp_0/hidden/kernel",
    "block_0/compute_mlp_0/hidden/bias",
    "block_0/compute_mlp_0/output/kernel",
    "block_0/write_mlp/hidden/kernel",
    "self_conditioning/mlp/hidden/kernel",
    "block_0/compute_attention_0/query_norm/gamma",
    "block_0/compute_mlp_0/norm/gamma",
    "tokenizer/stem/kernel",
    "readout/dense/kernel",
)


def build_model(weights=None):
    """A tiny generator; its training noise is seeded, and `weights` (a
    list of arrays) replace its initial weights."""
    backbone = keras_rin.RINBackbone(**CONFIG)
    model = keras_rin.RINImageGenerator(backbone, seed=0)
    if weights is not None:
        model.set_weights(weights)
    return model


def sharding_axes(variable):
    spec = variable.value.sharding.spec
    return list(spec) + [None] * (len(variable.shape) - len(spec))


def check_model_parallel_layouts():
    distribution = make_distribution(
        "model", CONFIG, model_parallel=MODEL_PARALLEL
    )
    with distribution.scope():
        model = build_model()
    weights = {v.path: v for v in model.weights}
    return {
        "mesh_shape": list(distribution.device_mesh.shape),
        "axes": {p: sharding_axes(weights[p]) for p in REPRESENTATIVE_PATHS},
        "num_sharded": len(check_variable_layouts(model, distribution)),
        "num_weights": len(model.weights),
    }


def indivisible_errors():
    """The errors of layouts whose model axis does not divide a width."""
    devices = keras.distribution.list_devices()
    attempts = {
        # latent_num_heads=4 and rw_num_heads=2 are not divisible by 8.
        "mesh_1x8": lambda: layout_map_from_config(
            keras.distribution.DeviceMesh(
                (1, 8), ("data", "model"), devices=devices
            ),
            CONFIG,
        ),
        # Widths of 3 * 16 with a model axis of 4.
        "widths_of_48": lambda: make_distribution(
            "model",
            dict(CONFIG, latent_dim=48, interface_dim=48),
            model_parallel=4,
        ),
        "model_parallel_3": lambda: make_distribution(
            "model", CONFIG, model_parallel=3
        ),
    }
    errors = {}
    for name, attempt in attempts.items():
        try:
            attempt()
            errors[name] = None
        except ValueError as error:
            errors[name] = str(error)
    return errors


def snapshot(model):
    return [keras.ops.convert_to_numpy(v.value) for v in model.weights]


def train(distribution, initial_weights, step_counts):
    """Trains a fresh model from `initial_weights` for `sum(step_counts)`
    steps, one `fit` per entry, and returns the weights after each `fit`,
    the losses and the layout check after training."""
    images, labels = toy_images(BATCH_SIZE * sum(step_counts))
    scope = distribution.scope() if distribution else _no_scope()
    snapshots, losses = [], []
    with scope:
        model = build_model(initial_weights)
        model.compile(optimizer=keras.optimizers.SGD(0.1))
        start = 0
        for steps in step_counts:
            stop = start + steps * BATCH_SIZE
            history = model.fit(
                images[start:stop],
                labels[start:stop],
                batch_size=BATCH_SIZE,
                shuffle=False,
                verbose=0,
            )
            losses.append(float(history.history["loss"][-1]))
            snapshots.append(snapshot(model))
            start = stop
    layouts_kept = None
    if isinstance(distribution, keras.distribution.ModelParallel):
        layouts_kept = len(check_variable_layouts(model, distribution))
    return snapshots, losses, layouts_kept, [v.path for v in model.weights]


class _no_scope:
    def __enter__(self):
        return self

    def __exit__(self, *args):
        return False


def largest_difference(weights, reference, paths):
    differences = [
        float(np.max(np.abs(w - r)))
        for w, r in zip(weights, reference, strict=True)
    ]
    index = int(np.argmax(differences))
    return {"max_abs": differences[index], "variable": paths[index]}


def check_training():
    initial = snapshot(build_model())
    reference, reference_losses, _, paths = train(None, initial, [2, 1])
    data, data_losses, _, _ = train(make_distribution("data"), initial, [2, 1])
    model, model_losses, layouts_kept, _ = train(
        make_distribution("model", CONFIG, model_parallel=MODEL_PARALLEL),
        initial,
        [2],
    )
    return {
        "reference_losses": reference_losses,
        "data_parallel_losses": data_losses,
        "model_parallel_losses": model_losses,
        # How far training moved the weights, to judge the differences.
        "weight_change_in_3_steps": largest_difference(
            reference[1], initial, paths
        ),
        "data_parallel_after_2_steps": largest_difference(
            data[0], reference[0], paths
        ),
        "data_parallel_after_3_steps": largest_difference(
            data[1], reference[1], paths
        ),
        "model_parallel_after_2_steps": largest_difference(
            model[0], reference[0], paths
        ),
        "model_parallel_layouts_after_fit": layouts_kept,
    }


def main():
    results = {
        "backend": keras.config.backend(),
        "num_devices": len(keras.distribution.list_devices()),
    }
    if results["num_devices"] != NUM_DEVICES:
        print(json.dumps(results))
        return
    results["layouts"] = check_model_parallel_layouts()
    results["indivisible_errors"] = indivisible_errors()
    results["training"] = check_training()
    print(json.dumps(results))


if __name__ == "__main__":
    main()
