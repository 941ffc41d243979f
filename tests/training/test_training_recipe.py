import json
import math

import keras
import pytest

import keras_rin
from keras_rin.training import TrainingRecipe

# Table C.2 of the paper (updates, batch, weight decay, lr decay, EMA) and
# the official CIFAR-10 run.
EXPECTED = {
    "rin_cifar10": (150_000, 256, 1e-2, "cosine", 0.9999),
    "rin_imagenet_64": (300_000, 1024, 1e-2, "cosine", 0.9999),
    "rin_imagenet_128": (600_000, 1024, 1e-3, "cosine", 0.9999),
    "rin_imagenet_256": (600_000, 1024, 1e-3, "cosine", 0.9999),
    "rin_imagenet_512": (1_000_000, 1024, 1e-2, "cosine", 0.9999),
    "rin_imagenet_1024": (1_000_000, 512, 1e-2, "none", 0.9999),
    "rin_kinetics600": (500_000, 1024, 1e-3, "cosine", 0.99),
}


@pytest.mark.parametrize("preset", sorted(EXPECTED))
def test_paper_recipes(preset):
    recipe = TrainingRecipe.from_preset(preset)
    got = (
        recipe.total_steps,
        recipe.batch_size,
        recipe.weight_decay,
        recipe.decay,
        recipe.ema_momentum,
    )
    assert got == EXPECTED[preset]
    assert recipe.optimizer == "lamb"
    assert recipe.exclude_from_weight_decay == ("bias", "beta", "gamma")
    assert recipe.global_clipnorm is None


def test_every_builtin_preset_has_a_recipe():
    for name in keras_rin.presets.builtin_presets():
        TrainingRecipe.from_preset(name)


def test_cifar10_recipe_builds_the_official_optimizer():
    recipe = TrainingRecipe.from_preset("rin_cifar10")
    optimizer = recipe.build_optimizer()
    assert isinstance(optimizer, keras_rin.optimizers.LAMB)
    assert optimizer.use_ema and optimizer.ema_momentum == 0.9999
    schedule = optimizer._learning_rate
    assert float(schedule(10_000)) == pytest.approx(3e-3)
    # cosine@0.8: the learning rate ends 0.8 of the way down the curve.
    end = 3e-3 * (1 + math.cos(0.8 * math.pi)) / 2
    assert float(schedule(150_000)) == pytest.approx(end, rel=1e-4)


def test_a_short_run_keeps_the_shape_of_the_schedule():
    recipe = TrainingRecipe.from_preset("rin_cifar10")
    assert recipe.warmup_steps_for(1_500) == 100
    assert recipe.warmup_steps_for(2) == 1
    assert recipe.warmup_steps_for(300_000) == 10_000


def test_adamw_recipe_excludes_its_patterns():
    recipe = TrainingRecipe(optimizer="adamw", total_steps=10, warmup_steps=1)
    optimizer = recipe.build_optimizer()
    assert isinstance(optimizer, keras.optimizers.AdamW)
    bias = keras.Variable([1.0, 2.0], name="bias")
    kernel = keras.Variable([[1.0]], name="kernel")
    optimizer.build([bias, kernel])
    assert not optimizer._use_weight_decay(bias)
    assert optimizer._use_weight_decay(kernel)


def test_save_and_reload(tmp_path):
    recipe = TrainingRecipe(
        global_clipnorm=1.0, total_steps=100, warmup_steps=10
    )
    recipe.save(tmp_path)
    assert TrainingRecipe.from_preset(str(tmp_path)) == recipe
    assert recipe.replace(batch_size=8).batch_size == 8


@pytest.mark.parametrize(
    "changes, argument",
    [
        (dict(optimizer="sgd"), "optimizer"),
        (dict(decay="step"), "decay"),
        (dict(warmup_steps=20, total_steps=10), "warmup_steps"),
        (dict(total_steps=0), "total_steps"),
        (dict(learning_rate=-1.0), "learning_rate"),
        (dict(ema_momentum=1.0), "ema_momentum"),
        (dict(global_clipnorm=0.0), "global_clipnorm"),
    ],
)
def test_bad_fields_raise(changes, argument):
    with pytest.raises(ValueError, match=argument):
        TrainingRecipe(**changes)


def test_unknown_and_missing_recipes(tmp_path):
    (tmp_path / "recipe.json").write_text(json.dumps({"lr": 1}))
    with pytest.raises(ValueError, match="lr"):
        TrainingRecipe.from_preset(str(tmp_path))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no training recipe"):
        TrainingRecipe.from_preset(str(empty))
    with pytest.raises(ValueError, match="no_such_preset"):
        TrainingRecipe.from_preset("no_such_preset")
