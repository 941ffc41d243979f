"""The benchmark code measures what it says (tiny configurations; no
timing is asserted)."""

import json

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


@pytest.mark.skipif(
    keras.config.backend() != "torch",
    reason="backend-independent harness; PyTorch runs it without compiling",
)
def test_throughput_bf16_and_remat_are_recorded(capsys):
    throughput = load_benchmark("throughput")
    throughput.main(
        [
            "--config",
            "tiny",
            "--phase",
            "train",
            "--batch-size",
            "4",
            "--train-steps",
            "1",
            "--dtype",
            "mixed_bfloat16",
            "--remat",
            "--matmul-sizes",
            "64",
        ]
    )
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["dtype"] == "mixed_bfloat16"
    assert result["remat"] is True
    assert "sampling_images_per_s" not in result
    # MFU against the bfloat16 matrix multiply; the float32 one is kept.
    assert result["matmul_flops_per_s"] > 0
    np.testing.assert_allclose(
        result["train_mfu"],
        result["train_flops_per_s"] / result["matmul_bf16_flops_per_s"],
    )


def test_xla_step_memory_on_jax_only():
    benchmark_utils = load_benchmark("benchmark_utils")
    if keras.config.backend() != "jax":
        assert benchmark_utils.xla_train_step_mib(None, None, None) is None
        return
    throughput = load_benchmark("throughput")
    model = throughput.build_model("tiny")
    model.compile(optimizer="adam")
    images, labels = benchmark_utils.random_images(4, (8, 8, 3), 10)
    model.fit(images, labels, batch_size=4, verbose=0)
    memory = benchmark_utils.xla_train_step_mib(model, images, labels)
    # At least the parameters and the two AdamW moments.
    assert memory >= 3 * model.count_params() * 4 / 2**20


def test_bfloat16_reference_matmul():
    benchmark_utils = load_benchmark("benchmark_utils")
    flops = benchmark_utils.matmul_flops_per_second(
        (32,), repeats=1, dtype="bfloat16"
    )
    assert flops > 0


def _measurement(name, config, phase, dtype="float32", remat=False, **values):
    implementation = "rin-pytorch" if name == "rin-pytorch" else "keras_rin"
    label = f"{name} {config} {phase}"
    label += " bf16" if dtype == "mixed_bfloat16" else ""
    label += " remat" if remat else ""
    result = {
        "implementation": implementation,
        "backend": "torch" if implementation == "rin-pytorch" else name,
        "config": config,
        "dtype": dtype,
        "label": label,
        "matmul_flops_per_s": 100e9,
    }
    if implementation == "keras_rin":
        result["remat"] = remat
    if dtype == "mixed_bfloat16":
        result["matmul_bf16_flops_per_s"] = 200e9
    result.update(values)
    return result


def _memory(mib):
    return {"peak_host_memory_mib": 5000.0, "peak_accelerator_memory_mib": mib}


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


def test_bf16_and_remat_rows_stay_apart_with_their_targets(suite):
    def train(name, config, mib, dtype="float32", remat=False, **extra):
        return _measurement(
            name,
            config,
            "train",
            dtype,
            remat,
            batch_size=64,
            train_images_per_s=10.0,
            train_flops_per_s=50e9,
            train_memory=_memory(mib),
            **extra,
        )

    plain = [
        train("jax", "cifar10", 1000.0, train_compile_s=30.0),
        train("torch", "cifar10", 1000.0),
        train("rin-pytorch", "cifar10", 800.0),
    ]
    measurements = plain + [
        train("jax", "cifar10", 400.0, remat=True),
        train("torch", "cifar10", 700.0, remat=True),
        train("jax", "cifar10", 600.0, "mixed_bfloat16"),
        train("rin-pytorch", "cifar10", 300.0, "mixed_bfloat16"),
        train("jax", "imagenet64", 9000.0, "mixed_bfloat16"),
        {"label": "torch cifar10 train bf16 remat", "error": "killed"},
    ]
    summary = suite.summarise(measurements, scaling=None)
    assert summary["reference_matmul_flops_per_s"] == 100e9
    assert summary["reference_matmul_bf16_flops_per_s"] == 200e9
    rows = [r for r in summary["rows"] if "name" in r]
    assert len(rows) == 8
    mfu = {
        (r["name"], r["config"], r["dtype"], r.get("remat", False)): r[
            "train_mfu"
        ]
        for r in rows
    }
    # float32 rows against the float32 matmul, bf16 rows the bf16 one.
    assert mfu[("jax", "cifar10", "float32", False)] == 0.5
    assert mfu[("jax", "cifar10", "mixed_bfloat16", False)] == 0.25
    markdown = suite.markdown(summary)
    for line in (
        "| cifar10 | jax | float32 | - |",
        "| cifar10 | jax | float32 | yes |",
        "| cifar10 | jax | bf16 | - |",
        "| cifar10 | rin-pytorch | bf16 | - |",
        "| imagenet64 | jax | bf16 | - |",
    ):
        assert line in markdown
    assert "torch cifar10 train bf16 remat: killed" in markdown
    assert "bfloat16 matrix multiply" in markdown
    checks = suite.targets(summary)

    def met(start):
        (ok,) = [ok for ok, text in checks if text.startswith(start)]
        return ok

    memory = "memory: JAX training peak within 1.5x of rin-pytorch's"
    assert met(f"{memory} at the same batch (cifar10): 1.25x")
    assert not met(f"{memory} at the same batch (cifar10, bf16): 2.00x")
    remat = "rematerialisation: training peak with remat at most half of"
    assert met(f"{remat} without (jax, cifar10): 0.40x")
    assert not met(f"{remat} without (torch, cifar10): 0.70x")
    # 50 GFLOP/s against the 200 GFLOP/s bf16 matmul.
    assert not met("ImageNet-64 bf16 training MFU on JAX >= 40%: 25.0%")
    # The speed targets read only the float32 rows without remat.
    alone = suite.targets(suite.summarise(plain, scaling=None))
    speed = [c for c in alone if not c[1].startswith("memory")]
    assert speed and set(speed) <= set(suite.targets(summary))
    assert len(suite.targets(summary)) == len(alone) + 4


def test_results_without_dtype_or_remat_still_render(suite, tmp_path):
    row = {
        "implementation": "keras_rin",
        "backend": "jax",
        "name": "jax",
        "config": "cifar10",
        "batch_size": 32,
        "train_images_per_s": 2.0,
        "train_mfu": 0.5,
        "train_memory": {
            "peak_host_memory_mib": 600.0,
            "peak_accelerator_memory_mib": None,
        },
    }
    theirs = dict(row, implementation="rin-pytorch", name="rin-pytorch")
    theirs["train_memory"] = dict(row["train_memory"], peak_host_memory_mib=500)
    summary = {
        "date": "2026-01-01 00:00",
        "command": "benchmarks/suite.py",
        "versions": {"keras": "3"},
        "reference_matmul_flops_per_s": 1e11,
        "rows": [row, theirs, {"errors": ["torch cifar10 train: killed"]}],
        "scaling": None,
    }
    path = tmp_path / "results.json"
    path.write_text(json.dumps(summary))
    suite.main(["--from-json", str(path), "--output-dir", str(tmp_path)])
    markdown = (tmp_path / "results.md").read_text()
    assert "| cifar10 | jax | float32 | - | - | - | 2.00 | 50.0% | 600 |" in (
        markdown
    )
    assert "| cifar10 | rin-pytorch | float32 | - |" in markdown
    assert "bfloat16" not in markdown
    assert "met: memory: JAX training peak within 1.5x" in markdown
    suite.main(
        ["--from-json", str(path), "--output-dir", str(tmp_path)]
        + ["--tag", "gpu"]
    )
    assert (tmp_path / "results_gpu.md").read_text() == markdown


def test_jobs_run_every_dtype_and_remat(suite):
    args = suite.parse_args(
        ["--backends", "jax", "torch", "--configs", "cifar10"]
        + ["--dtypes", "float32", "mixed_bfloat16", "--remat", "--no-scaling"]
    )
    planned = {
        label: (command, env) for label, command, env in suite.jobs(args)
    }
    expected = []
    for dtype in ("", " bf16"):
        for backend in ("jax", "torch"):
            expected += [
                f"{backend} cifar10 train{dtype}",
                f"{backend} cifar10 sample{dtype}",
                f"{backend} cifar10 train{dtype} remat",
            ]
        expected += [f"torch cifar10-no-dropout train{dtype}"]
        expected += [
            f"rin-pytorch cifar10 {p}{dtype}" for p in ("train", "sample")
        ]
    assert list(planned) == expected
    command, env = planned["jax cifar10 train bf16 remat"]
    assert env == "jax" and command[0] == "throughput.py"
    assert "--remat" in command and "--jit-compile" in command
    assert command[command.index("--dtype") + 1] == "mixed_bfloat16"
    assert command[command.index("--phase") + 1] == "train"
    command, env = planned["rin-pytorch cifar10 sample bf16"]
    assert command[0] == "lucidrains_throughput.py" and env == "torch"
    assert command[command.index("--dtype") + 1] == "mixed_bfloat16"
    assert "--remat" not in command and "--jit-compile" not in command
    assert "--remat" not in planned["torch cifar10 train"][0]
    # The default plan: float32 only, no remat, labels as before.
    default = [label for label, _, _ in suite.jobs(suite.parse_args([]))]
    assert len(default) == 19 and default[-1] == "scaling (torch)"
    assert not [
        label for label in default if "bf16" in label or "remat" in label
    ]
    # rin-pytorch runs only the configurations it has.
    lucidrains = load_benchmark("lucidrains_throughput")
    assert sorted(suite.LUCIDRAINS_CONFIGS) == sorted(lucidrains.CONFIGS)


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
