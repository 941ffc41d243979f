"""Decode-time compute scaling with elastic latents, measured on 8x8 digits.

RIN's compute sits in its latents, so a model trained with elastic latents
(`elastic_latent_counts`) can denoise with a prefix of them, and
`generate(compute_schedule=...)` can spend fewer latents on some sampling
steps (the MaGNeTS idea: a small model for some steps, the full one for the
rest). This script measures, against FLOPs per sample, whether that beats
the simplest way to save compute: fewer sampling steps.

Two `rin_digits` models are trained with examples/digits.py (same data,
recipe, seed and number of updates), one without and one with elastic
latents (counts 4, 8 and 16 of 16 with probabilities 0.25, 0.25, 0.5):

    KERAS_BACKEND=jax python examples/digits.py --output runs/plain
    KERAS_BACKEND=jax python examples/digits.py --output runs/elastic \\
        --elastic-latents 4 8 16 --elastic-probabilities 0.25 0.25 0.5
    KERAS_BACKEND=jax python examples/elastic_latents.py \\
        --elastic runs/elastic --plain runs/plain \\
        --output docs/elastic_latents

It then reports:

1. The held-out denoising loss (v-space MSE on the 450 held-out digits,
   self-conditioned as in training) per noise level and latent count, for
   both models: where fewer latents cost least is where a schedule should
   use them.
2. Sample quality (the classifier accuracy and the Fréchet distance of
   examples/evaluate_digits.py) against FLOPs per sample, for compute
   schedules and, at equal FLOPs, for the baselines: all latents with
   fewer steps (elastic and plain model) and the smallest count at every
   step.

Outputs in `--output`: `results.json`, `results.md` (the tables) and
`elastic_latents.png` (needs matplotlib); `--from-json` re-renders the last
two from the first. `--smoke` makes a seconds-long
run on a few digits (used by the tests).
"""

import argparse
import json
import os
import time

import keras
import numpy as np
from evaluate_digits import flatten
from evaluate_digits import hidden_features
from evaluate_digits import real_digits_distance
from evaluate_digits import train_classifier

import keras_rin
from keras_rin.diffusion import targets
from keras_rin.metrics import frechet_distance
from keras_rin.utils import count_flops
from keras_rin.utils import count_sampling_flops

# Hyper-parameters.
LOSS_TIMES = tuple(np.round(np.linspace(0.05, 0.95, 10), 2))
LOSS_NOISE_DRAWS = 4  # noise draws per held-out digit and noise level
SAMPLES_PER_CLASS = 50
SAMPLING_SEEDS = (0, 1)
SAMPLERS = ("ddim", "ddpm")
# Sampling steps of the fewer-steps and fixed-count curves; the points at
# the FLOPs of each schedule are added to them.
BASELINE_STEPS = (100, 50, 25, 10)
SCHEDULE_STEPS = (100, 50, 25)
# (fraction of the steps, active latents), from the noisiest step on.
SCHEDULES = {
    "small first (4, 8, 16)": [(0.5, 4), (0.25, 8), (0.25, 16)],
    "large first (16, 8, 4)": [(0.25, 16), (0.25, 8), (0.5, 4)],
    "small first (4, 16)": [(0.75, 4), (0.25, 16)],
}


def denoising_losses(model, images, labels, counts, times, draws, seed=0):
    """`{count: [loss at each t]}`: the self-conditioned v-space MSE on
    `images`, with the same noise for every model and count."""
    rng = np.random.default_rng(seed)
    x = np.repeat(
        keras.ops.convert_to_numpy(
            targets.images_to_inputs(images, model.input_scale)
        ),
        draws,
        axis=0,
    )
    labels = np.repeat(np.asarray(labels, "int32"), draws)
    losses = {count: [] for count in counts}
    for t in times:
        gamma = keras.ops.convert_to_numpy(
            model.train_schedule(np.full((len(x),), t, "float32"))
        )
        noise = rng.standard_normal(x.shape).astype("float32")
        g = gamma[:, None, None, None]
        x_t = np.sqrt(g) * x + np.sqrt(1 - g) * noise
        target = keras.ops.convert_to_numpy(
            targets.training_target(x, noise, g, model.prediction_target)
        )
        for count in counts:
            prediction = model.self_conditioned_prediction(
                x_t,
                gamma,
                labels,
                use_self_conditioning=np.ones((len(x),), bool),
                num_active_latents=count,
            )
            error = keras.ops.convert_to_numpy(prediction) - target
            losses[count].append(float(np.mean(np.square(error))))
    return losses


class Scorer:
    """Samples `per_class` digits of each class and scores them with the
    digit classifier of examples/evaluate_digits.py."""

    def __init__(self, per_class, seeds):
        images, labels = keras_rin.data.load_digits("train")
        test_images, _ = keras_rin.data.load_digits("test")
        self.classifier = train_classifier(images, labels)
        self.test_features = hidden_features(self.classifier, test_images)
        self.requested = np.repeat(np.arange(10), per_class)
        self.seeds = seeds
        self.real_floor = real_digits_distance(
            self.classifier,
            images,
            self.test_features,
            min(len(self.requested), len(images)),
        )

    def __call__(self, model, sampler, num_steps, schedule=None):
        scores = []
        for seed in self.seeds:
            samples = model.generate(
                labels=self.requested,
                num_steps=num_steps,
                sampler=sampler,
                seed=seed,
                compute_schedule=schedule,
                verbose=0,
            )
            predicted = self.classifier.predict(flatten(samples))
            scores.append(
                (
                    float(np.mean(predicted == self.requested)),
                    frechet_distance(
                        hidden_features(self.classifier, samples),
                        self.test_features,
                    ),
                )
            )
        accuracy, distance = np.mean(scores, axis=0)
        return {
            "accuracy": float(accuracy),
            "frechet_distance": float(distance),
            "frechet_distance_per_seed": [s[1] for s in scores],
        }


def sampling_jobs(elastic, full_count, schedules, schedule_steps, steps):
    """Every `(method, model name, num_steps, schedule)` to score: the
    schedules, and each baseline at `steps` and at the FLOPs of every
    schedule point."""
    per_step = {
        count: count_flops(elastic.backbone, count)
        for count in elastic.elastic_latent_counts
    }
    smallest = min(per_step)
    baselines = {
        "elastic, all latents, fewer steps": ("elastic", full_count),
        "plain, all latents, fewer steps": ("plain", full_count),
        f"elastic, {smallest} latents at every step": ("elastic", smallest),
    }
    jobs = []
    matched = {method: set(steps) for method in baselines}
    for name, schedule in schedules.items():
        for num_steps in schedule_steps:
            jobs.append((name, "elastic", num_steps, schedule))
            flops = count_sampling_flops(elastic, num_steps, schedule)
            for method, (_, count) in baselines.items():
                matched[method].add(max(1, round(flops / per_step[count])))
    for method, (model_name, count) in baselines.items():
        schedule = None if count == full_count else [(1.0, count)]
        for num_steps in sorted(matched[method]):
            jobs.append((method, model_name, num_steps, schedule))
    return jobs


def measure_sampling(models, scorer, samplers, jobs):
    results = []
    progress = keras.utils.Progbar(len(samplers) * len(jobs), unit_name="run")
    for sampler in samplers:
        for method, model_name, num_steps, schedule in jobs:
            model = models[model_name]
            score = scorer(model, sampler, num_steps, schedule)
            results.append(
                {
                    "method": method,
                    "model": model_name,
                    "sampler": sampler,
                    "sampling_steps": num_steps,
                    "compute_schedule": schedule,
                    "flops_per_sample": count_sampling_flops(
                        model, num_steps, schedule
                    ),
                    **score,
                }
            )
            progress.add(1)
    return results


def equal_flops_table(sampling, schedules):
    """Each schedule point next to the baselines run at its FLOPs."""
    rows = []
    baselines = [
        r for r in sampling if r["method"] not in schedules
    ]  # fmt: skip
    for point in (r for r in sampling if r["method"] in schedules):
        row = {"schedule": point, "baselines": {}}
        # In the order of the jobs: elastic and plain fewer steps, smallest.
        for method in dict.fromkeys(r["method"] for r in baselines):
            candidates = [
                r
                for r in baselines
                if r["method"] == method and r["sampler"] == point["sampler"]
            ]
            row["baselines"][method] = min(
                candidates,
                key=lambda r: abs(
                    np.log(r["flops_per_sample"] / point["flops_per_sample"])
                ),
            )
        fewer_steps = [
            b for m, b in row["baselines"].items() if "fewer steps" in m
        ]
        row["beats_fewer_steps"] = verdict(point, fewer_steps)
        rows.append(row)
    return rows


def verdict(point, baselines):
    """ "yes" if the point's Fréchet distance beats every baseline at every
    sampling seed (its worst seed below each baseline's best), "no" if some
    baseline beats it at every seed, else "within noise"."""
    distances = point["frechet_distance_per_seed"]
    others = [b["frechet_distance_per_seed"] for b in baselines]
    if all(max(distances) < min(other) for other in others):
        return "yes"
    if any(min(distances) > max(other) for other in others):
        return "no"
    return "within noise"


def markdown(losses, times, sampling, table, floor):
    lines = ["## Held-out denoising loss (v-space MSE) per noise level", ""]
    counts = sorted(int(c) for c in next(iter(losses.values())))
    header = "| model | latents | " + " | ".join(f"t={t:g}" for t in times)
    lines += [header + " |", "|---|---|" + "---|" * len(times)]
    for name, per_count in losses.items():
        full = per_count[str(max(counts))]
        for count in counts:
            values = per_count[str(count)]
            cells = [
                f"{v:.4f}"
                if count == max(counts)
                else f"{v:.4f} ({v / f - 1:+.0%})"
                for v, f in zip(values, full, strict=True)
            ]
            lines.append(f"| {name} | {count} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "(in brackets: relative to all latents of the same model)",
        "",
        "## Compute schedules against baselines at equal FLOPs",
        "",
        "| sampler | schedule | steps | MFLOPs/sample | accuracy | FD | "
        "elastic, fewer steps | plain, fewer steps | smallest count | "
        "beats fewer steps at every seed? |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in table:
        point = row["schedule"]
        baselines = " | ".join(map(_cell, row["baselines"].values()))
        lines.append(
            f"| {point['sampler']} | {point['method']} | "
            f"{point['sampling_steps']} | "
            f"{point['flops_per_sample'] / 1e6:.0f} | "
            f"{point['accuracy']:.1%} | {point['frechet_distance']:.2f} | "
            f"{baselines} | {row['beats_fewer_steps']} |"
        )
    lines += [
        "",
        "## Every sampling run",
        "",
        "| sampler | method | steps | MFLOPs/sample | accuracy | FD | "
        "FD per seed |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in sorted(
        sampling,
        key=lambda r: (r["sampler"], r["method"], -r["sampling_steps"]),
    ):
        lines.append(
            f"| {r['sampler']} | {r['method']} | {r['sampling_steps']} | "
            f"{r['flops_per_sample'] / 1e6:.0f} | {r['accuracy']:.1%} | "
            f"{r['frechet_distance']:.2f} | "
            + ", ".join(f"{d:.2f}" for d in r["frechet_distance_per_seed"])
            + " |"
        )
    lines += ["", f"Real training digits score FD {floor:.2f} (the floor)."]
    return "\n".join(lines) + "\n"


def _cell(result):
    return (
        f"{result['sampling_steps']} steps "
        f"({result['flops_per_sample'] / 1e6:.0f} M): "
        f"{result['accuracy']:.1%}, FD {result['frechet_distance']:.2f}"
    )


def plot(losses, times, sampling, samplers, floor, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(
        1, 1 + len(samplers), figsize=(5.5 * (1 + len(samplers)), 4.4)
    )
    axis = axes[0]
    for name, style in (("elastic", "-"), ("plain", "--")):
        per_count = losses[name]
        counts = sorted(int(c) for c in per_count)
        full = np.asarray(per_count[str(max(counts))])
        colours = plt.cm.autumn(np.linspace(0, 0.6, len(counts) - 1))
        for count, colour in zip(counts[:-1], colours, strict=True):
            gap = np.asarray(per_count[str(count)]) / full - 1
            axis.plot(
                times, 100 * gap, style, color=colour, marker=".",
                label=f"{name} model, {count} latents",
            )  # fmt: skip
    axis.set_yscale("symlog", linthresh=10)
    axis.set_xlabel("t (1 = pure noise)")
    axis.set_ylabel(f"held-out loss above {max(counts)} latents (%)")
    axis.set_title("Where fewer latents cost least")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    for axis, sampler in zip(axes[1:], samplers, strict=True):
        runs = [r for r in sampling if r["sampler"] == sampler]
        for method in sorted({r["method"] for r in runs}):
            points = sorted(
                (r["flops_per_sample"] / 1e6, r["frechet_distance"])
                for r in runs
                if r["method"] == method
            )
            marker = "o" if "fewer steps" in method else "s"
            if "every step" in method:
                marker = "^"
            axis.plot(*zip(*points, strict=True), marker=marker, label=method)
        axis.axhline(
            floor, color="black", linestyle=":", label="real digits"
        )  # fmt: skip
        axis.set_xscale("log")
        axis.set_xlabel("backbone MFLOPs per sample")
        axis.set_ylabel("Fréchet distance (lower is better)")
        axis.set_title(f"Quality against compute, {sampler.upper()}")
        axis.grid(alpha=0.3, which="both")
        axis.legend(fontsize=7)
    figure.suptitle(
        "Elastic latents on 8x8 digits (rin_digits, 16 latents): compute "
        "schedules vs fewer steps"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(
    elastic_path,
    plain_path,
    output,
    samplers=SAMPLERS,
    per_class=SAMPLES_PER_CLASS,
    seeds=SAMPLING_SEEDS,
    smoke=False,
):
    start = time.time()
    models = {
        "elastic": keras_rin.RINImageGenerator.from_preset(elastic_path),
        "plain": keras_rin.RINImageGenerator.from_preset(plain_path),
    }
    elastic = models["elastic"]
    if not elastic.elastic_latent_counts:
        raise ValueError(
            "`elastic` must be a preset trained with "
            "`elastic_latent_counts`. Received: "
            f"elastic={elastic_path!r}, whose model has none."
        )
    counts = sorted(elastic.elastic_latent_counts)
    full_count = elastic.backbone.num_latents
    images, labels = keras_rin.data.load_digits("test")
    times, draws = LOSS_TIMES, LOSS_NOISE_DRAWS
    schedules, schedule_steps, steps = SCHEDULES, SCHEDULE_STEPS, BASELINE_STEPS
    if smoke:
        images, labels, times, draws = images[:20], labels[:20], (0.5,), 1
        schedules = dict(list(SCHEDULES.items())[:1])
        schedule_steps, steps = (4,), (2,)
    print("Held-out denoising losses per noise level and latent count")
    losses = {
        name: {
            str(count): values
            for count, values in denoising_losses(
                model, images, labels, counts, times, draws
            ).items()
        }
        for name, model in models.items()
    }
    print("Sample quality against FLOPs per sample")
    scorer = Scorer(per_class, seeds)
    jobs = sampling_jobs(elastic, full_count, schedules, schedule_steps, steps)
    sampling = measure_sampling(models, scorer, samplers, jobs)
    results = {
        "backend": keras.config.backend(),
        "elastic_latent_counts": counts,
        "elastic_latent_probabilities": elastic.elastic_latent_probabilities,
        "flops_per_step": {
            str(c): count_flops(elastic.backbone, c) for c in counts
        },
        "loss_times": list(times),
        "loss_noise_draws": draws,
        "samples": len(scorer.requested),
        "samplers": list(samplers),
        "sampling_seeds": list(seeds),
        "schedules": schedules,
        "real_digits_frechet_distance": scorer.real_floor,
        "denoising_losses": losses,
        "sampling": sampling,
        "seconds": round(time.time() - start, 1),
    }
    return write_report(results, output)


def write_report(results, output):
    """Writes results.json, results.md and the plot from the measurements;
    returns `(losses, sampling, equal-FLOPs table)`."""
    losses, sampling = results["denoising_losses"], results["sampling"]
    times, floor = (
        results["loss_times"],
        results["real_digits_frechet_distance"],
    )
    table = equal_flops_table(sampling, results["schedules"])
    results["equal_flops"] = table
    os.makedirs(output, exist_ok=True)
    with open(os.path.join(output, "results.json"), "w") as file:
        json.dump(results, file, indent=2)
    report = markdown(losses, times, sampling, table, floor)
    with open(os.path.join(output, "results.md"), "w") as file:
        file.write(report)
    print(report)
    path = os.path.join(output, "elastic_latents.png")
    plot(losses, times, sampling, results["samplers"], floor, path)
    print(f"Wrote {output}/results.json, results.md and {path}")
    return losses, sampling, table


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--elastic", help="preset trained with elastic latents")
    parser.add_argument("--plain", help="preset trained without")
    parser.add_argument("--output", default="elastic_latents")
    parser.add_argument("--samplers", nargs="+", default=SAMPLERS)
    parser.add_argument("--per-class", type=int, default=SAMPLES_PER_CLASS)
    parser.add_argument("--seeds", type=int, nargs="+", default=SAMPLING_SEEDS)
    parser.add_argument(
        "--from-json",
        action="store_true",
        help="re-render the tables and the plot from <output>/results.json",
    )
    parser.add_argument(
        "--smoke", action="store_true", help="a tiny run, for testing"
    )
    args = parser.parse_args()
    if args.from_json:
        with open(os.path.join(args.output, "results.json")) as file:
            write_report(json.load(file), args.output)
        raise SystemExit
    if not (args.elastic and args.plain):
        parser.error("--elastic and --plain are required (or --from-json)")
    main(
        args.elastic,
        args.plain,
        args.output,
        args.samplers,
        args.per_class,
        args.seeds,
        args.smoke,
    )
