"""Every bad input gets a clear error (issue 18).

One row per case: what triggers it, the exception expected and a pattern
that its message must hold (the argument's name, or for presets the
handle and the file). The models are built once for the module; nothing
here compiles a sampling loop: each bad input is refused before.
"""

import dataclasses
import json
import os
import shutil
import sys
import types

import h5py
import numpy as np
import pytest

import keras_rin
from keras_rin.presets import preset_loading
from tests.helpers import TINY_CONFIG
from tests.helpers import TINY_VIDEO_CONFIG
from tests.helpers import tiny_backbone
from tests.helpers import tiny_video_backbone

# Values past what an int32 counter holds: 2**32 + 2 wrapped around to 2.
HUGE_INTS = [2**31, 2**32 + 2, 2**70]
NOT_COUNTS = [0, -1, 1.5, 2.0, np.float32(2), "2", None, True, *HUGE_INTS]
NOT_FINITE = [float("nan"), float("inf"), -float("inf"), np.float32("nan")]
NOT_BOOLS = ["False", "no", 0, 1, None, [], np.int64(1)]


@dataclasses.dataclass(frozen=True)
class Env:
    """What the triggers work on: models built once, a saved preset and a
    way to write damaged copies of it."""

    generator: object
    unconditional: object
    predictor: object
    preset: str
    workdir: str
    monkeypatch: object

    def edited_preset(self, name, edit_config=None, edit_weights=None):
        """A copy of the preset in `workdir/name`, its parsed config.json
        passed through `edit_config` and its weights file path through
        `edit_weights`."""
        directory = os.path.join(self.workdir, name)
        shutil.rmtree(directory, ignore_errors=True)
        shutil.copytree(self.preset, directory)
        if edit_config is not None:
            path = os.path.join(directory, "config.json")
            with open(path) as file:
                config = json.load(file)
            with open(path, "w") as file:
                json.dump(edit_config(config), file)
        if edit_weights is not None:
            edit_weights(os.path.join(directory, "model.weights.h5"))
        return directory


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    generator = keras_rin.RINImageGenerator(tiny_backbone(), seed=0)
    unconditional = keras_rin.RINImageGenerator(tiny_backbone(num_classes=None))
    predictor = keras_rin.RINVideoPredictor(
        tiny_video_backbone(), num_context_frames=2
    )
    workdir = str(tmp_path_factory.mktemp("bad_inputs"))
    preset = os.path.join(workdir, "preset")
    generator.save_to_preset(preset)
    return generator, unconditional, predictor, preset, workdir


@pytest.fixture
def env(models, monkeypatch):
    return Env(*models, monkeypatch=monkeypatch)


# ----------------------------------------------------------------------
# Triggers
# ----------------------------------------------------------------------


def generate(**kwargs):
    """`generate` on the tiny conditional generator with `kwargs`."""
    kwargs = {"labels": [0], "num_steps": 2, "verbose": 0, **kwargs}
    return lambda env: env.generator.generate(**kwargs)


def read_attention(**kwargs):
    kwargs = {"labels": [0], "num_steps": 2, "verbose": 0, **kwargs}
    return lambda env: env.generator.generate_with_read_attention(**kwargs)


def predict(**kwargs):
    """`generate` on the tiny video predictor (one clip's context)."""
    context = np.zeros((1, 2, 8, 8, 3), "float32")
    kwargs = {"num_steps": 2, "verbose": 0, **kwargs}
    return lambda env: env.predictor.generate(context, **kwargs)


def backbone(**kwargs):
    return lambda env: keras_rin.RINBackbone(**{**TINY_CONFIG, **kwargs})


def video_backbone(**kwargs):
    config = {**TINY_VIDEO_CONFIG, **kwargs}
    return lambda env: keras_rin.RINVideoBackbone(**config)


def image_generator(**kwargs):
    return lambda env: keras_rin.RINImageGenerator(
        env.generator.backbone, **kwargs
    )


def video_predictor(**kwargs):
    kwargs = {"num_context_frames": 2, **kwargs}
    return lambda env: keras_rin.RINVideoPredictor(
        env.predictor.backbone, **kwargs
    )


def from_preset(edit_config=None, edit_weights=None, cls=None, **kwargs):
    """Loads a copy of the tiny preset, edited, as `cls` (by default a
    RINImageGenerator; "any" for `keras_rin.presets.load_preset`)."""

    def trigger(env):
        name = f"edited_{abs(hash((edit_config, edit_weights)))}"
        directory = env.edited_preset(name, edit_config, edit_weights)
        if cls == "any":
            return keras_rin.presets.load_preset(directory, **kwargs)
        model_class = cls or keras_rin.RINImageGenerator
        return model_class.from_preset(directory, **kwargs)

    return trigger


def hub_without_network(handle, module_name, function_name):
    """Loads `handle` with a stand-in hub library whose download fails as
    it does offline with nothing in the cache."""

    class LocalEntryNotFoundError(FileNotFoundError, ValueError):
        pass

    def download(*args, **kwargs):
        raise LocalEntryNotFoundError(
            "Cannot find the requested files in the disk cache and "
            "outgoing traffic has been disabled."
        )

    def trigger(env):
        stand_in = types.SimpleNamespace(**{function_name: download})
        env.monkeypatch.setitem(sys.modules, module_name, stand_in)
        return keras_rin.RINImageGenerator.from_preset(handle)

    return trigger


def upload(uri, edit=None):
    """Uploads a copy of the tiny preset (it has no model card), passed
    through `edit`, with a stand-in hub library that must not be
    called."""

    def refuse(*args, **kwargs):
        raise AssertionError("the upload must be refused before this call")

    def trigger(env):
        stand_in = types.SimpleNamespace(
            create_repo=refuse, upload_folder=refuse, model_upload=refuse
        )
        for module_name in ("huggingface_hub", "kagglehub"):
            env.monkeypatch.setitem(sys.modules, module_name, stand_in)
        directory = env.edited_preset(f"upload_{abs(hash(edit))}")
        if edit is not None:
            edit(directory)
        return keras_rin.upload_preset(uri, directory)

    return trigger


def with_model_card(directory):
    with open(os.path.join(directory, "README.md"), "w") as file:
        file.write("# Tiny\n")


def architecture_only(directory):
    with_model_card(directory)
    os.remove(os.path.join(directory, "model.weights.h5"))


def model_config(edit):
    """A config.json edit of the model's own config."""

    def edit_config(config):
        config["config"] = edit(dict(config["config"]))
        return config

    return edit_config


def without(key):
    return lambda mapping: {k: v for k, v in mapping.items() if k != key}


def with_entries(**entries):
    return lambda mapping: {**mapping, **entries}


def backbone_entries(**entries):
    return model_config(
        lambda config: dict(config, backbone={**config["backbone"], **entries})
    )


LAMBDA_LAYER = {
    "module": "keras.layers",
    "class_name": "Lambda",
    "config": {
        "name": "evil",
        "function": {
            "class_name": "__lambda__",
            "config": {"code": "4wEAAAAAAAAA", "defaults": None},
        },
    },
    "registered_name": None,
}

SEQUENTIAL = {
    "module": "keras",
    "class_name": "Sequential",
    "config": {"name": "sequential", "layers": []},
    "registered_name": None,
}


def nan_payload(path):
    """Fills the bytes of the file's first array with 0xff (NaN floats):
    the file stays a valid HDF5 file."""
    with h5py.File(path, "r") as file:
        arrays = []
        file.visititems(
            lambda _, item: (
                arrays.append(item) if isinstance(item, h5py.Dataset) else None
            )
        )
        offset = arrays[0].id.get_offset()
        size = arrays[0].id.get_storage_size()
    with open(path, "r+b") as file:
        file.seek(offset)
        file.write(b"\xff" * size)


def damaged_heap(path):
    """Breaks the signature of the file's local heaps, so that walking
    the file fails (h5py: `RuntimeError: Object visitation failed`)."""
    with open(path, "rb") as file:
        data = file.read()
    with open(path, "wb") as file:
        file.write(data.replace(b"HEAP", b"PAEH"))


# ----------------------------------------------------------------------
# The table
# ----------------------------------------------------------------------


def rows_for(name, values, make, match=None):
    """One row per bad value of argument `name`."""
    return [
        pytest.param(
            make(**{name: value}),
            ValueError,
            match or f"`{name}`",
            id=f"{make.__name__}-{name}={value!r}"[:60],
        )
        for value in values
    ]


def row(case_id, trigger, match, error=ValueError):
    return pytest.param(trigger, error, match, id=case_id)


CASES = [
    # --- generate: step counts and other counts past int32 --------------
    *rows_for(
        "num_steps",
        [value for value in NOT_COUNTS if value is not None] + NOT_FINITE,
        generate,
    ),
    *rows_for(
        "batch_size",
        [value for value in NOT_COUNTS if value is not None] + NOT_FINITE,
        generate,
    ),
    *rows_for("num_images", [0, -1, 1.5, "2", True, *HUGE_INTS], generate),
    *rows_for("num_steps", [0, 2**31, 2**32 + 2], read_attention),
    *rows_for("num_steps", [2**31, -1, "3"], predict),
    row(
        "read_attention-steps=[2**40]",
        read_attention(steps=[2**40]),
        "`steps`",
    ),
    row("read_attention-steps=[-1]", read_attention(steps=[-1]), "`steps`"),
    row("read_attention-steps=[0.5]", read_attention(steps=[0.5]), "`steps`"),
    row(
        "compute_schedule-count=2**40",
        generate(compute_schedule=[(1.0, 2**40)]),
        "`compute_schedule`",
    ),
    row(
        "compute_schedule-fraction=nan",
        generate(compute_schedule=[(float("nan"), 12)]),
        "`compute_schedule`",
    ),
    row(
        "compute_schedule-fraction=-1",
        generate(compute_schedule=[(-1.0, 12), (2.0, 12)]),
        "`compute_schedule`",
    ),
    # --- generate: labels -----------------------------------------------
    *rows_for(
        "labels",
        [
            [1.0, 2.0],
            [True, False],
            True,
            np.float32(1),
            "1",
            ["a"],
            [None],
            [],
            [[0]],
            [0, [1]],
            [float("nan")],
            [-1],
            [3],
            [2**70],
            np.array([0.0, 1.0]),
        ],
        generate,
    ),
    row("generate-labels=None", generate(labels=None), "`labels`"),
    row(
        "unconditional-labels",
        lambda env: env.unconditional.generate(labels=[0], verbose=0),
        "`labels`",
    ),
    row(
        "unconditional-num_images=None",
        lambda env: env.unconditional.generate(verbose=0),
        "`num_images`",
    ),
    row("predict-labels", predict(labels=[0]), "`labels`"),
    # --- generate: other options ----------------------------------------
    *rows_for("clip_x0", NOT_BOOLS, generate),
    *rows_for("seed", [-1, 1.5, "0", np.float64(1), True], generate),
    *rows_for("guidance_scale", [*NOT_FINITE, -1.0, 1e39, "2", True], generate),
    *rows_for("verbose", ["yes", 3, -1, 0.5, None], generate),
    *rows_for("sampler", ["euler", 3, "DDPM"], generate),
    *rows_for("spacing", ["karras", 1, "Time"], generate),
    *rows_for("eta", [-0.1, 1.5, float("nan"), "0", None], generate),
    row(
        "generate-eta_without_ddim",
        generate(sampler="dpmpp_2m", eta=0.5),
        '`eta` is the noise of the "ddim" sampler',
    ),
    *rows_for(
        "guidance_interval",
        [(0.5,), (0.8, 0.2), (-0.1, 1.0), (0.0, 1.5), (0, float("nan")), "0,1"],
        generate,
    ),
    *rows_for("strength", [0.0, -0.5, 1.5, float("inf"), "0.5"], generate),
    row(
        "generate-strength_without_init_images",
        generate(strength=0.5),
        "`strength` needs `init_images`",
    ),
    *rows_for(
        "init_images",
        [
            np.full((1, 8, 8, 1), 2.0, "float32"),
            np.full((1, 8, 8, 1), np.nan, "float32"),
            np.zeros((1, 4, 4, 1), "float32"),
            np.zeros((2, 8, 8, 1), "float32"),
            np.zeros((1, 8, 8, 1), "int64"),
        ],
        generate,
    ),
    *rows_for(
        "mask",
        [
            np.zeros((4, 4), bool),
            np.full((8, 8), 0.5),
            np.array(["a"] * 64).reshape(8, 8),
            np.zeros((8, 8, 2), bool),
        ],
        lambda **kwargs: generate(
            init_images=np.zeros((8, 8, 1), "float32"), **kwargs
        ),
        "`mask`",
    ),
    row(
        "generate-mask_without_init_images",
        generate(mask=np.zeros((8, 8), bool)),
        "`mask` needs `init_images`",
    ),
    *rows_for("resample_jumps", [-1, 1.5, 101, "2"], generate),
    row(
        "generate-resample_jumps_without_mask",
        generate(resample_jumps=2, init_images=np.zeros((8, 8, 1))),
        "`resample_jumps` is a setting of inpainting",
    ),
    row(
        "predict-init_frames_shape",
        predict(init_frames=np.zeros((1, 3, 8, 8, 3), "float32")),
        "`init_frames`",
    ),
    row(
        "predict-mask_without_init_frames",
        predict(mask=np.zeros((8, 8), bool)),
        "`mask` needs `init_frames`",
    ),
    # --- RINBackbone and RINVideoBackbone ---------------------------------
    *[
        case
        for name in (
            "patch_size",
            "num_latents",
            "latent_dim",
            "interface_dim",
            "num_blocks",
            "block_depth",
            "latent_num_heads",
            "rw_num_heads",
            "latent_mlp_ratio",
            "interface_mlp_ratio",
        )
        for case in rows_for(
            name, [0, -1, 2.0, "4", None, 2**31, float("nan")], backbone
        )
    ],
    *rows_for("num_classes", [0, -3, 2.0, 2**31, "3"], backbone),
    *rows_for(
        "epsilon", [0, -1e-6, *NOT_FINITE, "1e-6", None, 1e-300], backbone
    ),
    *rows_for(
        "time_scaling", [0, -1.0, *NOT_FINITE, None, 1e300, 1e-300], backbone
    ),
    *rows_for("dropout_rate", [-0.1, 1.0, *NOT_FINITE, "0"], backbone),
    *rows_for("drop_path_rate", [-0.1, 1.0, float("nan")], backbone),
    *rows_for("rematerialize_blocks", ["yes", 1, None], backbone),
    *rows_for(
        "image_shape",
        [None, 8, (8, 8), (8, 8, 0), (8, -8, 1), (8.0, 8, 1), "881"],
        backbone,
    ),
    *rows_for("image_shape", [(2**31, 8, 1)], backbone),
    *rows_for(
        "video_shape", [None, (8, 8, 3), (4, 8, 8, 2**32)], video_backbone
    ),
    *rows_for("frames_per_patch", [0, -2, 2**31, 1.5], video_backbone),
    row(
        "backbone-a_misspelt_argument",
        backbone(dropout=0.1),
        r"Unrecognized keyword arguments passed to RINBackbone: "
        r"\{'dropout'",
    ),
    row(
        "video_backbone-a_misspelt_argument",
        video_backbone(num_class=3),
        "RINVideoBackbone: {'num_class'",
    ),
    # --- RINImageGenerator and RINVideoPredictor --------------------------
    *rows_for(
        "self_conditioning_rate", [-0.1, 1.5, *NOT_FINITE], image_generator
    ),
    *rows_for("label_dropout_rate", [-0.1, 1.0, float("nan")], image_generator),
    *rows_for(
        "input_scale", [0, -1.0, *NOT_FINITE, "1", 1e39], image_generator
    ),
    *rows_for("seed", [-1, 1.5, "0"], image_generator),
    *rows_for("guidance_scale", [-1.0, float("nan"), None], image_generator),
    *rows_for("sampler", ["euler", None], image_generator),
    *rows_for("num_sampling_steps", [0, 2**31, 1.5, None], image_generator),
    *rows_for("sampling_spacing", ["karras", None], image_generator),
    *rows_for("guidance_interval", [(0.9, 0.1), 0.5], image_generator),
    *rows_for(
        "sampling_schedule",
        ["quadratic", {"name": "nope"}, {"name": ["cosine"]}, 3],
        image_generator,
        match="noise schedule",
    ),
    row(
        "image_generator-schedule_with_an_unknown_argument",
        image_generator(sampling_schedule={"name": "cosine", "foo": 1}),
        r"cosine.*\['foo'\]",
    ),
    row(
        "image_generator-schedule_with_a_bad_value",
        image_generator(train_schedule={"name": "sigmoid", "tau": -1.0}),
        "`tau`",
    ),
    row(
        "image_generator-elastic_latent_counts=[2**40]",
        image_generator(elastic_latent_counts=[2**40]),
        "`num_active_latents`",
    ),
    row(
        "image_generator-seed=2**40",
        image_generator(seed=2**40),
        "`seed`",
    ),
    row(
        "image_generator-elastic_latent_probabilities=['a', 'b']",
        image_generator(
            elastic_latent_counts=[6, 12],
            elastic_latent_probabilities=["a", "b"],
        ),
        "`elastic_latent_probabilities`",
    ),
    *rows_for(
        "num_context_frames", [0, -1, 4, 2**31, 1.5, "2"], video_predictor
    ),
    # --- from_preset --------------------------------------------------------
    *rows_for("load_weights", NOT_BOOLS, from_preset),
    *rows_for("input_scale", [float("nan"), -1.0], from_preset),
    row(
        "preset-unknown_override",
        from_preset(no_such_argument=1),
        "no_such_argument",
    ),
    row(
        "preset-config_without_the_model_config",
        from_preset(without("config")),
        "Cannot load preset .*config.json holds no model config",
    ),
    row(
        "preset-config_without_the_backbone",
        from_preset(model_config(without("backbone"))),
        "Cannot load preset .*config.json holds no backbone",
    ),
    row(
        "preset-registered_name_of_another_model",
        from_preset(
            with_entries(registered_name="keras_rin>RINVideoPredictor")
        ),
        "Cannot load preset .*config.json is not a keras-rin preset: "
        "its class_name 'RINImageGenerator' does not match its "
        "registered_name",
    ),
    row(
        "preset-registered_name_of_another_model-any_class",
        from_preset(
            with_entries(registered_name="keras_rin>RINVideoPredictor"),
            cls="any",
        ),
        "not a keras-rin preset: its class_name",
    ),
    row(
        "preset-registered_name_of_a_backbone",
        from_preset(
            with_entries(
                class_name="RINBackbone",
                registered_name="keras_rin>RINBackbone",
            ),
            cls="any",
        ),
        "not a keras-rin preset: its model is a 'RINBackbone'",
    ),
    row(
        "preset-backbone_registered_as_another",
        from_preset(
            backbone_entries(registered_name="keras_rin>RINVideoBackbone")
        ),
        "not a keras-rin preset: its class_name 'RINBackbone' does not",
    ),
    row(
        "preset-a_keras_model_not_a_keras_rin_one",
        from_preset(lambda config: SEQUENTIAL),
        "Cannot load preset .*it holds a Sequential, not a RINImageGenerator",
    ),
    row(
        "preset-a_keras_model_not_a_keras_rin_one-any_class",
        from_preset(lambda config: SEQUENTIAL, cls="any"),
        "not a keras-rin preset: its model is a 'Sequential'",
    ),
    row(
        "preset-a_lambda_layer_as_backbone",
        from_preset(model_config(with_entries(backbone=LAMBDA_LAYER))),
        "not a keras-rin preset: it holds a lambda",
    ),
    row(
        "preset-a_module_outside_keras",
        from_preset(with_entries(module="os")),
        "not a keras-rin preset: 'RINImageGenerator' comes from module 'os'",
    ),
    row(
        "preset-a_function_from_another_module",
        from_preset(
            backbone_entries(
                config={
                    **TINY_CONFIG,
                    "dtype": {
                        "module": "subprocess",
                        "class_name": "function",
                        "config": "getoutput",
                        "registered_name": "function",
                    },
                }
            )
        ),
        "not a keras-rin preset: 'function' comes from module 'subprocess'",
    ),
    row(
        "preset-a_backbone_config_that_does_not_build",
        from_preset(backbone_entries(config={**TINY_CONFIG, "epsilon": 0})),
        "`epsilon` must be a finite number > 0",
    ),
    row(
        "preset-a_backbone_config_with_an_unknown_argument",
        from_preset(backbone_entries(config={**TINY_CONFIG, "colour": "red"})),
        "colour",
    ),
    row(
        "preset-weights_with_nan_bytes",
        from_preset(edit_weights=nan_payload),
        "Cannot load preset .*model.weights.h5 is damaged: it holds "
        "non-finite values",
    ),
    row(
        "preset-weights_with_a_damaged_heap",
        from_preset(edit_weights=damaged_heap),
        "Cannot load preset .*model.weights.h5 is corrupt",
    ),
    row(
        "preset-hf_handle_without_network",
        hub_without_network(
            "hf://keras-rin/tiny", "huggingface_hub", "snapshot_download"
        ),
        "Cannot load preset 'hf://keras-rin/tiny': downloading it from "
        "the Hugging Face Hub failed: the network .* "
        r"\(LocalEntryNotFoundError",
    ),
    row(
        "preset-kaggle_handle_without_network",
        hub_without_network(
            "kaggle://me/rin/keras/tiny", "kagglehub", "model_download"
        ),
        "Cannot load preset 'kaggle://me/rin/keras/tiny': downloading it "
        "from Kaggle failed",
    ),
    # --- upload_preset --------------------------------------------------
    row(
        "upload-uri_of_an_unknown_scheme",
        upload("s3://bucket/tiny"),
        "Cannot upload to `uri`='s3://bucket/tiny': unknown scheme",
    ),
    row(
        "upload-kaggle_uri_without_a_variation",
        upload("kaggle://me/rin/keras"),
        "`uri`='kaggle://me/rin/keras': expected kaggle://",
    ),
    row(
        "upload-preset_without_a_model_card",
        upload("hf://org/tiny"),
        "Cannot upload preset .*: README.md is missing",
    ),
    row(
        "upload-architecture_only_preset",
        upload("kaggle://me/rin/keras/tiny", architecture_only),
        "Cannot upload preset .*: it has no model.weights.h5",
    ),
]


@pytest.mark.parametrize("trigger,error,match", CASES)
def test_bad_input_raises_a_clear_error(env, trigger, error, match):
    with pytest.raises(error, match=match) as raised:
        trigger(env)
    assert type(raised.value) is error


def test_the_checked_preset_still_loads(env):
    # The checks refuse what they must and nothing more: the preset they
    # start from loads, with and without its weights.
    model = keras_rin.RINImageGenerator.from_preset(env.preset)
    assert model.backbone.latent_dim == env.generator.backbone.latent_dim
    assert (
        preset_loading.read_backbone_config(env.preset)["num_latents"]
        == (TINY_CONFIG["num_latents"])
    )
    keras_rin.presets.load_preset(env.preset, load_weights=np.bool_(False))
