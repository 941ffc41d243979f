"""Sampling in fewer network evaluations: solvers, spacings and guidance
intervals measured on the shipped digit models.

Every sampler of keras-rin (DDPM, DDIM, DPM-Solver++ 2M and 3M, Heun) with
every step spacing (uniform in time, uniform in logSNR, EDM's) draws 500
digits (50 per class) at 5 to 100 network evaluations (NFE) per image, over
3 sampling seeds, from `rin_digits` and `rin_digits_elastic`. Each run is
scored as in the model cards (examples/evaluate_digits.py): the Fréchet
distance to the held-out digits in a digit classifier's features, and how
often the classifier reads the requested class. DDPM at 1000 steps (the
paper's) and at 100 (keras-rin's former default) are the references.

Then, on `rin_digits` with classifier-free guidance, guidance on an
interval of noise levels against guidance at every step, and two choices
the sampler makes for RIN's latents: which latents Heun's corrector
evaluation receives, and what the unconditional stream's latents are when
guidance starts inside a run.

    KERAS_BACKEND=jax python examples/sampler_study.py --output docs/sampling

Outputs in `--output`: `results.json`, `results.md` (the tables) and
`quality_vs_nfe.png`; `--from-json` re-renders the last two from the first,
and `--time` re-times the solvers alone on the machine (the study's own
timings share it with the scoring), as the docs' table was:

    KERAS_BACKEND=jax python examples/sampler_study.py --time \
        --output docs/sampling
`--smoke` makes a seconds-long run (used by the tests).
"""

import argparse
import dataclasses
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
from keras_rin.diffusion import noise_grids
from keras_rin.diffusion import samplers
from keras_rin.diffusion import sampling
from keras_rin.diffusion import sampling_options
from keras_rin.metrics import frechet_distance

# Hyper-parameters.
PRESETS = ("rin_digits", "rin_digits_elastic")
SAMPLES_PER_CLASS = 50
SAMPLING_SEEDS = (0, 1, 2)
EVALUATIONS = (5, 10, 15, 25, 50, 100)
REFERENCES = (("ddpm", "time", 1000), ("ddpm", "time", 100))
SOLVERS = samplers.SAMPLERS
SPACINGS = noise_grids.SPACINGS
# Classifier-free guidance on an interval of times (t = 1 is pure noise).
GUIDANCE_SCALE = 2.0
GUIDANCE_INTERVALS = ((0.0, 1.0), (0.1, 1.0), (0.2, 0.8), (0.3, 0.7))
GUIDANCE_EVALUATIONS = (10, 25)


class Scorer:
    """Samples `per_class` digits of each class per seed and scores them
    with the digit classifier of examples/evaluate_digits.py."""

    def __init__(self, per_class, seeds):
        images, labels = keras_rin.data.load_digits("train")
        test_images, _ = keras_rin.data.load_digits("test")
        self.classifier = train_classifier(images, labels)
        self.test_features = hidden_features(self.classifier, test_images)
        self.requested = np.repeat(np.arange(10), per_class).astype("int32")
        self.seeds = seeds
        self.real_floor = real_digits_distance(
            self.classifier,
            images,
            self.test_features,
            min(len(self.requested), len(images)),
        )

    def __call__(self, model, options):
        """Scores of `SamplingOptions` without a seed, over the seeds:
        accuracy, Fréchet distance (per seed too) and seconds per image
        (the median over the seeds after the first, whose call compiles)."""
        accuracies, distances, seconds = [], [], []
        sampler = sampling.Sampler(model)
        for seed in self.seeds:
            start = time.perf_counter()
            samples = sampler.sample(
                dataclasses.replace(options, seed=seed, verbose=0),
                len(self.requested),
                labels=self.requested,
            )
            seconds.append((time.perf_counter() - start) / len(samples))
            predicted = self.classifier.predict(flatten(samples))
            accuracies.append(float(np.mean(predicted == self.requested)))
            distances.append(
                frechet_distance(
                    hidden_features(self.classifier, samples),
                    self.test_features,
                )
            )
        return {
            "accuracy": float(np.mean(accuracies)),
            "frechet_distance": float(np.mean(distances)),
            "frechet_distance_std": float(np.std(distances)),
            "frechet_distance_per_seed": distances,
            "seconds_per_image": float(np.median(seconds[1:] or seconds)),
        }


def solver_runs(evaluations):
    """`(sampler, spacing, num_steps, budget)` of every solver and spacing
    at each budget of evaluations (Heun's steps cost two but its last
    one, so it may use one fewer)."""
    return [
        (solver, spacing, samplers.steps_for_evaluations(solver, nfe), nfe)
        for solver in SOLVERS
        for spacing in SPACINGS
        for nfe in evaluations
    ]


def measure_solvers(model, scorer, runs, references):
    rows = []
    all_runs = [(*r, None) for r in references] + list(runs)
    progress = keras.utils.Progbar(len(all_runs), unit_name="run")
    for sampler, spacing, num_steps, budget in all_runs:
        options = sampling_options.SamplingOptions(
            sampler=sampler,
            spacing=spacing,
            num_steps=num_steps,
            guidance_scale=1.0,
        )
        row = {
            "sampler": sampler,
            "spacing": spacing,
            "num_steps": num_steps,
            "nfe": samplers.network_evaluations(sampler, num_steps),
            "budget": budget,
            "reference": budget is None,
        }
        rows.append({**row, **scorer(model, options)})
        progress.add(1)
    return rows


def measure_guidance(model, scorer, solver, spacing, evaluations, intervals):
    """Guidance at `GUIDANCE_SCALE` on each interval, and for the intervals
    that start inside the run (t_high < 1) both starts of the
    unconditional stream's latents; the unguided run for comparison."""
    rows = []
    for nfe in evaluations:
        num_steps = samplers.steps_for_evaluations(solver, nfe)
        cases = [("none", 1.0, (0.0, 1.0), "zeros")]
        for interval in intervals:
            starts = ["zeros"] + (["conditional"] if interval[1] < 1 else [])
            cases += [
                ("interval", GUIDANCE_SCALE, interval, start)
                for start in starts
            ]
        for kind, scale, interval, start in cases:
            options = sampling_options.SamplingOptions(
                sampler=solver,
                spacing=spacing,
                num_steps=num_steps,
                guidance_scale=scale,
                guidance_interval=interval,
                unconditional_start=start,
            )
            row = {
                "nfe": samplers.network_evaluations(solver, num_steps),
                "guidance_scale": scale,
                "guidance_interval": list(interval) if kind != "none" else None,
                "unconditional_start": start,
            }
            rows.append({**row, **scorer(model, options)})
    return rows


def measure_corrector_latents(model, scorer, spacing, evaluations):
    rows = []
    for nfe in evaluations:
        num_steps = samplers.steps_for_evaluations("heun", nfe)
        for choice in sampling_options.CORRECTOR_LATENTS:
            options = sampling_options.SamplingOptions(
                sampler="heun",
                spacing=spacing,
                num_steps=num_steps,
                guidance_scale=1.0,
                corrector_latents=choice,
            )
            row = {
                "nfe": samplers.network_evaluations("heun", num_steps),
                "corrector_latents": choice,
            }
            rows.append({**row, **scorer(model, options)})
    return rows


def best_solver(rows):
    """The `(sampler, spacing)` with the lowest mean Fréchet distance over
    the runs of at most 25 NFE."""
    fast = [r for r in rows if not r["reference"] and r["nfe"] <= 25]
    mean = {}
    for row in fast:
        key = (row["sampler"], row["spacing"])
        mean.setdefault(key, []).append(row["frechet_distance"])
    return min(mean, key=lambda key: np.mean(mean[key]))


def first_to_match(rows, reference):
    """`(nfe, sampler, spacing)` of the fewest evaluations whose Fréchet
    distance is within the reference's mean plus one seed-to-seed
    standard deviation (of both), or None."""
    bound = reference["frechet_distance"] + reference["frechet_distance_std"]
    matches = [
        (r["nfe"], r["frechet_distance"], r["sampler"], r["spacing"])
        for r in rows
        if not r["reference"]
        and r["frechet_distance"] - r["frechet_distance_std"] <= bound
    ]
    if not matches:
        return None
    nfe, _, sampler, spacing = min(matches)
    return {"nfe": nfe, "sampler": sampler, "spacing": spacing}


def reference_row(rows, reference):
    """The row of the reference run `(sampler, spacing, num_steps)`."""
    return next(
        r
        for r in rows
        if r["reference"]
        and (r["sampler"], r["spacing"], r["num_steps"]) == tuple(reference)
    )


def recommend(rows, reference):
    """The sampler a preset should carry: the best solver and spacing
    (`best_solver`) at the fewest evaluations where more no longer help
    (within the seed spread of the solver's own best run) and that match
    the reference (within its seed spread, as in `first_to_match`); else
    at the largest budget of at most 25."""
    sampler, spacing = best_solver(rows)
    own = [
        r
        for r in rows
        if not r["reference"]
        and (r["sampler"], r["spacing"]) == (sampler, spacing)
    ]
    plateau = min(own, key=lambda r: r["frechet_distance"])
    good = [
        r
        for r in own
        if first_to_match([r], plateau) and first_to_match([r], reference)
    ]
    if good:
        chosen = min(good, key=lambda r: r["nfe"])
    else:
        chosen = max((r for r in own if r["nfe"] <= 25), key=lambda r: r["nfe"])
    return {
        "sampler": sampler,
        "spacing": spacing,
        "num_steps": chosen["num_steps"],
        "nfe": chosen["nfe"],
        "matches_reference": bool(first_to_match([chosen], reference)),
    }


def study_preset(preset, scorer, args):
    model = keras_rin.RINImageGenerator.from_preset(preset)
    rows = measure_solvers(
        model, scorer, solver_runs(args.evaluations), args.references
    )
    # The last reference (DDPM at 100 steps) is the one to match.
    reference = reference_row(rows, args.references[-1])
    solver, spacing = best_solver(rows)
    result = {
        "preset": preset,
        "solvers": rows,
        "reference": list(args.references[-1]),
        "best": {"sampler": solver, "spacing": spacing},
        "first_to_match_ddpm_100": first_to_match(rows, reference),
        "recommended": recommend(rows, reference),
    }
    if args.guidance and model.num_classes:
        result["guidance"] = measure_guidance(
            model,
            scorer,
            solver,
            spacing,
            args.guidance_evaluations,
            GUIDANCE_INTERVALS,
        )
        result["corrector_latents"] = measure_corrector_latents(
            model, scorer, "edm", args.guidance_evaluations
        )
    return result


def measure_wall_time(results, repeats=3):
    """Re-times every solver's runs with time spacing on a quiet machine:
    seconds per image, the median of `repeats` compiled calls of
    `num_samples` images (the study's own timings share the machine with
    its scoring)."""
    for study in results["presets"]:
        model = keras_rin.RINImageGenerator.from_preset(study["preset"])
        labels = np.repeat(np.arange(10), results["num_samples"] // 10)
        sampler = sampling.Sampler(model)
        for row in study["solvers"]:
            if row["spacing"] != "time":
                continue
            options = sampling_options.SamplingOptions(
                sampler=row["sampler"],
                spacing="time",
                num_steps=row["num_steps"],
                guidance_scale=1.0,
                seed=0,
                verbose=0,
            )
            sampler.sample(options, len(labels), labels.astype("int32"))
            seconds = []
            for _ in range(repeats):
                start = time.perf_counter()
                sampler.sample(options, len(labels), labels.astype("int32"))
                seconds.append((time.perf_counter() - start) / len(labels))
            row["seconds_per_image"] = float(np.median(seconds))
            row["timed_alone"] = True


# Rendering.


def write_outputs(results, output):
    for study in results["presets"]:
        # Results written before the recommendation existed get it here.
        reference = study.setdefault("reference", list(REFERENCES[-1]))
        study["recommended"] = recommend(
            study["solvers"], reference_row(study["solvers"], reference)
        )
    os.makedirs(output, exist_ok=True)
    with open(os.path.join(output, "results.json"), "w") as file:
        json.dump(results, file, indent=1)
    with open(os.path.join(output, "results.md"), "w") as file:
        file.write(markdown(results))
    plot(results, os.path.join(output, "quality_vs_nfe.png"))


def markdown(results):
    lines = [
        f"Real training digits vs held-out (floor): Fréchet distance "
        f"{results['real_floor']:.2f}; {results['num_samples']} samples "
        f"per run, seeds {results['seeds']}.",
        "",
    ]
    for study in results["presets"]:
        lines += _solver_table(study) + [""]
        if "guidance" in study:
            lines += _guidance_table(study) + [""]
            lines += _corrector_table(study) + [""]
    return "\n".join(lines)


def _cell(row):
    return (
        f"{row['frechet_distance']:.2f} ± {row['frechet_distance_std']:.2f}"
        f" ({row['accuracy']:.1%})"
    )


def _solver_table(study):
    rows = study["solvers"]
    budgets = sorted({r["budget"] for r in rows if not r["reference"]})
    lines = [
        f"### {study['preset']}: Fréchet distance ± seed std (class "
        "accuracy) against NFE",
        "",
    ]
    for r in rows:
        if r["reference"]:
            lines.append(
                f"- reference {r['sampler']} {r['num_steps']} steps: "
                f"{_cell(r)}, {r['seconds_per_image'] * 1e3:.2f} ms/image"
            )
    lines += [
        "",
        "| sampler | spacing | "
        + " | ".join(f"NFE {n}" for n in budgets)
        + " |",
        "|---|---|" + "---|" * len(budgets),
    ]
    combos = sorted({(r["sampler"], r["spacing"]) for r in rows})
    for sampler, spacing in combos:
        cells = []
        for budget in budgets:
            match = [
                r
                for r in rows
                if r["budget"] == budget
                and (r["sampler"], r["spacing"]) == (sampler, spacing)
            ]
            cells.append(_cell(match[0]) if match else "")
        lines.append(f"| {sampler} | {spacing} | " + " | ".join(cells) + " |")
    alone = all(r.get("timed_alone") for r in rows if r["spacing"] == "time")
    lines += [
        "",
        "Wall time per image (ms; JAX, 2-core CPU, 500 images per call; "
        + (
            "median of 3 calls, timed alone with `--time`):"
            if alone
            else "timed while other work shared the machine):"
        ),
        "",
    ]
    lines += [
        "| sampler (time spacing) | "
        + " | ".join(f"NFE {n}" for n in budgets)
        + " |",
        "|---|" + "---|" * len(budgets),
    ]
    for sampler in SOLVERS:
        cells = [
            f"{r['seconds_per_image'] * 1e3:.2f}"
            for budget in budgets
            for r in rows
            if r["budget"] == budget
            and r["sampler"] == sampler
            and r["spacing"] == "time"
        ]
        if cells:
            lines.append(f"| {sampler} | " + " | ".join(cells) + " |")
    best, chosen = study["best"], study["recommended"]
    match = study["first_to_match_ddpm_100"]
    first = (
        "none"
        if match is None
        else (f"{match['sampler']} ({match['spacing']}) at NFE {match['nfe']}")
    )
    lines += [
        "",
        "Heun takes 2 evaluations per step but the last: at budgets 10, "
        "50 and 100 it runs 9, 49 and 99.",
        "",
        f"- Best at NFE <= 25 (mean Fréchet distance over those budgets): "
        f"{best['sampler']} with {best['spacing']} spacing.",
        f"- Fewest evaluations within DDPM-100's seed spread (mean - std "
        f"<= DDPM-100's mean + std): {first}.",
        f"- Recommended (the preset's default; the fewest evaluations "
        "where more no longer help, within the seed spread): "
        f"{chosen['sampler']}, "
        f"{chosen['spacing']} spacing, {chosen['num_steps']} steps "
        f"({chosen['nfe']} NFE; within DDPM-100's spread: "
        f"{'yes' if chosen['matches_reference'] else 'no'}).",
    ]
    return lines


def _guidance_table(study):
    lines = [
        f"### {study['preset']}: guidance scale {GUIDANCE_SCALE} on an "
        f"interval ({study['best']['sampler']}, "
        f"{study['best']['spacing']})",
        "",
        "| NFE | guidance interval | unconditional latents start | "
        "Fréchet distance (accuracy) | ms/image |",
        "|---|---|---|---|---|",
    ]
    for r in study["guidance"]:
        interval = r["guidance_interval"] or "no guidance"
        lines.append(
            f"| {r['nfe']} | {interval} | {r['unconditional_start']} | "
            f"{_cell(r)} | {r['seconds_per_image'] * 1e3:.2f} |"
        )
    return lines


def _corrector_table(study):
    lines = [
        f"### {study['preset']}: the latents of Heun's corrector (edm)",
        "",
        "| NFE | corrector gets | Fréchet distance (accuracy) |",
        "|---|---|---|",
    ]
    for r in study["corrector_latents"]:
        lines.append(
            f"| {r['nfe']} | {r['corrector_latents']} latents | {_cell(r)} |"
        )
    return lines


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    studies = results["presets"]
    figure, axes = plt.subplots(
        len(studies),
        len(SPACINGS),
        figsize=(4.2 * len(SPACINGS), 3.6 * len(studies)),
        squeeze=False,
        sharey="row",
    )
    for row_axes, study in zip(axes, studies, strict=True):
        for axis, spacing in zip(row_axes, SPACINGS, strict=True):
            _plot_spacing(axis, study, spacing, results["real_floor"])
        row_axes[0].set_ylabel(f"{study['preset']}\nFréchet distance")
    axes[0][-1].legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def _plot_spacing(axis, study, spacing, floor):
    rows = study["solvers"]
    for sampler in SOLVERS:
        points = sorted(
            (r["nfe"], r["frechet_distance"], r["frechet_distance_std"])
            for r in rows
            if not r["reference"]
            and r["sampler"] == sampler
            and r["spacing"] == spacing
        )
        if points:
            nfe, mean, std = map(np.array, zip(*points, strict=True))
            axis.errorbar(nfe, mean, yerr=std, marker="o", ms=3, label=sampler)
    for r in rows:
        if r["reference"]:
            axis.axhline(
                r["frechet_distance"],
                ls="--" if r["num_steps"] == 1000 else ":",
                color="gray",
                label=f"ddpm {r['num_steps']} steps",
            )
    axis.axhline(floor, color="black", lw=0.8, label="real digits")
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xlabel("network evaluations per image")
    axis.set_title(f"{spacing} spacing")


def main(args):
    scorer = Scorer(args.per_class, args.seeds)
    results = {
        "real_floor": scorer.real_floor,
        "num_samples": len(scorer.requested),
        "seeds": list(args.seeds),
        "backend": keras.config.backend(),
        "presets": [],
    }
    for preset in args.presets:
        results["presets"].append(study_preset(preset, scorer, args))
        # Each preset's numbers are kept as soon as they exist.
        write_outputs(results, args.output)
    print(markdown(results))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output", default="sampler_study")
    parser.add_argument("--presets", nargs="+", default=list(PRESETS))
    parser.add_argument("--per-class", type=int, default=SAMPLES_PER_CLASS)
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=list(SAMPLING_SEEDS)
    )
    parser.add_argument(
        "--from-json", action="store_true", help="re-render the outputs"
    )
    parser.add_argument(
        "--smoke", action="store_true", help="a seconds-long run"
    )
    parser.add_argument(
        "--time",
        action="store_true",
        help="re-time the runs of results.json alone, then re-render",
    )
    args = parser.parse_args(argv)
    args.evaluations = EVALUATIONS
    args.references = REFERENCES
    args.guidance_evaluations = GUIDANCE_EVALUATIONS
    args.guidance = True
    if args.smoke:
        args.presets = args.presets[:1]
        args.per_class, args.seeds = 2, [0, 1]
        args.evaluations = (2,)
        args.references = (("ddpm", "time", 4),)
        args.guidance_evaluations = (3,)
    return args


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.from_json or arguments.time:
        with open(os.path.join(arguments.output, "results.json")) as file:
            stored = json.load(file)
        if arguments.time:
            measure_wall_time(stored)
        write_outputs(stored, arguments.output)
    else:
        main(arguments)
