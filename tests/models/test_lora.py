"""LoRA fine-tuning: only the LoRA weights train, EMA and backups work as
in full training, and both ways of saving (merged, LoRA alone) load back
to the same samples."""

import json
import os

import keras
import numpy as np
import pytest

import keras_rin
from keras_rin.models import lora
from tests.helpers import randomize
from tests.helpers import tiny_backbone
from tests.helpers import toy_images

IMAGES, LABELS = toy_images(16)
FIT = dict(batch_size=8, shuffle=False, verbose=0)
SAMPLE = dict(labels=[0, 1, 2], num_steps=3, seed=0, verbose=0)


def _values(variables):
    return [keras.ops.convert_to_numpy(v) for v in variables]


def _compile(model, ema=True, eager=None):
    # TensorFlow spends long tracing each new model's step; these few
    # steps run faster eagerly, and the LoRA logic is the same.
    if eager is None:
        eager = keras.config.backend() == "tensorflow"
    optimizer = keras.optimizers.AdamW(1e-2, use_ema=ema, ema_momentum=0.5)
    model.compile(optimizer=optimizer, run_eagerly=eager)


@pytest.fixture(scope="module")
def base_preset(tmp_path_factory):
    """A tiny model with random (non-trivial) weights, saved as a preset."""
    keras.utils.set_random_seed(0)
    backbone = tiny_backbone()
    randomize(backbone)
    directory = str(tmp_path_factory.mktemp("lora") / "base")
    keras_rin.RINImageGenerator(backbone).save_to_preset(directory)
    return directory


@pytest.fixture(scope="module")
def tuned(base_preset):
    """The base preset fine-tuned with LoRA for one epoch, with the EMA;
    and the weights before the fit."""
    model = keras_rin.RINImageGenerator.from_preset(base_preset)
    model.backbone.enable_lora(2, targets=["attention", "mlp", "embeddings"])
    before = {id(v): v.numpy().copy() for v in model.weights}
    _compile(model)
    model.fit(IMAGES, LABELS, epochs=1, **FIT)
    # What both ways of saving must give back.
    before["samples"] = model.generate(**SAMPLE)
    return model, before


def test_only_the_lora_weights_are_trainable_and_the_model_is_unchanged():
    keras.utils.set_random_seed(0)
    backbone = tiny_backbone()
    randomize(backbone)
    model = keras_rin.RINImageGenerator(backbone)
    before = model.generate(**SAMPLE)
    count = backbone.enable_lora(4, targets="attention")
    names = {v.path.split("/")[-1] for v in backbone.trainable_weights}
    assert names == {"lora_kernel_a", "lora_kernel_b"}
    # Four projections in each attention: one read, one write and one
    # compute attention per block.
    assert len(backbone.trainable_weights) == 2 * 4 * 3 * 2
    assert count == sum(int(np.prod(v.shape)) for v in model.trainable_weights)
    assert backbone.lora_config.to_dict() == {
        "rank": 4,
        "alpha": 4.0,
        "targets": ["attention"],
    }
    # `B` starts at zero: the adapted model samples as the base model.
    np.testing.assert_allclose(model.generate(**SAMPLE), before, atol=1e-6)
    # The sampler compiled before LoRA existed is not reused: it would
    # not see the LoRA weights.
    for layer in lora.lora_layers(model):
        layer.lora_kernel_b.assign(np.full(layer.lora_kernel_b.shape, 0.5))
    assert np.abs(model.generate(**SAMPLE) - before).max() > 1e-2


def test_each_target_adapts_its_own_layers():
    backbone = tiny_backbone()
    counts = {
        target: len(lora.target_layers(backbone, [target]))
        for target in lora.LORA_TARGETS
    }
    # 2 blocks of 3 attentions; MLPs: read, write, compute and the
    # self-conditioning one; embeddings: noise level (2), class, patches.
    assert counts == {"attention": 24, "mlp": 14, "embeddings": 4, "readout": 1}


def test_fit_trains_only_the_lora_weights_and_keeps_their_ema(tuned):
    model, before = tuned
    trained = {id(v) for v in lora.lora_weights(model)}
    for variable in model.weights:
        if "seed_generator" in variable.path:
            continue
        same = np.array_equal(before[id(variable)], variable.numpy())
        assert same == (id(variable) not in trained), variable.path
    # The model holds the EMA of the LoRA weights; the raw ones are kept
    # aside for the next fit.
    averages = model.optimizer._model_variables_moving_average
    for value, average in zip(
        _values(model.trainable_variables), _values(averages), strict=True
    ):
        np.testing.assert_array_equal(value, average)
    assert model._raw_weights.holds_ema


def test_a_merged_preset_is_a_plain_preset_with_the_same_samples(
    tuned, tmp_path
):
    model, before = tuned
    expected = before["samples"]
    model.save_to_preset(tmp_path / "merged")
    with open(tmp_path / "merged" / "config.json") as file:
        assert "lora" not in file.read()
    loaded = keras_rin.RINImageGenerator.from_preset(tmp_path / "merged")
    assert loaded.backbone.lora_config is None
    assert loaded.count_params() == lora.count_base_params(model)
    np.testing.assert_allclose(loaded.generate(**SAMPLE), expected, atol=1e-5)


def test_a_lora_preset_holds_the_lora_weights_and_loads_on_its_base(
    tuned, base_preset, tmp_path
):
    model, before = tuned
    expected = before["samples"]
    directory = tmp_path / "lora_only"
    model.save_to_preset(directory, "digits, adapted", lora_only=True)
    assert sorted(os.listdir(directory)) == [
        "lora.json",
        "lora.weights.h5",
        "metadata.json",
    ]
    with open(directory / "lora.json") as file:
        config = json.load(file)
    assert config["base_preset"] == os.path.abspath(base_preset)
    assert config["rank"] == 2
    loaded = keras_rin.RINImageGenerator.from_preset(directory)
    assert loaded.backbone.lora_config == model.backbone.lora_config
    assert loaded.preset_handle == os.path.abspath(base_preset)
    np.testing.assert_allclose(loaded.generate(**SAMPLE), expected, atol=1e-6)
    # Its backbone config is the base preset's.
    assert keras_rin.presets.read_backbone_config(str(directory))[
        "latent_dim"
    ] == (model.backbone.latent_dim)


def test_a_lora_preset_refuses_a_base_whose_weights_changed(
    tuned, base_preset, tmp_path
):
    model, _ = tuned
    base_copy = tmp_path / "base"
    keras_rin.RINImageGenerator.from_preset(base_preset).save_to_preset(
        base_copy
    )
    model.save_to_preset(
        tmp_path / "lora", lora_only=True, base_preset=str(base_copy)
    )
    other = keras_rin.RINImageGenerator.from_preset(base_copy)
    randomize(other.backbone, seed=5)
    other.save_to_preset(base_copy)
    with pytest.raises(ValueError, match="trained on other weights"):
        keras_rin.RINImageGenerator.from_preset(tmp_path / "lora")


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda b: b.enable_lora(0), "`rank`"),
        (lambda b: b.enable_lora(2.5), "`rank`"),
        (lambda b: b.enable_lora(2, targets=["conv"]), "`targets`"),
        (lambda b: b.enable_lora(2, targets=[]), "`targets`"),
        (lambda b: b.enable_lora(2, lora_alpha=-1.0), "`lora_alpha`"),
    ],
)
def test_bad_lora_arguments_raise_a_clear_error(call, match):
    backbone = tiny_backbone()
    with pytest.raises(ValueError, match=match):
        call(backbone)
    # Nothing was enabled: it still can be.
    backbone.enable_lora(2)


def test_lora_is_enabled_once_and_lora_only_needs_it_and_a_base(tmp_path):
    model = keras_rin.RINImageGenerator(tiny_backbone())
    with pytest.raises(ValueError, match="needs a backbone with LoRA"):
        model.save_to_preset(tmp_path / "a", lora_only=True)
    model.backbone.enable_lora(2)
    with pytest.raises(ValueError, match="already enabled"):
        model.backbone.enable_lora(2)
    with pytest.raises(ValueError, match="`base_preset`"):
        model.save_to_preset(tmp_path / "a", lora_only=True)
    with pytest.raises(ValueError, match="`lora_only`"):
        model.save_to_preset(tmp_path / "a", lora_only="yes")


class _Interrupt(keras.callbacks.Callback):
    def on_train_batch_begin(self, batch, logs=None):
        if self.model.optimizer.iterations.numpy() == 3:
            raise KeyboardInterrupt


def test_an_interrupted_lora_run_resumes_with_its_lora_weights(
    base_preset, tmp_path
):
    # Two updates per epoch; the run is interrupted in the second epoch
    # and resumes from the backup of the first.
    fit = FIT

    def fresh(seed=0):
        # The same LoRA initialisation for the reference and the
        # interrupted run; the resumed run gets its weights from the
        # backup.
        keras.utils.set_random_seed(seed)
        model = keras_rin.RINImageGenerator.from_preset(base_preset, seed=1)
        model.backbone.enable_lora(2)
        _compile(model, ema=False, eager=True)
        return model

    reference = fresh()
    reference.fit(IMAGES, LABELS, epochs=2, **fit)
    backup = keras_rin.callbacks.BackupAndRestore(tmp_path / "b")
    interrupted = fresh()
    with pytest.raises(KeyboardInterrupt):
        interrupted.fit(
            IMAGES, LABELS, epochs=2, callbacks=[backup, _Interrupt()], **fit
        )
    resumed = fresh(seed=1)
    resumed.fit(
        IMAGES,
        LABELS,
        epochs=2,
        callbacks=[keras_rin.callbacks.BackupAndRestore(tmp_path / "b")],
        **fit,
    )
    assert len(resumed.history.history["loss"]) == 1
    for a, b in zip(
        _values(reference.weights), _values(resumed.weights), strict=True
    ):
        np.testing.assert_allclose(a, b, atol=1e-5)
