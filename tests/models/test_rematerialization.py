"""`rematerialize_blocks=True` recomputes each block in the backward pass:
the same outputs, gradients, dropout masks and training run as without."""

import keras
import numpy as np
from keras import ops

import keras_rin
from tests.helpers import backbone_inputs
from tests.helpers import gradients
from tests.helpers import set_self_conditioning_weights
from tests.helpers import tiny_backbone
from tests.helpers import to_numpy
from tests.helpers import toy_images

# One block keeps the eager gradients quick; the remat is per block.
DROPOUT = dict(dropout_rate=0.3, drop_path_rate=0.3, num_blocks=1)


def _backbone(seed, **overrides):
    """A tiny backbone with dropout; equal seeds give equal dropout seeds."""
    keras.utils.set_random_seed(seed)
    backbone = tiny_backbone(**{**DROPOUT, **overrides})
    set_self_conditioning_weights(backbone)
    return backbone


def _loss(backbone, inputs):
    def loss():
        outputs = backbone(inputs, training=True)
        prediction = ops.mean(ops.square(outputs["prediction"]))
        return prediction + ops.mean(ops.square(outputs["latents"]))

    return loss


def _gradients(backbone, inputs):
    return gradients(_loss(backbone, inputs), backbone.trainable_variables)


def test_rematerialized_blocks_give_the_same_gradients():
    plain = _backbone(seed=0)
    remat = _backbone(seed=0, rematerialize_blocks=True)
    remat.set_weights(plain.get_weights())
    inputs = backbone_inputs(plain, batch=4)
    expected = _gradients(plain, inputs)
    got = _gradients(remat, inputs)
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, e, atol=1e-5)
    # The dropout masks matter: other seeds give other gradients, so the
    # recomputation did reuse the first pass's masks.
    other = _backbone(seed=1, rematerialize_blocks=True)
    other.set_weights(plain.get_weights())
    differences = [
        np.abs(g - e).max()
        for g, e in zip(_gradients(other, inputs), expected, strict=True)
    ]
    assert max(differences) > 1e-2
    # And the seed states advance as without rematerialisation.
    for v, w in zip(remat.variables, plain.variables, strict=True):
        np.testing.assert_array_equal(to_numpy(v.value), to_numpy(w.value))


def test_rematerialized_blocks_at_inference():
    plain = _backbone(seed=0)
    remat = _backbone(seed=0, rematerialize_blocks=True)
    remat.set_weights(plain.get_weights())
    inputs = backbone_inputs(plain)
    got = to_numpy(remat(inputs))
    for key, value in to_numpy(plain(inputs)).items():
        np.testing.assert_allclose(got[key], value, atol=1e-6)


def test_fit_with_rematerialized_blocks_is_the_same_run():
    images, labels = toy_images(8)

    def fitted(**overrides):
        # Drop-path only: Keras' Dropout has no seed generator at rate 0.
        keras.utils.set_random_seed(0)
        backbone = tiny_backbone(num_blocks=1, drop_path_rate=0.3, **overrides)
        model = keras_rin.RINImageGenerator(backbone, seed=0)
        model.compile(optimizer=keras.optimizers.AdamW(1e-3))
        history = model.fit(images, labels, batch_size=8, epochs=1, verbose=0)
        return model, history.history["loss"]

    plain, plain_losses = fitted()
    remat, remat_losses = fitted(rematerialize_blocks=True)
    np.testing.assert_allclose(remat_losses, plain_losses, rtol=1e-4)
    for v, w in zip(
        remat.trainable_variables, plain.trainable_variables, strict=True
    ):
        np.testing.assert_allclose(
            to_numpy(v.value), to_numpy(w.value), atol=1e-5
        )
    config = remat.backbone.get_config()
    assert config["rematerialize_blocks"] is True
    restored = keras_rin.RINBackbone.from_config(config)
    assert all(block.rematerialize for block in restored.blocks)


def test_video_backbone_takes_rematerialize_blocks():
    backbone = tiny_backbone(
        video_shape=(4, 8, 8, 3), rematerialize_blocks=True
    )
    assert backbone.get_config()["rematerialize_blocks"] is True
    assert all(block.rematerialize for block in backbone.blocks)
