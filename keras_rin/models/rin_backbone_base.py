import math

import keras
import numpy as np
from keras import ops

from keras_rin.models import lora
from keras_rin.models import rin_network
from keras_rin.utils import validation


class RINBackboneBase(keras.Model):
    """What every RIN backbone shares: the functional network around a
    data-specific tokenizer and readout, the elastic and read-attention
    forward passes, the layout map for model parallelism, and the config.

    Use `RINBackbone` (images) or `RINVideoBackbone` (clips). A subclass
    sets `data_input_name`, checks its data arguments, makes its tokenizer
    and readout, calls this constructor, and defines `data_shape`,
    `token_grid_shape` and `_data_config()`.

    Args:
        data_shape: tuple, the shape of one example of the data.
        tokenizer: layer, data to interface tokens.
        readout: layer, interface tokens to the prediction (float32).
        network: `keras_rin.models.rin_network.RINNetworkConfig`.
        dtype: dtype policy of the model (e.g. `"mixed_bfloat16"`).
        **kwargs: base model arguments (`name`, ...).
    """

    # The name of the data input.
    data_input_name = None

    def __init__(
        self, data_shape, tokenizer, readout, network, dtype=None, **kwargs
    ):
        # === Layers ===
        layers = rin_network.build_layers(network, tokenizer, readout, dtype)

        # === Functional model ===
        inputs = rin_network.functional_inputs(
            self.data_input_name, data_shape, network
        )
        outputs = rin_network.forward(
            layers, inputs[self.data_input_name], inputs
        )
        super().__init__(inputs=inputs, outputs=outputs, dtype=dtype, **kwargs)

        # === Layers (assigned after the functional init, as torch needs) ===
        for name, layer in layers._asdict().items():
            setattr(self, name, layer)

        # === Config ===
        self.network_config = network
        self.lora_config = None
        for name, value in network.to_dict().items():
            setattr(self, name, value)

    @property
    def data_shape(self):
        """Shape of one example of the data."""
        raise NotImplementedError

    @property
    def token_grid_shape(self):
        """Shape of the grid of interface tokens (row-major)."""
        raise NotImplementedError

    def _data_config(self):
        """The data arguments of the constructor, for `get_config`."""
        raise NotImplementedError

    @property
    def num_tokens(self):
        """Number of interface tokens."""
        return math.prod(self.token_grid_shape)

    @property
    def latent_shape(self):
        """Shape of one example's latents, `(num_latents, latent_dim)`."""
        return (self.num_latents, self.latent_dim)

    @property
    def num_reserved_latents(self):
        """Latent slots that are not learned: the time token, and the class
        token of a class-conditional model. They sit after the learned
        slots and stay active in an elastic forward pass."""
        return self.network_config.num_reserved_latents

    def tokens_to_grid(self, values):
        """Reshapes values over the interface tokens to the token grid.

        Args:
            values: NumPy array or tensor `(..., num_tokens)`, e.g. the
                `"read_attention"` of `read_attention()`.

        Returns:
            The values shaped `(...) + token_grid_shape` (a NumPy array for
            a NumPy input, a tensor otherwise).

        Example:
        >>> backbone = keras_rin.RINBackbone(
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
        inputs = self._tensor_inputs(inputs, self.num_latents)
        outputs = rin_network.forward(
            self._network_layers(),
            inputs[self.data_input_name],
            inputs,
            training=False,
            return_read_attention=True,
        )
        outputs["read_attention"] = ops.cast(
            outputs["read_attention"], "float32"
        )
        return outputs

    def check_num_active_latents(self, num_active_latents):
        """Returns `num_active_latents` as an int after checking that it
        keeps the reserved slots and at least one learned slot, and does
        not exceed `num_latents`."""
        low = self.num_reserved_latents + 1
        if not (
            validation.is_int(num_active_latents)
            and low <= num_active_latents <= self.num_latents
        ):
            raise ValueError(
                "`num_active_latents` must be an int in "
                f"[{low}, num_latents={self.num_latents}] (the "
                f"{self.network_config.reserved_description} and at least "
                "one learned latent). Received: "
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
        inputs = self._tensor_inputs(inputs, count)
        if latent_mask is not None:
            latent_mask = ops.cast(latent_mask, "bool")
        return rin_network.forward(
            self._network_layers(),
            inputs[self.data_input_name],
            inputs,
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
            batch, _, width = ops.shape(latents)
            padding = ops.zeros(
                (batch, wanted - (current - reserved), width), latents.dtype
            )
            learned = ops.concatenate([learned, padding], axis=1)
        return ops.concatenate([learned, tokens], axis=1)

    def get_layout_map(self, device_mesh, model_axis="model", data_axis="data"):
        """A `keras.distribution.LayoutMap` for tensor (model) parallelism.

        Megatron-style sharding over the `model_axis` of the mesh, as
        `keras_rin.distribution.layout_map_from_config` describes; it
        raises where Keras would leave a variable unsharded without a word.

        Args:
            device_mesh: `keras.distribution.DeviceMesh` with `model_axis`
                and `data_axis` among its axis names.
            model_axis: str, the mesh axis that the weights are split over.
            data_axis: str, the mesh axis that the batch is split over;
                the weights are replicated along it.

        Returns:
            A `keras.distribution.LayoutMap` for
            `keras.distribution.ModelParallel`.

        Example:
        ```python
        mesh = keras.distribution.DeviceMesh(
            shape=(4, 2), axis_names=("data", "model"))
        layout_map = backbone.get_layout_map(mesh)
        ```

        The variables take their layout when they are created: to train a
        sharded model, build the distribution from the configuration
        (`keras_rin.distribution.make_distribution`) and create the model
        under it.
        """
        # The sharding policy lives in keras_rin.distribution, which
        # imports the network's defaults from here: import it when asked.
        from keras_rin.distribution import sharding

        return sharding.layout_map_from_config(
            device_mesh, self.network_config.to_dict(), model_axis, data_axis
        )

    def _network_layers(self):
        return rin_network.RINNetworkLayers(
            tokenizer=self.tokenizer,
            learned_latents=self.learned_latents,
            noise_level_embedding=self.noise_level_embedding,
            class_embedding=self.class_embedding,
            self_conditioning=self.self_conditioning,
            blocks=self.blocks,
            readout=self.readout,
        )

    def _tensor_inputs(self, inputs, num_latents):
        """Checks a dict of inputs for a forward pass on tensors (with
        `num_latents` active latents) and converts it."""
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
        got = tuple(inputs["latents"].shape[1:])
        if got != (num_latents, self.latent_dim):
            raise ValueError(
                "`inputs['latents']` must have shape (batch, "
                f"{num_latents}, {self.latent_dim}) for {num_latents} "
                f"active latents. Received shape "
                f"{tuple(inputs['latents'].shape)}"
            )
        return inputs

    def enable_lora(self, rank, targets=None, lora_alpha=None):
        """Enables low-rank adaptation (LoRA): fine-tuning of a few
        weights while the rest stays frozen.

        The projections of `targets` get Keras' `enable_lora(rank)` (their
        kernel `W` computes as `W + (lora_alpha / rank) * A @ B`, with `B`
        zero at first, so the model starts unchanged) and every other
        variable of the backbone is frozen: only the `A` and `B` weights
        train. Enable it before `compile()`. The model's `fit`, its EMA
        (`use_ema=True` averages the LoRA weights) and the training
        recipes work as in full training; backups keep the LoRA weights
        apart. `save_to_preset` saves the merged weights (a plain preset),
        `save_to_preset(..., lora_only=True)` the LoRA weights alone.

        Args:
            rank: int >= 1, the rank of the update.
            targets: None (`("attention", "mlp")`) or a list of
                `"attention"` (queries, keys, values and outputs of every
                attention), `"mlp"` (both projections of every MLP),
                `"embeddings"` (the noise-level and class embeddings and
                the patch embedding) and `"readout"`.
            lora_alpha: float > 0 or None (`rank`): the update's scale is
                `lora_alpha / rank`.

        Returns:
            The number of trainable (LoRA) parameters.

        Example:
        ```python
        model = keras_rin.RINImageGenerator.from_preset("rin_digits")
        model.backbone.enable_lora(4)
        model.compile(optimizer=keras.optimizers.AdamW(1e-3))
        model.fit(new_images, new_labels, epochs=10)
        model.save_to_preset("my_digits")  # merged weights
        ```

        Reference:
        - [Hu et al., 2021](https://arxiv.org/abs/2106.09685)
        """
        if self.lora_config is not None:
            raise ValueError(
                "LoRA is already enabled on this backbone "
                f"({self.lora_config.to_dict()}); it can be enabled once."
            )
        if targets is None:
            targets = lora.DEFAULT_LORA_TARGETS
        config = lora.check_lora_arguments(rank, targets, lora_alpha)
        lora.enable_lora(self, config)
        self.lora_config = config
        return sum(int(np.prod(v.shape)) for v in self.trainable_weights)

    def export_backbone(self, path, format="onnx"):
        """Writes one denoising pass of the backbone, with its weights, to
        an ONNX file for ONNX Runtime (no Keras needed to run it; the
        sampling loop stays with the caller). Works on JAX, TensorFlow and
        PyTorch with a dynamic batch; needs `pip install
        "keras-rin[onnx]"`. See
        `keras_rin.models.backbone_export.export_backbone` for the input
        and output names.

        Args:
            path: str, the ONNX file to create or replace.
            format: `"onnx"`.

        Returns:
            The path.

        Example:
        ```python
        model = keras_rin.RINImageGenerator.from_preset("rin_digits")
        model.backbone.export_backbone("digits_backbone.onnx")
        ```
        """
        from keras_rin.models import backbone_export

        return backbone_export.export_backbone(self, path, format)

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            **self._data_config(),
            **self.network_config.to_dict(),
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = keras.dtype_policies.deserialize(config["dtype"])
        return cls(**config)
