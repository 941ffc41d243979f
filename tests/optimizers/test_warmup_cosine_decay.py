import copy
import json
import math

import keras
import numpy as np
import pytest

from keras_rin.optimizers import WarmupCosineDecay
from keras_rin.utils.compiled_function import compile_inference_function

BASE = 1e-3


def value(schedule, step):
    return float(keras.ops.convert_to_numpy(schedule(step)))


def test_linear_warmup():
    schedule = WarmupCosineDecay(BASE, total_steps=100, warmup_steps=10)
    assert value(schedule, 0) == pytest.approx(0.0, abs=1e-12)
    assert value(schedule, 5) == pytest.approx(BASE / 2, rel=1e-6)
    assert value(schedule, 10) == pytest.approx(BASE, rel=1e-6)


def test_full_cosine_ends_at_the_floor():
    schedule = WarmupCosineDecay(
        BASE, total_steps=100, warmup_steps=10, end_learning_rate_factor=0.1
    )
    # Halfway through the decay the cosine is at 0.5.
    assert value(schedule, 55) == pytest.approx(BASE * 0.55, rel=1e-6)
    assert value(schedule, 100) == pytest.approx(0.1 * BASE, rel=1e-5)
    assert value(schedule, 1000) == pytest.approx(0.1 * BASE, rel=1e-5)


def test_partial_cosine_of_the_official_cifar10_run():
    schedule = WarmupCosineDecay(
        BASE, total_steps=100, warmup_steps=10, decay_fraction=0.8
    )
    final = BASE * (1 + math.cos(0.8 * math.pi)) / 2
    assert final == pytest.approx(0.0955 * BASE, rel=1e-3)
    assert value(schedule, 100) == pytest.approx(final, rel=1e-5)
    assert value(schedule, 500) == pytest.approx(final, rel=1e-5)
    halfway = BASE * (1 + math.cos(0.4 * math.pi)) / 2
    assert value(schedule, 55) == pytest.approx(halfway, rel=1e-5)


def test_no_decay():
    schedule = WarmupCosineDecay(
        BASE, total_steps=100, warmup_steps=10, decay="none"
    )
    assert value(schedule, 5) == pytest.approx(BASE / 2, rel=1e-6)
    for step in (10, 60, 100, 1000):
        assert value(schedule, step) == pytest.approx(BASE, rel=1e-6)


def test_linear_decay():
    schedule = WarmupCosineDecay(
        BASE,
        total_steps=100,
        warmup_steps=10,
        decay="linear",
        end_learning_rate_factor=0.2,
    )
    assert value(schedule, 55) == pytest.approx(BASE * 0.6, rel=1e-6)
    assert value(schedule, 100) == pytest.approx(BASE * 0.2, rel=1e-6)
    assert value(schedule, 200) == pytest.approx(BASE * 0.2, rel=1e-6)


def test_without_warmup_and_with_warmup_only():
    assert value(WarmupCosineDecay(BASE, total_steps=10), 0) == pytest.approx(
        BASE, rel=1e-6
    )
    schedule = WarmupCosineDecay(
        BASE, total_steps=10, warmup_steps=10, end_learning_rate_factor=0.5
    )
    assert value(schedule, 5) == pytest.approx(BASE / 2, rel=1e-6)
    assert value(schedule, 10) == pytest.approx(BASE / 2, rel=1e-6)


def test_tensor_steps_in_a_compiled_function():
    schedule = WarmupCosineDecay(
        BASE, total_steps=100, warmup_steps=10, decay_fraction=0.8
    )
    compiled = compile_inference_function(schedule, [])
    for step in (5, 55, 100):
        tensor = keras.ops.convert_to_tensor(step, "int32")
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(compiled(tensor)),
            value(schedule, step),
            rtol=1e-6,
        )


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"learning_rate": -1.0}, "learning_rate"),
        ({"total_steps": 0}, "total_steps"),
        ({"warmup_steps": 101}, "warmup_steps"),
        ({"warmup_steps": -1}, "warmup_steps"),
        ({"decay": "exponential"}, "decay"),
        ({"decay_fraction": 0.0}, "decay_fraction"),
        ({"decay_fraction": 1.5}, "decay_fraction"),
        ({"end_learning_rate_factor": -0.1}, "end_learning_rate_factor"),
    ],
)
def test_invalid_arguments(kwargs, argument):
    arguments = {"learning_rate": BASE, "total_steps": 100, **kwargs}
    with pytest.raises(ValueError, match=f"`{argument}`.*Received: {argument}"):
        WarmupCosineDecay(**arguments)


def test_serialization_round_trip():
    schedule = WarmupCosineDecay(
        BASE,
        total_steps=100,
        warmup_steps=10,
        decay="linear",
        end_learning_rate_factor=0.1,
        name="schedule",
    )
    config = schedule.get_config()
    restored = WarmupCosineDecay.from_config(copy.deepcopy(config))
    assert restored.get_config() == config
    serialized = keras.optimizers.schedules.serialize(schedule)
    restored = keras.optimizers.schedules.deserialize(
        json.loads(json.dumps(serialized))
    )
    assert isinstance(restored, WarmupCosineDecay)
    assert restored.get_config() == config
    assert value(restored, 55) == pytest.approx(value(schedule, 55))
