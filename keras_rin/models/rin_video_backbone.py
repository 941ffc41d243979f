import keras

from keras_rin.layers.video_patch_readout import VideoPatchReadout
from keras_rin.layers.video_patch_tokenizer import VideoPatchTokenizer
from keras_rin.models import rin_network
from keras_rin.models.rin_backbone_base import RINBackboneBase
from keras_rin.utils import validation


@keras.saving.register_keras_serializable(package="keras_rin")
class RINVideoBackbone(RINBackboneBase):
    """Recurrent Interface Network denoiser for video clips.

    The network of `RINBackbone` (the same latents, blocks, noise level and
    class tokens, and latent self-conditioning; both build on
    `RINBackboneBase`) with a video tokenizer and
    readout: the clip is cut into 3-D patches of `frames_per_patch` frames
    by `patch_size x patch_size` pixels (a `Conv3D` with kernel = stride, as
    in the official video model), and the readout puts the patches back in
    place.

    The whole clip, context frames included, forms one interface: the
    paper's Kinetics-600 model (16 frames of 64x64, 2x4x4 patches) has the
    2,048 interface tokens of its Table C.1. The official code instead
    tokenises the context frames and the noisy frames separately, padding
    each to a whole number of temporal patches (2,304 tokens for 5 + 11
    frames); `RINVideoPredictor` documents this difference.

    Inputs (a dict):
        "noisy_videos": float `(batch, frames, height, width, channels)`.
        "noise_levels": float `(batch,)`, gamma(t) in [0, 1].
        "labels": int `(batch,)`, only when `num_classes` is set; a negative
            label means "no class".
        "latents": float `(batch, num_latents, latent_dim)`, the previous
            latents (zeros when there are none).

    Outputs (a dict): "prediction" (float32, shaped like the clip) and
    "latents" `(batch, num_latents, latent_dim)`.

    Args:
        video_shape: tuple `(frames, height, width, channels)`.
        patch_size: int, side of the square spatial patches; must divide
            height and width.
        frames_per_patch: int, temporal size of the patches; must divide
            the number of frames.
        num_latents: int, total latent slots, time and class tokens included.
        latent_dim: int, latent width `dim(Z)`.
        interface_dim: int, interface width `dim(X)`.
        num_blocks: int, number of read-compute-write blocks.
        block_depth: int, latent self-attention layers per block.
        latent_num_heads: int, heads of latent self-attention.
        rw_num_heads: int, heads of read and write attention.
        latent_mlp_ratio: int, MLP expansion on the latents.
        interface_mlp_ratio: int, MLP expansion on the interface.
        num_classes: int or None, number of classes for a class-conditional
            model; None for an unconditional one.
        dropout_rate: float in [0, 1), dropout inside the compute MLPs.
        drop_path_rate: float in [0, 1), stochastic depth on compute layers.
        time_scaling: float, gamma is multiplied by it before the sinusoid.
        epsilon: float, LayerNorm epsilon.
        rematerialize_blocks: bool, recompute each block's activations in
            the backward pass instead of storing them (gradient
            checkpointing through `keras.remat`). Training then holds the
            activations of one block at a time, at the cost of one more
            forward pass of the blocks; outputs, gradients and dropout
            masks are unchanged. For the large presets on one accelerator.
        dtype: dtype policy of the model (e.g. `"mixed_bfloat16"`).
        **kwargs: base model arguments (`name`, ...).

    Example:
    >>> backbone = RINVideoBackbone(
    ...     video_shape=(8, 16, 16, 3), patch_size=4, frames_per_patch=2,
    ...     num_latents=32, latent_dim=64, interface_dim=96, num_blocks=2,
    ...     block_depth=2, latent_num_heads=4, rw_num_heads=4)
    >>> backbone.num_tokens
    64

    Reference:
    - [Jabri et al., 2023](https://arxiv.org/abs/2212.11972)
    """

    data_input_name = "noisy_videos"

    def __init__(
        self,
        video_shape,
        patch_size,
        frames_per_patch,
        num_latents,
        latent_dim,
        interface_dim,
        num_blocks,
        block_depth,
        latent_num_heads=16,
        rw_num_heads=16,
        latent_mlp_ratio=4,
        interface_mlp_ratio=4,
        num_classes=None,
        dropout_rate=0.0,
        drop_path_rate=0.0,
        time_scaling=1000.0,
        epsilon=1e-6,
        rematerialize_blocks=False,
        dtype=None,
        **kwargs,
    ):
        validation.check_keyword_arguments(
            type(self).__name__, kwargs, rin_network.BASE_MODEL_ARGUMENTS
        )
        network = rin_network.RINNetworkConfig.from_arguments(locals())
        patch_size = validation.check_count("patch_size", patch_size)
        frames_per_patch = validation.check_count(
            "frames_per_patch", frames_per_patch
        )
        video_shape = rin_network.check_data_shape(
            "video_shape",
            video_shape,
            ("frames", "height", "width", "channels"),
            {
                "frames": frames_per_patch,
                "height": patch_size,
                "width": patch_size,
            },
            f"`frames_per_patch`={frames_per_patch}, `patch_size`={patch_size}",
        )
        rin_network.warn_if_interface_is_narrow(
            network.interface_dim,
            frames_per_patch * patch_size * patch_size * video_shape[-1],
        )

        # === Layers ===
        tokenizer = VideoPatchTokenizer(
            patch_size,
            frames_per_patch,
            network.interface_dim,
            network.epsilon,
            dtype=dtype,
            name="tokenizer",
        )
        readout = VideoPatchReadout(
            patch_size,
            frames_per_patch,
            video_shape,
            network.epsilon,
            dtype="float32",
            name="readout",
        )

        # === Functional model ===
        super().__init__(
            video_shape, tokenizer, readout, network, dtype=dtype, **kwargs
        )

        # === Config ===
        self.video_shape = video_shape
        self.patch_size = patch_size
        self.frames_per_patch = frames_per_patch

    @property
    def data_shape(self):
        """Shape of one example of the data, `video_shape` here."""
        return self.video_shape

    @property
    def token_grid_shape(self):
        """Shape of the grid of interface tokens, `(grid_frames,
        grid_height, grid_width)`: tokens are in (time, row, column)
        order, each covering `frames_per_patch` frames of a patch."""
        frames, height, width, _ = self.video_shape
        p = self.patch_size
        return (frames // self.frames_per_patch, height // p, width // p)

    def _data_config(self):
        return {
            "video_shape": self.video_shape,
            "patch_size": self.patch_size,
            "frames_per_patch": self.frames_per_patch,
        }
