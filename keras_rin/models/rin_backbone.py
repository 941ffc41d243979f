import collections
import inspect
import warnings

import keras
import numpy as np
from keras import ops

from keras_rin.layers.class_embedding import ClassEmbedding
from keras_rin.layers.image_patch_readout import ImagePatchReadout
from keras_rin.layers.image_patch_tokenizer import ImagePatchTokenizer
from keras_rin.layers.latent_self_conditioning import LatentSelfConditioning
from keras_rin.layers.learned_latents import LearnedLatents
from keras_rin.layers.noise_level_embedding import NoiseLevelEmbedding
from keras_rin.layers.rin_block import RINBlock
from keras_rin.utils import validation


@keras.saving.register_keras_serializable(package="keras_rin")
class RINBackbone(keras.Model):
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

    # The name of the data input, and the data's axes for error messages.
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
        dtype=None,
        **kwargs,
    ):
        image_shape = tuple(image_shape)
        validation.check_positive_int("patch_size", patch_size)
        _check_data_shape(
            "image_shape",
            image_shape,
            ("height", "width", "channels"),
            {"height": patch_size, "width": patch_size},
            f"`patch_size`={patch_size}",
        )

        def make_tokenizer_and_readout():
            tokenizer = ImagePatchTokenizer(
                patch_size,
                interface_dim,
                epsilon,
                dtype=dtype,
                name="tokenizer",
            )
            readout = ImagePatchReadout(
                patch_size,
                image_shape,
                epsilon,
                dtype="float32",
                name="readout",
            )
            return tokenizer, readout

        _warn_if_interface_is_narrow(
            interface_dim, patch_size * patch_size * image_shape[-1]
        )
        self._init_network(
            image_shape,
            make_tokenizer_and_readout,
            num_latents=num_latents,
            latent_dim=latent_dim,
            interface_dim=interface_dim,
            num_blocks=num_blocks,
            block_depth=block_depth,
            latent_num_heads=latent_num_heads,
            rw_num_heads=rw_num_heads,
            latent_mlp_ratio=latent_mlp_ratio,
            interface_mlp_ratio=interface_mlp_ratio,
            num_classes=num_classes,
            dropout_rate=dropout_rate,
            drop_path_rate=drop_path_rate,
            time_scaling=time_scaling,
            epsilon=epsilon,
            dtype=dtype,
            **kwargs,
        )
        self.image_shape = image_shape
        self.patch_size = patch_size

    def _init_network(
        self,
        data_shape,
        make_tokenizer_and_readout,
        num_latents,
        latent_dim,
        interface_dim,
        num_blocks,
        block_depth,
        latent_num_heads,
        rw_num_heads,
        latent_mlp_ratio,
        interface_mlp_ratio,
        num_classes,
        dropout_rate,
        drop_path_rate,
        time_scaling,
        epsilon,
        dtype,
        **kwargs,
    ):
        """Builds the functional network around a tokenizer and a readout
        (made by `make_tokenizer_and_readout()` once the arguments are
        checked): the image and the video backbones differ only in those."""
        _check_config(
            num_latents=num_latents,
            latent_dim=latent_dim,
            interface_dim=interface_dim,
            num_blocks=num_blocks,
            block_depth=block_depth,
            latent_num_heads=latent_num_heads,
            rw_num_heads=rw_num_heads,
            latent_mlp_ratio=latent_mlp_ratio,
            interface_mlp_ratio=interface_mlp_ratio,
            num_classes=num_classes,
            dropout_rate=dropout_rate,
            drop_path_rate=drop_path_rate,
            time_scaling=time_scaling,
        )
        num_learned = num_latents - 1 - (1 if num_classes else 0)

        # === Layers ===
        tokenizer, readout = make_tokenizer_and_readout()
        learned_latents = LearnedLatents(
            num_learned, latent_dim, dtype=dtype, name="learned_latents"
        )
        noise_level_embedding = NoiseLevelEmbedding(
            latent_dim, time_scaling, dtype="float32", name="noise_embedding"
        )
        class_embedding = None
        if num_classes:
            class_embedding = ClassEmbedding(
                num_classes, latent_dim, dtype="float32", name="class_embedding"
            )
        self_conditioning = LatentSelfConditioning(
            latent_mlp_ratio, epsilon, dtype=dtype, name="self_conditioning"
        )
        blocks = [
            RINBlock(
                block_depth,
                latent_num_heads,
                rw_num_heads,
                latent_mlp_ratio,
                interface_mlp_ratio,
                dropout_rate,
                drop_path_rate,
                epsilon,
                dtype=dtype,
                name=f"block_{i}",
            )
            for i in range(num_blocks)
        ]

        # === Functional model ===
        name = self.data_input_name
        inputs = {
            name: keras.Input(data_shape, name=name),
            "noise_levels": keras.Input((), name="noise_levels"),
            "latents": keras.Input((num_latents, latent_dim), name="latents"),
        }
        if num_classes:
            inputs["labels"] = keras.Input((), dtype="int32", name="labels")
        network = _Network(
            tokenizer,
            learned_latents,
            noise_level_embedding,
            class_embedding,
            self_conditioning,
            blocks,
            readout,
        )
        outputs = _forward(network, inputs, name)
        super().__init__(inputs=inputs, outputs=outputs, dtype=dtype, **kwargs)

        # === Layers (assigned after the functional init, as torch needs) ===
        self.tokenizer = tokenizer
        self.learned_latents = learned_latents
        self.noise_level_embedding = noise_level_embedding
        self.class_embedding = class_embedding
        self.self_conditioning = self_conditioning
        self.blocks = blocks
        self.readout = readout

        # === Config ===
        self.num_latents = num_latents
        self.latent_dim = latent_dim
        self.interface_dim = interface_dim
        self.num_blocks = num_blocks
        self.block_depth = block_depth
        self.latent_num_heads = latent_num_heads
        self.rw_num_heads = rw_num_heads
        self.latent_mlp_ratio = latent_mlp_ratio
        self.interface_mlp_ratio = interface_mlp_ratio
        self.num_classes = num_classes
        self.dropout_rate = dropout_rate
        self.drop_path_rate = drop_path_rate
        self.time_scaling = time_scaling
        self.epsilon = epsilon

    @property
    def num_tokens(self):
        """Number of interface tokens."""
        height, width, _ = self.image_shape
        return (height // self.patch_size) * (width // self.patch_size)

    @property
    def data_shape(self):
        """Shape of one example of the data, `image_shape` here."""
        return self.image_shape

    @property
    def latent_shape(self):
        """Shape of one example's latents, `(num_latents, latent_dim)`."""
        return (self.num_latents, self.latent_dim)

    @property
    def token_grid_shape(self):
        """Shape of the grid of interface tokens, `(grid_height,
        grid_width)`: token `i` is the patch at row `i // grid_width`,
        column `i % grid_width`."""
        height, width, _ = self.image_shape
        return (height // self.patch_size, width // self.patch_size)

    def tokens_to_grid(self, values):
        """Reshapes values over the interface tokens to the token grid.

        Args:
            values: NumPy array or tensor `(..., num_tokens)`, e.g. the
                `"read_attention"` of `read_attention()`.

        Returns:
            The values shaped `(...) + token_grid_shape` (a NumPy array for
            a NumPy input, a tensor otherwise).

        Example:
        >>> backbone = RINBackbone(
        ...     image_shape=(16, 16, 3), patch_size=2, num_latents=16,
        ...     latent_dim=64, interface_dim=64, num_blocks=3,
        ...     block_depth=1, latent_num_heads=4, rw_num_heads=4)
        >>> backbone.token_grid_shape
        (8, 8)
        >>> backbone.tokens_to_grid(np.zeros((2, 3, 64))).shape
        (2, 3, 8, 8)
        """
        shape = tuple(values.shape)
        if not shape or shape[-1] != self.num_tokens:
            raise ValueError(
                "`values` must have the interface tokens on its last axis, "
                f"(..., num_tokens={self.num_tokens}). Received shape {shape}"
            )
        if isinstance(values, np.ndarray):
            return values.reshape(shape[:-1] + self.token_grid_shape)
        leading = tuple(ops.shape(values)[:-1])
        return ops.reshape(values, leading + self.token_grid_shape)

    def read_attention(self, inputs):
        """Runs the backbone and also returns where each block's read looked.

        The read of each block is computed with explicit attention, and its
        probabilities are averaged over heads and over latents: one
        distribution over the interface tokens per block (Figure 6 of the
        paper). The layers and weights are the backbone's own, run on
        concrete tensors in inference mode; the outputs match those of
        calling the backbone up to float rounding.

        Args:
            inputs: dict, the backbone's inputs (see the class docstring).

        Returns:
            A dict with the backbone's `"prediction"` and `"latents"`, and
            `"read_attention"`: float32 `(batch, num_blocks, num_tokens)`,
            each row non-negative and summing to 1. `tokens_to_grid` puts
            the tokens on their grid.

        Example:
        ```python
        outputs = backbone.read_attention({
            "noisy_images": images, "noise_levels": gammas,
            "labels": labels, "latents": np.zeros((batch, num_latents,
            latent_dim))})
        maps = backbone.tokens_to_grid(outputs["read_attention"])
        ```
        """
        outputs = _forward(
            self._network(),
            self._tensor_inputs(inputs),
            self.data_input_name,
            training=False,
            return_read_attention=True,
        )
        outputs["read_attention"] = ops.cast(
            outputs["read_attention"], "float32"
        )
        return outputs

    @property
    def num_reserved_latents(self):
        """Latent slots that are not learned: the time token, and the class
        token of a class-conditional model. They sit after the learned
        slots and stay active in an elastic forward pass."""
        return 1 + (1 if self.num_classes else 0)

    def check_num_active_latents(self, num_active_latents):
        """Returns `num_active_latents` as an int after checking that it
        keeps the reserved slots and at least one learned slot, and does
        not exceed `num_latents`."""
        low = self.num_reserved_latents + 1
        if (
            isinstance(num_active_latents, bool)
            or not isinstance(num_active_latents, (int, np.integer))
            or not low <= num_active_latents <= self.num_latents
        ):
            raise ValueError(
                "`num_active_latents` must be an int in "
                f"[{low}, num_latents={self.num_latents}] (the time"
                f"{' and class tokens' if self.num_classes else ' token'} "
                "and at least one learned latent). Received: "
                f"num_active_latents={num_active_latents!r}"
            )
        return int(num_active_latents)

    def elastic_call(
        self, inputs, num_active_latents=None, latent_mask=None, training=False
    ):
        """Runs the backbone with a prefix of its learned latents.

        Elastic latents add no weights: the first `num_active_latents -
        num_reserved_latents` learned latents are used, the time (and
        class) tokens always, and the previous latents come in with the
        active count. Two ways to run it:

        - `num_active_latents=k` slices: the computation and the outputs
          have `k` latents, and the cost drops with `k` (for sampling).
        - `latent_mask` (bool `(batch, num_latents)`, from
          `active_latent_mask`) keeps every shape and masks the inactive
          latents out of every attention: each example may have its own
          count, and the active latents and the prediction equal the
          sliced pass (for training). Inactive latents come out as zeros.

        Args:
            inputs: dict of the backbone's inputs; `"latents"` holds
                `num_active_latents` slots when slicing, `num_latents` when
                masking.
            num_active_latents: int or None (all latents).
            latent_mask: bool `(batch, num_latents)` or None.
            training: bool, enables dropout and drop-path.

        Returns:
            The outputs dict, `"latents"` with the active count when
            slicing.

        Example:
        ```python
        outputs = backbone.elastic_call(
            {"noisy_images": x, "noise_levels": gamma, "labels": labels,
             "latents": np.zeros((batch, 32, backbone.latent_dim))},
            num_active_latents=32)
        ```
        """
        if num_active_latents is not None and latent_mask is not None:
            raise ValueError(
                "Pass `num_active_latents` or `latent_mask`, not both."
            )
        count = self.num_latents
        if num_active_latents is not None:
            count = self.check_num_active_latents(num_active_latents)
        inputs = self._tensor_inputs(inputs, num_latents=count)
        if latent_mask is not None:
            latent_mask = ops.cast(latent_mask, "bool")
        return _forward(
            self._network(),
            inputs,
            self.data_input_name,
            training=training,
            num_learned_latents=count - self.num_reserved_latents,
            latent_mask=latent_mask,
        )

    def active_latent_mask(self, counts):
        """Bool `(batch, num_latents)` marking the active latents of each
        example, from int counts `(batch,)` (each a valid
        `num_active_latents`): the first `count - num_reserved_latents`
        learned slots and the reserved slots."""
        counts = ops.cast(ops.convert_to_tensor(counts), "int32")
        reserved = self.num_reserved_latents
        learned = ops.arange(self.num_latents - reserved, dtype="int32")
        active = learned[None, :] < (counts - reserved)[:, None]
        tokens = ops.ones((ops.shape(counts)[0], reserved), "bool")
        return ops.concatenate([active, tokens], axis=1)

    def resize_latents(self, latents, num_active_latents):
        """Latents of one active count laid out for another: learned slots
        are kept or cut from the end, new learned slots are zeros (no
        self-conditioning for them), the reserved slots stay last.

        Args:
            latents: float `(batch, k, latent_dim)`.
            num_active_latents: int, the new count.

        Returns:
            float `(batch, num_active_latents, latent_dim)`.
        """
        count = self.check_num_active_latents(num_active_latents)
        reserved = self.num_reserved_latents
        current = ops.shape(latents)[1]
        learned = latents[:, : current - reserved]
        tokens = latents[:, current - reserved :]
        wanted = count - reserved
        if wanted <= current - reserved:
            learned = learned[:, :wanted]
        else:
            missing = wanted - (current - reserved)
            padding = ops.zeros(
                (ops.shape(latents)[0], missing, ops.shape(latents)[2]),
                latents.dtype,
            )
            learned = ops.concatenate([learned, padding], axis=1)
        return ops.concatenate([learned, tokens], axis=1)

    def _tensor_inputs(self, inputs, num_latents=None):
        """Checks a dict of inputs for a forward pass on tensors and
        converts it."""
        expected = [self.data_input_name, "noise_levels", "latents"]
        if self.num_classes:
            expected.append("labels")
        if not isinstance(inputs, dict) or set(inputs) != set(expected):
            received = (
                sorted(inputs)
                if isinstance(inputs, dict)
                else type(inputs).__name__
            )
            raise ValueError(
                f"`inputs` must be a dict with the keys {sorted(expected)}. "
                f"Received: {received}"
            )
        inputs = {
            key: ops.convert_to_tensor(
                inputs[key], "int32" if key == "labels" else "float32"
            )
            for key in expected
        }
        num_latents = num_latents or self.num_latents
        got = tuple(inputs["latents"].shape[1:])
        if got != (num_latents, self.latent_dim):
            raise ValueError(
                "`inputs['latents']` must have shape (batch, "
                f"{num_latents}, {self.latent_dim}) for {num_latents} "
                f"active latents. Received shape "
                f"{tuple(inputs['latents'].shape)}"
            )
        return inputs

    def _network(self):
        return _Network(
            self.tokenizer,
            self.learned_latents,
            self.noise_level_embedding,
            self.class_embedding,
            self.self_conditioning,
            self.blocks,
            self.readout,
        )

    def get_layout_map(self, device_mesh, model_axis="model", data_axis="data"):
        """A `keras.distribution.LayoutMap` for tensor (model) parallelism.

        Megatron-style sharding over the `model_axis` of the mesh: the
        query, key and value kernels of every attention (read, write and
        latent self-attention) and the hidden kernels of every MLP are
        split on their output units (biases along), the attention output
        and MLP output kernels on their input units. Heads stay whole on
        one device. All other variables (norms, embeddings, tokenizer,
        readout, output biases) are replicated. Keys are regexes matched
        against the whole variable path.

        Keras leaves a variable unsharded, silently, when the mesh axis
        does not divide the sharded dimension; this method raises instead.

        Args:
            device_mesh: `keras.distribution.DeviceMesh` with `model_axis`
                and `data_axis` among its axis names.
            model_axis: str, the mesh axis that the weights are split over.
            data_axis: str, the mesh axis that the batch is split over;
                the weights are replicated along it.

        Returns:
            A `keras.distribution.LayoutMap` for
            `keras.distribution.ModelParallel`.

        Raises:
            ValueError: if an axis is not in the mesh, or if the size of the
                model axis does not divide an attention or MLP width or a
                number of heads of this backbone.

        Example:
        ```python
        mesh = keras.distribution.DeviceMesh(
            shape=(4, 2), axis_names=("data", "model"))
        layout_map = backbone.get_layout_map(mesh)
        for variable in backbone.weights:
            print(variable.path, layout_map[variable.path])
        ```

        The variables take their layout when they are created, so to train
        a sharded model, build the distribution from the configuration and
        create the model under it:

        ```python
        layout_map = keras_rin.distribution.layout_map_from_config(
            mesh, config)
        distribution = keras.distribution.ModelParallel(
            layout_map=layout_map, batch_dim_name="data")
        with distribution.scope():
            backbone = keras_rin.RINBackbone(**config)
        ```
        """
        return layout_map_from_config(
            device_mesh, self._network_config(), model_axis, data_axis
        )

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "image_shape": self.image_shape,
            "patch_size": self.patch_size,
            **self._network_config(),
        }

    def _network_config(self):
        return {
            "num_latents": self.num_latents,
            "latent_dim": self.latent_dim,
            "interface_dim": self.interface_dim,
            "num_blocks": self.num_blocks,
            "block_depth": self.block_depth,
            "latent_num_heads": self.latent_num_heads,
            "rw_num_heads": self.rw_num_heads,
            "latent_mlp_ratio": self.latent_mlp_ratio,
            "interface_mlp_ratio": self.interface_mlp_ratio,
            "num_classes": self.num_classes,
            "dropout_rate": self.dropout_rate,
            "drop_path_rate": self.drop_path_rate,
            "time_scaling": self.time_scaling,
            "epsilon": self.epsilon,
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = keras.dtype_policies.deserialize(config["dtype"])
        return cls(**config)


# The layers of the network, in the order the forward pass calls them.
_Network = collections.namedtuple(
    "_Network",
    [
        "tokenizer",
        "learned_latents",
        "noise_level_embedding",
        "class_embedding",
        "self_conditioning",
        "blocks",
        "readout",
    ],
)


def _forward(
    network,
    inputs,
    data_input_name,
    training=None,
    return_read_attention=False,
    num_learned_latents=None,
    latent_mask=None,
):
    """The backbone's forward pass: builds the functional graph on
    `keras.Input`s and runs `RINBackbone.read_attention` on tensors.

    `network` is a `_Network` of layers; `inputs` a dict of the backbone's
    inputs. Returns the outputs dict, with `"read_attention"` `(batch,
    num_blocks, num_tokens)` when `return_read_attention` is True. With
    `num_learned_latents`, only that prefix of the learned latents is used;
    with `latent_mask`, inactive latents are masked out of the attention
    (see `RINBackbone.elastic_call`).
    """
    block_kwargs = {}
    if training is not None:
        block_kwargs["training"] = training
    if return_read_attention:
        block_kwargs["return_read_attention"] = True
    if latent_mask is not None:
        block_kwargs["latent_mask"] = latent_mask
    interface = network.tokenizer(inputs[data_input_name])
    latents = network.learned_latents(inputs["noise_levels"])
    if num_learned_latents is not None:
        latents = latents[:, :num_learned_latents]
    compute_dtype = latents.dtype
    tokens = [network.noise_level_embedding(inputs["noise_levels"])]
    if network.class_embedding is not None:
        tokens.append(network.class_embedding(inputs["labels"]))
    tokens = [ops.cast(t, compute_dtype)[:, None, :] for t in tokens]
    latents = ops.concatenate([latents] + tokens, axis=1)
    previous = ops.cast(inputs["latents"], compute_dtype)
    latents = latents + network.self_conditioning(previous)
    read_attention = []
    for block in network.blocks:
        latents, interface, *read = block(latents, interface, **block_kwargs)
        read_attention.extend(read)
    if latent_mask is not None:
        latents = latents * ops.cast(latent_mask, latents.dtype)[:, :, None]
    outputs = {
        "prediction": network.readout(interface),
        "latents": latents,
    }
    if return_read_attention:
        outputs["read_attention"] = ops.stack(read_attention, axis=1)
    return outputs


def _warn_if_interface_is_narrow(interface_dim, patch_values):
    """The readout rebuilds each patch from its interface token alone, so an
    interface narrower than a patch cannot pass a clean patch through."""
    if isinstance(interface_dim, int) and interface_dim < patch_values:
        warnings.warn(
            f"`interface_dim`={interface_dim} is smaller than the "
            f"{patch_values} pixel values of one patch: the readout cannot "
            "reproduce a patch exactly, and samples may stay noisy. Use "
            f"interface_dim >= {patch_values} (the paper's models use 2-10x "
            "more).",
            stacklevel=3,
        )


def _check_data_shape(name, shape, axes, divisors, patch_description):
    """Checks a data shape such as `(height, width, channels)` and that the
    patch divides it; `divisors` maps axis names to their patch size."""
    if len(shape) != len(axes) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape
    ):
        raise ValueError(
            f"`{name}` must be ({', '.join(axes)}) of positive integers. "
            f"Received: {name}={shape}"
        )
    for axis, divisor in divisors.items():
        if shape[axes.index(axis)] % divisor:
            raise ValueError(
                f"`{name}`: {axis} must be divisible by the patch "
                f"({patch_description}). Received: {name}={shape}"
            )


def _check_config(
    num_latents,
    latent_dim,
    interface_dim,
    num_blocks,
    block_depth,
    latent_num_heads,
    rw_num_heads,
    latent_mlp_ratio,
    interface_mlp_ratio,
    num_classes,
    dropout_rate,
    drop_path_rate,
    time_scaling,
):
    for name, value in [
        ("num_latents", num_latents),
        ("latent_dim", latent_dim),
        ("interface_dim", interface_dim),
        ("num_blocks", num_blocks),
        ("block_depth", block_depth),
        ("latent_num_heads", latent_num_heads),
        ("rw_num_heads", rw_num_heads),
        ("latent_mlp_ratio", latent_mlp_ratio),
        ("interface_mlp_ratio", interface_mlp_ratio),
    ]:
        validation.check_positive_int(name, value)
    if num_classes is not None:
        validation.check_positive_int("num_classes", num_classes)
    reserved = 1 + (1 if num_classes else 0)
    if num_latents <= reserved:
        raise ValueError(
            f"`num_latents` must be > {reserved} (the time"
            f"{' and class tokens' if num_classes else ' token'} take "
            f"{reserved} slot(s)). Received: num_latents={num_latents}"
        )
    validation.check_divisible(
        "latent_dim", latent_dim, "latent_num_heads", latent_num_heads
    )
    validation.check_divisible(
        "min(latent_dim, interface_dim)",
        min(latent_dim, interface_dim),
        "rw_num_heads",
        rw_num_heads,
    )
    if latent_dim < 8:
        raise ValueError(
            f"`latent_dim` must be >= 8. Received: latent_dim={latent_dim}"
        )
    validation.check_rate("dropout_rate", dropout_rate)
    validation.check_rate("drop_path_rate", drop_path_rate)
    validation.check_positive_number("time_scaling", time_scaling)


# Megatron-style tensor parallelism: the layers that widen the features are
# split on their output units and the layers that narrow them back on their
# input units, so that each attention or MLP branch needs one all-reduce.
_ATTENTIONS = r"(read_attention|write_attention|compute_attention_\d+)"
_MLPS = r"(read_mlp|write_mlp|compute_mlp_\d+|self_conditioning/mlp)"


def _sharded_layouts(model_axis):
    return {
        rf".*{_ATTENTIONS}/(query|key|value)/kernel": (None, model_axis),
        rf".*{_ATTENTIONS}/(query|key|value)/bias": (model_axis,),
        rf".*{_ATTENTIONS}/output/kernel": (model_axis, None),
        rf".*{_MLPS}/hidden/kernel": (None, model_axis),
        rf".*{_MLPS}/hidden/bias": (model_axis,),
        rf".*{_MLPS}/output/kernel": (model_axis, None),
    }


def layout_map_from_config(
    device_mesh, config, model_axis="model", data_axis="data"
):
    """`RINBackbone.get_layout_map` from a backbone configuration.

    A `keras.distribution.ModelParallel` distribution must be in place
    before the model's variables are created, so its layout map is built
    from the configuration, before the backbone exists.

    Args:
        device_mesh: `keras.distribution.DeviceMesh` with `model_axis` and
            `data_axis` among its axis names.
        config: dict, the arguments of `RINBackbone` or `RINVideoBackbone`
            (or their `get_config()`); only `latent_dim`, `interface_dim`,
            the numbers of heads and the MLP ratios are read, and the
            backbone's defaults fill the missing ones.
        model_axis: str, the mesh axis that the weights are split over.
        data_axis: str, the mesh axis that the batch is split over.

    Returns:
        A `keras.distribution.LayoutMap`.

    Example:
    ```python
    config = dict(image_shape=(32, 32, 3), patch_size=2, num_latents=128,
        latent_dim=512, interface_dim=256, num_blocks=3, block_depth=2)
    mesh = keras.distribution.DeviceMesh(
        shape=(4, 2), axis_names=("data", "model"))
    layout_map = layout_map_from_config(mesh, config)
    ```
    """
    if not isinstance(device_mesh, keras.distribution.DeviceMesh):
        raise ValueError(
            "`device_mesh` must be a `keras.distribution.DeviceMesh`. "
            f"Received: {type(device_mesh).__name__}"
        )
    axis_names = tuple(device_mesh.axis_names)
    for name, axis in [("model_axis", model_axis), ("data_axis", data_axis)]:
        if axis not in axis_names:
            raise ValueError(
                f"`{name}`={axis!r} is not an axis of the device mesh "
                f"(axis names {axis_names}, shape {tuple(device_mesh.shape)})."
            )
    if model_axis == data_axis:
        raise ValueError(
            "`model_axis` and `data_axis` must be different mesh axes. "
            f"Received: {model_axis!r} for both"
        )
    model_size = device_mesh.shape[axis_names.index(model_axis)]
    _check_shardable(_layout_config(config), model_axis, model_size)
    layout_map = keras.distribution.LayoutMap(device_mesh)
    for key, axes in _sharded_layouts(model_axis).items():
        layout_map[key] = axes
    return layout_map


def _layout_config(config):
    """The widths that the layout depends on, with the backbone's defaults."""
    parameters = inspect.signature(RINBackbone.__init__).parameters
    names = (
        "latent_dim",
        "interface_dim",
        "latent_num_heads",
        "rw_num_heads",
        "latent_mlp_ratio",
        "interface_mlp_ratio",
    )
    values = {}
    for name in names:
        default = parameters[name].default
        if name not in config and default is inspect.Parameter.empty:
            raise ValueError(
                f"The backbone config must give `{name}`. Received keys: "
                f"{sorted(config)}"
            )
        values[name] = config.get(name, default)
    return values


def _check_shardable(config, model_axis, model_size):
    latent_dim = config["latent_dim"]
    interface_dim = config["interface_dim"]
    rw_dim = min(latent_dim, interface_dim)
    dimensions = [
        ("latent self-attention width (latent_dim)", latent_dim),
        ("read/write attention width (min(latent_dim, interface_dim))", rw_dim),
        (
            "latent MLP hidden width (latent_dim * latent_mlp_ratio)",
            int(latent_dim * config["latent_mlp_ratio"]),
        ),
        (
            "interface MLP hidden width (interface_dim * interface_mlp_ratio)",
            int(interface_dim * config["interface_mlp_ratio"]),
        ),
        (
            "latent self-attention heads (latent_num_heads)",
            config["latent_num_heads"],
        ),
        ("read/write attention heads (rw_num_heads)", config["rw_num_heads"]),
    ]
    problems = [
        f"{what} = {size}" for what, size in dimensions if size % model_size
    ]
    if problems:
        raise ValueError(
            f"Cannot shard this RIN backbone over the mesh axis "
            f"{model_axis!r} of size {model_size}: the size must divide "
            "every sharded width and number of heads (so that no head is "
            f"split across devices). Not divisible by {model_size}: "
            + ", ".join(problems)
            + ". Keras would leave such variables unsharded without a "
            "word. Use a model axis size that divides them all."
        )
