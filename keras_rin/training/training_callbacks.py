import os

import keras

from keras_rin import callbacks as rin_callbacks


def training_callbacks(
    run_dir,
    sample_every_n_epochs=1,
    checkpoint_every_n_epochs=1,
    sample_kwargs=None,
    tensorboard=False,
    description=None,
):
    """The callbacks of a long training run, in the order they must run.

    - `keras_rin.callbacks.BackupAndRestore` in `<run_dir>/backup`: start an
      interrupted run again with the same command and it resumes from the
      last epoch with the optimizer, EMA, step counter and seed states;
    - `keras.callbacks.TerminateOnNaN`;
    - `keras_rin.callbacks.PresetCheckpoint`: the EMA weights as a preset
      in `<run_dir>/checkpoint`;
    - `keras_rin.callbacks.SampleGrid`: a PNG of samples from the EMA
      weights in `<run_dir>/samples/epoch_NNNN.png`;
    - optionally `keras.callbacks.TensorBoard` in `<run_dir>/logs`.

    Keras' progress bar is added by `fit` itself.

    Args:
        run_dir: str, the directory of the run.
        sample_every_n_epochs: int or None, how often to sample (None:
            never; use None for a `RINVideoPredictor`).
        checkpoint_every_n_epochs: int, how often to save the preset.
        sample_kwargs: dict or None, extra arguments of `SampleGrid`
            (`num_steps`, `labels`, `upscale`, ...).
        tensorboard: bool, also write TensorBoard logs.
        description: str or None, the checkpoint preset's description.

    Example:
    ```python
    model.fit(
        dataset,
        epochs=150,
        steps_per_epoch=1000,
        callbacks=keras_rin.training.training_callbacks("runs/cifar10"),
    )
    ```
    """
    run_dir = os.fspath(run_dir)
    callbacks = [
        rin_callbacks.BackupAndRestore(os.path.join(run_dir, "backup")),
        keras.callbacks.TerminateOnNaN(),
        rin_callbacks.PresetCheckpoint(
            os.path.join(run_dir, "checkpoint"),
            every_n_epochs=checkpoint_every_n_epochs,
            description=description,
        ),
    ]
    if sample_every_n_epochs:
        callbacks.append(
            rin_callbacks.SampleGrid(
                os.path.join(run_dir, "samples", "epoch_{epoch:04d}.png"),
                every_n_epochs=sample_every_n_epochs,
                **(sample_kwargs or {}),
            )
        )
    if tensorboard:
        callbacks.append(
            keras.callbacks.TensorBoard(os.path.join(run_dir, "logs"))
        )
    return callbacks
