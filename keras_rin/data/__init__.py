"""Data sets for training and evaluating RIN models."""

from keras_rin.data.bouncing_shapes import bouncing_shapes_splits
from keras_rin.data.bouncing_shapes import make_bouncing_shapes
from keras_rin.data.data_unavailable_error import DataUnavailableError
from keras_rin.data.digits import load_digits
from keras_rin.data.emoji import EMOJI_GROUPS
from keras_rin.data.emoji import load_emoji
from keras_rin.data.image_datasets import load_image_folder
from keras_rin.data.image_datasets import load_tfds_images
from keras_rin.data.video_datasets import load_tfds_videos
from keras_rin.data.video_datasets import load_video_folder

__all__ = [
    "DataUnavailableError",
    "EMOJI_GROUPS",
    "bouncing_shapes_splits",
    "load_digits",
    "load_emoji",
    "load_image_folder",
    "load_tfds_images",
    "load_tfds_videos",
    "load_video_folder",
    "make_bouncing_shapes",
]
