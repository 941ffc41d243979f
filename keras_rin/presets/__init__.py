"""Named presets: the built-in zoo, handles (name, directory, `hf://`,
`kaggle://`), atomic saving and loading, and uploading to a hub."""

from keras_rin.presets.preset_loading import load_preset
from keras_rin.presets.preset_loading import read_backbone_config
from keras_rin.presets.preset_mixin import PresetMixin
from keras_rin.presets.preset_saving import save_preset
from keras_rin.presets.preset_upload import upload_preset
from keras_rin.presets.registry import builtin_presets
from keras_rin.presets.registry import list_presets

__all__ = [
    "PresetMixin",
    "builtin_presets",
    "list_presets",
    "load_preset",
    "read_backbone_config",
    "save_preset",
    "upload_preset",
]
