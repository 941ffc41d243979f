"""The benchmark code measures what it says (tiny configurations; no
timing is asserted)."""

import keras
import numpy as np
import pytest

from tests.benchmarks import load_benchmark


@pytest.fixture(scope="module")
def suite():
    return load_benchmark("suite")


@pytest.mark.skipif(
    keras.config.backend() != "torch",
    reason="backend-independent harness; PyTorch runs it without compiling",
)
def test_throughput_reports_every_field_for_a_tiny_model():
    throughput = load_benchmark("throughput")
    result = throughput.run(
        "tiny",
        batch_size=4,
        train_steps=1,
        sampling_steps=2,
        matmul_sizes=(128,),
    )
    assert result["backend"] == keras.config.backend()
    assert result["parameters"] > 0
    flops = result["forward_flops_per_image"]
    for kind, passes in (("train", 3 + 0.9), ("sampling", 2 / 2)):
        speed = result[f"{kind}_images_per_s"]
        assert speed > 0
        steps = 2 if kind == "sampling" else 1
        np.testing.assert_allclose(
            result[f"{kind}_flops_per_s"], speed * passes * flops * steps
        )
        np.testing.assert_allclose(
            result[f"{kind}_mfu"],
            result[f"{kind}_flops_per_s"] / result["matmul_flops_per_s"],
        )
    assert result["first_train_step_s"] >= result["train_compile_s"] >= 0
    assert result["train_memory"]["peak_host_memory_mib"] > 0


def _measurement(name, config, phase, **values):
    implementation = "rin-pytorch" if name == "rin-pytorch" else "keras_rin"
    result = {
        "implementation": implementation,
        "backend": "torch" if implementation == "rin-pytorch" else name,
        "config": config,
        "label": f"{name} {config} {phase}",
        "matmul_flops_per_s": 100e9,
    }
    result.update(values)
    return result


def test_summary_merges_phases_and_uses_the_fastest_matmul(suite):
    measurements = [
        _measurement("jax", "cifar10", "train", train_flops_per_s=80e9),
        _measurement(
            "jax",
            "cifar10",
            "sample",
            sampling_flops_per_s=60e9,
            matmul_flops_per_s=120e9,
        ),
        {"label": "torch cifar10 train", "error": "killed"},
    ]
    summary = suite.summarise(measurements, scaling=None)
    assert summary["reference_matmul_flops_per_s"] == 120e9
    rows = {row.get("name", "failed"): row for row in summary["rows"]}
    np.testing.assert_allclose(rows["jax"]["train_mfu"], 80 / 120)
    np.testing.assert_allclose(rows["jax"]["sampling_mfu"], 60 / 120)
    assert "torch cifar10 train: killed" in suite.markdown(summary)


def test_targets_compare_backends_and_rin_pytorch(suite):
    def row(name, train, sample, **extra):
        return _measurement(
            name,
            "cifar10",
            "train",
            train_images_per_s=train,
            sampling_images_per_s=sample,
            train_flops_per_s=train * 1e9,
            sampling_flops_per_s=sample * 1e9,
            **extra,
        )

    measurements = [
        row("jax", 80.0, 90.0, train_compile_s=30.0),
        row("tensorflow", 30.0, 60.0),
        row("torch", 60.0, 50.0),
        row("rin-pytorch", 40.0, 80.0),
    ]
    summary = suite.summarise(measurements, scaling=None)
    checks = suite.targets(summary)

    def met(start):
        (ok,) = [ok for ok, text in checks if text.startswith(start)]
        return ok

    # MFU against the 100 GFLOP/s matmul: 80% training, 90% sampling.
    assert met("cifar10 training MFU on the fastest backend (jax): 80.0%")
    assert met("cifar10 sampling MFU on the fastest backend (jax): 90.0%")
    assert not met("cifar10 training: slowest backend (tensorflow) 2.67x")
    assert met("cifar10 sampling: slowest backend (torch) 1.80x")
    assert met("cifar10 training: keras-rin (jax) is 2.00x rin-pytorch")
    assert not met("cifar10 sampling: keras-rin (jax) is 1.12x rin-pytorch")
    assert met("cifar10 first training step compile time on JAX: 30.0 s")
    markdown = suite.markdown(summary)
    assert "| cifar10 | jax |" in markdown
    assert markdown.count("MISSED") == 2  # backends apart, sampling speedup


def test_scaling_growth_and_vit_flops():
    scaling = load_benchmark("scaling")
    rows = [
        dict(
            model="rin",
            tokens=256,
            train_step_s=1.0,
            forward_gflops_per_image=1.0,
        ),
        dict(
            model="rin",
            tokens=4096,
            train_step_s=3.0,
            forward_gflops_per_image=2.0,
        ),
    ]
    assert scaling.growth(rows)["rin"] == {"tokens": 16, "time": 3, "flops": 2}
    config = dict(dim=8, depth=2, num_heads=2, mlp_ratio=4)
    # The attention products grow with the square of the tokens.
    quadratic = [scaling.vit_flops(p, **config) for p in (4, 2, 1)]
    assert quadratic[2] - quadratic[1] > 4 * (quadratic[1] - quadratic[0])


@pytest.mark.skipif(
    keras.config.backend() != "torch", reason="PyTorch's FLOP counter"
)
def test_vit_flops_match_pytorchs_counter():
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    scaling = load_benchmark("scaling")
    config = dict(dim=16, depth=1, num_heads=2, mlp_ratio=2)
    model = scaling.vit_denoiser(16, **config)
    inputs = {
        "noisy_images": torch.zeros((1,) + scaling.IMAGE_SHAPE),
        "noise_levels": torch.zeros((1,)),
    }
    lucidrains = load_benchmark("lucidrains_throughput")
    with lucidrains.explicit_attention():
        with FlopCounterMode(display=False) as counter:
            model(inputs)
    assert counter.get_total_flops() == scaling.vit_flops(16, **config)
