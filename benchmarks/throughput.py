"""Training and sampling throughput of RINImageGenerator on this backend.

    KERAS_BACKEND=jax python benchmarks/throughput.py --config cifar10
    KERAS_BACKEND=torch python benchmarks/throughput.py --config small \
        --phase sample

Prints one JSON line. Training: images per second of full `fit` steps
(latent self-conditioning at the model's rate, AdamW), the time of the
first step (compilation included) and the compile time (first step minus a
steady one). Sampling: images per second of `generate` (DDPM, 100 steps by
default), and the time of the first call. Both report peak memory and model
FLOPs utilisation against a float32 matrix multiply measured in the same
process: a training image counts as (3 + self-conditioning rate) forward
passes, a sampling step as one forward pass per image, with
`keras_rin.utils.count_flops`. `benchmarks/suite.py` runs this for every
backend and configuration and writes the tables.

`--dtype mixed_bfloat16` builds the model under Keras' `mixed_bfloat16`
policy and reports MFU against a bfloat16 matrix multiply; `--remat`
builds the backbone with `rematerialize_blocks=True` (each block is
recomputed in the backward pass: less training memory, one more forward
pass of the blocks, which the model FLOPs do not count).
"""

import argparse
import dataclasses
import json
import os
import re
import sys
import time

import keras

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import benchmark_utils  # noqa: E402

import keras_rin  # noqa: E402

CONFIGS = {
    "small": dict(
        image_shape=(32, 32, 3),
        patch_size=4,
        num_latents=32,
        latent_dim=128,
        interface_dim=64,
        num_blocks=2,
        block_depth=2,
        latent_num_heads=4,
        rw_num_heads=4,
        num_classes=10,
    ),
    # For tests of the benchmark code itself: seconds on any machine.
    "tiny": dict(
        image_shape=(8, 8, 3),
        patch_size=2,
        num_latents=8,
        latent_dim=32,
        interface_dim=16,
        num_blocks=1,
        block_depth=1,
        latent_num_heads=2,
        rw_num_heads=2,
        num_classes=10,
    ),
}


# A config name ending with this has no dropout and no drop-path (as
# rin-pytorch, which has neither).
NO_DROPOUT = "-no-dropout"


def backbone_config(name):
    """A named benchmark configuration, or a preset's backbone config
    (`"cifar10"` is the `rin_cifar10` preset: the paper's CIFAR-10 model,
    with dropout 0.1 and drop-path 0.1; `"cifar10-no-dropout"` without;
    `"imagenet64"` the `rin_imagenet_64` preset)."""
    base, no_dropout = name, name.endswith(NO_DROPOUT)
    if no_dropout:
        base = name[: -len(NO_DROPOUT)]
    if base in CONFIGS:
        config = dict(CONFIGS[base])
    else:
        config = keras_rin.presets.read_backbone_config(preset_name(base))
    if no_dropout:
        config.update(dropout_rate=0.0, drop_path_rate=0.0)
    return config


def preset_name(base):
    """The built-in preset of a configuration name: `rin_<base>`, or with
    an underscore before its number (`imagenet64`: `rin_imagenet_64`)."""
    builtin = keras_rin.presets.builtin_presets()
    for candidate in (base, re.sub(r"([a-z])(\d+)$", r"\1_\2", base)):
        if f"rin_{candidate}" in builtin:
            return f"rin_{candidate}"
    return f"rin_{base}"  # not built in: the error names the presets


def build_model(
    config_name, self_conditioning_rate=0.9, seed=0, rematerialize=False
):
    """The generator of a configuration, under the global dtype policy
    (a preset's stored float32 policy is dropped)."""
    keras.utils.set_random_seed(seed)
    config = backbone_config(config_name)
    config.pop("dtype", None)
    if rematerialize:
        config["rematerialize_blocks"] = True
    backbone = keras_rin.RINBackbone(**config)
    return keras_rin.RINImageGenerator(
        backbone, self_conditioning_rate=self_conditioning_rate, seed=seed
    )


def measure_training(model, batch_size=32, steps=3, jit_compile="auto"):
    """Times `fit`: the first step (compilation included), then `steps`
    steady steps in one `fit` call."""
    model.compile(
        optimizer=keras.optimizers.AdamW(1e-4), jit_compile=jit_compile
    )
    backbone = model.backbone
    images, labels = benchmark_utils.random_images(
        batch_size * steps, backbone.image_shape, backbone.num_classes
    )
    fit = dict(batch_size=batch_size, epochs=1, shuffle=False, verbose=0)
    with benchmark_utils.PeakMemory() as memory:
        start = time.perf_counter()
        model.fit(
            images[:batch_size],
            None if labels is None else labels[:batch_size],
            **fit,
        )
        benchmark_utils.synchronize(model)
        first_step = time.perf_counter() - start
        start = time.perf_counter()
        model.fit(images, labels, **fit)
        benchmark_utils.synchronize(model)
        step = (time.perf_counter() - start) / steps
    flops_per_image = (3 + model.self_conditioning_rate) * (
        keras_rin.utils.count_flops(backbone)
    )
    report = memory.report()
    report["xla_step_mib"] = benchmark_utils.xla_train_step_mib(
        model,
        images[:batch_size],
        None if labels is None else labels[:batch_size],
    )
    return {
        "train_images_per_s": batch_size / step,
        "train_step_s": step,
        "first_train_step_s": first_step,
        "train_compile_s": max(first_step - step, 0.0),
        "train_flops_per_s": flops_per_image * batch_size / step,
        "train_memory": report,
    }


def measure_sampling(model, batch_size=32, num_steps=100, sampler="ddpm"):
    """Times `generate` on one batch after a 2-step call that compiles the
    sampling loop (compiled once for any number of steps)."""
    backbone = model.backbone
    _, labels = benchmark_utils.random_images(
        batch_size, backbone.image_shape, backbone.num_classes
    )
    generate = dict(sampler=sampler, seed=0, verbose=0)
    if labels is None:
        generate["num_images"] = batch_size
    else:
        generate["labels"] = labels
    with benchmark_utils.PeakMemory() as memory:
        start = time.perf_counter()
        model.generate(num_steps=2, **generate)
        first_call = time.perf_counter() - start
        start = time.perf_counter()
        model.generate(num_steps=num_steps, **generate)
        seconds = time.perf_counter() - start
    flops = keras_rin.utils.count_flops(backbone) * batch_size * num_steps
    return benchmark_utils.sampling_report(
        batch_size, num_steps, first_call, seconds, flops, memory
    )


@dataclasses.dataclass(frozen=True)
class Settings:
    """What `run` measures and how (the command-line options)."""

    phase: str = "all"
    batch_size: int = 32
    train_steps: int = 3
    sampling_steps: int = 100
    jit_compile: object = "auto"
    dtype: str = "float32"
    remat: bool = False
    matmul_sizes: tuple = benchmark_utils.MATMUL_SIZES


def run(config_name, settings=None, **options):
    """Measures one configuration on this backend; returns a flat dict.
    `settings` (a `Settings`) or its fields as keyword arguments."""
    settings = dataclasses.replace(settings or Settings(), **options)
    if settings.dtype != "float32":
        keras.config.set_dtype_policy(settings.dtype)
    model = build_model(config_name, rematerialize=settings.remat)
    batch_size = settings.batch_size
    result = {
        "implementation": "keras_rin",
        "backend": keras.config.backend(),
        "backend_version": benchmark_utils.backend_version(),
        "keras_version": keras.__version__,
        "device": benchmark_utils.device_description(),
        "config": config_name,
        "dtype": settings.dtype,
        "remat": settings.remat,
        "parameters": model.backbone.count_params(),
        "forward_flops_per_image": keras_rin.utils.count_flops(model),
        "self_conditioning_rate": model.self_conditioning_rate,
        "batch_size": batch_size,
        "jit_compile": settings.jit_compile,
    }
    if settings.phase in ("all", "train"):
        result.update(
            measure_training(
                model, batch_size, settings.train_steps, settings.jit_compile
            )
        )
    if settings.phase in ("all", "sample"):
        result["sampling_steps"] = settings.sampling_steps
        result.update(
            measure_sampling(model, batch_size, settings.sampling_steps)
        )
    return benchmark_utils.add_utilisation(
        result, settings.matmul_sizes, settings.dtype
    )


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--config",
        default="small",
        help="small, tiny, or a preset name without 'rin_' (cifar10); "
        "add '-no-dropout' to turn dropout and drop-path off",
    )
    benchmark_utils.add_arguments(parser)
    parser.add_argument(
        "--jit-compile",
        choices=("auto", "true", "false"),
        default="auto",
        help="`jit_compile` of `model.compile` (true: XLA on TensorFlow's "
        "CPU, torch.compile on PyTorch)",
    )
    parser.add_argument(
        "--remat",
        action="store_true",
        help="build the backbone with `rematerialize_blocks=True`",
    )
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    jit_compile = {"auto": "auto", "true": True, "false": False}
    settings = Settings(
        phase=args.phase,
        batch_size=args.batch_size,
        train_steps=args.train_steps,
        sampling_steps=args.sampling_steps,
        jit_compile=jit_compile[args.jit_compile],
        dtype=args.dtype,
        remat=args.remat,
        matmul_sizes=tuple(args.matmul_sizes),
    )
    print(json.dumps(run(args.config, settings)))


if __name__ == "__main__":
    main()
