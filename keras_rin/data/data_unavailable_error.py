class DataUnavailableError(ValueError):
    """A data set is neither on disk nor obtainable here.

    Raised by the TensorFlow Datasets loaders (`load_tfds_images`,
    `load_tfds_videos`) when a data set is not prepared and TFDS cannot
    prepare it: its archives must be downloaded by hand and are not in the
    `manual_dir`, the network is not reachable, or a library that
    tensorflow-datasets needs is not installed. The message says what is
    missing, where to put it and what to install; the examples print it
    and exit without a traceback.

    It is a `ValueError`, as the loaders' other errors about their
    arguments are.

    Example:
    ```python
    try:
        dataset = keras_rin.data.load_tfds_images(
            "imagenet2012", image_size=64
        )
    except keras_rin.data.DataUnavailableError as error:
        raise SystemExit(str(error))
    ```
    """
