"""The RIN network that the image and video backbones share: its
configuration, its layers and its forward pass.

The data path: a tokenizer cuts the data into interface tokens; the latents
are the learned slots plus a noise-level token (and a class token); the
previous latents enter through the self-conditioning branch; each block
reads from the interface into the latents, computes on the latents and
writes back; a readout turns the interface back into data. A backbone
differs from another only in its tokenizer and readout.
"""

import collections
import dataclasses
import warnings

import keras
from keras import ops

from keras_rin.layers.class_embedding import ClassEmbedding
from keras_rin.layers.latent_self_conditioning import LatentSelfConditioning
from keras_rin.layers.learned_latents import LearnedLatents
from keras_rin.layers.noise_level_embedding import NoiseLevelEmbedding
from keras_rin.layers.rin_block import RINBlock
from keras_rin.utils import validation


@dataclasses.dataclass(frozen=True)
class RINNetworkConfig:
    """The network arguments of a RIN backbone (all but the data's shape
    and patches), checked when created. See `RINBackbone` for each.

    The values are normalised (NumPy integers become `int`, rates
    `float`), so `to_dict()` serialises to JSON.
    """

    num_latents: int
    latent_dim: int
    interface_dim: int
    num_blocks: int
    block_depth: int
    latent_num_heads: int = 16
    rw_num_heads: int = 16
    latent_mlp_ratio: int = 4
    interface_mlp_ratio: int = 4
    num_classes: int | None = None
    dropout_rate: float = 0.0
    drop_path_rate: float = 0.0
    time_scaling: float = 1000.0
    epsilon: float = 1e-6
    rematerialize_blocks: bool = False

    def __post_init__(self):
        for name in _POSITIVE_INTS:
            self._normalise(name, validation.check_count)
        if self.num_classes is not None:
            self._normalise("num_classes", validation.check_count)
        self._normalise("dropout_rate", validation.check_rate)
        self._normalise("drop_path_rate", validation.check_rate)
        self._normalise("time_scaling", validation.check_positive_number)
        self._normalise("epsilon", validation.check_positive_number)
        self._normalise("rematerialize_blocks", validation.check_bool)
        reserved = self.num_reserved_latents
        if self.num_latents <= reserved:
            raise ValueError(
                f"`num_latents` must be > {reserved} (the "
                f"{self.reserved_description} take {reserved} slot(s)). "
                f"Received: num_latents={self.num_latents}"
            )
        if self.latent_dim < 8:
            raise ValueError(
                "`latent_dim` must be >= 8. Received: "
                f"latent_dim={self.latent_dim}"
            )
        validation.check_divisible(
            "latent_dim",
            self.latent_dim,
            "latent_num_heads",
            self.latent_num_heads,
        )
        validation.check_divisible(
            "min(latent_dim, interface_dim)",
            self.rw_dim,
            "rw_num_heads",
            self.rw_num_heads,
        )

    def _normalise(self, name, check):
        object.__setattr__(self, name, check(name, getattr(self, name)))

    @classmethod
    def from_arguments(cls, arguments):
        """The config from a backbone constructor's arguments (its
        `locals()`): the public signatures stay explicit, and this is the
        one place that lists the network's arguments."""
        names = [f.name for f in dataclasses.fields(cls)]
        return cls(**{name: arguments[name] for name in names})

    @classmethod
    def defaults(cls):
        """`{name: default}` of the arguments that have one."""
        return {
            f.name: f.default
            for f in dataclasses.fields(cls)
            if f.default is not dataclasses.MISSING
        }

    def to_dict(self):
        return dataclasses.asdict(self)

    @property
    def num_reserved_latents(self):
        """The time token, and the class token of a conditional model."""
        return 1 + (1 if self.num_classes else 0)

    @property
    def reserved_description(self):
        return "time and class tokens" if self.num_classes else "time token"

    @property
    def rw_dim(self):
        """The width of read and write attention, `min(dim_x, dim_z)`."""
        return min(self.latent_dim, self.interface_dim)


# The base model arguments a backbone takes in `**kwargs` (Keras'
# functional models drop any other in silence).
BASE_MODEL_ARGUMENTS = ("name", "trainable")

_POSITIVE_INTS = (
    "num_latents",
    "latent_dim",
    "interface_dim",
    "num_blocks",
    "block_depth",
    "latent_num_heads",
    "rw_num_heads",
    "latent_mlp_ratio",
    "interface_mlp_ratio",
)

# The layers of the network, in the order the forward pass calls them.
RINNetworkLayers = collections.namedtuple(
    "RINNetworkLayers",
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


def build_layers(config, tokenizer, readout, dtype=None):
    """The network's layers around a data-specific tokenizer and readout.

    The embeddings run in float32 whatever the dtype policy (as the
    readout, which the caller creates).
    """
    class_embedding = None
    if config.num_classes:
        class_embedding = ClassEmbedding(
            config.num_classes,
            config.latent_dim,
            dtype="float32",
            name="class_embedding",
        )
    blocks = [
        RINBlock(
            config.block_depth,
            config.latent_num_heads,
            config.rw_num_heads,
            config.latent_mlp_ratio,
            config.interface_mlp_ratio,
            config.dropout_rate,
            config.drop_path_rate,
            config.epsilon,
            config.rematerialize_blocks,
            dtype=dtype,
            name=f"block_{i}",
        )
        for i in range(config.num_blocks)
    ]
    return RINNetworkLayers(
        tokenizer=tokenizer,
        learned_latents=LearnedLatents(
            config.num_latents - config.num_reserved_latents,
            config.latent_dim,
            dtype=dtype,
            name="learned_latents",
        ),
        noise_level_embedding=NoiseLevelEmbedding(
            config.latent_dim,
            config.time_scaling,
            dtype="float32",
            name="noise_embedding",
        ),
        class_embedding=class_embedding,
        self_conditioning=LatentSelfConditioning(
            config.latent_mlp_ratio,
            config.epsilon,
            dtype=dtype,
            name="self_conditioning",
        ),
        blocks=blocks,
        readout=readout,
    )


def forward(
    layers,
    data,
    inputs,
    training=None,
    return_read_attention=False,
    num_learned_latents=None,
    latent_mask=None,
):
    """The network's forward pass, on `keras.Input`s (the functional graph)
    or on tensors.

    Args:
        layers: `RINNetworkLayers`.
        data: the noisy data, the tokenizer's input.
        inputs: dict with `"noise_levels"`, `"latents"` (the previous
            latents) and, for a conditional network, `"labels"`.
        training: bool or None, enables dropout and drop-path.
        return_read_attention: bool, also return each block's read
            attention, `(batch, num_blocks, num_tokens)`.
        num_learned_latents: int or None: use only this prefix of the
            learned latents (a sliced elastic pass).
        latent_mask: bool `(batch, num_latents)` or None: mask inactive
            latents out of every attention (a masked elastic pass); they
            come out as zeros.

    Returns:
        A dict: `"prediction"` (float32, shaped like `data`), `"latents"`
        and, when asked, `"read_attention"`.
    """
    block_kwargs = {}
    if training is not None:
        block_kwargs["training"] = training
    if return_read_attention:
        block_kwargs["return_read_attention"] = True
    if latent_mask is not None:
        block_kwargs["latent_mask"] = latent_mask
    interface = layers.tokenizer(data)  # (batch, num_tokens, interface_dim)
    latents = layers.learned_latents(inputs["noise_levels"])
    if num_learned_latents is not None:
        latents = latents[:, :num_learned_latents]
    compute_dtype = latents.dtype
    tokens = [layers.noise_level_embedding(inputs["noise_levels"])]
    if layers.class_embedding is not None:
        tokens.append(layers.class_embedding(inputs["labels"]))
    tokens = [ops.cast(t, compute_dtype)[:, None, :] for t in tokens]
    # (batch, num_latents, latent_dim): learned slots, then time and class.
    latents = ops.concatenate([latents] + tokens, axis=1)
    previous = ops.cast(inputs["latents"], compute_dtype)
    latents = latents + layers.self_conditioning(previous)
    read_attention = []
    for block in layers.blocks:
        latents, interface, *read = block(latents, interface, **block_kwargs)
        read_attention.extend(read)
    if latent_mask is not None:
        latents = latents * ops.cast(latent_mask, latents.dtype)[:, :, None]
    outputs = {"prediction": layers.readout(interface), "latents": latents}
    if return_read_attention:
        outputs["read_attention"] = ops.stack(read_attention, axis=1)
    return outputs


def check_data_shape(name, shape, axes, divisors, patch_description):
    """Checks a data shape such as `(height, width, channels)` and that the
    patch divides it; `divisors` maps axis names to their patch size.
    Returns the shape as a tuple of ints."""
    shape = tuple(shape) if isinstance(shape, (tuple, list)) else shape
    if (
        not isinstance(shape, tuple)
        or len(shape) != len(axes)
        or not all(
            validation.is_int(d) and 0 < d <= validation.INT32_MAX
            for d in shape
        )
    ):
        raise ValueError(
            f"`{name}` must be a tuple ({', '.join(axes)}) of positive "
            f"integers (int32). Received: {name}={shape!r}"
        )
    shape = tuple(int(d) for d in shape)
    for axis, divisor in divisors.items():
        if shape[axes.index(axis)] % divisor:
            raise ValueError(
                f"`{name}`: {axis} must be divisible by the patch "
                f"({patch_description}). Received: {name}={shape}"
            )
    return shape


def warn_if_interface_is_narrow(interface_dim, patch_values):
    """The readout rebuilds each patch from its interface token alone, so an
    interface narrower than a patch cannot pass a clean patch through."""
    if interface_dim < patch_values:
        warnings.warn(
            f"`interface_dim`={interface_dim} is smaller than the "
            f"{patch_values} pixel values of one patch: the readout cannot "
            "reproduce a patch exactly, and samples may stay noisy. Use "
            f"interface_dim >= {patch_values} (the paper's models use 2-10x "
            "more).",
            stacklevel=3,
        )


def functional_inputs(data_input_name, data_shape, config):
    """The backbone's `keras.Input`s, by input name."""
    inputs = {
        data_input_name: keras.Input(data_shape, name=data_input_name),
        "noise_levels": keras.Input((), name="noise_levels"),
        "latents": keras.Input(
            (config.num_latents, config.latent_dim), name="latents"
        ),
    }
    if config.num_classes:
        inputs["labels"] = keras.Input((), dtype="int32", name="labels")
    return inputs
