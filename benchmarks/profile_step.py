"""Where the time of a JAX training step goes: the step's XLA operations
grouped by kind, from a `jax.profiler` trace.

    KERAS_BACKEND=jax python benchmarks/profile_step.py --config cifar10

Runs `fit` on one batch (compilation), then traces `--steps` more steps and
prints one JSON line: for each kind of operation (matrix products, the
element-wise fusions around them, copies and transposes, random bits, ...)
its share of the traced device time and its total seconds, and the ten
slowest operations. This is how `benchmarks/README.md` says where the time
goes; timings themselves come from `throughput.py`.
"""

import argparse
import collections
import glob
import json
import os
import sys
import tempfile

import keras

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import benchmark_utils  # noqa: E402
import throughput  # noqa: E402

# An operation's kind, from the first pattern its name or its HLO text
# contains (in this order).
KINDS = (
    ("random bits (threefry)", ("threefry", "random_bits", "rng")),
    ("matrix products", ("dot", "convolution", "gemm", "matmul", "ynn")),
    ("copies and transposes", ("copy", "transpose")),
    ("reductions", ("reduce",)),
    ("element-wise fusions", ("fusion",)),
)


def kind_of(name):
    lowered = name.lower()
    for kind, patterns in KINDS:
        if any(pattern in lowered for pattern in patterns):
            return kind
    return "other"


def device_events(trace_dir):
    """`(name, seconds)` of the XLA operations in a trace directory."""
    import jax

    paths = glob.glob(
        os.path.join(trace_dir, "**", "*.xplane.pb"), recursive=True
    )
    data = jax.profiler.ProfileData.from_file(paths[-1])
    events = []
    for plane in data.planes:
        for line in plane.lines:
            # GPU/TPU: the "XLA Ops" line; CPU: the XLA thread pools'
            # lines, whose thunks are named after their HLO instruction.
            if "XLA Ops" not in line.name and "XLA" not in line.name:
                continue
            for event in line.events:
                if _is_operation(event.name):
                    events.append((event.name, event.duration_ns * 1e-9))
    return events


def _is_operation(name):
    bookkeeping = ("end:", "Threadpool", "Thunk", "$", "PjRt", "Execute")
    return not name.startswith(bookkeeping) and "::" not in name


def summarise(events, steps):
    by_kind = collections.Counter()
    by_name = collections.Counter()
    for name, seconds in events:
        by_kind[kind_of(name)] += seconds
        by_name[name] += seconds
    total = sum(by_kind.values()) or 1.0
    return {
        "traced_steps": steps,
        # CPU: summed over the threads, so it can exceed the wall time.
        "seconds_per_step": total / steps,
        "share_by_kind": {
            kind: round(seconds / total, 3)
            for kind, seconds in by_kind.most_common()
        },
        "slowest_ops": [
            [name, round(seconds / steps, 4)]
            for name, seconds in by_name.most_common(10)
        ],
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="small")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--remat", action="store_true")
    args = parser.parse_args(argv)
    if keras.config.backend() != "jax":
        raise SystemExit("profile_step.py profiles the JAX backend")
    import jax

    model = throughput.build_model(args.config, rematerialize=args.remat)
    model.compile(optimizer=keras.optimizers.AdamW(1e-4))
    backbone = model.backbone
    images, labels = benchmark_utils.random_images(
        args.batch_size * (args.steps + 1),
        backbone.image_shape,
        backbone.num_classes,
    )
    fit = dict(batch_size=args.batch_size, epochs=1, verbose=0)
    first = slice(0, args.batch_size)
    model.fit(images[first], None if labels is None else labels[first], **fit)
    rest = slice(args.batch_size, None)
    with tempfile.TemporaryDirectory() as trace_dir:
        with jax.profiler.trace(trace_dir):
            model.fit(
                images[rest], None if labels is None else labels[rest], **fit
            )
            benchmark_utils.synchronize(model)
        events = device_events(trace_dir)
    result = {"config": args.config, "remat": args.remat}
    result.update(summarise(events, args.steps))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
