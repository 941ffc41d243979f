import keras
from keras import ops

from keras_rin.diffusion import noise_grids
from keras_rin.diffusion import samplers
from keras_rin.diffusion import sampling
from keras_rin.diffusion import sampling_options
from keras_rin.diffusion import schedules
from keras_rin.diffusion import self_conditioned_training
from keras_rin.diffusion import targets
from keras_rin.models import data_checks
from keras_rin.models.rin_backbone_base import RINBackboneBase
from keras_rin.presets.preset_mixin import PresetMixin
from keras_rin.utils import compiled_function
from keras_rin.utils import ema
from keras_rin.utils import validation


class RINDiffusionModel(
    PresetMixin, compiled_function.FailedStepRecoveryMixin, keras.Model
):
    """What every RIN diffusion model shares: the training forward with
    latent self-conditioning and its loss (`call`, `compute_loss`), the
    sampler (`generate`), the EMA of the weights around `fit`, and the
    checks of the data given to `fit`.

    The jobs live in their own modules, and this class wires them to Keras:
    `keras_rin.diffusion.self_conditioned_training` (the training forward),
    `keras_rin.diffusion.sampling` (the compiled sampling loop),
    `keras_rin.utils.ema` (the EMA weights) and
    `keras_rin.models.data_checks` (the data checks). All of them run the
    backbone through `denoise`.

    Use `RINImageGenerator` or `RINVideoPredictor`; this base class is
    public for those who build a new data type on it. A subclass sets
    `data_key` (the name of the data in input dicts), `data_axes` (for
    error messages) and `data_rank` (the backbone's data rank), and
    overrides the three hooks that place the conditioning data:
    `_split_context`, `_network_input` and `_target_part`.

    Args:
        backbone: a RIN backbone for the model's data (a subclass of
            `keras_rin.models.RINBackboneBase`: `RINBackbone` for images,
            `RINVideoBackbone` for clips).
        train_schedule: noise schedule for training: a name (`"cosine"`,
            `"sigmoid"`, `"linear"`), a dict `{"name": ..., **kwargs}` or a
            `keras_rin.diffusion.NoiseSchedule`. Defaults to the official
            `sigmoid(start=-3, end=3, tau=0.9)`.
        sampling_schedule: noise schedule for sampling, same forms. Defaults
            to `"cosine"`, as in the official evaluation.
        prediction_target: `"eps"` (the paper's), `"x"` or `"v"`.
        self_conditioning_rate: float in [0, 1], probability per training
            example of latent self-conditioning. 0 disables it (and the
            first pass). The first pass runs only on the self-conditioned
            examples: a random `ceil(rate * batch)` of them, the last one
            kept with the leftover probability, so each example's
            probability is exactly `rate` and a step costs `3 + rate`
            forward passes (the official code runs the first pass on the
            whole batch and masks it: the same in distribution, except
            that the number per batch varies by at most one).
        label_dropout_rate: float in [0, 1), probability per training
            example of dropping the label (classifier-free guidance).
        input_scale: float > 0, the input scaling factor `b` of Chen (2023):
            pixels are mapped to `[-b, b]`.
        seed: int or None, seed of the training noise.
        guidance_scale: float >= 0, the classifier-free guidance weight
            `generate` uses when it is not given one (1: no guidance).
        elastic_latent_counts: None, or a sequence of active-latent counts
            (e.g. `(m // 4, m // 2, m)` for `m = num_latents`) to train
            for: each training example then runs with a prefix of the
            learned latents of a count drawn from this set (the time and
            class tokens are always kept; see
            `RINBackbone.elastic_call`), and its self-conditioning pass
            with a count no larger. `generate(compute_schedule=...)` may
            then use these counts. No weights are added.
        elastic_latent_probabilities: None (uniform) or one probability
            per entry of `elastic_latent_counts`, adding up to 1, drawn
            independently of the noise level.
        sampler: the solver `generate` uses when it is not given one (see
            `keras_rin.diffusion.samplers.SAMPLERS`). A preset stores the
            one its model card measured best.
        num_sampling_steps: int, the number of steps `generate` takes when
            it is not given one.
        sampling_spacing: `"time"`, `"logsnr"` or `"edm"`, where
            `generate`'s steps go by default (see
            `keras_rin.diffusion.noise_grids`).
        guidance_interval: None (guidance at every step) or `(t_low,
            t_high)`: by default `generate` guides only the steps with
            `t_low < t <= t_high`.
        **kwargs: base model arguments (`name`, ...).

    Reference:
    - [Jabri et al., 2023](https://arxiv.org/abs/2212.11972)
    """

    data_key = "images"
    data_axes = ("height", "width", "channels")
    data_rank = 3
    backbone_class_name = "RINBackbone"

    def __init__(
        self,
        backbone,
        train_schedule=None,
        sampling_schedule="cosine",
        prediction_target="eps",
        self_conditioning_rate=0.9,
        label_dropout_rate=0.0,
        input_scale=1.0,
        seed=None,
        guidance_scale=1.0,
        elastic_latent_counts=None,
        elastic_latent_probabilities=None,
        sampler=sampling_options.DEFAULT_SAMPLER,
        num_sampling_steps=sampling_options.DEFAULT_NUM_STEPS,
        sampling_spacing=sampling_options.DEFAULT_SPACING,
        guidance_interval=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self._check_backbone(backbone)
        targets.check_prediction_target(prediction_target)
        self_conditioning_rate = validation.check_rate(
            "self_conditioning_rate", self_conditioning_rate, allow_one=True
        )
        label_dropout_rate = validation.check_rate(
            "label_dropout_rate", label_dropout_rate
        )
        input_scale = validation.check_positive_number(
            "input_scale", input_scale
        )
        seed = validation.check_seed(seed, maximum=validation.INT32_MAX)
        guidance_scale = sampling_options.check_guidance_scale(
            guidance_scale, bool(backbone.num_classes)
        )
        if label_dropout_rate and not backbone.num_classes:
            raise ValueError(
                "`label_dropout_rate` needs a class-conditional backbone "
                "(`num_classes` set). Received: "
                f"label_dropout_rate={label_dropout_rate} with "
                "num_classes=None"
            )
        if train_schedule is None:
            train_schedule = schedules.SigmoidSchedule(-3.0, 3.0, 0.9)
        self.backbone = backbone
        self.train_schedule = schedules.get(train_schedule, "train_schedule")
        self.sampling_schedule = schedules.get(
            sampling_schedule, "sampling_schedule"
        )
        self.prediction_target = prediction_target
        self.self_conditioning_rate = self_conditioning_rate
        self.label_dropout_rate = label_dropout_rate
        self.input_scale = input_scale
        self.seed = seed
        self.guidance_scale = guidance_scale
        self.elastic_latent_counts, self.elastic_latent_probabilities = (
            _check_elastic_latents(
                backbone, elastic_latent_counts, elastic_latent_probabilities
            )
        )
        (
            self.sampler,
            self.num_sampling_steps,
            self.sampling_spacing,
            self.guidance_interval,
        ) = _check_sampling_defaults(
            sampler, num_sampling_steps, sampling_spacing, guidance_interval
        )
        self.seed_generator = keras.random.SeedGenerator(seed)
        self._sampling = sampling.Sampler(self)
        self._raw_weights = ema.RawWeights()
        # The backbone is built; marking the model built keeps `fit` from
        # tracing `call` symbolically on a batch that lacks the labels.
        self.built = True

    def _check_backbone(self, backbone):
        if (
            not isinstance(backbone, RINBackboneBase)
            or len(backbone.data_shape) != self.data_rank
        ):
            raise ValueError(
                f"`backbone` must be a {self.backbone_class_name} (a RIN "
                f"backbone for {self.data_key}: "
                f"{', '.join(self.data_axes)}). Received: "
                f"{type(backbone).__name__}"
            )

    @property
    def num_classes(self):
        return self.backbone.num_classes

    # ------------------------------------------------------------------
    # Where the conditioning data goes (overridden by the video model)
    # ------------------------------------------------------------------

    @property
    def target_shape(self):
        """Shape of the part of one example that the model generates."""
        return tuple(self.backbone.data_shape)

    def _split_context(self, x):
        """Splits scaled data into `(context, part to generate)`."""
        return None, x

    def _network_input(self, x_t, context):
        """The backbone's data input from the noisy part and the context."""
        return x_t

    def _target_part(self, prediction):
        """The part of the backbone's prediction that the loss covers."""
        return prediction

    # ------------------------------------------------------------------
    # The backbone pass: training, self-conditioning and sampling
    # ------------------------------------------------------------------

    def backbone_inputs(self, x_t, noise_levels, labels, latents, context=None):
        """The backbone's input dict for the noisy part `x_t` of the data.

        Args:
            x_t: float, the noisy part to denoise, `(batch,) +
                target_shape`.
            noise_levels: float `(batch,)`, gamma of each example.
            labels: int `(batch,)`; ignored by an unconditional model.
            latents: float `(batch, k, latent_dim)`, the previous latents.
            context: the clean conditioning data in model space, for models
                that have it (the video model's context frames).
        """
        inputs = {
            self.backbone.data_input_name: ops.convert_to_tensor(
                self._network_input(x_t, context)
            ),
            "noise_levels": ops.convert_to_tensor(noise_levels),
            "latents": ops.convert_to_tensor(latents),
        }
        if self.num_classes:
            inputs["labels"] = ops.cast(labels, "int32")
        return inputs

    def denoise(
        self,
        x_t,
        noise_levels,
        labels,
        latents,
        context=None,
        training=False,
        num_active_latents=None,
        latent_mask=None,
    ):
        """One backbone pass on the noisy part of the data: the one path
        that training, self-conditioning and sampling take.

        Args:
            x_t, noise_levels, labels, latents, context: see
                `backbone_inputs`.
            training: bool, enables dropout and drop-path.
            num_active_latents: int or None: run with a prefix of the
                latents, sliced (`RINBackbone.elastic_call`).
            latent_mask: bool `(batch, num_latents)` or None: mask the
                inactive latents instead.

        Returns:
            `(prediction, latents)`, float32: the prediction of the
            generated part, shaped like `x_t`, and the output latents.
        """
        inputs = self.backbone_inputs(
            x_t, noise_levels, labels, latents, context
        )
        full = num_active_latents in (None, self.backbone.num_latents)
        if latent_mask is None and full:
            outputs = self.backbone(inputs, training=training)
        else:
            outputs = self.backbone.elastic_call(
                inputs,
                num_active_latents=num_active_latents,
                latent_mask=latent_mask,
                training=training,
            )
        prediction = ops.cast(outputs["prediction"], "float32")
        latents = ops.cast(outputs["latents"], "float32")
        return self._target_part(prediction), latents

    # ------------------------------------------------------------------
    # Training
    # ------------------------------------------------------------------

    def call(self, inputs, training=False):
        """The diffusion training forward.

        Args:
            inputs: the data, or a dict `{data_key: ..., "labels": ...}`,
                or a tuple `(data, labels)`.
            training: bool, enables dropout, drop-path and label dropout.

        Returns:
            A dict with the backbone's `"prediction"` and the regression
            `"target"` of the generated part, both float32.
        """
        data, labels = data_checks.unpack_inputs(self, inputs)
        x = targets.images_to_inputs(data, self.input_scale)
        context, x = self._split_context(x)
        return self_conditioned_training.training_forward(
            self, x, context, labels, training
        )

    def self_conditioned_prediction(
        self,
        x_t,
        noise_levels,
        labels=None,
        use_self_conditioning=None,
        training=False,
        context=None,
        num_active_latents=None,
    ):
        """The backbone's prediction with training-time self-conditioning.

        Examples where `use_self_conditioning` is True get as previous
        latents the output latents of a first pass on the same input with
        zero latents, under stop-gradient (no gradient reaches the first
        pass); the others get zeros. With `use_self_conditioning=None` the
        first pass is skipped.

        Args:
            x_t: float, the noisy part to denoise, shaped
                `(batch,) + target_shape`.
            noise_levels: float `(batch,)`, gamma of each example.
            labels: int `(batch,)` or None.
            use_self_conditioning: bool `(batch,)` or None.
            training: bool, enables dropout and drop-path.
            context: the clean conditioning data in model space (`[-b, b]`),
                for models that have it (the video model's context frames).
            num_active_latents: int or None (all latents): both passes run
                with this many latents (`RINBackbone.elastic_call`), e.g.
                to measure the denoising loss of each elastic count.

        Returns:
            float32 prediction shaped like `x_t`.
        """
        return self_conditioned_training.self_conditioned_prediction(
            self,
            (x_t, noise_levels, labels, context, num_active_latents),
            use_self_conditioning,
            training,
        )

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        """Mean squared error between prediction and target, averaged over
        the generated pixels, then over examples (weighted by
        `sample_weight` if given), plus any regularisation losses."""
        loss = self_conditioned_training.denoising_loss(
            y_pred["prediction"], y_pred["target"], sample_weight
        )
        if self.losses:
            loss = loss + ops.cast(ops.sum(self.losses), "float32")
        return loss

    def train_step(self, *args):
        # JAX passes (state, data), TensorFlow and torch (data): labels given
        # as `y` move into the inputs so that `call` sees them.
        data = data_checks.labels_into_inputs(self, args[-1])
        return super().train_step(*args[:-1], data)

    def test_step(self, *args):
        data = data_checks.labels_into_inputs(self, args[-1])
        return super().test_step(*args[:-1], data)

    def fit(self, x=None, y=None, *args, **kwargs):
        """Keras' `fit`, with the EMA of the weights handled as in the
        official RIN: with an optimizer built with `use_ema=True`, the model
        holds the EMA weights when `fit` returns (for sampling, evaluation
        and saving), and the next `fit` call continues training from the
        raw weights, not from the EMA.

        The data is checked before training starts: arrays in full (shape,
        dtype, pixel range, label range); a `tf.data.Dataset`, a
        `keras.utils.PyDataset`, a torch `DataLoader` or a generator by
        its first batch only (a dataset is iterated once more for it).
        Later batches of a stream are not checked, as they only exist once
        training runs: pixels out of range there train silently, and
        labels out of range give undefined class embeddings (PyTorch
        raises). A `fit` that fails (bad data, an error or an interrupt in
        a step) leaves the model usable: unchanged when no step ran, else
        as if `fit` had ended after the last step that ran."""
        x, y = data_checks.check_training_data(self, x, y)
        self._raw_weights.restore(self)
        with self._raw_weights.stash_when_fit_ends(self):
            return super().fit(x, y, *args, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        x, y = data_checks.check_training_data(self, x, y)
        return super().evaluate(x, y, *args, **kwargs)

    # ------------------------------------------------------------------
    # EMA of the weights
    # ------------------------------------------------------------------

    def ema_weights(self):
        """Puts the EMA of the weights into the model for the `with` block.

        Callbacks use it to sample or save checkpoints from the EMA weights
        in the middle of `fit`; the raw weights are back when the block
        ends. Outside `fit` the model already holds the EMA weights, and
        without an EMA (an optimizer without `use_ema`, or no update yet)
        the block sees the weights as they are.

        Example:
        ```python
        with model.ema_weights():
            images = model.generate(labels=[0, 1, 2], seed=0)
        ```
        """
        return ema.ema_weights(self, self._raw_weights)

    def load_weights(self, *args, **kwargs):
        self._raw_weights.forget()
        return super().load_weights(*args, **kwargs)

    def set_weights(self, *args, **kwargs):
        self._raw_weights.forget()
        return super().set_weights(*args, **kwargs)

    # ------------------------------------------------------------------
    # Config
    # ------------------------------------------------------------------

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "backbone": keras.saving.serialize_keras_object(self.backbone),
                "train_schedule": schedules.serialize(self.train_schedule),
                "sampling_schedule": schedules.serialize(
                    self.sampling_schedule
                ),
                "prediction_target": self.prediction_target,
                "self_conditioning_rate": self.self_conditioning_rate,
                "label_dropout_rate": self.label_dropout_rate,
                "input_scale": self.input_scale,
                "seed": self.seed,
                "guidance_scale": self.guidance_scale,
                "elastic_latent_counts": self.elastic_latent_counts,
                "elastic_latent_probabilities": (
                    self.elastic_latent_probabilities
                ),
                "sampler": self.sampler,
                "num_sampling_steps": self.num_sampling_steps,
                "sampling_spacing": self.sampling_spacing,
                "guidance_interval": self.guidance_interval,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("backbone"), dict):
            config["backbone"] = keras.saving.deserialize_keras_object(
                config["backbone"]
            )
        return cls(**config)


def _check_sampling_defaults(sampler, num_steps, spacing, interval):
    """Checked `(sampler, num_sampling_steps, sampling_spacing,
    guidance_interval)`; the interval as a list (JSON's form) or None."""
    samplers.check_sampler(sampler)
    num_steps = validation.check_count("num_sampling_steps", num_steps)
    if spacing not in noise_grids.SPACINGS:
        raise ValueError(
            f"`sampling_spacing` must be one of {noise_grids.SPACINGS}. "
            f"Received: sampling_spacing={spacing!r}"
        )
    if interval is not None:
        interval = list(
            sampling_options.check_guidance_interval(
                "guidance_interval", interval
            )
        )
    return sampler, num_steps, spacing, interval


def _check_elastic_latents(backbone, counts, probabilities):
    """Checked `(counts, probabilities)` as lists, or `(None, None)`."""
    if counts is None:
        if probabilities is not None:
            raise ValueError(
                "`elastic_latent_probabilities` needs "
                "`elastic_latent_counts`. Received: "
                f"elastic_latent_probabilities={probabilities!r}"
            )
        return None, None
    if isinstance(counts, (str, bytes)) or not hasattr(counts, "__len__"):
        raise ValueError(
            "`elastic_latent_counts` must be a sequence of ints, e.g. "
            f"[{backbone.num_latents // 4}, {backbone.num_latents // 2}, "
            f"{backbone.num_latents}]. Received: "
            f"elastic_latent_counts={counts!r}"
        )
    checked = [backbone.check_num_active_latents(c) for c in counts]
    if not checked or len(set(checked)) != len(checked):
        raise ValueError(
            "`elastic_latent_counts` must be a non-empty sequence of "
            f"distinct counts. Received: elastic_latent_counts={counts!r}"
        )
    if probabilities is None:
        probabilities = [1.0 / len(checked)] * len(checked)
    probabilities = validation.check_probabilities(
        "elastic_latent_probabilities", probabilities, len(checked)
    )
    return checked, probabilities
