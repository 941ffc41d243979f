"""Quality against network evaluations on emoji: keras-rin's samplers on
`rin_emoji32`.

On the 8x8 digits every solver is good by 25 network evaluations (NFE), so
they hardly separate (docs/sampling). 32x32 colour emoji are harder. Every
sampler (DDPM, DDIM, DPM-Solver++ 2M and 3M, Heun) draws 40 emoji per
group at 5 to 40 NFE per image, steps uniform in time, and each run is
scored as in the model card (examples/evaluate_emoji.py): the Fréchet
distance to the held-out emoji in a group classifier's features, and how
often the classifier reads the requested group. DDPM at 250 steps is the
reference (`--reference-steps 1000` for the paper's).

    KERAS_BACKEND=torch python examples/emoji_sampler_study.py \
        --output docs/emoji/sampling

Outputs in `--output`: `results.json`, `results.md` and
`quality_vs_nfe.png`.
"""

import argparse
import json
import os
import time

import keras
import numpy as np
from evaluate_emoji import GROUPS
from evaluate_emoji import EmojiScorer

import keras_rin
from keras_rin.diffusion import samplers

# Hyper-parameters.
SAMPLES_PER_GROUP = 40
EVALUATIONS = (5, 10, 20, 40)
SOLVERS = samplers.SAMPLERS
SPACING = "time"
REFERENCE_STEPS = 250
SEED = 0


def runs(evaluations, reference_steps):
    """`(sampler, num_steps)` of the reference, then of every solver at
    each budget (Heun's steps cost two evaluations)."""
    solver_runs = [
        (solver, samplers.steps_for_evaluations(solver, nfe))
        for solver in SOLVERS
        for nfe in evaluations
    ]
    return [("ddpm", reference_steps)] + solver_runs


def measure(model, scorer, study_runs, per_group):
    requested = np.repeat(np.arange(len(GROUPS)), per_group)
    rows = []
    progress = keras.utils.Progbar(len(study_runs), unit_name="run")
    for sampler, num_steps in study_runs:
        start = time.perf_counter()
        samples = model.generate(
            labels=requested,
            sampler=sampler,
            num_steps=num_steps,
            spacing=SPACING,
            guidance_scale=1.0,
            seed=SEED,
            verbose=0,
        )
        seconds = time.perf_counter() - start
        score = scorer.score(samples, requested)
        rows.append(
            {
                "sampler": sampler,
                "num_steps": num_steps,
                "nfe": samplers.network_evaluations(sampler, num_steps),
                "reference": not rows,
                "frechet_distance": score["frechet_distance"],
                "group_accuracy": score["group_accuracy"],
                "seconds_per_image": seconds / len(samples),
                "floor": score["frechet_distance_train_vs_test"],
            }
        )
        progress.add(1)
    return rows


def markdown(rows):
    lines = [
        "| sampler | steps | NFE | Fréchet distance | group accuracy |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        name = row["sampler"] + " (reference)" * row["reference"]
        lines.append(
            f"| {name} | {row['num_steps']} | {row['nfe']} | "
            f"{row['frechet_distance']:.2f} | {row['group_accuracy']:.1%} |"
        )
    floor = rows[0]["floor"]
    lines.append(f"| training vs held-out emoji | | | {floor:.2f} | |")
    return "\n".join(lines) + "\n"


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axis = pyplot.subplots(figsize=(5.5, 4))
    for solver in SOLVERS:
        points = sorted(
            (r["nfe"], r["frechet_distance"])
            for r in rows
            if r["sampler"] == solver and not r["reference"]
        )
        axis.plot(*zip(*points, strict=True), marker="o", label=solver)
    reference = rows[0]
    axis.axhline(
        reference["frechet_distance"],
        color="gray",
        linestyle="--",
        label=f"ddpm {reference['num_steps']} steps",
    )
    axis.axhline(
        reference["floor"], color="black", lw=0.8, label="training emoji"
    )
    axis.set_xscale("log")
    axis.set_xlabel("network evaluations per image")
    axis.set_ylabel("Fréchet distance to held-out emoji")
    axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    pyplot.close(figure)


def main(args):
    os.makedirs(args.output, exist_ok=True)
    scorer = EmojiScorer(
        dict(font_path=args.font_path, emoji_test_path=args.emoji_test_path)
    )
    model = keras_rin.RINImageGenerator.from_preset(args.preset)
    study_runs = runs(args.evaluations, args.reference_steps)
    rows = measure(model, scorer, study_runs, args.per_group)
    with open(os.path.join(args.output, "results.json"), "w") as file:
        json.dump({"preset": args.preset, "rows": rows}, file, indent=2)
    with open(os.path.join(args.output, "results.md"), "w") as file:
        file.write(markdown(rows))
    plot(rows, os.path.join(args.output, "quality_vs_nfe.png"))
    print(markdown(rows))
    return rows


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="rin_emoji32")
    parser.add_argument("--output", default="emoji_sampler_study")
    parser.add_argument("--per-group", type=int, default=SAMPLES_PER_GROUP)
    parser.add_argument(
        "--evaluations", type=int, nargs="+", default=list(EVALUATIONS)
    )
    parser.add_argument("--reference-steps", type=int, default=REFERENCE_STEPS)
    parser.add_argument("--font-path", help="NotoColorEmoji.ttf")
    parser.add_argument("--emoji-test-path", help="Unicode's emoji-test.txt")
    return parser.parse_args(argv)


if __name__ == "__main__":
    main(parse_args())
