"""Exporting a backbone's forward pass as an ONNX file for inference.

The file holds one denoising step of the backbone (`backbone(inputs,
training=False)`), its weights included, for ONNX Runtime or any other
ONNX runtime: no Keras and no keras-rin to run it. The sampling loop
(the solver, guidance, the latents carried from step to step) stays with
the caller. It is written by Keras' ONNX export on JAX (through
`jax2onnx`) and TensorFlow (through `tf2onnx`), and by `torch.onnx`'s
dynamo exporter on PyTorch (Keras' own PyTorch route fixes the batch
size). The batch size is dynamic on every backend.
"""

import importlib.util
import os
import shutil

import keras

from keras_rin.utils import files

# The ONNX outputs, by name, on every backend.
OUTPUT_NAMES = ("prediction", "latents")
# The previous latents come in under another name than the `latents`
# output: an ONNX graph's inputs and outputs need distinct names.
LATENTS_INPUT_NAME = "input_latents"
# What each backend's export imports (as pip names them too).
_PACKAGES = {
    "jax": ("onnx", "jax2onnx"),
    "tensorflow": ("onnx", "tf2onnx"),
    "torch": ("onnx", "onnxscript"),
}


def export_backbone(backbone, path, format="onnx"):
    """Writes a backbone's forward pass to an ONNX file, atomically.

    The ONNX inputs are named after the backbone's: the noisy data
    (`noisy_images`, or `noisy_videos` for a video backbone, float32),
    `noise_levels` (float32 `(batch,)`), `input_latents` (the previous
    latents, float32 `(batch, num_latents, latent_dim)`) and, for a
    class-conditional backbone, `labels` (int32 `(batch,)`, `-1` for no
    class). The outputs are `prediction` and `latents`, as
    `backbone(inputs, training=False)` returns them. The batch size is
    dynamic. Export from a float32 backbone.

    Args:
        backbone: a `RINBackbone` or `RINVideoBackbone`.
        path: str or path-like, the ONNX file to create (or replace).
            Its directory is created if needed.
        format: str, the file format: only `"onnx"`.

    Returns:
        The path, as a string.

    Raises:
        ValueError: `format` is not `"onnx"`, or `path` is not a file path.
        ImportError: the exporter of this backend is not installed
            (`pip install "keras-rin[onnx]"`).

    Example:
    ```python
    model = keras_rin.RINImageGenerator.from_preset("rin_digits")
    export_backbone(model.backbone, "digits_backbone.onnx")
    session = onnxruntime.InferenceSession("digits_backbone.onnx")
    prediction, latents = session.run(
        ["prediction", "latents"],
        {
            "noisy_images": np.zeros((2, 8, 8, 1), "float32"),
            "noise_levels": np.full((2,), 0.5, "float32"),
            "input_latents": np.zeros((2, 16, 64), "float32"),
            "labels": np.array([3, -1], "int32"),
        },
    )
    ```
    """
    if format != "onnx":
        raise ValueError(
            '`format` must be "onnx" (the only export format of a '
            f"backbone). Received: format={format!r}"
        )
    path = _checked_path(path)
    backend = keras.config.backend()
    _check_packages(backend)
    staging = files.make_staging_directory(path)
    staged = os.path.join(staging, os.path.basename(path))
    try:
        if backend == "torch":
            export_with_torch_dynamo(backbone, staged)
        else:
            backbone.export(
                staged,
                format="onnx",
                input_signature=[input_specs(backbone)],
                verbose=False,
            )
        _name_outputs(staged, backbone)
        with open(staged, "rb") as file:
            os.fsync(file.fileno())
        os.replace(staged, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return path


def input_specs(backbone, batch_size=None):
    """The backbone's inputs as `keras.InputSpec`s, by input name, each
    named as its ONNX input."""
    shapes = {
        backbone.data_input_name: (tuple(backbone.data_shape), "float32"),
        "noise_levels": ((), "float32"),
        "latents": ((backbone.num_latents, backbone.latent_dim), "float32"),
    }
    if backbone.num_classes:
        shapes["labels"] = ((), "int32")
    return {
        key: keras.InputSpec(
            shape=(batch_size,) + shape,
            dtype=dtype,
            name=LATENTS_INPUT_NAME if key == "latents" else key,
        )
        for key, (shape, dtype) in shapes.items()
    }


def export_with_torch_dynamo(backbone, path):
    """PyTorch: `torch.onnx.export(dynamo=True)` with a dynamic batch.

    Keras' PyTorch ONNX export takes the TorchScript exporter as soon as a
    dimension is dynamic, and that one fails on the backbone; the dynamo
    exporter keeps the batch symbolic.
    """
    import torch

    specs = input_specs(backbone, batch_size=2)
    keys = list(specs)

    class _Forward(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, *tensors):
            inputs = dict(zip(keys, tensors, strict=True))
            outputs = self.model(inputs, training=False)
            return tuple(outputs[name] for name in OUTPUT_NAMES)

    examples = tuple(
        keras.ops.zeros(spec.shape, spec.dtype) for spec in specs.values()
    )
    batch = torch.export.Dim("batch", min=1)
    program = torch.onnx.export(
        _Forward(backbone).eval(),
        examples,
        dynamo=True,
        input_names=[spec.name for spec in specs.values()],
        output_names=list(OUTPUT_NAMES),
        dynamic_shapes={"tensors": ({0: batch},) * len(examples)},
        verbose=False,
    )
    program.optimize()
    program.save(path)


def _checked_path(path):
    if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
        raise ValueError(
            "`path` must be a file path (the ONNX file to create or "
            f"replace). Received: path={path!r}"
        )
    path = os.path.abspath(os.fspath(path))
    if os.path.isdir(path):
        raise ValueError(
            "`path` must be a file path, not a directory (the ONNX file to "
            f"create or replace). Received: path={path!r}"
        )
    return path


def _check_packages(backend):
    if backend not in _PACKAGES:
        raise NotImplementedError(
            "ONNX export runs on the JAX, TensorFlow and PyTorch backends; "
            f"this process runs Keras on {backend!r}."
        )
    missing = [
        name
        for name in _PACKAGES[backend]
        if importlib.util.find_spec(name) is None
    ]
    if missing:
        raise ImportError(
            f"ONNX export on the {backend} backend needs "
            f'{", ".join(missing)}: pip install "keras-rin[onnx]" (or '
            f"pip install {' '.join(missing)})"
        )


def _name_outputs(path, backbone):
    """Names the file's outputs `prediction` and `latents` (JAX's exporter
    numbers them), told apart by rank: the prediction has the data's."""
    import onnx

    model = onnx.load(path)
    outputs = model.graph.output
    if sorted(output.name for output in outputs) == sorted(OUTPUT_NAMES):
        return
    data_rank = 1 + len(backbone.data_shape)
    ranks = [len(output.type.tensor_type.shape.dim) for output in outputs]
    if len(outputs) != 2 or sorted(ranks) != sorted((3, data_rank)):
        raise RuntimeError(
            "The exported ONNX graph has unexpected outputs: "
            f"{[output.name for output in outputs]} of ranks {ranks}."
        )
    taken = {name for node in model.graph.node for name in node.output}
    taken.update(value.name for value in model.graph.input)
    taken.update(value.name for value in model.graph.initializer)
    for output, rank in zip(outputs, ranks, strict=True):
        name = "prediction" if rank == data_rank else "latents"
        if name in taken:
            raise RuntimeError(
                f"The exported ONNX graph already has a tensor {name!r}."
            )
        model.graph.node.append(
            onnx.helper.make_node(
                "Identity", [output.name], [name], name=f"{name}_output"
            )
        )
        output.name = name
    onnx.save(model, path)
