"""Training at scale: the paper's recipes and the callbacks of a long run."""

from keras_rin.training.training_callbacks import training_callbacks
from keras_rin.training.training_recipe import TrainingRecipe

__all__ = ["TrainingRecipe", "training_callbacks"]
