"""Pictures a person can open: image grids (PNG), video GIFs and frame
strips, and read-attention maps."""

from keras_rin.visualization.attention_maps import read_attention_grid
from keras_rin.visualization.attention_maps import save_read_attention_grid
from keras_rin.visualization.image_grid import image_grid
from keras_rin.visualization.image_grid import save_image_grid
from keras_rin.visualization.video import frame_strip
from keras_rin.visualization.video import save_frame_strip
from keras_rin.visualization.video import save_video_gif
from keras_rin.visualization.video import video_frames

__all__ = [
    "frame_strip",
    "image_grid",
    "read_attention_grid",
    "save_frame_strip",
    "save_image_grid",
    "save_read_attention_grid",
    "save_video_gif",
    "video_frames",
]
