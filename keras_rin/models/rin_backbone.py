import keras

from keras_rin.layers.image_patch_readout import ImagePatchReadout
from keras_rin.layers.image_patch_tokenizer import ImagePatchTokenizer
from keras_rin.models import rin_network
from keras_rin.models.rin_backbone_base import RINBackboneBase
from keras_rin.utils import validation


@keras.saving.register_keras_serializable(package="keras_rin")
class RINBackbone(RINBackboneBase):
    """Recurrent Interface Network denoiser for images.

    Maps `(noisy image, noise level gamma, class label, previous latents)` to
    `(prediction, latents)`. The image is cut into patches that form the
    interface; `num_latents` latent tokens (learned slots plus one time token
    and, when `num_classes` is set, one class token) read from the interface,
    compute with self-attention and write back, `num_blocks` times. The
    previous latents enter through the latent self-conditioning path, which
    is a no-op at initialisation. A LayerNorm and a Dense layer read the
    prediction out of the interface.

    The noise level embedding, the class embedding and the readout run in
    float32, and attention logits and softmax are computed in float32, so
    the model trains under `mixed_bfloat16`.

    Inputs (a dict):
        "noisy_images": float `(batch, height, width, channels)`.
        "noise_levels": float `(batch,)`, gamma(t) in [0, 1].
        "labels": int `(batch,)`, only when `num_classes` is set; a negative
            label means "no class" (classifier-free guidance).
        "latents": float `(batch, num_latents, latent_dim)`, the previous
            latents (zeros when there are none).

    Outputs (a dict): "prediction" (float32, shaped like the image) and
    "latents" `(batch, num_latents, latent_dim)`.

    Args:
        image_shape: tuple `(height, width, channels)`.
        patch_size: int, side of the square patches; must divide height and
            width.
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
    >>> backbone = RINBackbone(
    ...     image_shape=(32, 32, 3), patch_size=2, num_latents=128,
    ...     latent_dim=512, interface_dim=256, num_blocks=3, block_depth=2,
    ...     latent_num_heads=16, rw_num_heads=8, interface_mlp_ratio=2,
    ...     num_classes=10, dropout_rate=0.1, drop_path_rate=0.1)
    >>> backbone.count_params()  # the paper's CIFAR-10 model
    30951180

    Reference:
    - [Jabri et al., 2023](https://arxiv.org/abs/2212.11972)
    """

    data_input_name = "noisy_images"

    def __init__(
        self,
        image_shape,
        patch_size,
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
        image_shape = rin_network.check_data_shape(
            "image_shape",
            image_shape,
            ("height", "width", "channels"),
            {"height": patch_size, "width": patch_size},
            f"`patch_size`={patch_size}",
        )
        rin_network.warn_if_interface_is_narrow(
            network.interface_dim, patch_size * patch_size * image_shape[-1]
        )

        # === Layers ===
        tokenizer = ImagePatchTokenizer(
            patch_size,
            network.interface_dim,
            network.epsilon,
            dtype=dtype,
            name="tokenizer",
        )
        readout = ImagePatchReadout(
            patch_size,
            image_shape,
            network.epsilon,
            dtype="float32",
            name="readout",
        )

        # === Functional model ===
        super().__init__(
            image_shape, tokenizer, readout, network, dtype=dtype, **kwargs
        )

        # === Config ===
        self.image_shape = image_shape
        self.patch_size = patch_size

    @property
    def data_shape(self):
        """Shape of one example of the data, `image_shape` here."""
        return self.image_shape

    @property
    def token_grid_shape(self):
        """Shape of the grid of interface tokens, `(grid_height,
        grid_width)`: token `i` is the patch at row `i // grid_width`,
        column `i % grid_width`."""
        height, width, _ = self.image_shape
        return (height // self.patch_size, width // self.patch_size)

    def _data_config(self):
        return {"image_shape": self.image_shape, "patch_size": self.patch_size}
