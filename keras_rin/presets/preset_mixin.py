from keras_rin.presets import preset_loading
from keras_rin.presets import preset_saving
from keras_rin.presets import registry
from keras_rin.utils import validation


class _ClassProperty:
    def __init__(self, getter):
        self.getter = getter

    def __get__(self, instance, owner):
        return self.getter(owner)


class PresetMixin:
    """Adds `from_preset`, `save_to_preset` and `presets` to a model class.

    The preset directory layout is keras-hub's: `config.json`,
    `metadata.json` and `model.weights.h5`.
    """

    @_ClassProperty
    def presets(cls):
        """`{name: metadata}` of the built-in presets of this class."""
        return registry.list_presets(cls.__name__)

    @classmethod
    def from_preset(cls, preset, load_weights=True, **kwargs):
        """Builds a model from a preset.

        Args:
            preset: a built-in name (see `presets`), a local preset
                directory, `hf://<org>/<name>` or
                `kaggle://<owner>/<model>/keras/<variation>`.
            load_weights: bool. With False, or for an architecture-only
                preset (the paper's configurations), the model is randomly
                initialised, ready to train from scratch.
            **kwargs: model config entries to override, e.g.
                `sampling_schedule="linear"`, or `dtype="mixed_bfloat16"`
                for mixed precision (presets store float32).

        Example:
        ```python
        model = keras_rin.RINImageGenerator.from_preset("rin_digits")
        images = model.generate(labels=[3, 1, 4], seed=0)
        ```
        """
        return preset_loading.load_preset(preset, cls, load_weights, **kwargs)

    def save_to_preset(
        self, preset_dir, description=None, lora_only=False, base_preset=None
    ):
        """Saves the model as a preset directory, atomically (an
        interrupted save never leaves a preset that half loads).

        A model with LoRA (`backbone.enable_lora`) is saved with the LoRA
        products merged into the kernels: a plain preset of the base
        architecture. With `lora_only=True`, only the LoRA weights are
        saved (kilobytes), with the handle of the base preset they adapt
        and the SHA-256 of its weights; `from_preset` on that directory
        loads the base preset, enables LoRA and loads them.

        Args:
            preset_dir: str, the directory to create or replace.
            description: str or None, a one-line description stored in
                `metadata.json`.
            lora_only: bool, save the LoRA weights alone.
            base_preset: with `lora_only`, the handle of the preset that
                the LoRA adapts; None for the one the model was loaded
                from. Name a built-in or hub preset to share the LoRA
                preset (a local directory only works on this machine).

        Raises:
            ValueError: when `preset_dir` is not a path.
            OSError: when the disk has no room for the weights; the old
                preset is kept.

        Example:
        ```python
        model.save_to_preset("presets/my_rin", "RIN on my images")
        model = keras_rin.RINImageGenerator.from_preset("presets/my_rin")
        # A LoRA fine-tune of rin_digits, saved as its LoRA weights alone.
        model = keras_rin.RINImageGenerator.from_preset("rin_digits")
        model.backbone.enable_lora(4)
        ...  # compile and fit
        model.save_to_preset("presets/digits_lora", lora_only=True)
        ```
        """
        from keras_rin.presets import lora_preset

        preset_saving.check_path_argument("preset_dir", preset_dir)
        if validation.check_bool("lora_only", lora_only):
            lora_preset.save_lora_preset(
                self, preset_dir, description, base_preset
            )
        else:
            preset_saving.save_preset(self, preset_dir, description)
