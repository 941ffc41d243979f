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
"""

import argparse
import json
import os
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
    with dropout 0.1 and drop-path 0.1; `"cifar10-no-dropout"` without)."""
    base, no_dropout = name, name.endswith(NO_DROPOUT)
    if no_dropout:
        base = name[: -len(NO_DROPOUT)]
    if base in CONFIGS:
        config = dict(CONFIGS[base])
    else:
        config = keras_rin.presets.read_backbone_config(f"rin_{base}")
    if no_dropout:
        config.update(dropout_rate=0.0, drop_path_rate=0.0)
    return config


def build_model(config_name, self_conditioning_rate=0.9, seed=0):
    keras.utils.set_random_seed(seed)
    backbone = keras_rin.RINBackbone(**backbone_config(config_name))
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
        first_step = time.perf_counter() - start
        start = time.perf_counter()
        model.fit(images, labels, **fit)
        step = (time.perf_counter() - start) / steps
    flops_per_image = (3 + model.self_conditioning_rate) * (
        keras_rin.utils.count_flops(backbone)
    )
    return {
        "train_images_per_s": batch_size / step,
        "train_step_s": step,
        "first_train_step_s": first_step,
        "train_compile_s": max(first_step - step, 0.0),
        "train_flops_per_s": flops_per_image * batch_size / step,
        "train_memory": memory.report(),
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


def run(
    config_name,
    phase="all",
    batch_size=32,
    train_steps=3,
    sampling_steps=100,
    jit_compile="auto",
    matmul_sizes=benchmark_utils.MATMUL_SIZES,
):
    """Measures one configuration on this backend; returns a flat dict."""
    model = build_model(config_name)
    result = {
        "implementation": "keras_rin",
        "backend": keras.config.backend(),
        "backend_version": benchmark_utils.backend_version(),
        "keras_version": keras.__version__,
        "device": benchmark_utils.device_description(),
        "config": config_name,
        "parameters": model.backbone.count_params(),
        "forward_flops_per_image": keras_rin.utils.count_flops(model),
        "self_conditioning_rate": model.self_conditioning_rate,
        "batch_size": batch_size,
        "jit_compile": jit_compile,
    }
    if phase in ("all", "train"):
        result.update(
            measure_training(model, batch_size, train_steps, jit_compile)
        )
    if phase in ("all", "sample"):
        result["sampling_steps"] = sampling_steps
        result.update(measure_sampling(model, batch_size, sampling_steps))
    return benchmark_utils.add_utilisation(result, matmul_sizes)


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
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    jit_compile = {"auto": "auto", "true": True, "false": False}
    result = run(
        args.config,
        args.phase,
        args.batch_size,
        args.train_steps,
        args.sampling_steps,
        jit_compile[args.jit_compile],
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
