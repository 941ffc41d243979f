import math

import numpy as np
import pytest
from keras import ops

from keras_rin.diffusion import schedules

T = np.linspace(0.0, 1.0, 101).astype("float32")


def _numpy(x):
    return ops.convert_to_numpy(x)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def test_cosine_matches_closed_form():
    expected = np.cos(((T + 2e-4) / (1 + 2.5e-4)) * np.pi / 2) ** 2
    np.testing.assert_allclose(
        _numpy(schedules.CosineSchedule()(T)), expected, atol=1e-6
    )


@pytest.mark.parametrize("start,end,tau", [(-3, 3, 0.9), (0, 3, 0.3)])
def test_sigmoid_matches_closed_form(start, end, tau):
    v_start, v_end = _sigmoid(start / tau), _sigmoid(end / tau)
    expected = (v_end - _sigmoid((T * (end - start) + start) / tau)) / (
        v_end - v_start
    )
    expected = np.clip(expected, 1e-9, 1.0)
    got = _numpy(schedules.SigmoidSchedule(start, end, tau)(T))
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_linear_matches_closed_form():
    got = _numpy(schedules.LinearSchedule()(T))
    np.testing.assert_allclose(got, np.clip(1 - T, 1e-9, 1), atol=1e-7)


@pytest.mark.parametrize("name", ["cosine", "sigmoid", "linear"])
def test_schedules_fall_from_one_to_zero(name):
    gamma = _numpy(schedules.get(name)(T))
    assert gamma[0] == pytest.approx(1.0, abs=1e-6)
    assert gamma[-1] == pytest.approx(0.0, abs=1e-6)
    assert np.all(np.diff(gamma) <= 1e-7)
    assert np.all(gamma > 0)
    assert gamma.dtype == np.float32


def test_get_accepts_names_dicts_and_instances():
    schedule = schedules.SigmoidSchedule(start=0, end=3, tau=0.7)
    assert schedules.get(schedule) is schedule
    restored = schedules.get(schedules.serialize(schedule))
    assert isinstance(restored, schedules.SigmoidSchedule)
    assert restored.get_config() == schedule.get_config()
    assert isinstance(schedules.get("cosine"), schedules.CosineSchedule)


@pytest.mark.parametrize("identifier", ["quadratic", {"name": "nope"}, 3])
def test_unknown_schedule_raises(identifier):
    with pytest.raises(ValueError, match="Unknown noise schedule"):
        schedules.get(identifier)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(start=3, end=-3), "`end` must be larger"),
        (dict(tau=0.0), "`tau` must be > 0"),
        (dict(tau=math.nan), "`tau` must be a finite number"),
        (dict(clip_min=2.0), "`clip_min`"),
    ],
)
def test_bad_sigmoid_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        schedules.SigmoidSchedule(**kwargs)
