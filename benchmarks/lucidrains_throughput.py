"""Training and sampling throughput of lucidrains' PyTorch RIN, for
comparison with keras-rin at a matched size.

    pip install rin-pytorch==0.8.0 --no-deps
    pip install einops beartype ema-pytorch accelerate
    python benchmarks/lucidrains_throughput.py --config cifar10

The official RIN (TensorFlow, in google-research/pix2seq) cannot be
installed as a package; `rin-pytorch`
(github.com/lucidrains/recurrent-interface-network-pytorch) is the popular
port. Its training step and its DDPM sampler are timed exactly as
`throughput.py` times keras-rin's: batch 32, AdamW, self-conditioning
probability 0.9, 100 DDPM steps, and its FLOPs are counted with PyTorch's
`FlopCounterMode` (matrix products only, a multiply-add counts 2, the
convention of `keras_rin.utils.count_flops`).

How the configurations differ (the port has no switch for these):
- The port draws self-conditioning once per batch (Python's `random()`), so
  a step runs either 3 or 4 forward passes; the training time reported is
  `0.9 * t(with) + 0.1 * t(without)`, each measured. keras-rin draws per
  example, as the official code does.
- It also self-conditions on the predicted image (its input has twice the
  channels), adds a depthwise convolution (PEG) to the interface in every
  block, normalises the keys and values of read and write, ends each block
  with a LayerNorm on the latents, has a 4x MLP on the interface (the
  paper's CIFAR-10 model: 2x) and one attention width (`heads *
  dim_head`) for every attention, where keras-rin uses `min(dim_x, dim_z)`
  for read and write.
- It is unconditional: no class token.
- Its time token comes from a learned sinusoidal embedding
  (`latent_token_time_cond=True`, the paper's design); its optional
  linear self-attention over the patches, not in the paper, is off.

`--dtype mixed_bfloat16` runs the training step's forward pass and the
sampling under `torch.autocast(..., dtype=torch.bfloat16)` (PyTorch's
mixed precision: float32 weights, bfloat16 products; the backward pass
follows the forward's dtypes), with MFU against a bfloat16 matrix
multiply. On a machine with CUDA the model runs on the GPU.

torchvision is imported by the port's dataset and trainer only. Its PyPI
wheels are CUDA builds that do not load with the CPU torch, so when it
fails to import, an empty stand-in module is put in its place.
"""

import argparse
import contextlib
import json
import os
import sys
import time
import types

os.environ.setdefault("TQDM_DISABLE", "1")
# benchmark_utils imports Keras: its helpers then speak PyTorch too.
os.environ.setdefault("KERAS_BACKEND", "torch")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import benchmark_utils  # noqa: E402

# Matched to `throughput.py`'s configurations of the same name.
CONFIGS = {
    "cifar10": dict(
        dim=256,
        dim_latent=512,
        image_size=32,
        patch_size=2,
        depth=3,
        latent_self_attn_depth=2,
        num_latents=128,
        heads=16,
        dim_head=32,
    ),
    "small": dict(
        dim=64,
        dim_latent=128,
        image_size=32,
        patch_size=4,
        depth=2,
        latent_self_attn_depth=2,
        num_latents=32,
        heads=4,
        dim_head=32,
    ),
    # The `rin_imagenet_64` preset's sizes (latent width 1024 = 16 x 64).
    "imagenet64": dict(
        dim=256,
        dim_latent=1024,
        image_size=64,
        patch_size=4,
        depth=4,
        latent_self_attn_depth=4,
        num_latents=128,
        heads=16,
        dim_head=64,
    ),
    "tiny": dict(
        dim=16,
        dim_latent=32,
        image_size=8,
        patch_size=2,
        depth=1,
        latent_self_attn_depth=1,
        num_latents=8,
        heads=2,
        dim_head=16,
    ),
}


def import_rin_pytorch():
    """`rin_pytorch`, with a stand-in torchvision when the real one does
    not load (see the module docstring)."""
    try:
        import torchvision  # noqa: F401
    except Exception:
        for name in list(sys.modules):
            if name == "torchvision" or name.startswith("torchvision."):
                del sys.modules[name]
        stub = types.ModuleType("torchvision")
        stub.transforms = types.ModuleType("torchvision.transforms")
        stub.utils = types.ModuleType("torchvision.utils")
        sys.modules.update(
            {
                "torchvision": stub,
                "torchvision.transforms": stub.transforms,
                "torchvision.utils": stub.utils,
            }
        )
    import rin_pytorch

    return rin_pytorch


def device_type():
    """`"cuda"` where PyTorch sees a GPU, else `"cpu"`."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def precision(dtype):
    """The context of the network's computations under `dtype`: bfloat16
    autocast for `"mixed_bfloat16"`, nothing for float32."""
    import torch

    if benchmark_utils.is_bfloat16(dtype):
        return torch.autocast(device_type(), dtype=torch.bfloat16)
    return contextlib.nullcontext()


def build(config_name, sampling_steps=100, seed=0):
    import torch

    rin_pytorch = import_rin_pytorch()
    torch.manual_seed(seed)
    network = rin_pytorch.RIN(
        **CONFIGS[config_name],
        latent_token_time_cond=True,
        patches_self_attn=False,
        flash=True,
    )
    diffusion = rin_pytorch.GaussianDiffusion(
        network,
        timesteps=sampling_steps,
        use_ddim=False,
        objective="eps",
        noise_schedule="sigmoid",
        train_prob_self_cond=0.9,
    )
    return diffusion.to(device_type())


def count_forward_flops(diffusion):
    """Matrix-product FLOPs of one forward pass of one image, with both
    self-conditioning inputs given (as in the trained pass)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    model = diffusion.model
    size = model.image_size
    device = next(model.parameters()).device
    image = torch.zeros(1, model.channels, size, size, device=device)
    times = torch.zeros(1, device=device)
    with torch.no_grad(), explicit_attention():
        _, latents = model(image, times, return_latents=True)
        with FlopCounterMode(display=False) as counter:
            model(image, times, image, latents)
    return counter.get_total_flops()


@contextlib.contextmanager
def explicit_attention():
    """Runs `scaled_dot_product_attention` as its two matrix products:
    `FlopCounterMode` does not count the fused CPU kernel."""
    import torch

    fused = torch.nn.functional.scaled_dot_product_attention

    def attention(query, key, value, attn_mask=None, dropout_p=0.0, **kw):
        scale = kw.get("scale") or query.shape[-1] ** -0.5
        weights = torch.softmax(query @ key.transpose(-2, -1) * scale, -1)
        return weights @ value

    torch.nn.functional.scaled_dot_product_attention = attention
    try:
        yield
    finally:
        torch.nn.functional.scaled_dot_product_attention = fused


def measure_training(diffusion, batch_size=32, steps=3, dtype="float32"):
    import torch

    optimizer = torch.optim.AdamW(diffusion.parameters(), lr=1e-4)
    size = diffusion.image_size
    images = torch.rand(batch_size, diffusion.channels, size, size)
    images = images.to(device_type())

    def train_step():
        with precision(dtype):
            loss = diffusion(images)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    def timed(probability, repeats):
        diffusion.train_prob_self_cond = probability
        start = time.perf_counter()
        for _ in range(repeats):
            train_step()
        benchmark_utils.synchronize()
        return (time.perf_counter() - start) / repeats

    with benchmark_utils.PeakMemory() as memory:
        first_step = timed(1.0, 1)
        with_self_conditioning = timed(1.0, steps)
        without = timed(0.0, max(1, steps // 2))
    diffusion.train_prob_self_cond = 0.9
    step = 0.9 * with_self_conditioning + 0.1 * without
    flops = 3.9 * count_forward_flops(diffusion) * batch_size
    return {
        "train_images_per_s": batch_size / step,
        "train_step_s": step,
        "first_train_step_s": first_step,
        "train_compile_s": max(first_step - with_self_conditioning, 0.0),
        "train_flops_per_s": flops / step,
        "train_memory": memory.report(),
    }


def measure_sampling(diffusion, batch_size=32, dtype="float32"):
    import torch

    num_steps = diffusion.timesteps
    diffusion.eval()
    with benchmark_utils.PeakMemory() as memory, precision(dtype):
        diffusion.timesteps = 2
        start = time.perf_counter()
        benchmark_utils.block(diffusion.sample(batch_size=batch_size))
        first_call = time.perf_counter() - start
        diffusion.timesteps = num_steps
        start = time.perf_counter()
        torch.manual_seed(0)
        benchmark_utils.block(diffusion.sample(batch_size=batch_size))
        seconds = time.perf_counter() - start
    diffusion.train()
    flops = count_forward_flops(diffusion) * batch_size * num_steps
    return benchmark_utils.sampling_report(
        batch_size, num_steps, first_call, seconds, flops, memory
    )


def run(
    config_name,
    phase="all",
    batch_size=32,
    train_steps=3,
    sampling_steps=100,
    dtype="float32",
    matmul_sizes=benchmark_utils.MATMUL_SIZES,
):
    import torch

    diffusion = build(config_name, sampling_steps)
    result = {
        "implementation": "rin-pytorch",
        "backend": "torch",
        "backend_version": torch.__version__,
        "device": benchmark_utils.device_description(),
        "config": config_name,
        "dtype": dtype,
        "parameters": sum(p.numel() for p in diffusion.model.parameters()),
        "forward_flops_per_image": count_forward_flops(diffusion),
        "self_conditioning_rate": 0.9,
        "batch_size": batch_size,
    }
    if phase in ("all", "train"):
        result.update(
            measure_training(diffusion, batch_size, train_steps, dtype)
        )
    if phase in ("all", "sample"):
        result["sampling_steps"] = sampling_steps
        result.update(measure_sampling(diffusion, batch_size, dtype))
    return benchmark_utils.add_utilisation(result, matmul_sizes, dtype)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", choices=sorted(CONFIGS), default="small")
    benchmark_utils.add_arguments(parser)
    args = parser.parse_args(argv)
    result = run(
        args.config,
        args.phase,
        args.batch_size,
        args.train_steps,
        args.sampling_steps,
        args.dtype,
        tuple(args.matmul_sizes),
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
