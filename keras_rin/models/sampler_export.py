"""Exporting a model's sampler as a TensorFlow SavedModel for serving.

The SavedModel's `serve` signature runs the whole sampling loop (the
solver's steps, guidance, the latents carried from step to step) inside
the graph, so TF Serving, TensorFlow.js converters or any TensorFlow
runtime serve it without keras-rin or Keras. It is written with Keras'
`ExportArchive`: from TensorFlow as a graph of TensorFlow ops, from JAX
through `jax2tf` (the loop as StableHLO inside the graph). PyTorch has no
route to a SavedModel without `torch_xla`; the weights are the same on
every backend, so a model trained on PyTorch is exported from JAX or
TensorFlow.
"""

import os
import shutil

import keras

from keras_rin.diffusion import sampling_options
from keras_rin.diffusion import targets
from keras_rin.utils import files
from keras_rin.utils import validation

# The backends that can write a SavedModel with the sampling loop inside.
EXPORT_BACKENDS = ("jax", "tensorflow")


def export_from_arguments(model, arguments):
    """`export_sampler` of a model's `export_sampler` method, from its
    arguments (its `locals()`): checks them, then exports."""
    check_export_backend()
    path = arguments["path"]
    if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
        raise ValueError(
            "`path` must be a path string (the SavedModel directory to "
            f"create or replace). Received: path={path!r}"
        )
    num_images = arguments.get("num_images")
    if model.num_classes or hasattr(model, "num_context_frames"):
        if num_images is not None:
            raise ValueError(
                "`num_images` is for unconditional image models: the batch "
                "size comes from the served `labels` or context frames. "
                f"Received: num_images={num_images!r}"
            )
    else:
        num_images = validation.check_count("num_images", num_images)
    options = sampling_options.SamplingOptions.from_arguments(
        dict(arguments, verbose=0)
    )
    options.resolve(model)
    return export_sampler(model, path, options, num_images)


def export_sampler(model, path, options, num_examples=None):
    """Writes `model`'s sampler to `path` as a SavedModel, atomically.

    Args:
        model: a `RINImageGenerator` or `RINVideoPredictor`.
        path: str, the SavedModel directory to create (or replace).
        options: `keras_rin.diffusion.sampling_options.SamplingOptions`.
        num_examples: with an unconditional image model, the number of
            images per call (the batch size has nothing else to come
            from); None otherwise.

    Returns:
        The path.
    """
    tf = _import_tensorflow()
    serve, signature = _serving_function(model, options, num_examples, tf)
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serve", serve, input_signature=signature)
    path = os.path.abspath(os.fspath(path))
    staging = files.make_staging_directory(path)
    try:
        # Keras and TensorFlow print progress and warnings while they trace;
        # the result is the SavedModel.
        # A sampler is not differentiated: no gradients are saved (JAX's
        # loops with traced bounds have none).
        archive.write_out(
            staging,
            options=tf.saved_model.SaveOptions(
                experimental_custom_gradients=False
            ),
            verbose=False,
        )
        files.publish_directory(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return path


def check_export_backend():
    """Raises a `NotImplementedError` that says what to do on a backend
    that cannot export."""
    backend = keras.config.backend()
    if backend not in EXPORT_BACKENDS:
        raise NotImplementedError(
            f"`export_sampler` needs the JAX or TensorFlow backend; this "
            f"process runs Keras on {backend!r}. Keras writes a SavedModel "
            "from PyTorch only through torch_xla, and not with a sampling "
            "loop inside. The weights are the same on every backend: save "
            "the model with `save_to_preset`, then export it from JAX or "
            'TensorFlow, e.g. `KERAS_BACKEND=jax python -c "import '
            "keras_rin; keras_rin.RINImageGenerator.from_preset('my_preset')"
            ".export_sampler('sampler')\"`."
        )


def _import_tensorflow():
    try:
        import tensorflow as tf
    except ImportError as error:
        raise ImportError(
            "`export_sampler` writes a TensorFlow SavedModel and needs "
            "TensorFlow: pip install tensorflow-cpu (or tensorflow)"
        ) from error
    return tf


def _serving_function(model, options, num_examples, tf):
    """The function to serve and its input signature: `labels` (int32
    `(batch,)`, class-conditional models), `context_frames` (float32 in
    [0, 1], the video model), `seed` (an int32 scalar)."""
    sample = model._sampling.batch_function(options)
    labels_spec = tf.TensorSpec((None,), "int32", name="labels")
    seed_spec = tf.TensorSpec((), "int32", name="seed")
    conditional = bool(model.num_classes)
    if hasattr(model, "num_context_frames"):
        context_shape = (model.num_context_frames,) + tuple(
            model.backbone.video_shape[1:]
        )
        context_spec = tf.TensorSpec(
            (None,) + context_shape, "float32", name="context_frames"
        )
        return _video_function(model, sample, conditional), (
            [context_spec] + ([labels_spec] if conditional else [])
        ) + [seed_spec]
    if conditional:

        def serve(labels, seed):
            return {"images": sample(labels, None, seed)}

        return serve, [labels_spec, seed_spec]

    def serve_unconditional(seed):
        labels = keras.ops.zeros((num_examples,), "int32")
        return {"images": sample(labels, None, seed)}

    return serve_unconditional, [seed_spec]


def _video_function(model, sample, conditional):
    def frames(context_frames, labels, seed):
        context = targets.images_to_inputs(context_frames, model.input_scale)
        if labels is None:
            labels = keras.ops.zeros(
                (keras.ops.shape(context_frames)[0],), "int32"
            )
        predicted = sample(labels, context, seed)
        clip = keras.ops.concatenate([context_frames, predicted], axis=1)
        return {"frames": clip}

    if conditional:
        return frames

    def serve(context_frames, seed):
        return frames(context_frames, None, seed)

    return serve
