"""Where the latents read from: read-attention maps of a RIN (Figure 6 of
the paper), as PNG heat maps.

    KERAS_BACKEND=jax python examples/read_attention.py --preset rin_digits
    KERAS_BACKEND=jax python examples/read_attention.py \
        --preset my_imagenet64 --labels 207 980 --num-steps 250 \
        --steps 0 125 200 249
    KERAS_BACKEND=jax python examples/read_attention.py --preset my_shapes

For each sample it saves `<output>_<i>.png`: one row per chosen sampling
step, one column per block, each cell the block's read attention (averaged
over heads and latents, a distribution over the interface patches) as a
heat map over the final sample. For a video model the context frames come
from the procedural bouncing-shapes clips and each cell is a strip of the
clip's frames.
"""

import argparse

import keras_rin
from keras_rin.visualization import save_read_attention_grid

# Hyper-parameters.
NUM_STEPS = 100
STEPS = (0, 25, 50, 75, 99)
SEED = 0


def step_labels(steps, num_steps):
    return [f"step {s} (t={1 - s / num_steps:.2f})" for s in steps]


def sample_with_maps(model, args):
    kwargs = dict(
        num_steps=args.num_steps,
        steps=args.steps,
        sampler=args.sampler,
        seed=args.seed,
    )
    if isinstance(model, keras_rin.RINVideoPredictor):
        frames, size = model.backbone.video_shape[:2]
        clips = keras_rin.data.make_bouncing_shapes(
            args.num_samples, num_frames=frames, image_size=size, seed=SEED
        )
        return model.generate_with_read_attention(
            clips[:, : model.num_context_frames], **kwargs
        )
    labels = None
    if model.num_classes:
        labels = args.labels or list(range(args.num_samples))
        labels = [label % model.num_classes for label in labels]
    return model.generate_with_read_attention(
        num_images=None if labels else args.num_samples,
        labels=labels,
        **kwargs,
    )


def main(args):
    model = keras_rin.presets.load_preset(args.preset)
    args.steps = [s for s in args.steps if s < args.num_steps]
    samples, maps = sample_with_maps(model, args)
    labels = step_labels(args.steps, args.num_steps)
    paths = []
    for index, (sample, sample_maps) in enumerate(
        zip(samples, maps, strict=True)
    ):
        path = f"{args.output}_{index}.png"
        save_read_attention_grid(sample, sample_maps, path, step_labels=labels)
        paths.append(path)
    print("Saved " + ", ".join(paths))
    return samples, maps, paths


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="rin_digits")
    parser.add_argument("--num-samples", type=int, default=3)
    parser.add_argument(
        "--labels", type=int, nargs="+", help="classes (default 0, 1, ...)"
    )
    parser.add_argument("--num-steps", type=int, default=NUM_STEPS)
    parser.add_argument(
        "--steps",
        type=int,
        nargs="+",
        default=list(STEPS),
        help="0-based sampling steps to show (those >= --num-steps dropped)",
    )
    parser.add_argument("--sampler", default="ddpm", choices=("ddpm", "ddim"))
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--output", default="read_attention")
    return parser.parse_args(argv)


if __name__ == "__main__":
    main(parse_args())
