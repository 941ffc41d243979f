"""Editing digits with a trained RIN: SDEdit and inpainting.

Any trained image model edits images through `generate`:

- `init_images=..., strength=s` noises the images to time `s` and denoises
  from there (SDEdit, Meng et al. 2022). With labels, a 3 can be redrawn as
  an 8: the smaller `s`, the more of the 3 survives.
- `init_images=..., mask=...` keeps the pixels outside the mask and draws
  the rest (RePaint, Lugmayr et al. 2022): at every step the known pixels
  are replaced by the image noised to that step.

    KERAS_BACKEND=jax python examples/editing.py --output docs/sampling

It writes `editing.png`: for held-out digits, the original, its SDEdit into
the next class at three strengths, and the lower half inpainted as its own
class and as the next one.
"""

import argparse
import os

import numpy as np

import keras_rin
from keras_rin.visualization import save_image_grid

# Hyper-parameters.
STRENGTHS = (0.4, 0.6, 0.8)
CLASSES = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9)
SEED = 0


def held_out_digit_per_class(classes):
    """The first held-out digit of each class, float32 in [0, 1]."""
    images, labels = keras_rin.data.load_digits("test")
    return np.stack([images[np.argmax(labels == c)] for c in classes])


def lower_half_mask(image_shape):
    """True on the lower half: the part the model draws."""
    height, width, _ = image_shape
    mask = np.zeros((height, width), bool)
    mask[height // 2 :] = True
    return mask


def edit(model, originals, classes):
    """Rows of the figure, one per digit: original, SDEdit at each
    strength into the next class, inpainting as the same and the next
    class."""
    targets = (np.asarray(classes) + 1) % 10
    columns = [originals]
    for strength in STRENGTHS:
        # Editing toward the next class: the lower the strength, the more
        # of the original survives.
        columns.append(
            model.generate(
                labels=targets,
                init_images=originals,
                strength=strength,
                seed=SEED,
                verbose=0,
            )
        )
    mask = lower_half_mask(originals.shape[1:])
    for labels in (np.asarray(classes), targets):
        columns.append(
            model.generate(
                labels=labels,
                init_images=originals,
                mask=mask,
                seed=SEED,
                verbose=0,
            )
        )
    # (digits, columns, h, w, c) -> one grid row per digit.
    return np.stack(columns, axis=1).reshape((-1,) + originals.shape[1:])


def main(preset="rin_digits", output=".", classes=CLASSES):
    model = keras_rin.RINImageGenerator.from_preset(preset)
    originals = held_out_digit_per_class(classes)
    grid = edit(model, originals, classes)
    os.makedirs(output, exist_ok=True)
    path = os.path.join(output, "editing.png")
    save_image_grid(grid, path, num_columns=len(STRENGTHS) + 3, upscale=6)
    print(
        f"Wrote {path}: per row, a held-out digit; SDEdit into the next "
        f"class at strengths {STRENGTHS}; its lower half inpainted as the "
        "same class and as the next."
    )
    return grid


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="rin_digits")
    parser.add_argument("--output", default=".")
    args = parser.parse_args()
    main(args.preset, args.output)
