"""The distributions for multi-device training (`keras.distribution`).

`make_distribution` builds the `keras.distribution.DataParallel` or
`keras.distribution.ModelParallel` distribution for a RIN backbone
configuration, before the model exists (the variables must be created under
the distribution); the layouts come from `keras_rin.distribution.sharding`.

Keras 3 implements `keras.distribution` for JAX only. On TensorFlow it
constructs but does not distribute anything (training silently runs on one
device), and on PyTorch it fails with an `AttributeError`; `make_distribution`
raises a `ValueError` there that says what is supported instead.
"""

import keras

from keras_rin.distribution.sharding import layout_map_from_config
from keras_rin.utils import validation

DISTRIBUTION_KINDS = ("none", "data", "model")

_UNSUPPORTED = {
    "tensorflow": (
        "On TensorFlow, Keras 3 builds these objects but ignores them: the "
        "model would train on a single device without a warning. Train on "
        "a single device. (`tf.distribute.MirroredStrategy` runs `fit` on "
        "several devices but keras-rin does not support it: every replica "
        "draws the same diffusion noise, and the loss is not divided by "
        "the number of replicas.)"
    ),
    "torch": (
        "On PyTorch, Keras 3 has no distribution backend (`keras."
        "distribution` fails with an AttributeError). Train on one device, "
        "or wrap the model in `torch.nn.parallel.DistributedDataParallel` "
        "in your own PyTorch training loop, outside `fit` (give each "
        "process its own model `seed`, or all draw the same noise)."
    ),
}


def make_distribution(
    kind, backbone_config=None, model_parallel=1, devices=None
):
    """A `keras.distribution` distribution for training a RIN model.

    Call it before creating the model, then create the model under the
    distribution (`keras.distribution.set_distribution(distribution)` or
    `with distribution.scope():`): variables take their layout when they
    are created.

    Args:
        kind: `"none"` (returns None), `"data"` (`DataParallel`: the
            variables are replicated and the batch is split over all
            devices) or `"model"` (`ModelParallel` on a 2-D mesh
            `("data", "model")`: the attention and MLP weights are split
            over `model_parallel` devices, the batch over the rest).
        backbone_config: dict, the arguments of the `RINBackbone` or
            `RINVideoBackbone` to train (or its `get_config()`); required
            for `"model"`.
        model_parallel: int, size of the `"model"` mesh axis for `"model"`;
            it must divide the number of devices and the backbone's
            attention and MLP widths and numbers of heads. Must be 1 for
            the other kinds.
        devices: list of device names such as `"gpu:0"`, or None for
            `keras.distribution.list_devices()` (all devices of all hosts
            after `keras.distribution.initialize()`).

    Returns:
        A `keras.distribution.Distribution`, or None for `"none"`.

    Raises:
        ValueError: for an unknown kind, a backend other than JAX (with
            what to use there), a `model_parallel` that does not divide the
            devices or the backbone's widths.

    Example:
    ```python
    distribution = keras_rin.distribution.make_distribution(
        "model", backbone_config, model_parallel=2)
    keras.distribution.set_distribution(distribution)
    backbone = keras_rin.RINBackbone(**backbone_config)
    model = keras_rin.RINImageGenerator(backbone)
    model.compile(optimizer="adamw")
    model.fit(images, labels, batch_size=64)  # batch split over "data"
    ```
    """
    if kind not in DISTRIBUTION_KINDS:
        raise ValueError(
            f"`kind` must be one of {DISTRIBUTION_KINDS}. Received: "
            f"kind={kind!r}"
        )
    validation.check_positive_int("model_parallel", model_parallel)
    if kind != "model" and model_parallel != 1:
        raise ValueError(
            f'`model_parallel` must be 1 for kind={kind!r} (only "model" '
            f"splits the weights). Received: model_parallel={model_parallel}"
        )
    if kind == "none":
        return None
    check_backend_supports_distribution(kind)
    if devices is None:
        devices = keras.distribution.list_devices()
    devices = list(devices)
    if kind == "data":
        return keras.distribution.DataParallel(devices=devices)
    if backbone_config is None:
        raise ValueError(
            '`backbone_config` is required for kind="model": the layout '
            "map depends on the backbone's widths."
        )
    if len(devices) % model_parallel:
        raise ValueError(
            f"`model_parallel`={model_parallel} must be a positive divisor "
            f"of the number of devices ({len(devices)})."
        )
    # "model" is the inner axis: devices are listed host by host, so a group
    # of `model_parallel` devices that exchange activations shares a host.
    mesh = keras.distribution.DeviceMesh(
        shape=(len(devices) // model_parallel, model_parallel),
        axis_names=("data", "model"),
        devices=devices,
    )
    return keras.distribution.ModelParallel(
        layout_map=layout_map_from_config(mesh, backbone_config),
        batch_dim_name="data",
    )


def check_backend_supports_distribution(kind="data"):
    """Raises a `ValueError` unless the backend implements
    `keras.distribution` (JAX in Keras 3)."""
    backend = keras.config.backend()
    if backend == "jax":
        return
    advice = _UNSUPPORTED.get(backend, "")
    raise ValueError(
        f"Distribution kind={kind!r} needs the JAX backend: Keras "
        f"{keras.version()} implements `keras.distribution` (DataParallel, "
        f"ModelParallel) for JAX only, and the backend is {backend!r}. "
        f'{advice} Or set KERAS_BACKEND=jax. kind="none" works everywhere.'
    )
