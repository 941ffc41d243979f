"""The `keras-rin` command: sample from a preset, list presets, describe
one, upload one to a hub. The backend comes from `--backend`, else
`KERAS_BACKEND`, else Keras' own config, else the first installed of jax,
torch and tensorflow: the package's `__init__` chooses it before keras is
imported (see `keras_rin._cli_startup`); keras and the rest of keras_rin
are imported here only inside the commands.

    keras-rin generate rin_digits --output digits.png
    keras-rin generate rin_digits --labels 3,1,4 --steps 50 --sampler ddim
    keras-rin generate rin_digits --labels 8,8 --init-image three.png \
        --strength 0.6
    keras-rin generate rin_digits_elastic --compute-schedule 0.75:4,0.25:16
    keras-rin presets
    keras-rin info rin_imagenet_256
    keras-rin upload presets/my_rin hf://my-org/my_rin
    keras-rin upload presets/my_rin kaggle://me/my_rin/keras/base
    keras-rin --backend jax export rin_digits digits_sampler --steps 10
"""

import argparse
import math
import os
import sys

# keras_rin.diffusion's samplers and spacings, named here so that the
# parser is built before keras is imported (a test keeps them equal).
SAMPLERS = ("ddpm", "ddim", "dpmpp_2m", "dpmpp_3m", "heun")
SPACINGS = ("time", "logsnr", "edm")
# Classes up to this many get one grid column each by default.
_MAX_CLASS_COLUMNS = 16
_DEFAULT_PER_CLASS = 8
_DEFAULT_UNCONDITIONAL = 16
# Small images are magnified to at least this many pixels a side.
_MIN_CELL_PIXELS = 48


class _ArgumentParser(argparse.ArgumentParser):
    def error(self, message):
        raise _UsageError(message)


class _UsageError(Exception):
    pass


def main(argv=None):
    """Runs the command line; returns the exit status."""
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
        _check_backend_in_use(args.backend)
        args.run(args)
    except _UsageError as error:
        _print_error(f"{error} (see keras-rin {_subcommand(argv)}--help)")
        return 2
    except (ValueError, ImportError, OSError, NotImplementedError) as error:
        _print_error(error)
        return 1
    except KeyboardInterrupt:
        _print_error("interrupted")
        return 130
    return 0


def _check_backend_in_use(backend):
    # `--backend` takes effect before keras is imported (see
    # `_cli_startup`); in a process that already runs keras, e.g. a call of
    # `main()` from Python, it can only be checked.
    if backend is None or "keras" not in sys.modules:
        return
    import keras

    if keras.backend.backend() != backend:
        raise ValueError(
            f"--backend {backend}: this process already runs keras on "
            f"{keras.backend.backend()}; the backend is chosen when keras is "
            "first imported (run the keras-rin command, or set KERAS_BACKEND)"
        )


def _build_parser():
    parser = _ArgumentParser(
        prog="keras-rin",
        description="Recurrent Interface Networks for Keras 3.",
    )
    _add_backend_option(parser, default=None)
    # Also accepted after the command; SUPPRESS keeps a subcommand from
    # resetting a value given before it.
    backend_option = _ArgumentParser(add_help=False)
    _add_backend_option(backend_option, default=argparse.SUPPRESS)
    commands = parser.add_subparsers(
        title="commands", required=True, parser_class=_ArgumentParser
    )

    generate = commands.add_parser(
        "generate",
        help="sample images from a preset into an image grid",
        parents=[backend_option],
    )
    generate.add_argument(
        "preset", help="built-in name, directory, hf:// or kaggle:// handle"
    )
    generate.add_argument(
        "--labels",
        type=_int_list,
        help="comma-separated class labels, e.g. 3,1,4 (default: every "
        "class in turn)",
    )
    generate.add_argument(
        "--num-images", type=_positive_int, help="number of images"
    )
    generate.add_argument(
        "--steps",
        type=_positive_int,
        help="sampling steps (default: the preset's)",
    )
    generate.add_argument(
        "--sampler",
        choices=SAMPLERS,
        help="the solver (default: the preset's)",
    )
    generate.add_argument(
        "--spacing",
        choices=SPACINGS,
        help="where the steps go: uniform in time, in logSNR, or EDM's "
        "(default: the preset's)",
    )
    generate.add_argument(
        "--eta", type=float, default=0.0, help="noise of the ddim sampler"
    )
    generate.add_argument("--seed", type=int, default=0)
    generate.add_argument(
        "--guidance-scale",
        type=float,
        help="classifier-free guidance weight (1: none; default: the preset's)",
    )
    generate.add_argument(
        "--guidance-interval",
        type=_float_pair,
        help="guide only the steps with LOW < t <= HIGH, e.g. 0.1,1.0 "
        "(default: the preset's, else every step)",
    )
    generate.add_argument(
        "--init-image",
        help="an image file to edit (resized to the model's images): noised "
        "to --strength and denoised, or inpainted with --mask",
    )
    generate.add_argument(
        "--strength",
        type=float,
        default=1.0,
        help="with --init-image: the time in (0, 1] from which to denoise "
        "(1: from pure noise)",
    )
    generate.add_argument(
        "--mask",
        help="with --init-image: an image file, white where the model draws, "
        "black where the init image is kept",
    )
    generate.add_argument(
        "--resample-jumps",
        type=int,
        default=0,
        help="with --mask: extra denoising passes per step (RePaint)",
    )
    generate.add_argument(
        "--compute-schedule",
        type=_compute_schedule,
        help="active latents per share of the steps, noisiest first, e.g. "
        "0.5:4,0.25:8,0.25:16 (a preset trained with elastic latents; "
        "default: all latents at every step)",
    )
    generate.add_argument("--batch-size", type=_positive_int)
    generate.add_argument(
        "--columns", type=_positive_int, help="images per grid row"
    )
    generate.add_argument(
        "--output",
        default="samples.png",
        help="image file to write (.png, .jpg, .webp, ...; its directory is "
        "created if need be)",
    )
    generate.set_defaults(run=_generate)

    presets = commands.add_parser(
        "presets", help="list the built-in presets", parents=[backend_option]
    )
    presets.set_defaults(run=_list_presets)

    info = commands.add_parser(
        "info",
        help="a preset's configuration, parameters and GFLOPs",
        parents=[backend_option],
    )
    info.add_argument("preset")
    info.set_defaults(run=_info)

    _add_upload_command(commands, backend_option)
    _add_export_command(commands, backend_option)
    return parser


def _add_upload_command(commands, backend_option):
    upload = commands.add_parser(
        "upload",
        help="check a preset directory and publish it to the Hugging Face "
        "Hub or Kaggle",
        parents=[backend_option],
    )
    upload.add_argument(
        "preset_dir",
        help="a local preset directory with its README.md model card",
    )
    upload.add_argument(
        "uri",
        help="hf://<org>/<name> or kaggle://<owner>/<model>/keras/<variation>",
    )
    upload.set_defaults(run=_upload)


def _add_export_command(commands, backend_option):
    export = commands.add_parser(
        "export",
        help="export a preset's sampler as a TensorFlow SavedModel for "
        "serving (from the jax or tensorflow backend)",
        parents=[backend_option],
    )
    export.add_argument(
        "preset", help="built-in name, directory, hf:// or kaggle:// handle"
    )
    export.add_argument("path", help="the SavedModel directory to write")
    export.add_argument(
        "--steps", type=_positive_int, help="sampling steps (the preset's)"
    )
    export.add_argument("--sampler", choices=SAMPLERS)
    export.add_argument("--spacing", choices=SPACINGS)
    export.add_argument("--guidance-scale", type=float)
    export.add_argument(
        "--num-images",
        type=_positive_int,
        help="images per call (unconditional image presets only)",
    )
    export.set_defaults(run=_export)


def _add_backend_option(parser, default):
    parser.add_argument(
        "--backend",
        choices=("jax", "tensorflow", "torch"),
        default=default,
        help="the Keras backend (default: KERAS_BACKEND, else Keras' "
        "keras.json, else the first installed of jax, torch, tensorflow)",
    )


def _generate(args):
    import keras_rin
    from keras_rin import _cli_startup

    _check_output_path(args.output)
    _check_image_preset(args.preset)
    model = keras_rin.RINImageGenerator.from_preset(args.preset)
    num_classes = model.num_classes
    labels, num_images = _labels_and_count(args, num_classes)
    if _cli_startup.backend_note:
        print(_cli_startup.backend_note, file=sys.stderr)
    init_images, mask = _edit_inputs(args, model, num_images or len(labels))
    images = model.generate(
        num_images=num_images,
        labels=labels,
        num_steps=args.steps,
        sampler=args.sampler,
        seed=args.seed,
        batch_size=args.batch_size,
        guidance_scale=args.guidance_scale,
        compute_schedule=args.compute_schedule,
        spacing=args.spacing,
        eta=args.eta,
        guidance_interval=args.guidance_interval,
        init_images=init_images,
        strength=args.strength,
        mask=mask,
        resample_jumps=args.resample_jumps,
    )
    _save_grid(images, args, num_classes)
    if args.compute_schedule:
        steps = args.steps or model.num_sampling_steps
        flops = keras_rin.utils.count_sampling_flops
        scheduled = flops(model, steps, args.compute_schedule)
        print(
            f"Compute schedule: {scheduled / 1e9:.3g} GFLOPs per image, "
            f"{scheduled / flops(model, steps):.2f}x full compute"
        )


def _edit_inputs(args, model, count):
    """`(init_images, mask)` from `--init-image` and `--mask`: the image
    repeated `count` times, resized to the model's images; the mask
    white (> 127) where the model draws."""
    if args.init_image is None:
        if args.mask is not None:
            raise _UsageError("argument --mask: needs --init-image")
        return None, None
    import numpy as np

    height, width, channels = model.backbone.image_shape
    image = _read_image(args.init_image, "--init-image", (width, height))
    image = image.convert("L" if channels == 1 else "RGB")
    pixels = np.asarray(image, "uint8").reshape(height, width, -1)
    init_images = np.repeat(pixels[None, :, :, :channels], count, axis=0)
    if args.mask is None:
        return init_images, None
    mask = _read_image(args.mask, "--mask", (width, height), nearest=True)
    return init_images, np.asarray(mask.convert("L")) > 127


def _read_image(path, option, size, nearest=False):
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.load()
    except OSError as error:
        raise _UsageError(
            f"argument {option}: cannot read an image from {path!r} ({error})"
        ) from None
    method = Image.Resampling.NEAREST if nearest else Image.Resampling.LANCZOS
    return image.resize(size, method) if image.size != size else image


def _save_grid(images, args, num_classes):
    from keras_rin import visualization

    columns = args.columns or _default_columns(args, num_classes, len(images))
    height, width = images.shape[1:3]
    upscale = max(1, math.ceil(_MIN_CELL_PIXELS / min(height, width)))
    directory = os.path.dirname(args.output)
    if directory:
        os.makedirs(directory, exist_ok=True)
    visualization.save_image_grid(
        images, args.output, num_columns=columns, upscale=upscale
    )
    print(f"Saved {len(images)} images to {args.output}")


def _check_output_path(path):
    """Reports a file that cannot be written before the model loads."""
    from PIL import Image

    Image.init()
    extension = os.path.splitext(path)[1].lower()
    if Image.registered_extensions().get(extension) not in Image.SAVE:
        raise _UsageError(
            f"argument --output: cannot write an image to {path!r}: end it "
            "with .png, .jpg, .webp, .gif, .bmp or another image extension "
            "Pillow writes"
        )
    if os.path.isdir(path):
        raise _UsageError(f"argument --output: {path!r} is a directory")
    # The nearest existing ancestor: the rest is created before saving.
    directory = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(directory):
        directory = os.path.dirname(directory)
    if not os.path.isdir(directory) or not os.access(directory, os.W_OK):
        raise _UsageError(
            f"argument --output: cannot create {path!r}: {directory!r} is "
            "not a writable directory"
        )


def _check_image_preset(preset):
    config, _ = _read_model_config(preset)
    if config["class_name"] == "RINVideoPredictor":
        raise ValueError(
            f"{preset} is a video prediction preset: it continues given "
            "context frames, which this command does not take. Use "
            f'keras_rin.RINVideoPredictor.from_preset("{preset}")'
            ".generate(context_frames) in Python."
        )


def _read_model_config(preset):
    """`(config, directory)`: a preset's parsed config.json, checked to hold
    a backbone, and its local directory, without building the model."""
    from keras_rin.presets import preset_loading

    directory, config = preset_loading.read_preset(preset)
    model = config.get("config")
    backbone = model.get("backbone") if isinstance(model, dict) else None
    if not isinstance(backbone, dict) or not isinstance(
        backbone.get("config"), dict
    ):
        raise ValueError(
            f"Cannot load preset {preset!r}: its config.json holds no "
            "backbone (expected config.backbone.config)"
        )
    return config, directory


def _labels_and_count(args, num_classes):
    if not num_classes:
        if args.labels is not None:
            raise ValueError(
                "`--labels` needs a class-conditional preset; this one is "
                "unconditional. Use --num-images."
            )
        return None, args.num_images or _DEFAULT_UNCONDITIONAL
    if args.labels is not None:
        if args.num_images is not None:
            raise ValueError("Give --labels or --num-images, not both.")
        return args.labels, None
    default = _DEFAULT_PER_CLASS * min(num_classes, _MAX_CLASS_COLUMNS)
    count = args.num_images or default
    return [i % num_classes for i in range(count)], None


def _default_columns(args, num_classes, count):
    if args.labels is not None:
        return min(count, _MAX_CLASS_COLUMNS)
    if num_classes and num_classes <= _MAX_CLASS_COLUMNS:
        return min(count, num_classes)
    return math.ceil(math.sqrt(count))


def _list_presets(args):
    import keras_rin

    presets = keras_rin.presets.list_presets()
    width = max(len(name) for name in presets)
    print(f"{'name':<{width}}  {'params':>8}  {'GFLOPs':>8}  weights  about")
    for name, info in presets.items():
        params = f"{info['parameter_count'] / 1e6:.1f}M"
        gflops = f"{info['flops'] / 1e9:.2f}"
        weights = "yes" if info["has_weights"] else "no"
        print(
            f"{name:<{width}}  {params:>8}  {gflops:>8}  {weights:<7}  "
            f"{info.get('description', '')}"
        )


def _upload(args):
    from keras_rin.presets import preset_upload

    uri = preset_upload.upload_preset(args.uri, args.preset_dir)
    print(f"Uploaded {args.preset_dir} to {uri}")


def _export(args):
    from keras_rin.presets import preset_loading

    model = preset_loading.load_preset(args.preset)
    options = dict(
        num_steps=args.steps,
        sampler=args.sampler,
        spacing=args.spacing,
        guidance_scale=args.guidance_scale,
    )
    if args.num_images is not None:
        options["num_images"] = args.num_images
    path = model.export_sampler(args.path, **options)
    print(f"Exported the sampler of {args.preset} to {path}")


def _info(args):
    # Read from the config alone: building the ImageNet-1024 model only to
    # describe it would take minutes and gigabytes.
    config, directory = _read_model_config(args.preset)
    try:
        rows = _info_rows(args.preset, config, directory)
    except KeyError as error:
        raise ValueError(
            f"Cannot describe preset {args.preset!r}: its config.json has "
            f"no {error} entry"
        ) from None
    width = max(len(key) for key, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")


def _info_rows(preset, config, directory):
    from keras_rin.presets import registry
    from keras_rin.utils import flops

    model = config["config"]
    backbone = model["backbone"]["config"]
    weights = os.path.isfile(os.path.join(directory, registry.WEIGHTS_FILE))
    num_tokens, _ = flops.interface_size(backbone)
    data_rows, patch_shape, unit = _data_rows(config, backbone)
    return [
        ("preset", preset),
        ("parameters", f"{flops.count_params(backbone):,}"),
        (
            "GFLOPs",
            f"{flops.count_flops(backbone) / 1e9:.2f} "
            f"(one {unit}, one forward pass, multiply-add = 2)",
        ),
        *data_rows,
        ("classes", backbone.get("num_classes") or "unconditional"),
        (
            "interface",
            f"{num_tokens} tokens ({patch_shape} patches) of dim "
            f"{backbone['interface_dim']}",
        ),
        (
            "latents",
            f"{backbone['num_latents']} of dim {backbone['latent_dim']}",
        ),
        (
            "blocks",
            f"{backbone['num_blocks']} x depth {backbone['block_depth']}",
        ),
        ("prediction target", model["prediction_target"]),
        ("input scale", model["input_scale"]),
        ("guidance scale", model.get("guidance_scale", 1.0)),
        ("guidance interval", model.get("guidance_interval") or "every step"),
        ("sampler", _sampler_description(model)),
        (
            "elastic latents",
            ", ".join(map(str, model.get("elastic_latent_counts") or []))
            or "no",
        ),
        ("weights", "yes" if weights else "no"),
    ]


def _sampler_description(model):
    """The sampler a preset's model uses by default (its config's, else
    the class's)."""
    from keras_rin.diffusion import sampling_options as defaults

    sampler = model.get("sampler", defaults.DEFAULT_SAMPLER)
    steps = model.get("num_sampling_steps", defaults.DEFAULT_NUM_STEPS)
    spacing = model.get("sampling_spacing", defaults.DEFAULT_SPACING)
    return f"{sampler}, {steps} steps, {spacing} spacing"


def _data_rows(config, backbone):
    """`(rows, patch shape, unit)` of an image or a video preset."""
    patch = backbone["patch_size"]
    if "video_shape" not in backbone:
        height, width, channels = backbone["image_shape"]
        rows = [("image shape", f"{height}x{width}x{channels}")]
        return rows, f"{patch}x{patch}", "image"
    frames, height, width, channels = backbone["video_shape"]
    context = config["config"]["num_context_frames"]
    rows = [
        ("model", config["class_name"]),
        ("clip shape", f"{frames}x{height}x{width}x{channels}"),
        ("frames", f"{context} context, {frames - context} predicted"),
    ]
    return rows, f"{backbone['frames_per_patch']}x{patch}x{patch}", "clip"


def _int_list(text):
    try:
        values = [int(item) for item in text.split(",") if item.strip()]
    except ValueError:
        values = []
    if not values:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        )
    return values


def _float_pair(text):
    try:
        values = tuple(float(item) for item in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 2:
        raise argparse.ArgumentTypeError(
            f"expected two comma-separated numbers LOW,HIGH, got {text!r}"
        )
    return values


def _compute_schedule(text):
    pairs = []
    for item in text.split(","):
        fraction, _, count = item.partition(":")
        try:
            pairs.append((float(fraction), int(count)))
        except ValueError:
            raise argparse.ArgumentTypeError(
                "expected fraction:count pairs separated by commas, e.g. "
                f"0.5:4,0.5:16, got {text!r}"
            ) from None
    return pairs


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(
            f"expected a positive integer, got {text!r}"
        )
    return value


def _subcommand(argv):
    argv = sys.argv[1:] if argv is None else argv
    known = ("generate", "presets", "info", "upload")
    return f"{argv[0]} " if argv and argv[0] in known else ""


def _print_error(message):
    message = " ".join(str(message).split())
    print(f"keras-rin: error: {message}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
