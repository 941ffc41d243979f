"""Compute schedules for sampling: how many latents each step uses.

A compute schedule is a sequence of `(fraction, num_active_latents)` pairs
over the sampling steps, from the noisiest step on; the fractions add up to
1. `[(0.5, 32), (0.25, 64), (0.25, 128)]` runs the noisiest half of the
steps with 32 latents, the next quarter with 64 and the rest with 128.
"""

import math

import numpy as np

from keras_rin.utils import validation


def schedule_segments(compute_schedule, num_steps, allowed_counts, full_count):
    """The steps of each count: a list of `(start, stop, count)`.

    Step boundaries are the rounded cumulative fractions of `num_steps`;
    empty segments are dropped and neighbours with the same count merged.
    None is the full count at every step.

    Args:
        compute_schedule: sequence of `(fraction, count)` or None.
        num_steps: int, the number of sampling steps.
        allowed_counts: the counts a schedule may use.
        full_count: int, the backbone's `num_latents`.

    Raises:
        ValueError: if the schedule is not a non-empty sequence of pairs,
            a fraction is not positive and finite, the fractions do not add
            up to 1, or a count is not allowed.
    """
    if compute_schedule is None:
        return [(0, num_steps, full_count)]
    pairs = _check_pairs(compute_schedule)
    allowed = sorted(set(int(c) for c in allowed_counts) | {full_count})
    unknown = [count for _, count in pairs if count not in allowed]
    if unknown:
        raise ValueError(
            f"`compute_schedule` uses active-latent counts {unknown} that "
            f"this model does not allow; allowed: {allowed} (the model's "
            "`elastic_latent_counts` and `num_latents`). Received: "
            f"compute_schedule={compute_schedule!r}"
        )
    total = sum(fraction for fraction, _ in pairs)
    if not math.isclose(total, 1.0, abs_tol=1e-6):
        raise ValueError(
            "The fractions of `compute_schedule` must add up to 1. "
            f"Received fractions adding up to {total:g}: "
            f"compute_schedule={compute_schedule!r}"
        )
    bounds = np.round(
        np.cumsum([0.0] + [f for f, _ in pairs]) * num_steps
    ).astype(int)
    bounds[-1] = num_steps
    segments = []
    for (start, stop), (_, count) in zip(
        zip(bounds[:-1], bounds[1:], strict=True), pairs, strict=True
    ):
        if stop <= start:
            continue
        if segments and segments[-1][2] == count:
            segments[-1] = (segments[-1][0], int(stop), count)
        else:
            segments.append((int(start), int(stop), count))
    return segments


def steps_per_count(compute_schedule, num_steps, allowed_counts, full_count):
    """`{count: number of steps}` of a schedule."""
    counts = {}
    for start, stop, count in schedule_segments(
        compute_schedule, num_steps, allowed_counts, full_count
    ):
        counts[count] = counts.get(count, 0) + stop - start
    return counts


def _check_pairs(compute_schedule):
    if isinstance(compute_schedule, (str, bytes, dict)) or not hasattr(
        compute_schedule, "__len__"
    ):
        raise ValueError(
            "`compute_schedule` must be a sequence of (fraction, "
            "num_active_latents) pairs, e.g. [(0.5, 32), (0.5, 128)]. "
            f"Received: compute_schedule={compute_schedule!r}"
        )
    pairs = []
    for pair in compute_schedule:
        ok = (
            isinstance(pair, (tuple, list))
            and len(pair) == 2
            and validation.is_finite_number(pair[0])
            and validation.is_int(pair[1])
        )
        if not ok or pair[0] <= 0:
            raise ValueError(
                "Each entry of `compute_schedule` must be a pair "
                "(fraction > 0, int num_active_latents). Received entry "
                f"{pair!r} in compute_schedule={compute_schedule!r}"
            )
        pairs.append((float(pair[0]), int(pair[1])))
    if not pairs:
        raise ValueError(
            "`compute_schedule` must not be empty. Received: "
            f"compute_schedule={compute_schedule!r}"
        )
    return pairs
