"""The paper's self-conditioning ablation (Figure 7a) at small scale.

The `rin_digits` model (examples/digits.py: same network, data, recipe and
number of updates) is trained with latent self-conditioning rate 0 (no
self-conditioning, in training or sampling) and 0.9 (the paper's rate), for
several seeds each. Every few epochs the EMA weights draw 50 digits of each
class, which are scored with the classifier metrics of
examples/evaluate_digits.py: how often a digit classifier reads the
requested class, and the Fréchet distance in that classifier's last hidden
layer between the samples and the 450 held-out digits (FID with a small
feature extractor).

    KERAS_BACKEND=jax python examples/self_conditioning_ablation.py
    KERAS_BACKEND=jax python examples/self_conditioning_ablation.py \
        --rates 0 --seeds 1 --output runs/ablation   # one run at a time
    python examples/self_conditioning_ablation.py --report-only \
        --output runs/ablation                       # table and plot

Each run writes `<output>/run_rate<r>_seed<s>.json`, so runs can go in
parallel processes; the report (`results.json`, a Markdown table on stdout
and `self_conditioning_ablation.png`) is made from all the run files found
in `<output>`. The plot needs matplotlib.
"""

import argparse
import glob
import json
import os
import time

import keras
import numpy as np
from digits import BACKBONE
from digits import BATCH_SIZE
from digits import EPOCHS
from digits import GENERATOR
from digits import build_optimizer
from evaluate_digits import flatten
from evaluate_digits import hidden_features
from evaluate_digits import real_digits_distance
from evaluate_digits import train_classifier

import keras_rin
from keras_rin.metrics import frechet_distance

# Hyper-parameters.
RATES = (0.0, 0.9)
SEEDS = (0, 1, 2)
EVALUATE_EVERY_EPOCHS = 50
SAMPLES_PER_CLASS = 50
SAMPLING_STEPS = 100
SAMPLING_SEED = 0
# After training, the final EMA weights are also scored with fewer sampling
# steps, where carrying latents from step to step could matter more.
SWEEP_STEPS = (10, 25, 100)
SWEEP_SAMPLERS = ("ddpm", "ddim")


def build_model(rate, seed):
    backbone = keras_rin.RINBackbone(**BACKBONE)
    config = {**GENERATOR, "self_conditioning_rate": rate}
    return keras_rin.RINImageGenerator(backbone, seed=seed, **config)


class SampleQuality(keras.callbacks.Callback):
    """Scores samples of the EMA weights every `every` epochs."""

    def __init__(self, score, every, epochs, steps_per_epoch):
        super().__init__()
        self.score = score
        self.every = every
        self.epochs = epochs
        self.steps_per_epoch = steps_per_epoch
        self.records = []

    def on_epoch_end(self, epoch, logs=None):
        done = epoch + 1
        if done % self.every and done != self.epochs:
            return
        with self.model.ema_weights():
            record = self.score(self.model)
        record.update(
            epoch=done,
            step=done * self.steps_per_epoch,
            loss=float(logs["loss"]),
        )
        self.records.append(record)
        print(
            f"  step {record['step']}: loss {record['loss']:.4f}, accuracy "
            f"{record['accuracy']:.1%}, Fréchet distance "
            f"{record['frechet_distance']:.3f}",
            flush=True,
        )


def make_scorer(classifier, test_images, num_steps, per_class):
    requested = np.repeat(np.arange(10), per_class)
    test_features = hidden_features(classifier, test_images)

    def score(model, num_steps=num_steps, sampler="ddpm"):
        samples = model.generate(
            labels=requested,
            num_steps=num_steps,
            sampler=sampler,
            seed=SAMPLING_SEED,
            verbose=0,
        )
        predicted = classifier.predict(flatten(samples))
        return {
            "accuracy": float(np.mean(predicted == requested)),
            "frechet_distance": frechet_distance(
                hidden_features(classifier, samples), test_features
            ),
        }

    return score


def run(rate, seed, epochs, output, smoke=False):
    keras.utils.set_random_seed(seed)
    images, labels = keras_rin.data.load_digits("train")
    test_images, test_labels = keras_rin.data.load_digits("test")
    classifier = train_classifier(images, labels)
    every, per_class = EVALUATE_EVERY_EPOCHS, SAMPLES_PER_CLASS
    num_steps = SAMPLING_STEPS
    if smoke:
        images, labels, every, per_class, num_steps = (
            images[:128],
            labels[:128],
            1,
            2,
            2,
        )
    model = build_model(rate, seed)
    steps_per_epoch = -(-len(images) // BATCH_SIZE)
    model.compile(optimizer=build_optimizer(epochs * steps_per_epoch))
    score = make_scorer(classifier, test_images, num_steps, per_class)
    quality = SampleQuality(
        score,
        every,
        epochs,
        steps_per_epoch,
    )
    start = time.time()
    model.fit(
        images,
        labels,
        batch_size=BATCH_SIZE,
        epochs=epochs,
        callbacks=[quality],
        verbose=2 if smoke else 0,
    )
    result = {
        "self_conditioning_rate": rate,
        "seed": seed,
        "epochs": epochs,
        "steps": epochs * steps_per_epoch,
        "samples": 10 * per_class,
        "sampling_steps": num_steps,
        "backend": keras.config.backend(),
        "seconds": round(time.time() - start, 1),
        # With rate 0 the zero-initialised scale of the self-conditioning
        # LayerNorm never gets a gradient, so the trained model ignores the
        # latents that sampling passes from step to step: the paper's "no
        # self-conditioning for training nor inference".
        "self_conditioning_scale_max_abs": float(
            np.abs(
                keras.ops.convert_to_numpy(
                    model.backbone.self_conditioning.output_norm.gamma
                )
            ).max()
        ),
        "classifier_test_accuracy": float(
            classifier.score(flatten(test_images), test_labels)
        ),
        "evaluations": quality.records,
        "sampling_sweep": [
            {
                "sampler": sampler,
                "sampling_steps": steps,
                **score(model, steps, sampler),
            }
            for sampler in SWEEP_SAMPLERS
            for steps in (SWEEP_STEPS if not smoke else (2,))
        ],
    }
    os.makedirs(output, exist_ok=True)
    path = os.path.join(output, f"run_rate{rate:g}_seed{seed}.json")
    with open(path, "w") as file:
        json.dump(result, file, indent=2)
    print(f"Wrote {path}")
    return result


def load_runs(output):
    runs = []
    for path in sorted(glob.glob(os.path.join(output, "run_rate*.json"))):
        with open(path) as file:
            runs.append(json.load(file))
    if not runs:
        raise ValueError(
            f"No run files (run_rate*_seed*.json) in `output`={output!r}."
        )
    return runs


def summarise(runs):
    """Mean and standard deviation over seeds of the last evaluation."""
    summary = {}
    for rate in sorted({run["self_conditioning_rate"] for run in runs}):
        finals = [
            run["evaluations"][-1]
            for run in runs
            if run["self_conditioning_rate"] == rate
        ]
        summary[f"{rate:g}"] = {
            "seeds": len(finals),
            "steps": finals[0]["step"],
            **{
                f"{key}_{stat}": float(fn([f[key] for f in finals]))
                for key in ("accuracy", "frechet_distance", "loss")
                for stat, fn in (("mean", np.mean), ("std", np.std))
            },
        }
    return summary


def summarise_sweep(runs):
    """Mean and standard deviation over seeds of the final weights' scores
    per sampler and number of sampling steps."""
    rows = {}
    for run in runs:
        for entry in run.get("sampling_sweep", []):
            key = (
                f"{run['self_conditioning_rate']:g}",
                entry["sampler"],
                entry["sampling_steps"],
            )
            rows.setdefault(key, []).append(entry)
    return [
        {
            "self_conditioning_rate": rate,
            "sampler": sampler,
            "sampling_steps": steps,
            "seeds": len(entries),
            **{
                f"{key}_{stat}": float(fn([e[key] for e in entries]))
                for key in ("accuracy", "frechet_distance")
                for stat, fn in (("mean", np.mean), ("std", np.std))
            },
        }
        for (rate, sampler, steps), entries in sorted(rows.items())
    ]


def print_sweep(sweep):
    print("\n| sampler | sampling steps | rate | accuracy | "
          "Fréchet distance |")  # fmt: skip
    print("|---|---|---|---|---|")
    order = sorted(sweep, key=lambda r: (r["sampler"], r["sampling_steps"]))
    for r in order:
        print(
            f"| {r['sampler']} | {r['sampling_steps']} | "
            f"{r['self_conditioning_rate']} | {r['accuracy_mean']:.1%} ± "
            f"{r['accuracy_std']:.1%} | {r['frechet_distance_mean']:.2f} ± "
            f"{r['frechet_distance_std']:.2f} |"
        )


def print_table(summary):
    print("\n| self-conditioning rate | seeds | steps | accuracy | "
          "Fréchet distance | final training loss |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for rate, s in summary.items():
        print(
            f"| {rate} | {s['seeds']} | {s['steps']} | "
            f"{s['accuracy_mean']:.1%} ± {s['accuracy_std']:.1%} | "
            f"{s['frechet_distance_mean']:.2f} ± "
            f"{s['frechet_distance_std']:.2f} | "
            f"{s['loss_mean']:.4f} ± {s['loss_std']:.4f} |"
        )


def real_data_floor(per_class=SAMPLES_PER_CLASS):
    """What real digits score: the Fréchet distance of as many real
    training digits as there are samples, and the classifier's accuracy on
    the held-out digits (a perfect generator reaches these, not 0 and 1)."""
    images, labels = keras_rin.data.load_digits("train")
    test_images, test_labels = keras_rin.data.load_digits("test")
    classifier = train_classifier(images, labels)
    test_features = hidden_features(classifier, test_images)
    return {
        "frechet_distance": real_digits_distance(
            classifier, images, test_features, 10 * per_class
        ),
        "accuracy": float(classifier.score(flatten(test_images), test_labels)),
    }


def plot(runs, floor, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    colours = {0.0: "tab:red", 0.9: "tab:blue"}
    keys = ("frechet_distance", "accuracy")
    for run in runs:
        rate = run["self_conditioning_rate"]
        steps = [e["step"] for e in run["evaluations"]]
        for axis, key in zip(axes, keys, strict=True):
            axis.plot(
                steps,
                [e[key] for e in run["evaluations"]],
                color=colours.get(rate, "tab:gray"),
                alpha=0.7,
                marker=".",
                label=f"self-conditioning rate {rate:g}"
                if run["seed"] == min(r["seed"] for r in runs)
                else None,
            )
    for axis, key in zip(axes, keys, strict=True):
        axis.axhline(
            floor[key], color="black", linestyle="--", linewidth=1,
            label="real digits",
        )  # fmt: skip
        axis.set_xlabel("training step")
        axis.grid(alpha=0.3)
        axis.legend()
    axes[0].set_title(
        "Fréchet distance in classifier features (lower is better)"
    )
    axes[0].set_yscale("log")
    axes[1].set_title("classifier accuracy on samples (higher is better)")
    figure.suptitle(
        "Self-conditioning ablation on 8x8 digits: the rin_digits model, "
        "one line per seed"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def report(output):
    runs = load_runs(output)
    summary = summarise(runs)
    sweep = summarise_sweep(runs)
    floor = real_data_floor()
    with open(os.path.join(output, "results.json"), "w") as file:
        json.dump(
            {
                "summary": summary,
                "real_data": floor,
                "sampling_sweep": sweep,
                "runs": runs,
            },
            file,
            indent=2,
        )
    print_table(summary)
    print(
        f"| real digits | | | {floor['accuracy']:.1%} | "
        f"{floor['frechet_distance']:.2f} | |"
    )
    print_sweep(sweep)
    path = os.path.join(output, "self_conditioning_ablation.png")
    plot(runs, floor, path)
    print(f"\nWrote {output}/results.json and {path}")
    return summary


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rates", type=float, nargs="+", default=RATES)
    parser.add_argument("--seeds", type=int, nargs="+", default=SEEDS)
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--output", default="self_conditioning_ablation")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument(
        "--smoke", action="store_true", help="a tiny run, for testing"
    )
    args = parser.parse_args()
    if not args.report_only:
        for rate in args.rates:
            for seed in args.seeds:
                print(f"Self-conditioning rate {rate:g}, seed {seed}")
                run(rate, seed, args.epochs, args.output, args.smoke)
    report(args.output)
