import contextlib
import copy
import json

import keras
import numpy as np
import pytest

from keras_rin.optimizers import LAMB
from keras_rin.optimizers import WarmupCosineDecay

LR = 0.01
WD = 0.1
STEPS = 3


def make_variable(value, path):
    """A `keras.Variable` whose `path` is `path`, e.g. `block/query/bias`."""
    *scopes, name = path.split("/")
    with contextlib.ExitStack() as stack:
        for scope in scopes:
            stack.enter_context(keras.name_scope(scope))
        return keras.Variable(value, name=name)


def toy_problem(paths, seed=0):
    """Initial values and `STEPS` gradients for each path."""
    rng = np.random.default_rng(seed)
    shapes = {"kernel": (3, 4), "gamma": (4,)}
    values, grads = [], []
    for path in paths:
        shape = shapes.get(path.rsplit("/", 1)[-1], (4,))
        values.append(rng.uniform(0.5, 1.5, shape) * rng.choice([-1, 1], shape))
        grads.append([rng.normal(size=shape) for _ in range(STEPS)])
    return values, grads


def run_optimizer(optimizer, paths, values, grads):
    variables = [
        make_variable(value.astype("float32"), path)
        for value, path in zip(values, paths, strict=True)
    ]
    for step in range(STEPS):
        optimizer.apply([g[step].astype("float32") for g in grads], variables)
    return [keras.ops.convert_to_numpy(v) for v in variables]


def reference(
    w, grads, weight_decay, adapt, decoupled=False, beta_1=0.9, beta_2=0.999
):
    """NumPy LAMB. `decoupled=False` is the official (tfa) update;
    `decoupled=True` is `keras.optimizers.Lamb` with its base class weight
    decay."""
    m = v = np.zeros_like(w)
    for t, g in enumerate(grads, start=1):
        if decoupled:
            w = w - LR * weight_decay * w
        m = beta_1 * m + (1 - beta_1) * g
        v = beta_2 * v + (1 - beta_2) * g**2
        m_hat = m / (1 - beta_1**t)
        v_hat = v / (1 - beta_2**t)
        update = m_hat / (np.sqrt(v_hat) + 1e-8)
        if not decoupled:
            update = update + weight_decay * w
        ratio = 1.0
        w_norm, u_norm = np.linalg.norm(w), np.linalg.norm(update)
        if adapt and w_norm > 0 and u_norm > 0:
            ratio = w_norm / u_norm
        w = w - LR * ratio * update
    return w


def check(optimizer, expected_flags, weight_decay=WD):
    """`expected_flags` maps a path to (uses weight decay, uses layer
    adaptation)."""
    paths = list(expected_flags)
    values, grads = toy_problem(paths)
    results = run_optimizer(optimizer, paths, values, grads)
    for path, value, grad, result in zip(
        paths, values, grads, results, strict=True
    ):
        decay, adapt = expected_flags[path]
        expected = reference(value, grad, weight_decay * decay, adapt)
        np.testing.assert_allclose(
            result, expected, rtol=1e-6, atol=1e-7, err_msg=path
        )


def test_matches_the_official_update():
    check(
        LAMB(LR, weight_decay=WD),
        {
            "block/query/kernel": (True, True),
            "block/query/bias": (False, False),
            "block/norm/gamma": (False, False),
            "block/norm/beta": (False, False),
        },
    )


def test_positional_embeddings_and_latents_are_not_excluded():
    check(
        LAMB(LR, weight_decay=WD),
        {
            "tokenizer/position_embedding": (True, True),
            "learned_latents/latents": (True, True),
        },
    )


def test_custom_patterns_match_the_path():
    check(
        LAMB(
            LR,
            weight_decay=WD,
            exclude_from_weight_decay=["^readout/"],
            exclude_from_layer_adaptation=["norm"],
        ),
        {
            "readout/dense/kernel": (False, True),
            "block/norm/gamma": (True, False),
            "block/query/bias": (True, True),
        },
    )


def test_layer_adaptation_list_is_separate():
    check(
        LAMB(LR, weight_decay=WD, exclude_from_layer_adaptation=[]),
        {
            "dense/kernel": (True, True),
            "dense/bias": (False, True),
        },
    )


def test_base_class_exclusion_method_is_honoured():
    optimizer = LAMB(LR, weight_decay=WD)
    optimizer.exclude_from_weight_decay(var_names=["kernel"])
    check(optimizer, {"dense/kernel": (False, False)})


def test_same_as_keras_lamb_without_weight_decay_on_a_kernel():
    paths = ["dense/kernel"]
    values, grads = toy_problem(paths)
    ours = run_optimizer(LAMB(LR), paths, values, grads)
    theirs = run_optimizer(
        keras.optimizers.Lamb(LR, epsilon=1e-8), paths, values, grads
    )
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-6, atol=1e-7)


def test_differs_from_keras_lamb_on_a_bias():
    # Keras' Lamb applies the trust ratio to a bias; the official update
    # is the plain Adam step there.
    paths = ["dense/bias"]
    values, grads = toy_problem(paths)
    ours = run_optimizer(LAMB(LR), paths, values, grads)[0]
    theirs = run_optimizer(
        keras.optimizers.Lamb(LR, epsilon=1e-8), paths, values, grads
    )[0]
    adam = reference(values[0], grads[0], 0.0, adapt=False)
    lamb = reference(values[0], grads[0], 0.0, adapt=True)
    np.testing.assert_allclose(ours, adam, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(theirs, lamb, rtol=1e-6, atol=1e-7)
    assert np.max(np.abs(ours - theirs)) > 1e-3


def test_weight_decay_is_inside_the_trust_ratio():
    paths = ["dense/kernel"]
    values, grads = toy_problem(paths)
    ours = run_optimizer(LAMB(LR, weight_decay=WD), paths, values, grads)[0]
    theirs = run_optimizer(
        keras.optimizers.Lamb(LR, epsilon=1e-8, weight_decay=WD),
        paths,
        values,
        grads,
    )[0]
    inside = reference(values[0], grads[0], WD, adapt=True)
    decoupled = reference(values[0], grads[0], WD, adapt=True, decoupled=True)
    np.testing.assert_allclose(ours, inside, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(theirs, decoupled, rtol=1e-6, atol=1e-7)
    assert np.max(np.abs(ours - theirs)) > 1e-4


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"weight_decay": -0.1}, "weight_decay"),
        ({"exclude_from_weight_decay": "bias"}, "exclude_from_weight_decay"),
        ({"exclude_from_layer_adaptation": ["("]}, "exclude_from_layer"),
    ],
)
def test_invalid_arguments(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        LAMB(**kwargs)


def test_serialization_round_trip():
    schedule = WarmupCosineDecay(
        1e-3, total_steps=100, warmup_steps=10, decay_fraction=0.8
    )
    optimizer = LAMB(
        schedule,
        weight_decay=0.01,
        exclude_from_layer_adaptation=["norm"],
        global_clipnorm=1.0,
        use_ema=True,
    )
    config = optimizer.get_config()
    assert config["weight_decay"] == 0.01
    assert config["exclude_from_weight_decay"] == ["bias", "beta", "gamma"]
    assert config["exclude_from_layer_adaptation"] == ["norm"]
    restored = LAMB.from_config(copy.deepcopy(config))
    assert restored.get_config() == config

    serialized = json.loads(json.dumps(keras.optimizers.serialize(optimizer)))
    restored = keras.optimizers.deserialize(serialized)
    assert isinstance(restored, LAMB)
    assert isinstance(restored._learning_rate, WarmupCosineDecay)
    assert restored.get_config() == config


def test_fit_with_ema_and_global_clipnorm():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = x @ rng.normal(size=(4, 1)).astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.LayerNormalization(),
            keras.layers.Dense(1),
        ]
    )
    schedule = WarmupCosineDecay(0.05, total_steps=16, warmup_steps=2)
    optimizer = LAMB(
        schedule, weight_decay=0.01, use_ema=True, global_clipnorm=1.0
    )
    model.compile(optimizer=optimizer, loss="mse")
    before = [keras.ops.convert_to_numpy(w) for w in model.weights]
    history = model.fit(x, y, batch_size=16, epochs=4, verbose=0)
    after = [keras.ops.convert_to_numpy(w) for w in model.weights]
    assert int(keras.ops.convert_to_numpy(optimizer.iterations)) == 16
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert all(np.all(np.isfinite(w)) for w in after)
    assert all(
        not np.allclose(b, a) for b, a in zip(before, after, strict=True)
    )
