"""Writes `config.json` and `metadata.json` of the paper's architecture-only
presets in `applications/` (Tables C.1 / C.2 of the RIN paper and the
official CIFAR-10 configuration), without building the models: parameters
and FLOPs come from `keras_rin.utils`' analytic counters, which the tests
check against built models and the backends' own cost analysis.

    python tools/write_paper_presets.py
"""

import datetime
import json
import os

import keras

from keras_rin.utils import count_flops
from keras_rin.utils import count_params
from keras_rin.version import __version__

ROOT = os.path.join(os.path.dirname(__file__), "..", "applications")
SIGMOID = {"name": "sigmoid", "start": -3.0, "end": 3.0, "tau": 0.9}
COSINE = {"name": "cosine", "ns": 0.0002, "ds": 0.00025}


def imagenet(size, patch, blocks, depth, latents, dim_z, dim_x, scale):
    return {
        "backbone": dict(
            image_shape=[size, size, 3],
            patch_size=patch,
            num_latents=latents,
            latent_dim=dim_z,
            interface_dim=dim_x,
            num_blocks=blocks,
            block_depth=depth,
            latent_num_heads=16,
            rw_num_heads=16,
            latent_mlp_ratio=4,
            interface_mlp_ratio=4,
            num_classes=1000,
        ),
        "generator": dict(input_scale=scale),
        "description": (
            f"The paper's class-conditional ImageNet {size}x{size} RIN "
            "(Table C.1); architecture only."
        ),
    }


PRESETS = {
    "rin_cifar10": {
        "backbone": dict(
            image_shape=[32, 32, 3],
            patch_size=2,
            num_latents=128,
            latent_dim=512,
            interface_dim=256,
            num_blocks=3,
            block_depth=2,
            latent_num_heads=16,
            rw_num_heads=8,
            latent_mlp_ratio=4,
            interface_mlp_ratio=2,
            num_classes=10,
            dropout_rate=0.1,
            drop_path_rate=0.1,
        ),
        "generator": {},
        "description": (
            "The paper's class-conditional CIFAR-10 RIN (FID 1.81); "
            "architecture only."
        ),
    },
    "rin_imagenet_64": imagenet(64, 4, 4, 4, 128, 1024, 256, 1.0),
    "rin_imagenet_128": imagenet(128, 4, 6, 4, 128, 1024, 512, 1.0),
    "rin_imagenet_256": imagenet(256, 8, 6, 4, 256, 1024, 512, 1.0),
    "rin_imagenet_512": imagenet(512, 8, 6, 6, 256, 768, 512, 0.5),
    "rin_imagenet_1024": imagenet(1024, 8, 6, 8, 256, 768, 512, 0.5),
}


def float32_policy():
    return {
        "module": "keras",
        "class_name": "DTypePolicy",
        "config": {"name": "float32"},
        "registered_name": None,
    }


def serialized_model(backbone, generator):
    backbone_config = {
        "name": "rin_backbone",
        "trainable": True,
        "dropout_rate": 0.0,
        "drop_path_rate": 0.0,
        "time_scaling": 1000.0,
        "epsilon": 1e-6,
        **backbone,
        "dtype": float32_policy(),
    }
    generator_config = {
        "name": "rin_image_generator",
        "trainable": True,
        "dtype": float32_policy(),
        "backbone": {
            "module": "keras_rin.models.rin_backbone",
            "class_name": "RINBackbone",
            "config": backbone_config,
            "registered_name": "keras_rin>RINBackbone",
        },
        "train_schedule": dict(SIGMOID, clip_min=1e-9),
        "sampling_schedule": COSINE,
        "prediction_target": "eps",
        "self_conditioning_rate": 0.9,
        "label_dropout_rate": 0.0,
        "input_scale": 1.0,
        "seed": None,
        **generator,
    }
    return {
        "module": "keras_rin.models.rin_image_generator",
        "class_name": "RINImageGenerator",
        "config": generator_config,
        "registered_name": "keras_rin>RINImageGenerator",
    }


def metadata(backbone, description):
    return {
        "keras_version": keras.__version__,
        "keras_rin_version": __version__,
        "parameter_count": count_params(backbone),
        "flops": count_flops(backbone),
        "date": datetime.date.today().isoformat(),
        "class_name": "RINImageGenerator",
        "description": description,
    }


def write_json(path, content):
    with open(path, "w") as file:
        json.dump(content, file, indent=2)
        file.write("\n")


def main():
    for name, preset in PRESETS.items():
        directory = os.path.join(ROOT, name)
        os.makedirs(directory, exist_ok=True)
        config = serialized_model(preset["backbone"], preset["generator"])
        write_json(os.path.join(directory, "config.json"), config)
        info = metadata(preset["backbone"], preset["description"])
        write_json(os.path.join(directory, "metadata.json"), info)
        print(
            f"{name}: {info['parameter_count'] / 1e6:.1f} M parameters, "
            f"{info['flops'] / 1e9:.2f} GFLOPs"
        )


if __name__ == "__main__":
    main()
