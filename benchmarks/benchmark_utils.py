"""What every benchmark here shares: the machine's matrix-multiply speed
(float32, and bfloat16 for mixed-precision runs), peak memory, and the
model FLOPs utilisation computed from them.

Model FLOPs utilisation (MFU) is the model's counted FLOPs per second
divided by the FLOPs per second of a large matrix multiply measured in the
same run on the same machine: float32 for a float32 run, bfloat16 for a
`mixed_bfloat16` one (whose products run in bfloat16). The ratio holds on
a noisy machine and reads the same on a CPU and a GPU.
"""

import os
import platform
import resource
import time

import keras
import numpy as np

# Square sizes of the reference matrix multiply; the fastest one counts.
MATMUL_SIZES = (2048, 4096)
# The dtype policies a benchmark runs under (`--dtype`).
DTYPES = ("float32", "mixed_bfloat16")


def matmul_flops_per_second(sizes=MATMUL_SIZES, repeats=3, dtype="float32"):
    """The best FLOPs per second of an `n x n` matrix multiply in `dtype`
    (`"float32"` or `"bfloat16"`) on this backend, compiled where the
    backend compiles (XLA on JAX and TensorFlow, eager ATen on PyTorch)."""
    matmul = _compiled_matmul()
    best = 0.0
    for n in sizes:
        a = keras.random.normal((n, n), seed=1, dtype=dtype)
        b = keras.random.normal((n, n), seed=2, dtype=dtype)
        block(matmul(a, b))
        start = time.perf_counter()
        for _ in range(repeats):
            product = matmul(a, b)
        block(product)
        seconds = (time.perf_counter() - start) / repeats
        best = max(best, 2 * n**3 / seconds)
    return best


def _compiled_matmul():
    backend = keras.config.backend()
    if backend == "jax":
        import jax

        return jax.jit(lambda a, b: a @ b)
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(lambda a, b: tf.matmul(a, b), jit_compile=True)
    return keras.ops.matmul


def block(tensor):
    """Waits for `tensor` (JAX and GPUs run asynchronously)."""
    if hasattr(tensor, "block_until_ready"):
        tensor.block_until_ready()
    keras.ops.convert_to_numpy(keras.ops.ravel(tensor)[:1])


def synchronize(model=None):
    """Waits for the work queued on the device: `model`'s last update (one
    compiled step on JAX and TensorFlow) and PyTorch's CUDA stream."""
    if model is not None and model.trainable_variables:
        block(model.trainable_variables[-1].value)
    if keras.config.backend() == "torch":
        import torch

        if torch.cuda.is_available():
            torch.cuda.synchronize()


def host_memory_mib():
    """`(current, peak)` resident memory of this process in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    try:
        with open("/proc/self/statm") as statm:
            pages = int(statm.read().split()[1])
        current = pages * resource.getpagesize() / 2**20
    except OSError:
        current = float("nan")
    return current, peak


def accelerator_peak_memory_mib():
    """Peak memory allocated on the first accelerator by this backend, in
    MiB, or None on a CPU-only machine."""
    backend = keras.config.backend()
    if backend == "jax":
        import jax

        device = jax.devices()[0]
        if device.platform == "cpu":
            return None
        stats = device.memory_stats() or {}
        peak = stats.get("peak_bytes_in_use")
        return None if peak is None else peak / 2**20
    if backend == "tensorflow":
        import tensorflow as tf

        if not tf.config.list_physical_devices("GPU"):
            return None
        return tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20
    if backend == "torch":
        import torch

        if not torch.cuda.is_available():
            return None
        return torch.cuda.max_memory_allocated() / 2**20
    return None


class PeakMemory:
    """Peak memory during a `with` block: the accelerator's where there is
    one, otherwise the process' resident memory (peak, and its growth over
    the resident memory when the block started)."""

    def __enter__(self):
        self.start_mib, _ = host_memory_mib()
        return self

    def __exit__(self, *exc):
        _, self.host_peak_mib = host_memory_mib()
        self.accelerator_peak_mib = accelerator_peak_memory_mib()

    def report(self):
        return {
            "peak_host_memory_mib": round(self.host_peak_mib, 1),
            "host_memory_growth_mib": round(
                self.host_peak_mib - self.start_mib, 1
            ),
            "peak_accelerator_memory_mib": (
                None
                if self.accelerator_peak_mib is None
                else round(self.accelerator_peak_mib, 1)
            ),
        }


def add_arguments(parser):
    """The command-line options every throughput script shares."""
    parser.add_argument(
        "--phase", choices=("all", "train", "sample"), default="all"
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--train-steps", type=int, default=3)
    parser.add_argument("--sampling-steps", type=int, default=100)
    parser.add_argument(
        "--dtype",
        choices=DTYPES,
        default="float32",
        help="mixed_bfloat16: products in bfloat16, MFU against a bfloat16 "
        "matrix multiply",
    )
    parser.add_argument(
        "--matmul-sizes",
        type=int,
        nargs="+",
        default=list(MATMUL_SIZES),
        help="sizes of the reference matrix multiply (small ones for smoke "
        "runs)",
    )


def sampling_report(batch_size, num_steps, first_call, seconds, flops, memory):
    """The sampling fields of a result: `flops` are those of the timed
    call (`seconds`), `memory` a `PeakMemory`."""
    return {
        "sampling_images_per_s": batch_size / seconds,
        "sampling_step_s": seconds / num_steps,
        "first_sampling_call_s": first_call,
        "sampling_flops_per_s": flops / seconds,
        "sampling_memory": memory.report(),
    }


def is_bfloat16(dtype):
    """Whether a run under the dtype policy `dtype` multiplies in
    bfloat16 (`"mixed_bfloat16"`, `"bfloat16"`)."""
    return "bfloat16" in (dtype or "float32")


def add_utilisation(result, matmul_sizes=MATMUL_SIZES, dtype="float32"):
    """Times the reference matrix multiply into `result` and adds the MFU
    of each `<kind>_flops_per_s` it holds; returns `result`. The float32
    multiply is always timed (`matmul_flops_per_s`); a bfloat16 run
    (`dtype` `"mixed_bfloat16"`) also times a bfloat16 one
    (`matmul_bf16_flops_per_s`), its MFU's reference."""
    result["matmul_flops_per_s"] = matmul_flops_per_second(matmul_sizes)
    reference = result["matmul_flops_per_s"]
    if is_bfloat16(dtype):
        result["matmul_bf16_flops_per_s"] = matmul_flops_per_second(
            matmul_sizes, dtype="bfloat16"
        )
        reference = result["matmul_bf16_flops_per_s"]
    for kind in ("train", "sampling"):
        if f"{kind}_flops_per_s" in result:
            result[f"{kind}_mfu"] = model_flops_utilisation(
                result[f"{kind}_flops_per_s"], reference
            )
    return result


def model_flops_utilisation(flops_per_second, reference_flops_per_second):
    """MFU as a ratio, or None without a reference."""
    if not reference_flops_per_second:
        return None
    return flops_per_second / reference_flops_per_second


def device_description():
    """The machine in words: the accelerator if the backend sees one,
    otherwise the CPU and its core count."""
    backend = keras.config.backend()
    if backend == "jax":
        import jax

        device = jax.devices()[0]
        if device.platform != "cpu":
            return device.device_kind
    if backend == "torch":
        import torch

        if torch.cuda.is_available():
            return torch.cuda.get_device_name(0)
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            details = tf.config.experimental.get_device_details(gpus[0])
            return details.get("device_name", "GPU")
    return f"{_cpu_name()} ({_cpu_count()} cores)"


def _cpu_name():
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "CPU"


def _cpu_count():
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count()


def backend_version():
    backend = keras.config.backend()
    module = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}
    name = module.get(backend, backend)
    return getattr(__import__(name), "__version__", "unknown")


def random_images(batch_size, image_shape, num_classes, seed=0):
    """Float32 pixels in [0, 1] and int32 labels (or None)."""
    rng = np.random.default_rng(seed)
    images = rng.uniform(size=(batch_size,) + tuple(image_shape))
    labels = None
    if num_classes:
        labels = rng.integers(0, num_classes, batch_size).astype("int32")
    return images.astype("float32"), labels


def xla_train_step_mib(model, images, labels):
    """JAX: the memory XLA assigns to one compiled training step
    (arguments, temporaries and outputs that do not reuse an argument's
    buffer), in MiB; the same on any device, so rematerialisation can be
    measured on a CPU, where the process's resident peak is set by
    compilation. None on the other backends."""
    if keras.config.backend() != "jax":
        return None
    import jax

    # Keras' JAX trainer jits `train_step` over this state (private API,
    # read-only here).
    state = model._get_jax_state(
        trainable_variables=True,
        non_trainable_variables=True,
        optimizer_variables=True,
        metrics_variables=True,
    )
    data = (images,) if labels is None else (images, labels)
    step = jax.jit(model.train_step, donate_argnums=0)
    analysis = step.lower(state, data).compile().memory_analysis()
    total = (
        analysis.argument_size_in_bytes
        + analysis.temp_size_in_bytes
        + analysis.output_size_in_bytes
        - analysis.alias_size_in_bytes
    )
    return round(total / 2**20, 1)
