"""The tensor-parallel sharding policy of RIN backbones (Megatron style).

The layers that widen the features (attention query/key/value, MLP hidden)
are split on their output units and the layers that narrow them back
(attention and MLP outputs) on their input units, so that each attention
or MLP branch needs one all-reduce. `layout_map_from_config` turns the
policy into a `keras.distribution.LayoutMap` for a backbone configuration;
`check_variable_layouts` verifies that a built model got those layouts.
"""

import keras

from keras_rin.models.rin_network import RINNetworkConfig

_ATTENTIONS = r"(read_attention|write_attention|compute_attention_\d+)"
_MLPS = r"(read_mlp|write_mlp|compute_mlp_\d+|self_conditioning/mlp)"


_LAYOUT_FIELDS = (
    "latent_dim",
    "interface_dim",
    "latent_num_heads",
    "rw_num_heads",
    "latent_mlp_ratio",
    "interface_mlp_ratio",
)


def _sharded_layouts(model_axis):
    return {
        rf".*{_ATTENTIONS}/(query|key|value)/kernel": (None, model_axis),
        rf".*{_ATTENTIONS}/(query|key|value)/bias": (model_axis,),
        rf".*{_ATTENTIONS}/output/kernel": (model_axis, None),
        rf".*{_MLPS}/hidden/kernel": (None, model_axis),
        rf".*{_MLPS}/hidden/bias": (model_axis,),
        rf".*{_MLPS}/output/kernel": (model_axis, None),
    }


def layout_map_from_config(
    device_mesh, config, model_axis="model", data_axis="data"
):
    """`RINBackbone.get_layout_map` from a backbone configuration.

    A `keras.distribution.ModelParallel` distribution must be in place
    before the model's variables are created, so its layout map is built
    from the configuration, before the backbone exists.

    Args:
        device_mesh: `keras.distribution.DeviceMesh` with `model_axis` and
            `data_axis` among its axis names.
        config: dict, the arguments of `RINBackbone` or `RINVideoBackbone`
            (or their `get_config()`); only `latent_dim`, `interface_dim`,
            the numbers of heads and the MLP ratios are read, and the
            backbone's defaults fill the missing ones.
        model_axis: str, the mesh axis that the weights are split over.
        data_axis: str, the mesh axis that the batch is split over.

    Returns:
        A `keras.distribution.LayoutMap`.

    Example:
    ```python
    config = dict(image_shape=(32, 32, 3), patch_size=2, num_latents=128,
        latent_dim=512, interface_dim=256, num_blocks=3, block_depth=2)
    mesh = keras.distribution.DeviceMesh(
        shape=(4, 2), axis_names=("data", "model"))
    layout_map = layout_map_from_config(mesh, config)
    ```
    """
    if not isinstance(device_mesh, keras.distribution.DeviceMesh):
        raise ValueError(
            "`device_mesh` must be a `keras.distribution.DeviceMesh`. "
            f"Received: {type(device_mesh).__name__}"
        )
    axis_names = tuple(device_mesh.axis_names)
    for name, axis in [("model_axis", model_axis), ("data_axis", data_axis)]:
        if axis not in axis_names:
            raise ValueError(
                f"`{name}`={axis!r} is not an axis of the device mesh "
                f"(axis names {axis_names}, shape {tuple(device_mesh.shape)})."
            )
    if model_axis == data_axis:
        raise ValueError(
            "`model_axis` and `data_axis` must be different mesh axes. "
            f"Received: {model_axis!r} for both"
        )
    model_size = device_mesh.shape[axis_names.index(model_axis)]
    _check_shardable(_layout_config(config), model_axis, model_size)
    layout_map = keras.distribution.LayoutMap(device_mesh)
    for key, axes in _sharded_layouts(model_axis).items():
        layout_map[key] = axes
    return layout_map


def _layout_config(config):
    """The widths that the layout depends on, with the backbone's defaults."""
    defaults = RINNetworkConfig.defaults()
    values = {}
    for name in _LAYOUT_FIELDS:
        if name not in config and name not in defaults:
            raise ValueError(
                f"The backbone config must give `{name}`. Received keys: "
                f"{sorted(config)}"
            )
        values[name] = config.get(name, defaults.get(name))
    return values


def _check_shardable(config, model_axis, model_size):
    latent_dim = config["latent_dim"]
    interface_dim = config["interface_dim"]
    rw_dim = min(latent_dim, interface_dim)
    dimensions = [
        ("latent self-attention width (latent_dim)", latent_dim),
        ("read/write attention width (min(latent_dim, interface_dim))", rw_dim),
        (
            "latent MLP hidden width (latent_dim * latent_mlp_ratio)",
            int(latent_dim * config["latent_mlp_ratio"]),
        ),
        (
            "interface MLP hidden width (interface_dim * interface_mlp_ratio)",
            int(interface_dim * config["interface_mlp_ratio"]),
        ),
        (
            "latent self-attention heads (latent_num_heads)",
            config["latent_num_heads"],
        ),
        ("read/write attention heads (rw_num_heads)", config["rw_num_heads"]),
    ]
    problems = [
        f"{what} = {size}" for what, size in dimensions if size % model_size
    ]
    if problems:
        raise ValueError(
            f"Cannot shard this RIN backbone over the mesh axis "
            f"{model_axis!r} of size {model_size}: the size must divide "
            "every sharded width and number of heads (so that no head is "
            f"split across devices). Not divisible by {model_size}: "
            + ", ".join(problems)
            + ". Keras would leave such variables unsharded without a "
            "word. Use a model axis size that divides them all."
        )


def check_variable_layouts(model, layout_map):
    """Checks that the model's variables have the layouts of `layout_map`.

    Keras silently replicates a variable whose layout does not fit (a mesh
    axis that does not divide the dimension, a variable created outside the
    distribution); this makes such a variable an error. Variables that no
    key of the map matches must be replicated. Mesh axes of size 1 count as
    replicated, so a single-device run passes with a `(1, 1)` mesh.

    Args:
        model: a built `keras.Model` (or layer).
        layout_map: the `keras.distribution.LayoutMap` it was created
            under, or the `keras.distribution.ModelParallel` distribution.

    Returns:
        dict mapping the path of each sharded variable to its layout axes.

    Raises:
        ValueError: naming each variable whose sharding differs, or if no
            variable matches a key of the map.

    Example:
    ```python
    with distribution.scope():
        model = keras_rin.RINImageGenerator(keras_rin.RINBackbone(**config))
    check_variable_layouts(model, distribution)
    ```
    """
    if isinstance(layout_map, keras.distribution.ModelParallel):
        layout_map = layout_map._layout_map
    if not isinstance(layout_map, keras.distribution.LayoutMap):
        raise ValueError(
            "`layout_map` must be a `keras.distribution.LayoutMap` or a "
            f"`ModelParallel` distribution. Received: {type(layout_map)}"
        )
    mesh = layout_map.device_mesh
    sizes = dict(zip(mesh.axis_names, mesh.shape, strict=True))
    sharded = {}
    mismatches = []
    for variable in model.weights:
        layout = layout_map[variable.path]
        axes = (None,) * len(variable.shape)
        if layout is not None:
            axes = tuple(layout.axes)
            sharded[variable.path] = axes
        expected = _effective_axes(axes, sizes)
        actual = _effective_axes(_sharding_axes(variable), sizes)
        if actual != expected:
            mismatches.append(
                f"{variable.path} {tuple(variable.shape)}: expected "
                f"{expected}, got {actual}"
            )
    if not sharded:
        raise ValueError(
            "No variable of the model matches a key of the layout map; the "
            f"keys are {list(layout_map)}."
        )
    if mismatches:
        raise ValueError(
            f"{len(mismatches)} variable(s) do not have the layout of the "
            "layout map (mesh "
            f"{dict(sizes)}; was the model created under the distribution, "
            "on the JAX backend?):\n" + "\n".join(mismatches)
        )
    return sharded


def _sharding_axes(variable):
    """The mesh axis of each dimension of a variable; all None when it is
    not sharded (or the backend does not shard)."""
    ndim = len(variable.shape)
    spec = getattr(getattr(variable.value, "sharding", None), "spec", None)
    if spec is None:
        return (None,) * ndim
    axes = []
    for entry in tuple(spec) + (None,) * (ndim - len(spec)):
        if isinstance(entry, (tuple, list)):
            entry = tuple(entry) if len(entry) > 1 else entry[0]
        axes.append(entry)
    return tuple(axes)


def _effective_axes(axes, sizes):
    """Drops mesh axes of size 1, which split nothing."""
    return tuple(
        None if axis is None or sizes.get(axis, 0) == 1 else axis
        for axis in axes
    )
