"""Training and sampling throughput of RINImageGenerator on this backend.

    KERAS_BACKEND=jax python benchmarks/throughput.py --config cifar10
    KERAS_BACKEND=torch python benchmarks/throughput.py --config small

Prints one JSON line: training images per second (a full `fit` step with
latent self-conditioning), sampling images per second (DDPM), and the time of
the first training call (compilation included). Numbers are wall-clock on
whatever machine runs it; compare backends on the same machine.
"""

import argparse
import json
import time

import keras
import numpy as np

import keras_rin

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
}


def backbone_config(name):
    if name in CONFIGS:
        return CONFIGS[name]
    model = keras_rin.RINImageGenerator.from_preset(f"rin_{name}")
    return model.backbone.get_config()


def measure(config_name, batch_size, train_steps, sampling_steps):
    keras.utils.set_random_seed(0)
    backbone = keras_rin.RINBackbone(**backbone_config(config_name))
    model = keras_rin.RINImageGenerator(backbone, seed=0)
    model.compile(optimizer=keras.optimizers.AdamW(1e-4))
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(batch_size,) + backbone.image_shape)
    images = images.astype("float32")
    labels = rng.integers(0, backbone.num_classes or 1, batch_size)
    fit_args = dict(batch_size=batch_size, verbose=0)

    start = time.perf_counter()
    model.fit(images, labels, epochs=1, **fit_args)
    first_call = time.perf_counter() - start
    repeated = np.tile(images, (train_steps, 1, 1, 1))
    start = time.perf_counter()
    model.fit(repeated, np.tile(labels, train_steps), epochs=1, **fit_args)
    train_seconds = time.perf_counter() - start

    sample_labels = labels.astype("int32")
    model.generate(labels=sample_labels, num_steps=2, seed=0, verbose=0)
    start = time.perf_counter()
    model.generate(
        labels=sample_labels, num_steps=sampling_steps, seed=0, verbose=0
    )
    sample_seconds = time.perf_counter() - start
    return {
        "backend": keras.config.backend(),
        "config": config_name,
        "parameters": backbone.count_params(),
        "batch_size": batch_size,
        "first_train_call_s": round(first_call, 2),
        "train_images_per_s": round(
            batch_size * train_steps / train_seconds, 2
        ),
        "sampling_steps": sampling_steps,
        "sampling_images_per_s": round(batch_size / sample_seconds, 3),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="small")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--train-steps", type=int, default=5)
    parser.add_argument("--sampling-steps", type=int, default=20)
    args = parser.parse_args()
    result = measure(
        args.config, args.batch_size, args.train_steps, args.sampling_steps
    )
    print(json.dumps(result))
