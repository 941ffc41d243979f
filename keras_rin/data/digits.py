import numpy as np

# The split is fixed so that the shipped `rin_digits` preset, its evaluation
# and anyone retraining it agree on which digits were held out.
_HELD_OUT_FRACTION = 0.25
_SPLIT_SEED = 0
SPLITS = ("train", "test", "all")


def load_digits(split="train"):
    """scikit-learn's handwritten digits (8x8, 10 classes), as images in
    [0, 1].

    The 1,797 digits ship inside the scikit-learn wheel, so this works
    offline. They are split once, stratified by class, into 1,347 training
    and 450 held-out digits (seed 0).

    Args:
        split: `"train"`, `"test"` (the held-out quarter) or `"all"`.

    Returns:
        `(images, labels)`: float32 `(n, 8, 8, 1)` in [0, 1] and int32
        `(n,)` in [0, 10).

    Example:
    ```python
    images, labels = keras_rin.data.load_digits("train")
    ```
    """
    if split not in SPLITS:
        raise ValueError(
            f"`split` must be one of {SPLITS}. Received: split={split!r}"
        )
    try:
        from sklearn import datasets
    except ImportError as error:
        raise ImportError(
            "`load_digits` needs scikit-learn: pip install scikit-learn"
        ) from error
    digits = datasets.load_digits()
    # Pixels are integers 0..16.
    images = (digits.images / 16.0).astype("float32")[..., None]
    labels = digits.target.astype("int32")
    if split == "all":
        return images, labels
    is_held_out = _held_out_mask(labels)
    keep = is_held_out if split == "test" else ~is_held_out
    return images[keep], labels[keep]


def _held_out_mask(labels):
    rng = np.random.default_rng(_SPLIT_SEED)
    mask = np.zeros(len(labels), dtype=bool)
    for label in np.unique(labels):
        (indices,) = np.nonzero(labels == label)
        count = int(round(_HELD_OUT_FRACTION * len(indices)))
        mask[rng.choice(indices, count, replace=False)] = True
    return mask
