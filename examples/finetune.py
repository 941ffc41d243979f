"""Fine-tuning `rin_digits` to a new domain: LoRA, full fine-tuning and
training from scratch at the same number of updates.

The new domain is the digits of `rin_digits` rotated by 90 degrees (the
same 1,347 training and 450 held-out digits, the same labels), which the
preset has never seen. Each method trains the `rin_digits` network for the
same number of updates at the same batch size:

- LoRA (`model.backbone.enable_lora(rank)`) of ranks 1, 4 and 16 on the
  attention and MLP projections, and of rank 4 on every projection
  (`targets` also "embeddings" and "readout"); every other weight frozen;
- full fine-tuning of every weight of `rin_digits`;
- training from scratch: the `rin_digits` network freshly initialised.

The base preset without any update is scored too. Each run reports its
trainable parameters, its wall and processor time, and how good its
digits are on the new domain as the model cards measure it
(examples/evaluate_digits.py), with a digit classifier trained on the
rotated training digits: how often it reads the requested class, and the
Fréchet distance in its last hidden layer between the generated digits
and the rotated held-out digits, next to the floor of real rotated
digits. LoRA runs also report the size of a LoRA-only preset against a
merged one.

    KERAS_BACKEND=jax python examples/finetune.py --output-dir docs/finetune
    KERAS_BACKEND=jax python examples/finetune.py --steps 200 --ranks 4 \
        --methods base lora full --per-class 10 --output-dir /tmp/finetune

Outputs in `--output-dir`: `results.json`, `results.md` (the table) and
`samples.png` (one row per method, real rotated digits first).
"""

import argparse
import json
import os
import tempfile
import time

import keras
import numpy as np
from digits import build_model
from evaluate_digits import flatten
from evaluate_digits import hidden_features
from evaluate_digits import real_digits_distance
from evaluate_digits import train_classifier

import keras_rin
from keras_rin.metrics import frechet_distance
from keras_rin.models import lora
from keras_rin.visualization import save_image_grid

# Hyper-parameters.
PRESET = "rin_digits"
STEPS = 1000
BATCH_SIZE = 64
RANKS = (1, 4, 16)
ALL_TARGETS_RANK = 4
METHODS = ("base", "lora", "lora_all", "full", "scratch")
# Peak learning rates (warm-up and cosine decay of the preset's recipe).
# Scratch takes the recipe's; full fine-tuning half of it, as it starts
# from trained weights; LoRA more, as its `B` starts at zero and its
# updates are low-rank.
LEARNING_RATES = {"lora": 5e-3, "lora_all": 5e-3, "full": 1e-3, "scratch": 2e-3}
# The recipe's EMA of 0.999 averages over about 1,000 updates: after a
# run of 1,000 the weights of the first update would still weigh 37%
# (0.999 ** 1000). 0.99 averages over about the last 100.
EMA_MOMENTUM = 0.99
PER_CLASS = 50
SHOWN_PER_CLASS = 2
SEED = 0


def rotate(images):
    """The new domain: digits turned by 90 degrees counter-clockwise."""
    return np.ascontiguousarray(np.rot90(images, k=1, axes=(1, 2)))


class Domain:
    """The rotated digits and the classifier that scores samples of them."""

    def __init__(self, per_class, sampling):
        # The preset's default sampler, for every model alike (a model
        # built from scratch would otherwise take the library's default).
        self.sampling = sampling
        images, labels = keras_rin.data.load_digits("train")
        test_images, test_labels = keras_rin.data.load_digits("test")
        self.images, self.labels = rotate(images), labels
        test_images = rotate(test_images)
        self.classifier = train_classifier(self.images, labels)
        self.classifier_accuracy = float(
            self.classifier.score(flatten(test_images), test_labels)
        )
        self.test_features = hidden_features(self.classifier, test_images)
        self.requested = np.repeat(np.arange(10), per_class).astype("int32")
        self.floor = real_digits_distance(
            self.classifier,
            self.images,
            self.test_features,
            len(self.requested),
        )

    def score(self, model):
        """Accuracy and Fréchet distance of samples of the preset's default
        sampler, and the samples."""
        samples = model.generate(
            labels=self.requested, seed=SEED, verbose=0, **self.sampling
        )
        predicted = self.classifier.predict(flatten(samples))
        distance = frechet_distance(
            hidden_features(self.classifier, samples), self.test_features
        )
        return {
            "accuracy": float(np.mean(predicted == self.requested)),
            "frechet_distance": float(distance),
        }, samples


def method_list(methods, ranks):
    """`(name, kind, rank, targets)` of each run, in the table's order."""
    runs = []
    for kind in methods:
        if kind == "lora":
            runs += [
                (f"LoRA r={r}", kind, r, lora.DEFAULT_LORA_TARGETS)
                for r in ranks
            ]
        elif kind == "lora_all":
            name = f"LoRA r={ALL_TARGETS_RANK}, all targets"
            runs.append((name, kind, ALL_TARGETS_RANK, lora.LORA_TARGETS))
        else:
            runs.append((kind, kind, None, None))
    return runs


def build(kind, rank, targets):
    """The model of a method, ready to compile."""
    # The initial weights (from scratch, and LoRA's `A`) are reproducible.
    keras.utils.set_random_seed(SEED)
    if kind == "scratch":
        return build_model(seed=SEED)
    model = keras_rin.RINImageGenerator.from_preset(PRESET)
    if kind.startswith("lora"):
        model.backbone.enable_lora(rank, targets=list(targets))
    return model


def batches(domain, steps, batch_size):
    """`steps` full batches: shuffled epochs end to end, so that every run
    makes exactly `steps` updates on the same data in the same order."""
    rng = np.random.default_rng(SEED)
    count = len(domain.images)
    epochs = -(-steps * batch_size // count)
    order = np.concatenate([rng.permutation(count) for _ in range(epochs)])
    order = order[: steps * batch_size]
    return domain.images[order], domain.labels[order]


class Timer(keras.callbacks.Callback):
    """Wall time of `fit` and of its first step (tracing and compiling,
    then one update), the processor time of the other steps (all threads:
    less sensitive than wall time to other processes on the machine), and
    the running-mean losses of every step."""

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()
        self.first = None
        self.losses = []

    def on_train_batch_end(self, batch, logs=None):
        # Only the first step waits for its result: the others stay
        # asynchronous, as in a `fit` without callbacks.
        if self.first is None:
            self.losses.append(float(logs["loss"]))
            self.first = time.perf_counter()
            self.first_cpu = time.process_time()
        else:
            self.losses.append(logs["loss"])

    def on_train_end(self, logs=None):
        self.losses = [float(loss) for loss in self.losses]
        self.end = time.perf_counter()
        self.end_cpu = time.process_time()

    def summary(self):
        # Keras logs the mean loss since the epoch began; the mean of the
        # last tenth of the updates follows from two of those means.
        total = len(self.losses)
        tail = max(1, total // 10)
        head = total - tail
        before = self.losses[head - 1] * head if head else 0.0
        return {
            "seconds_total": round(self.end - self.start, 2),
            "seconds_first_step": round(self.first - self.start, 2),
            "seconds_training": round(self.end - self.first, 2),
            "cpu_seconds_training": round(self.end_cpu - self.first_cpu, 2),
            "loss_last_tenth": (self.losses[-1] * total - before) / tail,
            # Other processes share the machine's cores: its load average
            # over the last minute when the run ended.
            "load_average": round(os.getloadavg()[0], 2),
        }


def train(model, kind, data, steps, batch_size, run_eagerly=False):
    recipe = keras_rin.training.TrainingRecipe.from_preset(PRESET)
    recipe = recipe.replace(
        learning_rate=LEARNING_RATES[kind], ema_momentum=EMA_MOMENTUM
    )
    model.compile(
        optimizer=recipe.build_optimizer(steps), run_eagerly=run_eagerly
    )
    timer = Timer()
    images, labels = data
    model.fit(
        images,
        labels,
        batch_size=batch_size,
        epochs=1,
        shuffle=False,
        callbacks=[timer],
        verbose=0,
    )
    return timer.summary()


def frozen_values(model):
    """Every backbone weight that LoRA must leave as it is."""
    trained = {id(v) for v in lora.lora_weights(model)}
    return [
        keras.ops.convert_to_numpy(v)
        for v in model.backbone.weights
        if id(v) not in trained
    ]


def max_change(before, after):
    return float(
        max(np.abs(a - b).max() for a, b in zip(before, after, strict=True))
    )


def preset_sizes(model):
    """Bytes on disk of the model saved merged and, with LoRA, alone."""
    sizes = {}
    with tempfile.TemporaryDirectory() as directory:
        for key, lora_only in (("merged", False), ("lora_only", True)):
            if lora_only and model.backbone.lora_config is None:
                continue
            path = os.path.join(directory, key)
            model.save_to_preset(path, lora_only=lora_only)
            sizes[f"preset_bytes_{key}"] = sum(
                os.path.getsize(os.path.join(path, name))
                for name in os.listdir(path)
            )
    return sizes


def run_method(method, domain, data, args):
    name, kind, rank, targets = method
    print(f"{name}:", flush=True)
    model = build(kind, rank, targets)
    record = {
        "method": name,
        "kind": kind,
        "rank": rank,
        "targets": list(targets) if targets else None,
        "trainable_params": int(
            sum(np.prod(v.shape) for v in model.trainable_weights)
        ),
        "total_params": lora.count_base_params(model),
    }
    if kind != "base":
        before = frozen_values(model) if rank else None
        record["learning_rate"] = LEARNING_RATES[kind]
        record["updates"] = args.steps
        record.update(
            train(
                model, kind, data, args.steps, args.batch_size, args.run_eagerly
            )
        )
        if rank:
            after = frozen_values(model)
            record["frozen_weights_max_change"] = max_change(before, after)
    scores, samples = domain.score(model)
    record.update(scores)
    record.update(preset_sizes(model))
    print(f"  {json.dumps(record)}", flush=True)
    return record, samples


def sample_grid(domain, samples_by_method, path):
    """One row per method (the real rotated digits first), `SHOWN_PER_CLASS`
    digits of each class."""
    shown = min(SHOWN_PER_CLASS, len(domain.requested) // 10)
    real = [domain.images[domain.labels == c][:shown] for c in range(10)]
    rows = [np.concatenate(real)]
    for samples in samples_by_method:
        picks = [samples[domain.requested == c][:shown] for c in range(10)]
        rows.append(np.concatenate(picks))
    grid = np.concatenate(rows)
    save_image_grid(grid, path, num_columns=10 * shown, upscale=4)


def markdown(results):
    lines = [
        f"{results['samples']} samples ({results['sampling']['sampler']}, "
        f"{results['sampling']['num_steps']} steps) per method; "
        f"{results['updates']} updates of batch {results['batch_size']}; "
        f"{results['backend']} on {results['machine']}.",
        "",
        "| method | trainable params | LR | wall s (first step) | CPU s | "
        "accuracy | Fréchet distance | loss | preset size |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results["methods"]:
        lines.append(_row(r))
    lines.append(
        f"| real rotated digits (floor) | | | | | "
        f"{results['classifier_test_accuracy']:.1%} | "
        f"{results['real_floor_frechet_distance']:.2f} | | |"
    )
    return "\n".join(lines) + "\n"


def _row(r):
    seconds, trainable = "0 | 0", "none"
    if "seconds_training" in r:
        trainable = f"{r['trainable_params']:,}"
        seconds = (
            f"{r['seconds_training']:.0f} ({r['seconds_first_step']:.0f}) | "
            f"{r['cpu_seconds_training']:.0f}"
        )
    size = f"{r['preset_bytes_merged'] / 2**10:.0f} KiB"
    if "preset_bytes_lora_only" in r:
        size += f" merged, {r['preset_bytes_lora_only'] / 2**10:.0f} KiB LoRA"
    loss = f"{r['loss_last_tenth']:.3f}" if "loss_last_tenth" in r else ""
    lr = f"{r['learning_rate']:g}" if "learning_rate" in r else ""
    return (
        f"| {r['method']} | {trainable} | {lr} | {seconds} | "
        f"{r['accuracy']:.1%} | {r['frechet_distance']:.2f} | {loss} | "
        f"{size} |"
    )


def main(args):
    start = time.perf_counter()
    base = keras_rin.RINImageGenerator.from_preset(PRESET)
    sampling = dict(
        sampler=base.sampler,
        num_steps=base.num_sampling_steps,
        spacing=base.sampling_spacing,
        guidance_scale=base.guidance_scale,
    )
    domain = Domain(args.per_class, sampling)
    data = batches(domain, args.steps, args.batch_size)
    results = {
        "domain": "rin_digits' digits rotated by 90 degrees "
        "(np.rot90(images, k=1, axes=(1, 2)))",
        "preset": PRESET,
        "updates": args.steps,
        "batch_size": args.batch_size,
        "ema_momentum": EMA_MOMENTUM,
        "samples": len(domain.requested),
        "sampling": sampling,
        "backend": keras.config.backend(),
        "machine": args.machine,
        "classifier_test_accuracy": domain.classifier_accuracy,
        "real_floor_frechet_distance": float(domain.floor),
        "methods": [],
    }
    all_samples = []
    for method in method_list(args.methods, args.ranks):
        record, samples = run_method(method, domain, data, args)
        results["methods"].append(record)
        all_samples.append(samples)
    results["study_seconds"] = round(time.perf_counter() - start, 1)
    write_outputs(results, domain, all_samples, args.output_dir)
    return results


def write_outputs(results, domain, all_samples, output_dir):
    os.makedirs(output_dir, exist_ok=True)
    with open(os.path.join(output_dir, "results.json"), "w") as file:
        json.dump(results, file, indent=2)
    table = markdown(results)
    with open(os.path.join(output_dir, "results.md"), "w") as file:
        file.write(table)
    sample_grid(domain, all_samples, os.path.join(output_dir, "samples.png"))
    print(table)
    print(f"Wrote {output_dir}/results.json, results.md and samples.png")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE)
    parser.add_argument("--ranks", type=int, nargs="+", default=RANKS)
    parser.add_argument("--per-class", type=int, default=PER_CLASS)
    parser.add_argument(
        "--methods", nargs="+", choices=METHODS, default=METHODS
    )
    parser.add_argument("--output-dir", default="finetune")
    parser.add_argument(
        "--machine", default="a CPU", help="described in the table"
    )
    parser.add_argument(
        "--run-eagerly",
        action="store_true",
        help="train without tracing or compiling (quick tests)",
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    main(parse_args())
