"""Parameter and FLOPs counts of a RIN, computed from its configuration.

Convention: one example, one forward pass of the backbone; a multiply-add
counts as 2 FLOPs; every matrix product is counted (dense layers, the patch
stem and readout, the noise-level and class embeddings, and both attention
products, `QK^T` and `AV`); element-wise ops, LayerNorm, softmax and biases
are left out. The counts match what PyTorch's `FlopCounterMode` and the dot
products of the XLA graph report for the same model (see the tests).
"""

_BACKBONE_DEFAULTS = {
    "latent_mlp_ratio": 4,
    "interface_mlp_ratio": 4,
    "num_classes": None,
}
_REQUIRED = (
    "patch_size",
    "num_latents",
    "latent_dim",
    "interface_dim",
    "num_blocks",
    "block_depth",
)


def count_flops(backbone, num_active_latents=None):
    """Forward-pass FLOPs of one example through a RIN backbone.

    Args:
        backbone: a `RINBackbone`, a model holding one (`.backbone`), or a
            backbone config dict.
        num_active_latents: int or None (all): the cost of an elastic pass
            with this many latents (`RINBackbone.elastic_call`).

    Returns:
        int, FLOPs (a multiply-add counts 2).

    Example:
    ```python
    model = keras_rin.RINImageGenerator.from_preset("rin_cifar10")
    keras_rin.utils.count_flops(model) / 1e9  # 8.59
    ```
    """
    config = _backbone_config(backbone)
    if num_active_latents is not None:
        reserved = 1 + (1 if config["num_classes"] else 0)
        if not reserved < num_active_latents <= config["num_latents"]:
            raise ValueError(
                "`num_active_latents` must be in "
                f"[{reserved + 1}, {config['num_latents']}]. Received: "
                f"num_active_latents={num_active_latents}"
            )
        config = dict(config, num_latents=num_active_latents)
    return 2 * _multiply_adds(config)


def count_sampling_flops(
    model, num_steps, compute_schedule=None, guidance_scale=1.0
):
    """Backbone FLOPs of sampling one example.

    Args:
        model: a `RINImageGenerator` or `RINVideoPredictor`.
        num_steps: int, sampling steps.
        compute_schedule: the `compute_schedule` of `generate` (None: all
            latents at every step).
        guidance_scale: float; guidance other than 1 runs two streams.

    Returns:
        int, FLOPs per generated example.

    Example:
    ```python
    full = count_sampling_flops(model, 100)
    cheap = count_sampling_flops(
        model, 100, compute_schedule=[(0.5, 32), (0.5, 128)])
    ```
    """
    from keras_rin.diffusion import compute_schedules

    backbone = model.backbone
    counts = compute_schedules.steps_per_count(
        compute_schedule,
        num_steps,
        getattr(model, "elastic_latent_counts", None) or (),
        backbone.num_latents,
    )
    streams = 1 if guidance_scale == 1.0 else 2
    return streams * sum(
        steps * count_flops(backbone, count) for count, steps in counts.items()
    )


def count_params(backbone):
    """Number of parameters of a RIN backbone, from its configuration alone
    (nothing is built, so it is instant even for the ImageNet-1024 model).

    Args:
        backbone: a `RINBackbone`, a model holding one, or a backbone config
            dict.

    Returns:
        int, equal to `backbone.count_params()`.
    """
    config = _backbone_config(backbone)
    num_tokens, patch_values = interface_size(config)
    dz, dx = config["latent_dim"], config["interface_dim"]
    num_classes = config["num_classes"]
    num_learned = config["num_latents"] - 1 - (1 if num_classes else 0)
    rw = min(dz, dx)

    params = patch_values * dx + dx  # stem
    params += 2 * dx + num_tokens * dx  # stem LayerNorm, positions
    params += num_learned * dz
    params += _dense(dz // 4, dz) + _dense(dz, dz)  # noise level
    if num_classes:
        params += _dense(num_classes, dz)
    mz, mx = config["latent_mlp_ratio"], config["interface_mlp_ratio"]
    params += _mlp(dz, mz) + 2 * dz  # self-conditioning, zero-init LN
    block = _attention(dz, dx, rw) + _mlp(dz, mz)  # read
    block += config["block_depth"] * (_attention(dz, dz, dz) + _mlp(dz, mz))
    block += _attention(dx, dz, rw) + _mlp(dx, mx)  # write
    params += config["num_blocks"] * block
    params += 2 * dx + _dense(dx, patch_values)  # readout
    return params


def interface_size(config):
    """`(number of interface tokens, values per patch)` of an image or a
    video backbone config."""
    p = config["patch_size"]
    if "video_shape" in config:
        frames, height, width, channels = config["video_shape"]
        f = config["frames_per_patch"]
    else:
        height, width, channels = config["image_shape"]
        frames, f = 1, 1
    num_tokens = (frames // f) * (height // p) * (width // p)
    return num_tokens, f * p * p * channels


def _multiply_adds(config):
    n, patch_values = interface_size(config)
    dz, dx = config["latent_dim"], config["interface_dim"]
    m = config["num_latents"]
    rw = min(dz, dx)
    mz, mx = config["latent_mlp_ratio"], config["interface_mlp_ratio"]

    total = n * patch_values * dx  # patch stem
    total += dz // 4 * dz + dz * dz  # noise-level embedding
    if config["num_classes"]:
        total += config["num_classes"] * dz
    total += m * 2 * mz * dz * dz  # self-conditioning MLP
    read = _attention_macs(m, dz, n, dx, rw) + m * 2 * mz * dz * dz
    compute = _attention_macs(m, dz, m, dz, dz) + m * 2 * mz * dz * dz
    write = _attention_macs(n, dx, m, dz, rw) + n * 2 * mx * dx * dx
    block = read + config["block_depth"] * compute + write
    total += config["num_blocks"] * block
    total += n * dx * patch_values  # readout
    return total


def _attention_macs(queries, query_dim, keys, key_dim, attention_dim):
    projections = queries * query_dim * attention_dim * 2  # Q and output
    projections += keys * key_dim * attention_dim * 2  # K and V
    products = 2 * queries * keys * attention_dim  # QK^T and AV
    return projections + products


def _dense(inputs, outputs):
    return inputs * outputs + outputs


def _attention(query_dim, key_dim, attention_dim):
    norm = 2 * query_dim
    return (
        norm
        + _dense(query_dim, attention_dim)
        + 2 * _dense(key_dim, attention_dim)
        + _dense(attention_dim, query_dim)
    )


def _mlp(dim, ratio):
    hidden = int(dim * ratio)
    return 2 * dim + _dense(dim, hidden) + _dense(hidden, dim)


def _backbone_config(backbone):
    backbone = getattr(backbone, "backbone", backbone)
    if hasattr(backbone, "get_config"):
        backbone = backbone.get_config()
    if not isinstance(backbone, dict):
        raise ValueError(
            "Expected a RINBackbone, a model with a `.backbone` or a backbone "
            f"config dict. Received: {type(backbone).__name__}"
        )
    missing = [key for key in _REQUIRED if key not in backbone]
    if "image_shape" not in backbone and "video_shape" not in backbone:
        missing.insert(0, "image_shape (or video_shape)")
    elif "video_shape" in backbone and "frames_per_patch" not in backbone:
        missing.append("frames_per_patch")
    if missing:
        raise ValueError(
            f"The backbone config lacks {missing}. Received keys: "
            f"{sorted(backbone)}"
        )
    return {**_BACKBONE_DEFAULTS, **backbone}
