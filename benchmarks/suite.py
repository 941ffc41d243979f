"""The benchmark suite: every backend, the CIFAR-10 and a small
configuration, lucidrains' PyTorch RIN beside them, and the token-scaling
run; writes `results.json` and `results.md`.

    python benchmarks/suite.py                      # the whole suite
    python benchmarks/suite.py --backends jax --configs small --no-scaling
    python benchmarks/suite.py --dtypes float32 mixed_bfloat16 --remat

Each measurement runs in its own process (one backend per process, and a
fresh peak-memory count), and each process also times a float32 matrix
multiply (and a bfloat16 one under `mixed_bfloat16`). Model FLOPs
utilisation (MFU) is reported against the fastest of those matrix
multiplies of the run's dtype, the machine's ceiling in this run, so
backends are judged against the same number. Rows are kept apart by
implementation, configuration, dtype and rematerialisation. The Markdown
file checks the targets of the performance issue.
"""

import argparse
import json
import os
import subprocess
import sys
import time

import keras

HERE = os.path.dirname(os.path.abspath(__file__))
BACKENDS = ("jax", "tensorflow", "torch")
CONFIGS = ("cifar10", "small")
DTYPES = ("float32", "mixed_bfloat16")
# The configurations of `lucidrains_throughput.CONFIGS`: rin-pytorch runs
# only these.
LUCIDRAINS_CONFIGS = ("cifar10", "imagenet64", "small", "tiny")
TARGET_MFU = 0.75
TARGET_BACKEND_RATIO = 2.0
TARGET_SPEEDUP = 1.25
TARGET_COMPILE_S = 60.0
TARGET_MEMORY_RATIO = 1.5  # JAX's training peak against rin-pytorch's
TARGET_REMAT_RATIO = 0.5  # training peak with remat against without
TARGET_IMAGENET64_BF16_MFU = 0.40  # JAX, training


def jobs(args):
    """`(label, command, environment)` of every measurement: for each
    configuration and dtype, each backend's training and sampling (and
    training with `--remat`), keras-rin on PyTorch without dropout, and
    rin-pytorch; then the scaling run."""
    common = [
        "--batch-size",
        str(args.batch_size),
        "--train-steps",
        str(args.train_steps),
        "--sampling-steps",
        str(args.sampling_steps),
    ]
    if getattr(args, "matmul_sizes", None):
        common += ["--matmul-sizes"] + [str(n) for n in args.matmul_sizes]
    jit = ["--jit-compile", getattr(args, "jit_compile", "auto")]
    remat = getattr(args, "remat", False)
    result = []
    for config in args.configs:
        for dtype in getattr(args, "dtypes", ["float32"]):
            tail = common + ["--dtype", dtype]
            runs = [("train", False), ("sample", False)]
            runs += [("train", True)] if remat else []
            for backend in args.backends:
                for phase, rematerialize in runs:
                    command = ["throughput.py", "--config", config]
                    command += ["--phase", phase] + tail + jit
                    command += ["--remat"] if rematerialize else []
                    label = _label(backend, config, phase, dtype, rematerialize)
                    result.append((label, command, backend))
            if args.lucidrains and "torch" in args.backends:
                # rin-pytorch has no dropout: keras-rin's training without.
                config_name = config + "-no-dropout"
                command = ["throughput.py", "--config", config_name]
                command += ["--phase", "train"] + tail + jit
                label = _label("torch", config_name, "train", dtype)
                result.append((label, command, "torch"))
            if args.lucidrains and config in LUCIDRAINS_CONFIGS:
                for phase in ("train", "sample"):
                    command = ["lucidrains_throughput.py", "--config", config]
                    command += ["--phase", phase] + tail
                    label = _label("rin-pytorch", config, phase, dtype)
                    result.append((label, command, "torch"))
    if args.scaling:
        command = ["scaling.py", "--batch-size", str(args.scaling_batch_size)]
        result.append(
            (f"scaling ({args.scaling_backend})", command, args.scaling_backend)
        )
    return result


def _label(name, config, phase, dtype="float32", remat=False):
    """`"<name> <config> <phase>"`, then `bf16` and `remat` where they
    apply (a float32 run's label is the same as before either existed)."""
    words = [name, config, phase]
    words += ["bf16"] if _is_bf16(dtype) else []
    words += ["remat"] if remat else []
    return " ".join(words)


def _is_bf16(dtype):
    return "bfloat16" in (dtype or "float32")


def _row_dtype(row):
    """A row's dtype; results written before there were dtypes: float32."""
    return row.get("dtype") or "float32"


def _row_remat(row):
    return bool(row.get("remat", False))


def _plain(row):
    """A float32 row without rematerialisation (the original targets)."""
    return not _is_bf16(_row_dtype(row)) and not _row_remat(row)


def run_job(command, backend, timeout):
    """Runs one benchmark script; returns its JSON result or an error."""
    environment = dict(os.environ, KERAS_BACKEND=backend)
    environment.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        process = subprocess.run(
            [sys.executable, os.path.join(HERE, command[0])] + command[1:],
            env=environment,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s"}
    lines = process.stdout.strip().splitlines()
    if process.returncode or not lines:
        tail = (process.stderr or process.stdout).strip().splitlines()[-5:]
        return {"error": " / ".join(tail) or f"exit {process.returncode}"}
    return json.loads(lines[-1])


def run_suite(args):
    planned = jobs(args)
    progress = keras.utils.Progbar(len(planned), unit_name="benchmark")
    measurements, scaling = [], None
    for index, (label, command, backend) in enumerate(planned):
        print(f"\n{label}", flush=True)
        start = time.perf_counter()
        result = run_job(command, backend, args.timeout)
        result["label"] = label
        result["wall_s"] = time.perf_counter() - start
        if "error" in result:
            print(f"  failed: {result['error']}", flush=True)
        if label.startswith("scaling"):
            scaling = result
        else:
            measurements.append(result)
        progress.update(index + 1)
    return summarise(measurements, scaling, args)


def summarise(measurements, scaling, args=None):
    """Merges the train and sample processes of each implementation,
    backend, configuration, dtype and rematerialisation into one row, with
    MFU against the fastest matrix multiply of the run (the bfloat16 one
    for bf16 rows)."""
    reference = _fastest(measurements, "matmul_flops_per_s")
    bf16_reference = _fastest(measurements, "matmul_bf16_flops_per_s")
    rows = {}
    for m in measurements:
        if "error" in m:
            words = m["label"].split()
            key = tuple(words[:2]) + (
                "mixed_bfloat16" if "bf16" in words[3:] else "float32",
                "remat" in words[3:],
            )
            rows.setdefault(key, {}).setdefault("errors", []).append(
                f"{m['label']}: {m['error']}"
            )
            continue
        implementation = m["implementation"]
        name = m["backend"] if implementation == "keras_rin" else implementation
        key = (name, m["config"], _row_dtype(m), _row_remat(m))
        row = rows.setdefault(key, {})
        row.update({k: v for k, v in m.items() if k not in ("label",)})
        row["name"] = name
        row.setdefault("own_matmul_flops_per_s", {})[m["label"]] = m[
            "matmul_flops_per_s"
        ]
        if "matmul_bf16_flops_per_s" in m:
            row.setdefault("own_matmul_bf16_flops_per_s", {})[m["label"]] = m[
                "matmul_bf16_flops_per_s"
            ]
    for row in rows.values():
        ceiling = bf16_reference if _is_bf16(_row_dtype(row)) else reference
        for kind in ("train", "sampling"):
            flops = row.get(f"{kind}_flops_per_s")
            if flops is not None and ceiling:
                row[f"{kind}_mfu"] = flops / ceiling
    summary = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "command": " ".join(sys.argv),
        "versions": _versions(),
        "reference_matmul_flops_per_s": reference,
        "settings": None if args is None else _settings(args),
        "rows": sorted(rows.values(), key=_row_order),
        "scaling": scaling,
    }
    if bf16_reference:
        summary["reference_matmul_bf16_flops_per_s"] = bf16_reference
    return summary


def _fastest(measurements, field):
    return max((m.get(field, 0.0) for m in measurements), default=0.0)


def _row_order(row):
    """Configuration, then float32 before bf16, without remat before with,
    then implementation."""
    return (
        row.get("config", ""),
        _is_bf16(_row_dtype(row)),
        _row_remat(row),
        row.get("name", ""),
    )


def _settings(args):
    return {
        "batch_size": args.batch_size,
        "train_steps": args.train_steps,
        "sampling_steps": args.sampling_steps,
        "scaling_backend": args.scaling_backend if args.scaling else None,
        "dtypes": list(getattr(args, "dtypes", ["float32"])),
        "remat": getattr(args, "remat", False),
        "jit_compile": getattr(args, "jit_compile", "auto"),
    }


def _versions():
    import importlib.metadata

    versions = {"python": sys.version.split()[0]}
    for package in (
        "keras",
        "jax",
        "jaxlib",
        "tensorflow",
        "tensorflow-cpu",
        "torch",
        "rin-pytorch",
        "numpy",
    ):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            pass
    return versions


# ----------------------------------------------------------------------
# Markdown
# ----------------------------------------------------------------------


def markdown(summary):
    lines = [
        f"Run {summary['date']}: `{summary['command']}`",
        "",
        "Versions: "
        + ", ".join(f"{k} {v}" for k, v in summary["versions"].items()),
        "",
    ]
    lines += [f"- {note}" for note in summary.get("notes", [])]
    lines += [
        "",
        "Reference float32 matrix multiply (fastest in this run): "
        f"{summary['reference_matmul_flops_per_s'] / 1e9:.1f} GFLOP/s.",
    ]
    if summary.get("reference_matmul_bf16_flops_per_s"):
        lines += [
            "Reference bfloat16 matrix multiply (the MFU reference of the "
            "bf16 rows): "
            f"{summary['reference_matmul_bf16_flops_per_s'] / 1e9:.1f} "
            "GFLOP/s.",
        ]
    lines += [""]
    rows = [r for r in summary["rows"] if "name" in r]
    if rows:
        lines += [
            f"Device: {rows[0].get('device', '?')}.",
            "",
            "| config | implementation | dtype | remat | params (M) | "
            "GFLOPs/image | train img/s | train MFU | train peak MiB | "
            "first step s | compile s | sample img/s | sample MFU | "
            "sample peak MiB |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in rows:
            lines.append(
                "| "
                + " | ".join(
                    [
                        r["config"],
                        r["name"],
                        "bf16" if _is_bf16(_row_dtype(r)) else "float32",
                        "yes" if _row_remat(r) else "-",
                        _number(r.get("parameters"), 1e6, 2),
                        _number(r.get("forward_flops_per_image"), 1e9, 3),
                        _number(r.get("train_images_per_s"), 1, 2),
                        _percent(r.get("train_mfu")),
                        _memory(r.get("train_memory")),
                        _number(r.get("first_train_step_s"), 1, 1),
                        _number(r.get("train_compile_s"), 1, 1),
                        _number(r.get("sampling_images_per_s"), 1, 3),
                        _percent(r.get("sampling_mfu")),
                        _memory(r.get("sampling_memory")),
                    ]
                )
                + " |"
            )
    errors = [e for r in summary["rows"] for e in r.get("errors", [])]
    if errors:
        lines += ["", "Failed measurements:", ""]
        lines += [f"- {error}" for error in errors]
    lines += ["", "## Targets", ""] + [
        f"- {'met' if ok else 'MISSED'}: {text}"
        for ok, text in targets(summary)
    ]
    if summary.get("scaling") and "rows" in summary["scaling"]:
        lines += ["", "## Scaling with the number of tokens", ""]
        lines += scaling_markdown(summary["scaling"])
        plot = f"scaling{_suffix(summary.get('tag'))}.png"
        lines += ["", f"![Cost against tokens]({plot})"]
    return "\n".join(lines) + "\n"


def targets(summary):
    """`(met, sentence)` for each target of the performance issue that
    this run measured. The speed targets read the float32 rows without
    rematerialisation; memory, rematerialisation and the ImageNet-64 bf16
    MFU their own rows."""
    rows = [r for r in summary["rows"] if "name" in r]
    checks = _speed_targets([r for r in rows if _plain(r)])
    checks += _memory_targets(rows)
    checks += _remat_targets(rows)
    checks += _imagenet_targets(rows)
    return checks


def _speed_targets(rows):
    """MFU, backends against each other, keras-rin against rin-pytorch,
    and JAX's compile time, per configuration."""
    checks = []
    by_config = {}
    for r in rows:
        by_config.setdefault(r["config"], []).append(r)
    for config, rows in sorted(by_config.items()):
        ours = [r for r in rows if r.get("implementation") == "keras_rin"]
        base = config.split("-")[0]
        theirs = [
            r
            for r in by_config.get(base, [])
            if r.get("implementation") == "rin-pytorch"
        ]
        for kind, label in (("train", "training"), ("sampling", "sampling")):
            speed = f"{kind}_images_per_s"
            measured = [r for r in ours if r.get(speed)]
            if not measured:
                continue
            fastest = max(measured, key=lambda r: r[speed])
            mfu = fastest.get(f"{kind}_mfu") or 0.0
            if config == "cifar10":
                checks.append(
                    (
                        mfu >= TARGET_MFU,
                        f"{config} {label} MFU on the fastest backend "
                        f"({fastest['name']}): {mfu:.1%} "
                        f"(target {TARGET_MFU:.0%})",
                    )
                )
            slowest = min(measured, key=lambda r: r[speed])
            ratio = fastest[speed] / slowest[speed]
            if len(measured) > 1:
                checks.append(
                    (
                        ratio <= TARGET_BACKEND_RATIO,
                        f"{config} {label}: slowest backend "
                        f"({slowest['name']}) {ratio:.2f}x slower than the "
                        f"fastest ({fastest['name']}) (target <= "
                        f"{TARGET_BACKEND_RATIO:g}x)",
                    )
                )
            for other in theirs:
                if not other.get(speed):
                    continue
                speedup = fastest[speed] / other[speed]
                torch_rows = [r for r in measured if r["name"] == "torch"]
                same = ""
                if torch_rows:
                    same = (
                        "; keras-rin on torch: "
                        f"{torch_rows[0][speed] / other[speed]:.2f}x"
                    )
                checks.append(
                    (
                        speedup >= TARGET_SPEEDUP,
                        f"{config} {label}: keras-rin ({fastest['name']}) is "
                        f"{speedup:.2f}x rin-pytorch{same} (target >= "
                        f"{TARGET_SPEEDUP:g}x)",
                    )
                )
        jax_rows = [r for r in ours if r["name"] == "jax"]
        if (
            config == "cifar10"
            and jax_rows
            and "train_compile_s" in jax_rows[0]
        ):
            compile_s = jax_rows[0]["train_compile_s"]
            checks.append(
                (
                    compile_s < TARGET_COMPILE_S,
                    f"{config} first training step compile time on JAX: "
                    f"{compile_s:.1f} s (target < {TARGET_COMPILE_S:g} s)",
                )
            )
    return checks


def _memory_targets(rows):
    """JAX's training peak against rin-pytorch's, same configuration,
    dtype and batch."""
    checks = []
    for ours in rows:
        if ours["name"] != "jax" or _row_remat(ours):
            continue
        for theirs in rows:
            if (
                theirs.get("implementation") != "rin-pytorch"
                or theirs["config"] != ours["config"]
                or _row_dtype(theirs) != _row_dtype(ours)
                or theirs.get("batch_size") != ours.get("batch_size")
            ):
                continue
            peak = _peak_mib(ours.get("train_memory"))
            base = _peak_mib(theirs.get("train_memory"))
            if not peak or not base:
                continue
            ratio = peak / base
            checks.append(
                (
                    ratio <= TARGET_MEMORY_RATIO,
                    "memory: JAX training peak within "
                    f"{TARGET_MEMORY_RATIO:g}x of rin-pytorch's at the same "
                    f"batch ({_where(ours)}): {ratio:.2f}x ({peak:.0f} "
                    f"against {base:.0f} MiB, batch {ours.get('batch_size')})",
                )
            )
    return checks


def _remat_targets(rows):
    """Each remat row's training peak against the same row without."""
    checks = []
    for remat in rows:
        if not _row_remat(remat):
            continue
        for plain in rows:
            if (
                _row_remat(plain)
                or plain["name"] != remat["name"]
                or plain["config"] != remat["config"]
                or _row_dtype(plain) != _row_dtype(remat)
            ):
                continue
            peak, without, measure = _remat_memory(remat, plain)
            if not peak or not without:
                continue
            ratio = peak / without
            checks.append(
                (
                    ratio <= TARGET_REMAT_RATIO,
                    f"rematerialisation: {measure} with remat at most "
                    f"{_fraction(TARGET_REMAT_RATIO)} of without "
                    f"({remat['name']}, {_where(remat)}): {ratio:.2f}x "
                    f"({peak:.0f} against {without:.0f} MiB)",
                )
            )
    return checks


def _remat_memory(remat, plain):
    """`(with, without, what)`: on a CPU, XLA's memory of the JAX step
    (the process's peak is set by compilation there); otherwise the
    training peak."""
    memories = [r.get("train_memory") or {} for r in (remat, plain)]
    if all(m.get("xla_step_mib") for m in memories) and not any(
        m.get("peak_accelerator_memory_mib") for m in memories
    ):
        steps = [m["xla_step_mib"] for m in memories]
        return steps[0], steps[1], "XLA's memory of the training step"
    peaks = [_peak_mib(m) for m in memories]
    return peaks[0], peaks[1], "training peak"


def _imagenet_targets(rows):
    """The bf16 training MFU of JAX on ImageNet-64, where measured."""
    checks = []
    for r in rows:
        if (
            r["name"] == "jax"
            and r["config"].replace("_", "") == "imagenet64"
            and _is_bf16(_row_dtype(r))
            and not _row_remat(r)
            and r.get("train_mfu") is not None
        ):
            checks.append(
                (
                    r["train_mfu"] >= TARGET_IMAGENET64_BF16_MFU,
                    "ImageNet-64 bf16 training MFU on JAX >= "
                    f"{TARGET_IMAGENET64_BF16_MFU:.0%}: {r['train_mfu']:.1%}",
                )
            )
    return checks


def _where(row):
    """`config`, with `bf16` for a bf16 row."""
    return row["config"] + (", bf16" if _is_bf16(_row_dtype(row)) else "")


def _fraction(ratio):
    return "half" if ratio == 0.5 else f"{ratio:g}x"


def scaling_markdown(scaling):
    lines = [
        f"Backend {scaling['backend']}, batch {scaling['batch_size']}, "
        f"{'x'.join(map(str, scaling['image_shape']))} images; one training "
        "step (3 forward passes, no self-conditioning).",
        "",
        "| model | patch | tokens | params (M) | GFLOPs/image | step s | "
        "GFLOP/s |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in scaling["rows"]:
        lines.append(
            f"| {r['model']} | {r['patch_size']} | {r['tokens']} | "
            f"{r['parameters'] / 1e6:.2f} | "
            f"{r['forward_gflops_per_image']:.2f} | "
            f"{r['train_step_s']:.3f} | {r['train_flops_per_s'] / 1e9:.1f} |"
        )
    lines.append("")
    for model, g in scaling["growth"].items():
        lines.append(
            f"- {model}: {g['tokens']:.0f}x the tokens cost {g['time']:.1f}x "
            f"the step time and {g['flops']:.1f}x the FLOPs."
        )
    return lines


def plot_scaling(scaling, path):
    """Step time and FLOPs against tokens, one line per model (log-log),
    as a PNG; returns False when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    figure, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    for model in sorted({r["model"] for r in scaling["rows"]}):
        rows = sorted(
            (r for r in scaling["rows"] if r["model"] == model),
            key=lambda r: r["tokens"],
        )
        tokens = [r["tokens"] for r in rows]
        label = {"rin": "RIN (64 latents)", "vit": "ViT"}.get(model, model)
        axes[0].plot(
            tokens, [r["train_step_s"] for r in rows], "o-", label=label
        )
        axes[1].plot(
            tokens,
            [r["forward_gflops_per_image"] for r in rows],
            "o-",
            label=label,
        )
    titles = ("training step time (s)", "forward GFLOPs per image")
    for axis, title in zip(axes, titles, strict=True):
        axis.set_xscale("log", base=2)
        axis.set_yscale("log")
        axis.set_xlabel("interface tokens")
        axis.set_title(title)
        axis.grid(True, which="both", alpha=0.3)
        axis.legend()
    figure.suptitle(
        f"Cost against tokens ({scaling['backend']}, batch "
        f"{scaling['batch_size']}, {scaling['device']})"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return True


def _number(value, unit, digits):
    return "-" if value is None else f"{value / unit:.{digits}f}"


def _percent(value):
    return "-" if value is None else f"{value:.1%}"


def _memory(report):
    peak = _peak_mib(report)
    return "-" if peak is None else f"{peak:.0f}"


def _peak_mib(report):
    """The accelerator's peak of a memory report where there is one,
    otherwise the process's peak resident memory; None without a report."""
    if not report:
        return None
    peak = report.get("peak_accelerator_memory_mib")
    if peak is None:
        peak = report.get("peak_host_memory_mib")
    return peak


def _suffix(tag):
    """`_<tag>` of the output files, empty without a tag."""
    return f"_{tag}" if tag else ""


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS))
    parser.add_argument(
        "--configs",
        nargs="+",
        default=list(CONFIGS),
        help="small, tiny, or a preset name without 'rin_' (cifar10, "
        "imagenet64)",
    )
    parser.add_argument(
        "--dtypes",
        nargs="+",
        choices=DTYPES,
        default=["float32"],
        help="run every keras-rin and rin-pytorch measurement once per "
        "dtype policy",
    )
    parser.add_argument(
        "--remat",
        action="store_true",
        help="also measure keras-rin's training with rematerialize_blocks",
    )
    parser.add_argument(
        "--jit-compile",
        choices=("auto", "true", "false"),
        default="auto",
        help="`jit_compile` of keras-rin's `model.compile`",
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--train-steps", type=int, default=3)
    parser.add_argument("--sampling-steps", type=int, default=100)
    parser.add_argument(
        "--matmul-sizes",
        type=int,
        nargs="+",
        help="sizes of the reference matrix multiply (default: the "
        "scripts' 2048 and 4096; small ones for smoke runs)",
    )
    parser.add_argument(
        "--no-lucidrains", dest="lucidrains", action="store_false"
    )
    parser.add_argument("--no-scaling", dest="scaling", action="store_false")
    parser.add_argument("--scaling-backend", default="torch")
    parser.add_argument("--scaling-batch-size", type=int, default=4)
    parser.add_argument(
        "--timeout", type=int, default=3600, help="seconds per measurement"
    )
    parser.add_argument("--output-dir", default=os.path.join(HERE, "results"))
    parser.add_argument(
        "--tag",
        default=None,
        help="output files results_<tag>.json and results_<tag>.md (e.g. "
        "gpu, beside the CPU run's); with --from-json, the file's own tag "
        "unless given",
    )
    parser.add_argument(
        "--from-json",
        help="re-write the Markdown of an earlier results.json",
    )
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.from_json:
        with open(args.from_json) as file:
            summary = json.load(file)
    else:
        summary = run_suite(args)
    tag = summary.get("tag", "") if args.tag is None else args.tag
    if tag:
        summary["tag"] = tag
    suffix = _suffix(tag)
    os.makedirs(args.output_dir, exist_ok=True)
    json_path = os.path.join(args.output_dir, f"results{suffix}.json")
    if not args.from_json:
        with open(json_path, "w") as file:
            json.dump(summary, file, indent=1)
    markdown_path = os.path.join(args.output_dir, f"results{suffix}.md")
    with open(markdown_path, "w") as file:
        file.write(markdown(summary))
    print(f"\nWrote {json_path} and {markdown_path}")
    if summary.get("scaling") and "rows" in summary["scaling"]:
        plot_path = os.path.join(args.output_dir, f"scaling{suffix}.png")
        if plot_scaling(summary["scaling"], plot_path):
            print(f"Wrote {plot_path}")
    print(markdown(summary))


if __name__ == "__main__":
    main()
