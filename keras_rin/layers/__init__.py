"""The network's parts. No diffusion logic lives here."""

from keras_rin.layers.class_embedding import ClassEmbedding
from keras_rin.layers.drop_path import DropPath
from keras_rin.layers.image_patch_readout import ImagePatchReadout
from keras_rin.layers.image_patch_tokenizer import ImagePatchTokenizer
from keras_rin.layers.latent_self_conditioning import LatentSelfConditioning
from keras_rin.layers.learned_latents import LearnedLatents
from keras_rin.layers.noise_level_embedding import NoiseLevelEmbedding
from keras_rin.layers.rin_attention import RINAttention
from keras_rin.layers.rin_block import RINBlock
from keras_rin.layers.rin_mlp import RINMLP
from keras_rin.layers.video_patch_readout import VideoPatchReadout
from keras_rin.layers.video_patch_tokenizer import VideoPatchTokenizer

__all__ = [
    "ClassEmbedding",
    "DropPath",
    "ImagePatchReadout",
    "ImagePatchTokenizer",
    "LatentSelfConditioning",
    "LearnedLatents",
    "NoiseLevelEmbedding",
    "RINAttention",
    "RINBlock",
    "RINMLP",
    "VideoPatchReadout",
    "VideoPatchTokenizer",
]
