"""Writes `config.json`, `metadata.json` and the model card `README.md` of
the paper's architecture-only presets in `applications/` (Tables C.1 / C.2
of the RIN paper and the official CIFAR-10 configuration), without
building the models: parameters and FLOPs come from the analytic counters
of `keras_rin.utils`, which the tests check against built models and the
backends' own cost analysis.

    python tools/write_paper_presets.py
"""

import datetime
import json
import os

import keras

from keras_rin.training import TrainingRecipe
from keras_rin.utils import count_flops
from keras_rin.utils import count_params
from keras_rin.version import __version__

ROOT = os.path.join(os.path.dirname(__file__), "..", "applications")
SIGMOID = {"name": "sigmoid", "start": -3.0, "end": 3.0, "tau": 0.9}
COSINE = {"name": "cosine", "ns": 0.0002, "ds": 0.00025}


# How keras-rin's training differs from the official code in every preset.
SELF_CONDITIONING_NOTE = [
    "- Training-time self-conditioning runs its first pass only on the",
    "  self-conditioned examples (a random `ceil(rate * batch)`, the last",
    "  kept with the leftover probability): each example's probability is",
    "  the official per-example rate, the number per batch varies by at",
    "  most one instead of binomially, and a step costs `3 + rate`",
    "  forward passes instead of 4.",
]


def imagenet(size, patch, blocks, depth, latents, dim_z, dim_x, scale):
    return {
        "title": f"the paper's ImageNet {size}x{size} model",
        "paper": PAPER[size],
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
        "differences": imagenet_differences(size, scale),
        "description": (
            f"The paper's class-conditional ImageNet {size}x{size} RIN "
            "(Table C.1); architecture only."
        ),
    }


# Tables 2 and C.1 / C.2 of the paper.
PAPER = {
    64: dict(params="280 M (Table 2: 281 M)", gflops=106,
             results="FID 1.23, IS 66.5",
             recipe=("300K", 1024, "1e-3", "cosine", "0.01")),
    128: dict(params="410 M", gflops=194, results="FID 2.75, IS 144.1",
              recipe=("600K", 1024, "1e-3", "cosine", "0.001")),
    256: dict(params="410 M", gflops=334,
              results=("FID 4.51, IS 161.0; with input scaling FID 3.42, "
                       "IS 182.0"),
              recipe=("600K", 1024, "1e-3", "cosine", "0.001")),
    512: dict(params="320 M", gflops=415,
              results="FID 3.95, IS 216.0 (with input scaling)",
              recipe=("1M", 1024, "1e-3", "cosine", "0.01")),
    1024: dict(params="415 M (Table 2: 412 M)", gflops=1120,
               results="FID 8.72, IS 163.9 (with input scaling)",
               recipe=("1M", 512, "1e-3", "none", "0.01")),
}  # fmt: skip


def imagenet_differences(size, scale):
    notes = [
        "Table C.1 gives one head count (16); we use it for the latent "
        "and the read/write attention. The interface MLP ratio is not "
        "given; we use the official default, 4 (CIFAR-10 uses 2). Dropout "
        "and drop-path are not given; we use none.",
    ]
    if size <= 256:
        notes.append(
            "Built literally from Table C.1, the model has fewer parameters "
            "than the paper prints (see the table above); we keep the "
            "table's configuration rather than force the numbers."
        )
    if scale != 1.0:
        notes.append(
            "The paper trains this resolution with input scaling (Chen, "
            "2023) but does not give the factor b; we set input_scale="
            f"{scale}, an assumption to check against Chen (2023) before "
            "training."
        )
    if size == 256:
        notes.append(
            "input_scale is 1 (the paper's plain RIN row); its "
            "input-scaling row uses a factor the paper does not give."
        )
    return notes


PRESETS = {
    "rin_cifar10": {
        "title": "the paper's CIFAR-10 model",
        "paper": dict(
            params="30.95 M (31 M in the text)",
            gflops=5.83,
            results="FID 1.81 (50k samples, DDPM 1000 steps)",
            recipe=None,
        ),
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
        "differences": [
            "None known in the architecture: LayerNorm on queries only, "
            "time and class as latent tokens, zero-initialised "
            "self-conditioning LayerNorm, readout LayerNorm, gamma fed as "
            "the noise level; the initial weights too (attention kernels "
            "drawn as the official 3-D multi-head kernels).",
            "Parameters match the official 30.95 M exactly; our 8.59 GFLOPs "
            "count attention, the official 5.83 does not.",
        ],
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


# Table C.1 / C.2 of the paper: Kinetics-600 video prediction.
KINETICS = {
    "title": "the paper's Kinetics-600 video prediction model",
    "paper": dict(
        params="411 M",
        gflops=386,
        results=(
            "FVD 11.5 with 400 sampling steps, FVD 10.8 with 1000; IS 17.7"
        ),
        recipe=("500K", 1024, "1e-3", "cosine", "0.001"),
        ema=0.99,
    ),
    "backbone": dict(
        video_shape=[16, 64, 64, 3],
        patch_size=4,
        frames_per_patch=2,
        num_latents=256,
        latent_dim=1024,
        interface_dim=512,
        num_blocks=6,
        block_depth=4,
        latent_num_heads=16,
        rw_num_heads=16,
        latent_mlp_ratio=4,
        interface_mlp_ratio=4,
        num_classes=None,
    ),
    "predictor": dict(num_context_frames=5, self_conditioning_rate=0.85),
    "description": (
        "The paper's Kinetics-600 RIN video predictor (Table C.1: 5 context "
        "frames, 11 predicted); architecture only."
    ),
}


RECIPE_USAGE = """This recipe ships as the preset's `recipe.json`:

```python
recipe = keras_rin.training.TrainingRecipe.from_preset("{name}")
model = keras_rin.{cls}.from_preset("{name}")
model.compile(optimizer=recipe.build_optimizer())  # LAMB, official semantics
```"""


def paper_recipe(preset):
    """The preset's training recipe: Table C.2, or the official CIFAR-10
    run."""
    recipe = preset["paper"]["recipe"]
    if recipe is None:
        return TrainingRecipe(
            learning_rate=3e-3,
            total_steps=150_000,
            warmup_steps=10_000,
            decay="cosine",
            decay_fraction=0.8,
            batch_size=256,
            weight_decay=1e-2,
            ema_momentum=0.9999,
            description="The official code's CIFAR-10 run (FID 1.81).",
        )
    updates, batch, lr, decay, weight_decay = recipe
    steps = {"300K": 300_000, "500K": 500_000, "600K": 600_000, "1M": 10**6}
    return TrainingRecipe(
        learning_rate=float(lr),
        total_steps=steps[updates],
        warmup_steps=10_000,
        decay=decay,
        batch_size=batch,
        weight_decay=float(weight_decay),
        ema_momentum=preset["paper"].get("ema", 0.9999),
        description=(
            "Table C.2 of the paper; the warm-up (not given) is the "
            "official code's."
        ),
    )


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
        "guidance_scale": 1.0,
        **generator,
    }
    return {
        "module": "keras_rin.models.rin_image_generator",
        "class_name": "RINImageGenerator",
        "config": generator_config,
        "registered_name": "keras_rin>RINImageGenerator",
    }


def serialized_video_model(backbone, predictor):
    backbone_config = {
        "name": "rin_video_backbone",
        "trainable": True,
        "dropout_rate": 0.0,
        "drop_path_rate": 0.0,
        "time_scaling": 1000.0,
        "epsilon": 1e-6,
        **backbone,
        "dtype": float32_policy(),
    }
    predictor_config = {
        "name": "rin_video_predictor",
        "trainable": True,
        "dtype": float32_policy(),
        "backbone": {
            "module": "keras_rin.models.rin_video_backbone",
            "class_name": "RINVideoBackbone",
            "config": backbone_config,
            "registered_name": "keras_rin>RINVideoBackbone",
        },
        "train_schedule": dict(SIGMOID, clip_min=1e-9),
        "sampling_schedule": COSINE,
        "prediction_target": "eps",
        "label_dropout_rate": 0.0,
        "input_scale": 1.0,
        "seed": None,
        "guidance_scale": 1.0,
        **predictor,
    }
    return {
        "module": "keras_rin.models.rin_video_predictor",
        "class_name": "RINVideoPredictor",
        "config": predictor_config,
        "registered_name": "keras_rin>RINVideoPredictor",
    }


def kinetics_card(name, preset, info):
    backbone = preset["backbone"]
    frames, size, _, channels = backbone["video_shape"]
    context = preset["predictor"]["num_context_frames"]
    patch, fpp = backbone["patch_size"], backbone["frames_per_patch"]
    tokens = (frames // fpp) * (size // patch) ** 2
    latents = backbone["num_latents"]
    paper = preset["paper"]
    updates, batch, lr, decay, weight_decay = paper["recipe"]
    lines = [
        f"# {name}: {preset['title']} (architecture only)",
        "",
        "The video prediction RIN of Jabri, Fleet & Chen (ICML 2023),",
        "Section 3 and Tables C.1 / C.2. **No weights are shipped**: the",
        "preset builds a randomly initialised model, for training from",
        "scratch on Kinetics-600 (`examples/kinetics.py`).",
        "",
        "```python",
        f'model = keras_rin.RINVideoPredictor.from_preset("{name}")',
        f"clips = model.generate(first_{context}_frames, num_steps=400)",
        "```",
        "",
        "## Configuration",
        "| | |",
        "|---|---|",
        f"| input | {frames}x{size}x{size}x{channels} clips: {context} "
        f"context frames, {frames - context} predicted; unconditional |",
        f"| interface | {fpp}x{patch}x{patch} patches: {tokens} tokens of "
        f"dim {backbone['interface_dim']}, MLP ratio "
        f"{backbone['interface_mlp_ratio']} |",
        f"| latents | {latents} of dim {backbone['latent_dim']} "
        f"({latents - 1} learned + time token) |",
        f"| blocks | {backbone['num_blocks']} x depth "
        f"{backbone['block_depth']}; {backbone['latent_num_heads']} latent "
        f"heads, {backbone['rw_num_heads']} read/write heads |",
        "| diffusion | eps prediction; training schedule sigmoid(-3, 3, "
        "0.9); sampling schedule cosine; self-conditioning rate "
        f"{preset['predictor']['self_conditioning_rate']}; context frames "
        "clean at every step, loss on the predicted frames only |",
        "",
        "## Size and cost",
        "| | keras-rin (counted) | paper |",
        "|---|---|---|",
        f"| parameters | {info['parameter_count']:,} | {paper['params']} |",
        f"| GFLOPs per forward pass of one clip | "
        f"{info['flops'] / 1e9:.2f} | {paper['gflops']} |",
        "",
        "Counted by `keras_rin.utils.count_params` / `count_flops`",
        f"(`keras-rin info {name}`): a multiply-add counts 2, every matrix",
        "product is counted, attention included. The paper's GFLOPs follow",
        "an undocumented convention (see the ImageNet cards).",
        "",
        "## Training recipe",
        f"Table C.2: LAMB, {updates} updates, batch {batch}, lr {lr}, lr",
        f"decay {decay}, weight decay {weight_decay}, self-conditioning",
        "rate 0.85, EMA 0.99. Evaluation: FVD and IS on Kinetics-600 test",
        "clips, 400 or 1000 DDPM steps, 5 context frames. The warm-up is",
        "not given; we use the official code's 10k steps.",
        "",
        RECIPE_USAGE.format(name=name, cls="RINVideoPredictor"),
        "",
        "## Reported results (paper)",
        paper["results"] + ".",
        "",
        "## Known differences from the paper and the official code",
        *SELF_CONDITIONING_NOTE,
        "- The official code tokenises the 5 context frames and the 11",
        "  noisy frames separately, each padded to whole 2-frame patches",
        "  (3 + 6 temporal positions: 2,304 tokens). We tokenise the whole",
        "  16-frame clip (8 temporal positions: the 2,048 tokens of Table",
        "  C.1), so one temporal patch holds context frame 5 and predicted",
        "  frame 6.",
        "- Table C.1 gives one head count (16); we use it for the latent",
        "  and the read/write attention. The interface MLP ratio is not",
        "  given; we use the official default, 4. Input scale 1 and no",
        "  dropout: the paper gives neither.",
        "- No weights: we have not trained this model.",
    ]
    return "\n".join(lines) + "\n"


def metadata(backbone, description, class_name="RINImageGenerator"):
    return {
        "keras_version": keras.__version__,
        "keras_rin_version": __version__,
        "parameter_count": count_params(backbone),
        "flops": count_flops(backbone),
        "date": datetime.date.today().isoformat(),
        "class_name": class_name,
        "description": description,
    }


def write_json(path, content):
    with open(path, "w") as file:
        json.dump(content, file, indent=2)
        file.write("\n")


def model_card(name, preset, info):
    backbone = {
        "latent_mlp_ratio": 4,
        "interface_mlp_ratio": 4,
        "dropout_rate": 0.0,
        "drop_path_rate": 0.0,
        **preset["backbone"],
    }
    generator = {"input_scale": 1.0, **preset["generator"]}
    size, _, channels = backbone["image_shape"]
    patch = backbone["patch_size"]
    tokens = (size // patch) ** 2
    latents = backbone["num_latents"]
    rw_width = min(backbone["latent_dim"], backbone["interface_dim"])
    paper = preset["paper"]
    lines = [
        f"# {name}: {preset['title']} (architecture only)",
        "",
        "A class-conditional RIN of Jabri, Fleet & Chen (ICML 2023) in the",
        "official implementation's configuration. **No weights are",
        "shipped**: the preset builds a randomly initialised model, for",
        "training from scratch.",
        "",
        "```python",
        f'model = keras_rin.RINImageGenerator.from_preset("{name}")',
        "```",
        "",
        "## Configuration",
        "| | |",
        "|---|---|",
        f"| input | {size}x{size}x{channels}, "
        f"{backbone['num_classes']} classes |",
        f"| interface | {patch}x{patch} patches: {tokens} tokens of dim "
        f"{backbone['interface_dim']}, MLP ratio "
        f"{backbone['interface_mlp_ratio']} |",
        f"| latents | {latents} of dim {backbone['latent_dim']} "
        f"({latents - 2} learned + time token + class token) |",
        f"| blocks | {backbone['num_blocks']} x depth "
        f"{backbone['block_depth']}; {backbone['latent_num_heads']} latent "
        f"heads, {backbone['rw_num_heads']} read/write heads (width "
        f"{rw_width}) |",
        f"| regularisation | dropout {backbone['dropout_rate']}, drop-path "
        f"{backbone['drop_path_rate']} |",
        "| diffusion | eps prediction; training schedule sigmoid(-3, 3, "
        "0.9); sampling schedule cosine; self-conditioning rate 0.9; "
        f"input scale {generator['input_scale']} |",
        "",
        "## Size and cost",
        "| | keras-rin (counted) | paper |",
        "|---|---|---|",
        f"| parameters | {info['parameter_count']:,} | {paper['params']} |",
        f"| GFLOPs per forward pass of one image | "
        f"{info['flops'] / 1e9:.2f} | {paper['gflops']} |",
        "",
        "Counted by `keras_rin.utils.count_params` / `count_flops`",
        f"(`keras-rin info {name}`): a multiply-add counts 2, every matrix",
        "product is counted, attention included; element-wise ops,",
        "LayerNorm and softmax are not. The tests check the counter",
        "against built models, the matrix products of the XLA graph and",
        "PyTorch's flop counter. The paper's GFLOPs follow an undocumented",
        "convention: the official CIFAR-10 figure (5.83) is TensorFlow's",
        "profiler, which skips the einsum-based attention, while its",
        "ImageNet figures are 1.2-1.6x our counts.",
        "",
        "## Training recipe",
    ]
    if paper["recipe"] is None:
        lines += [
            "Official code: LAMB, lr 3e-3, betas (0.9, 0.999), eps 1e-8,",
            "weight decay 1e-2 (biases and LayerNorm parameters excluded",
            "from decay and trust ratio); 10k linear warm-up steps, then",
            "0.8 of a cosine decay (`cosine@0.8`: the learning rate ends at",
            "9.5% of its peak); batch 256; 150k steps; EMA 0.9999;",
            "self-conditioning rate 0.9; no gradient clipping (the official",
            "LAMB path ignores `global_clipnorm`). Evaluation: DDPM, 1000",
            "steps, cosine schedule, FID on 50k samples.",
        ]
    else:
        updates, batch, lr, decay, weight_decay = paper["recipe"]
        lines += [
            f"Table C.2: LAMB, {updates} updates, batch {batch}, lr {lr},",
            f"lr decay {decay}, beta_2 0.999, weight decay {weight_decay},",
            "self-conditioning rate 0.9, EMA 0.9999. Data augmentation:",
            "centre crops and random left-right flips. Evaluation: DDPM,",
            "1000 steps, FID and IS on 50k samples, no guidance. The",
            "warm-up is not given; we use the official code's 10k steps.",
        ]
    lines += [
        "",
        RECIPE_USAGE.format(name=name, cls="RINImageGenerator"),
        "",
        "## Reported results (paper)",
        paper["results"] + ".",
        "",
        "## Known differences from the paper",
    ]
    lines += [f"- {note}" for note in preset["differences"]]
    lines += [
        *SELF_CONDITIONING_NOTE,
        "- The noise-level embedding uses `10000 ** (-i / (d/2))`",
        "  frequencies on gamma x 1000; the official frequency layout may",
        "  differ by a constant factor, which changes nothing learnable.",
        "- No weights: we have not trained this model.",
    ]
    return "\n".join(lines) + "\n"


def main():
    for name, preset in PRESETS.items():
        directory = os.path.join(ROOT, name)
        os.makedirs(directory, exist_ok=True)
        config = serialized_model(preset["backbone"], preset["generator"])
        write_json(os.path.join(directory, "config.json"), config)
        info = metadata(preset["backbone"], preset["description"])
        write_json(os.path.join(directory, "metadata.json"), info)
        with open(os.path.join(directory, "README.md"), "w") as file:
            file.write(model_card(name, preset, info))
        paper_recipe(preset).save(directory)
        print(
            f"{name}: {info['parameter_count'] / 1e6:.1f} M parameters, "
            f"{info['flops'] / 1e9:.2f} GFLOPs"
        )
    write_kinetics("rin_kinetics600", KINETICS)


def write_kinetics(name, preset):
    directory = os.path.join(ROOT, name)
    os.makedirs(directory, exist_ok=True)
    config = serialized_video_model(preset["backbone"], preset["predictor"])
    write_json(os.path.join(directory, "config.json"), config)
    info = metadata(
        preset["backbone"], preset["description"], "RINVideoPredictor"
    )
    write_json(os.path.join(directory, "metadata.json"), info)
    with open(os.path.join(directory, "README.md"), "w") as file:
        file.write(kinetics_card(name, preset, info))
    paper_recipe(preset).save(directory)
    print(
        f"{name}: {info['parameter_count'] / 1e6:.1f} M parameters, "
        f"{info['flops'] / 1e9:.2f} GFLOPs"
    )


if __name__ == "__main__":
    main()
