import os

import keras
import numpy as np

from keras_rin.callbacks.epoch_schedule import is_due
from keras_rin.utils import validation
from keras_rin.visualization.image_grid import save_image_grid


class SampleGrid(keras.callbacks.Callback):
    """Saves a PNG grid of a `RINImageGenerator`'s samples, from the EMA
    weights, every few epochs.

    Long runs are judged by looking at samples. The callback samples with
    the same seed every time (so that successive grids differ only by
    training), from the EMA of the weights when the optimizer keeps one
    (the weights that are saved and evaluated), and puts the raw weights
    back before training continues. Under JAX it synchronises the training
    state first, so the samples come from the newest weights.

    Args:
        path: str, where to write the PNG; `{epoch}` is replaced by the
            1-based epoch number (e.g. `"samples/epoch_{epoch:04d}.png"`),
            and a path without it is overwritten each time.
        every_n_epochs: int, sample after every n-th epoch (and after the
            last one).
        num_images: int or None, the number of images for an unconditional
            model (defaults to 16).
        labels: sequence of ints or None, one label per image for a
            class-conditional model (defaults to 10 classes x a row each,
            or every class once when there are more than 10).
        num_steps: int, sampling steps.
        sampler: `"ddpm"` or `"ddim"`.
        seed: int, the sampling seed.
        num_columns: int or None, images per row of the grid.
        upscale: int, nearest-neighbour magnification of small images.
        verbose: 0 or 1, print the path of each grid.

    Example:
    ```python
    callback = keras_rin.callbacks.SampleGrid(
        "samples/epoch_{epoch:03d}.png", every_n_epochs=5, num_steps=100
    )
    model.fit(dataset, epochs=50, callbacks=[callback])
    ```
    """

    def __init__(
        self,
        path,
        every_n_epochs=1,
        num_images=None,
        labels=None,
        num_steps=100,
        sampler="ddpm",
        seed=0,
        num_columns=None,
        upscale=1,
        verbose=1,
    ):
        super().__init__()
        validation.check_positive_int("every_n_epochs", every_n_epochs)
        validation.check_positive_int("num_steps", num_steps)
        self.path = os.fspath(path)
        self.every_n_epochs = every_n_epochs
        self.num_images = num_images
        self.labels = labels
        self.num_steps = num_steps
        self.sampler = sampler
        self.seed = seed
        self.num_columns = num_columns
        self.upscale = upscale
        self.verbose = verbose
        self.last_path = None

    def on_train_begin(self, logs=None):
        if hasattr(self.model, "num_context_frames"):
            raise ValueError(
                "`SampleGrid` samples images from a `RINImageGenerator`; "
                f"received a {type(self.model).__name__}. For a video "
                "predictor, save predictions with "
                "`keras_rin.visualization.save_video_gif` in a callback."
            )

    def on_epoch_end(self, epoch, logs=None):
        if not is_due(self, epoch, logs):
            return
        with self.model.ema_weights():
            images = self.model.generate(
                **self._what_to_sample(),
                num_steps=self.num_steps,
                sampler=self.sampler,
                seed=self.seed,
                verbose=0,
            )
        self.last_path = self.path.format(epoch=epoch + 1)
        directory = os.path.dirname(self.last_path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        save_image_grid(
            images, self.last_path, self.num_columns, upscale=self.upscale
        )
        if self.verbose:
            print(f"\nEpoch {epoch + 1}: saved samples to {self.last_path}")

    def _what_to_sample(self):
        num_classes = self.model.num_classes
        if not num_classes:
            return {"num_images": self.num_images or 16}
        labels = self.labels
        if labels is None:
            per_class = 10 if num_classes <= 10 else 1
            labels = np.repeat(np.arange(min(num_classes, 100)), per_class)
        return {"labels": labels}
