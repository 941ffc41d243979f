"""Evaluate a digits RIN (by default the shipped `rin_digits` preset) the
way its model card reports it.

1. Train a digit classifier (scikit-learn's MLP) on the training split and
   check it on the held-out split.
2. Generate `--per-class` digits of every class and report how often the
   classifier recognises the requested class (overall and per class).
3. Report the Fréchet distance, in the classifier's last hidden layer,
   between the generated digits and the held-out real digits, next to the
   same distance between an equally large sample of real training digits
   and the held-out digits (the floor a perfect generator would reach).

    KERAS_BACKEND=jax python examples/evaluate_digits.py
    KERAS_BACKEND=jax python examples/evaluate_digits.py --preset my_digits \
        --guidance-scale 2 --output results.json

It prints a Markdown table and writes the numbers as JSON and the samples as
a PNG grid (one row per class).
"""

import argparse
import json

import numpy as np
from sklearn.neural_network import MLPClassifier

import keras_rin
from keras_rin.metrics import frechet_distance
from keras_rin.visualization import save_image_grid

# Hyper-parameters.
PER_CLASS = 50
CLASSIFIER_HIDDEN_UNITS = (256, 128)
SEED = 0


def train_classifier(images, labels):
    classifier = MLPClassifier(
        hidden_layer_sizes=CLASSIFIER_HIDDEN_UNITS,
        max_iter=500,
        random_state=SEED,
    )
    return classifier.fit(flatten(images), labels)


def flatten(images):
    return np.asarray(images, dtype="float64").reshape(len(images), -1)


def hidden_features(classifier, images):
    """Activations of the classifier's last hidden layer."""
    features = flatten(images)
    weights = classifier.coefs_[:-1]
    biases = classifier.intercepts_[:-1]
    for weight, bias in zip(weights, biases, strict=True):
        features = np.maximum(features @ weight + bias, 0.0)
    return features


def real_digits_distance(classifier, train_images, test_features, count):
    """The Fréchet distance of `count` real training digits to the held-out
    ones: the floor a perfect generator would reach. Compare it with
    samples of the same `count`, since the distance is biased upwards for
    small samples."""
    rng = np.random.default_rng(SEED)
    real = train_images[rng.choice(len(train_images), count, replace=False)]
    return frechet_distance(hidden_features(classifier, real), test_features)


def evaluate(
    preset="rin_digits",
    per_class=PER_CLASS,
    num_steps=None,
    sampler=None,
    guidance_scale=None,
    samples_path="evaluate_digits.png",
):
    train_images, train_labels = keras_rin.data.load_digits("train")
    test_images, test_labels = keras_rin.data.load_digits("test")
    classifier = train_classifier(train_images, train_labels)
    classifier_accuracy = classifier.score(flatten(test_images), test_labels)

    model = keras_rin.RINImageGenerator.from_preset(preset)
    if guidance_scale is None:
        guidance_scale = model.guidance_scale
    sampler = sampler or model.sampler
    num_steps = num_steps or model.num_sampling_steps
    requested = np.repeat(np.arange(10), per_class)
    samples = model.generate(
        labels=requested,
        num_steps=num_steps,
        sampler=sampler,
        guidance_scale=guidance_scale,
        seed=SEED,
    )
    save_image_grid(samples, samples_path, num_columns=per_class, upscale=4)
    predicted = classifier.predict(flatten(samples))
    correct = predicted == requested
    per_class_accuracy = [
        float(correct[requested == c].mean()) for c in range(10)
    ]

    test_features = hidden_features(classifier, test_images)
    return {
        "preset": preset,
        "sampler": sampler,
        "num_steps": num_steps,
        "guidance_scale": guidance_scale,
        "num_samples": len(samples),
        "classifier_test_accuracy": float(classifier_accuracy),
        "sample_accuracy": float(correct.mean()),
        "sample_accuracy_per_class": per_class_accuracy,
        "frechet_distance_samples_vs_test": frechet_distance(
            hidden_features(classifier, samples), test_features
        ),
        "frechet_distance_train_vs_test": real_digits_distance(
            classifier, train_images, test_features, len(samples)
        ),
    }


def print_table(results):
    rows = [
        ("classifier accuracy on held-out real digits",
         f"{results['classifier_test_accuracy']:.1%}"),
        ("classifier accuracy on generated digits (requested class)",
         f"{results['sample_accuracy']:.1%}"),
        ("Fréchet distance, generated vs held-out",
         f"{results['frechet_distance_samples_vs_test']:.2f}"),
        ("Fréchet distance, real training vs held-out",
         f"{results['frechet_distance_train_vs_test']:.2f}"),
    ]  # fmt: skip
    print(
        f"\n{results['num_samples']} samples, {results['sampler']} "
        f"{results['num_steps']} steps, guidance "
        f"{results['guidance_scale']}\n"
    )
    print("| metric | value |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    per_class = " ".join(
        f"{c}:{a:.0%}"
        for c, a in enumerate(results["sample_accuracy_per_class"])
    )
    print(f"\nper class: {per_class}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="rin_digits")
    parser.add_argument("--per-class", type=int, default=PER_CLASS)
    parser.add_argument(
        "--steps", type=int, help="sampling steps (default: the preset's)"
    )
    parser.add_argument(
        "--sampler",
        choices=keras_rin.diffusion.samplers.SAMPLERS,
        help="the solver (default: the preset's)",
    )
    parser.add_argument(
        "--guidance-scale",
        type=float,
        help="classifier-free guidance weight (default: the preset's)",
    )
    parser.add_argument("--samples", default="evaluate_digits.png")
    parser.add_argument("--output", default="evaluate_digits.json")
    args = parser.parse_args()
    results = evaluate(
        args.preset,
        args.per_class,
        args.steps,
        args.sampler,
        args.guidance_scale,
        args.samples,
    )
    print_table(results)
    with open(args.output, "w") as file:
        json.dump(results, file, indent=2)
    print(f"\nWrote {args.output} and {args.samples}")
