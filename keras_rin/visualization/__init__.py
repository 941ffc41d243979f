"""Pictures a person can open: image grids (PNG)."""

from keras_rin.visualization.image_grid import image_grid
from keras_rin.visualization.image_grid import save_image_grid

__all__ = ["image_grid", "save_image_grid"]
