import contextlib
import math

import keras
import numpy as np
from keras import ops

from keras_rin.diffusion import compute_schedules
from keras_rin.diffusion import samplers
from keras_rin.diffusion import schedules
from keras_rin.diffusion import targets
from keras_rin.models.rin_backbone import RINBackbone
from keras_rin.presets.preset_mixin import PresetMixin
from keras_rin.utils import ema
from keras_rin.utils import seeds
from keras_rin.utils import validation
from keras_rin.utils.compiled_function import compile_inference_function

# A sampling call reports progress about this many times per batch.
_PROGRESS_UPDATES_PER_BATCH = 10


class RINDiffusionModel(PresetMixin, keras.Model):
    """What every RIN diffusion model shares: the training forward with
    latent self-conditioning, the loss, the compiled sampling loop with
    classifier-free guidance, and the checks of the data given to `fit`.

    Use `RINImageGenerator` or `RINVideoPredictor`; this base class is
    public for those who build a new data type on it. A subclass sets
    `data_key` (the name of the data in input dicts), `data_axes` (for
    error messages) and `data_rank` (the backbone's data rank), and
    overrides the three hooks that place the conditioning data:
    `_split_context`, `_network_input` and `_target_part`.

    Args:
        backbone: a `RINBackbone` (or subclass) for the model's data.
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
        **kwargs,
    ):
        super().__init__(**kwargs)
        self._check_backbone(backbone)
        targets.check_prediction_target(prediction_target)
        validation.check_rate(
            "self_conditioning_rate", self_conditioning_rate, allow_one=True
        )
        validation.check_rate("label_dropout_rate", label_dropout_rate)
        validation.check_positive_number("input_scale", input_scale)
        check_guidance_scale(guidance_scale, backbone.num_classes)
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
        self.train_schedule = schedules.get(train_schedule)
        self.sampling_schedule = schedules.get(sampling_schedule)
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
        self.seed_generator = keras.random.SeedGenerator(seed)
        self._sampling_functions = {}
        self._ema_state = _EMAState()
        # The backbone is built; marking the model built keeps `fit` from
        # tracing `call` symbolically on a batch that lacks the labels.
        self.built = True

    def _check_backbone(self, backbone):
        if (
            not isinstance(backbone, RINBackbone)
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
    # Training forward
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
        data, labels = self._unpack_inputs(inputs)
        x = targets.images_to_inputs(to_unit_range(data), self.input_scale)
        context, x = self._split_context(x)
        batch_size = ops.shape(x)[0]
        t = keras.random.uniform((batch_size,), seed=self.seed_generator)
        gamma = self.train_schedule(t)
        noise = keras.random.normal(ops.shape(x), seed=self.seed_generator)
        gamma_b = _broadcast_like(gamma, x)
        x_t = targets.add_noise(x, noise, gamma_b)
        if labels is not None and training and self.label_dropout_rate:
            labels = self._drop_labels(labels)
        network_input = self._network_input(x_t, context)
        counts = previous_counts = None
        if self.elastic_latent_counts:
            counts = self._draw_active_counts(batch_size)
        latents = ops.zeros((batch_size,) + self.backbone.latent_shape)
        if self.self_conditioning_rate:
            if counts is not None:
                previous_counts = ops.minimum(
                    self._draw_active_counts(batch_size), counts
                )
            latents = self._self_conditioning_latents(
                network_input, gamma, labels, training, previous_counts
            )
        prediction = self._trained_pass(
            network_input,
            gamma,
            labels,
            latents,
            training,
            None
            if counts is None
            else self.backbone.active_latent_mask(counts),
        )
        return {
            "prediction": prediction,
            "target": targets.training_target(
                x, noise, gamma_b, self.prediction_target
            ),
        }

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
        x_t, noise_levels = targets.float32(x_t, noise_levels)
        network_input = self._network_input(x_t, context)
        count = self.backbone.num_latents
        if num_active_latents is not None:
            count = self.backbone.check_num_active_latents(num_active_latents)
        latents = ops.zeros(
            (ops.shape(x_t)[0], count, self.backbone.latent_dim)
        )
        if use_self_conditioning is not None:
            estimate = self._first_pass(
                network_input,
                noise_levels,
                labels,
                training,
                num_active_latents=count,
            )
            use = ops.cast(use_self_conditioning, "float32")
            latents = estimate * use[:, None, None]
        return self._trained_pass(
            network_input,
            noise_levels,
            labels,
            latents,
            training,
            num_active_latents=count,
        )

    def _draw_active_counts(self, batch_size):
        """Active-latent counts `(batch,)` drawn from
        `elastic_latent_counts` with their probabilities."""
        counts = ops.convert_to_tensor(
            np.asarray(self.elastic_latent_counts, "int32")
        )
        cumulative = np.cumsum(self.elastic_latent_probabilities)[:-1]
        draw = keras.random.uniform((batch_size,), seed=self.seed_generator)
        index = ops.sum(
            ops.cast(
                draw[:, None] >= ops.convert_to_tensor(cumulative, "float32"),
                "int32",
            ),
            axis=1,
        )
        return ops.take(counts, index, axis=0)

    def _self_conditioning_latents(
        self, network_input, gamma, labels, training, counts=None
    ):
        """Previous latents for a training batch: the first pass runs only
        on the examples that are self-conditioned, a random subset of
        `ceil(rate * batch)`, and the others get zeros.

        The last example of the subset keeps its estimate with probability
        `rate * batch - (count - 1)`, so that every example is
        self-conditioned with probability `self_conditioning_rate`, as in
        the official per-example draw; only the number per batch varies
        less (by at most one). A static subset size keeps the shapes
        static for XLA, and the skipped examples cost nothing, so a step
        costs `3 + rate` forward passes instead of 4. With `counts`
        (elastic latents), each example's first pass uses its own number
        of active latents, and the inactive ones come out as zeros.
        """
        batch_size = ops.shape(gamma)[0]
        rate = self.self_conditioning_rate
        if isinstance(batch_size, int):
            expected = rate * batch_size
            count = max(1, math.ceil(expected - 1e-6))
        else:  # an unknown batch size in a TensorFlow graph
            expected = rate * ops.cast(batch_size, "float32")
            count = ops.cast(ops.ceil(expected - 1e-6), "int32")
        keep_last = ops.cast(expected, "float32") - ops.cast(
            count - 1, "float32"
        )
        draw = keras.random.uniform((batch_size,), seed=self.seed_generator)
        coin = keras.random.uniform((), seed=self.seed_generator)
        order = ops.argsort(draw)
        chosen = order[:count]
        latent_mask = None
        if counts is not None:
            latent_mask = self.backbone.active_latent_mask(
                ops.take(counts, chosen, axis=0)
            )
        estimate = self._first_pass(
            ops.take(network_input, chosen, axis=0),
            ops.take(gamma, chosen, axis=0),
            None if labels is None else ops.take(labels, chosen, axis=0),
            training,
            latent_mask,
        )
        last = ops.equal(ops.arange(count), count - 1)
        keep = ops.where(last, ops.cast(coin < keep_last, "float32"), 1.0)
        padding = ops.zeros(
            (batch_size - count,) + self.backbone.latent_shape, "float32"
        )
        in_order = ops.concatenate(
            [estimate * keep[:, None, None], padding], axis=0
        )
        return ops.take(in_order, ops.argsort(order), axis=0)

    def _first_pass(
        self,
        network_input,
        gamma,
        labels,
        training,
        latent_mask=None,
        num_active_latents=None,
    ):
        """The self-conditioning estimate: the output latents of a pass
        with zero previous latents, under stop-gradient."""
        count = num_active_latents or self.backbone.num_latents
        latents = ops.zeros(
            (ops.shape(gamma)[0], count, self.backbone.latent_dim)
        )
        outputs = self._run_backbone(
            self._backbone_inputs(network_input, gamma, labels, latents),
            training,
            latent_mask=latent_mask,
            num_active_latents=num_active_latents,
        )
        return ops.stop_gradient(ops.cast(outputs["latents"], "float32"))

    def _trained_pass(
        self,
        network_input,
        gamma,
        labels,
        latents,
        training,
        latent_mask=None,
        num_active_latents=None,
    ):
        outputs = self._run_backbone(
            self._backbone_inputs(network_input, gamma, labels, latents),
            training,
            latent_mask=latent_mask,
            num_active_latents=num_active_latents,
        )
        return self._target_part(ops.cast(outputs["prediction"], "float32"))

    def _run_backbone(
        self, inputs, training, latent_mask=None, num_active_latents=None
    ):
        """The backbone's functional forward, or its elastic one when some
        latents are inactive."""
        if latent_mask is None and (
            num_active_latents is None
            or num_active_latents == self.backbone.num_latents
        ):
            return self.backbone(inputs, training=training)
        return self.backbone.elastic_call(
            inputs,
            num_active_latents=num_active_latents,
            latent_mask=latent_mask,
            training=training,
        )

    def _drop_labels(self, labels):
        labels = ops.cast(labels, "int32")
        draw = keras.random.uniform(ops.shape(labels), seed=self.seed_generator)
        return ops.where(draw < self.label_dropout_rate, -1, labels)

    def _backbone_inputs(self, data, gamma, labels, latents):
        inputs = {
            self.backbone.data_input_name: ops.convert_to_tensor(data),
            "noise_levels": ops.convert_to_tensor(gamma),
            "latents": ops.convert_to_tensor(latents),
        }
        if self.num_classes:
            inputs["labels"] = ops.cast(labels, "int32")
        return inputs

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        """Mean squared error between prediction and target, averaged over
        the generated pixels, then over examples (weighted by
        `sample_weight` if given), plus any regularisation losses."""
        squared_error = ops.square(y_pred["prediction"] - y_pred["target"])
        per_example = ops.mean(
            ops.reshape(squared_error, (ops.shape(squared_error)[0], -1)),
            axis=-1,
        )
        if sample_weight is None:
            loss = ops.mean(per_example)
        else:
            weights = ops.reshape(
                ops.cast(ops.convert_to_tensor(sample_weight), "float32"), (-1,)
            )
            loss = ops.sum(per_example * weights) / ops.maximum(
                ops.sum(weights), 1e-12
            )
        if self.losses:
            loss = loss + ops.cast(ops.sum(self.losses), "float32")
        return loss

    def train_step(self, *args):
        # JAX passes (state, data), TensorFlow and torch (data): labels given
        # as `y` move into the inputs so that `call` sees them.
        return super().train_step(
            *args[:-1], self._labels_into_inputs(args[-1])
        )

    def test_step(self, *args):
        return super().test_step(*args[:-1], self._labels_into_inputs(args[-1]))

    def _labels_into_inputs(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        if y is not None:
            if isinstance(x, dict):
                raise ValueError(
                    "Pass labels either inside `x` (as x['labels']) or as "
                    "`y`, not both."
                )
            x = {self.data_key: x, "labels": y}
        return keras.utils.pack_x_y_sample_weight(x, None, sample_weight)

    def _unpack_inputs(self, inputs):
        key = self.data_key
        if isinstance(inputs, dict):
            unknown = set(inputs) - {key, "labels"}
            if unknown or key not in inputs:
                raise ValueError(
                    f"`inputs` as a dict must have the key '{key}' and "
                    f"optionally 'labels'. Received keys: {sorted(inputs)}"
                )
            data, labels = inputs[key], inputs.get("labels")
        elif isinstance(inputs, (tuple, list)):
            if len(inputs) != 2:
                raise ValueError(
                    f"`inputs` as a tuple must be ({key}, labels). "
                    f"Received a tuple of length {len(inputs)}"
                )
            data, labels = inputs
        else:
            data, labels = inputs, None
        self._check_data_shape(key, tuple(data.shape))
        if self.num_classes and labels is None:
            raise ValueError(
                "`labels` are required: this model is class-conditional "
                f"(num_classes={self.num_classes}). Pass fit({key}, labels) "
                f"or {{'{key}': ..., 'labels': ...}}."
            )
        if not self.num_classes and labels is not None:
            raise ValueError(
                "This model is unconditional (num_classes=None) but "
                "`labels` were given."
            )
        return data, labels

    def _check_data_shape(self, name, shape):
        expected = tuple(self.backbone.data_shape)
        if len(shape) != len(expected) + 1 or tuple(shape[1:]) != expected:
            raise ValueError(
                f"`{name}` must have shape (batch, {_dims(expected)}) "
                f"({', '.join(self.data_axes)}). Received shape {shape}"
            )

    # ------------------------------------------------------------------
    # Input validation for fit / evaluate
    # ------------------------------------------------------------------

    def fit(self, x=None, y=None, *args, **kwargs):
        """Keras' `fit`, with the EMA of the weights handled as in the
        official RIN: with an optimizer built with `use_ema=True`, the model
        holds the EMA weights when `fit` returns (for sampling, evaluation
        and saving), and the next `fit` call continues training from the
        raw weights, not from the EMA."""
        self._check_training_data(x, y)
        self._restore_training_weights()
        with self._stash_training_weights_when_fit_ends():
            return super().fit(x, y, *args, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        self._check_training_data(x, y)
        return super().evaluate(x, y, *args, **kwargs)

    def _check_training_data(self, x, y):
        """Checks in-memory data before it enters the compiled step.

        Arrays are checked in full (shape, dtype, range, finiteness, label
        range); a `tf.data.Dataset` is checked by its element spec.
        """
        if isinstance(x, dict):
            x, y = x.get(self.data_key), x.get("labels", y)
        if is_array(x):
            x = np.asarray(x)
            self._check_data_shape("x", x.shape)
            check_pixels("x", x)
            if y is not None and is_array(y):
                check_labels("y", np.asarray(y), self.num_classes, len(x))
            elif y is None and self.num_classes:
                raise ValueError(
                    "`y` (labels) is required: this model is "
                    f"class-conditional (num_classes={self.num_classes})."
                )
        elif hasattr(x, "element_spec"):
            self._check_dataset_spec(x.element_spec)

    def _check_dataset_spec(self, spec):
        if isinstance(spec, tuple):
            spec = spec[0]
        if isinstance(spec, dict):
            spec = spec.get(self.data_key)
        shape = getattr(spec, "shape", None)
        expected = tuple(self.backbone.data_shape)
        if shape is None or len(shape) != len(expected) + 1:
            return
        got = tuple(shape[1:])
        if any(
            g is not None and g != e for g, e in zip(got, expected, strict=True)
        ):
            raise ValueError(
                f"Dataset {self.data_key} must have shape (batch, "
                f"{_dims(expected)}) ({', '.join(self.data_axes)}). "
                f"Received element shape {tuple(shape)}"
            )

    # ------------------------------------------------------------------
    # EMA of the weights
    # ------------------------------------------------------------------

    @contextlib.contextmanager
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
        if hasattr(self, "jax_state_sync"):
            # Under JAX, `fit` keeps the newest values outside the variables
            # until something asks for them.
            self.jax_state_sync()
        averages = ema.ema_variables(self.optimizer)
        if averages is None or self._ema_state.holds_ema:
            yield self
            return
        raw = ema.snapshot(self.trainable_variables)
        ema.assign_all(self.trainable_variables, averages)
        try:
            yield self
        finally:
            ema.assign_all(self.trainable_variables, raw)

    @contextlib.contextmanager
    def _stash_training_weights_when_fit_ends(self):
        # Keras overwrites the weights with the EMA when `fit` ends (even
        # when it ends with an error); keep a copy of the raw weights first,
        # so that the next `fit` can continue from them.
        optimizer = self.optimizer
        if not ema.uses_ema(optimizer):
            yield
            return
        finalize = optimizer.finalize_variable_values

        def stash_then_finalize(variables):
            averages = ema.ema_variables(optimizer)
            if averages is not None:
                self._ema_state.stash(ema.snapshot(variables), averages)
            finalize(variables)

        optimizer.finalize_variable_values = stash_then_finalize
        try:
            yield
        finally:
            del optimizer.finalize_variable_values

    def _restore_training_weights(self):
        """Puts the raw weights of the last `fit` back, unless the weights
        were changed since (e.g. loaded from a file)."""
        raw, averages = self._ema_state.pop()
        if raw is not None and ema.holds_values(
            self.trainable_variables, averages
        ):
            ema.assign_all(self.trainable_variables, raw)

    def load_weights(self, *args, **kwargs):
        self._ema_state.pop()
        return super().load_weights(*args, **kwargs)

    def set_weights(self, *args, **kwargs):
        self._ema_state.pop()
        return super().set_weights(*args, **kwargs)

    # ------------------------------------------------------------------
    # Sampling
    # ------------------------------------------------------------------

    def _sample(
        self,
        num_examples,
        labels,
        context,
        num_steps,
        sampler,
        seed,
        batch_size,
        guidance_scale,
        clip_x0,
        verbose,
        read_attention_steps=None,
        compute_schedule=None,
    ):
        """Samples the generated part of `num_examples` examples.

        `labels` (int32 NumPy or None) and `context` (float32 NumPy in model
        space, or None) hold one entry per example. Returns float32 NumPy in
        [0, 1] shaped `(num_examples,) + target_shape`.

        With `read_attention_steps` (checked, increasing step indices),
        returns `(samples, maps)`: the samples are the same, and `maps` are
        the read attention of the conditional stream at those steps,
        float32 `(num_examples, len(steps), num_blocks, num_tokens)`.

        `compute_schedule` (see `keras_rin.diffusion.compute_schedules`)
        sets the active latents of each step; None runs all of them.
        """
        if seed is None:
            seed = int(np.random.randint(0, 2**31 - 1))
        batch_size = batch_size or num_examples
        guided = guidance_scale != 1.0
        segments = compute_schedules.schedule_segments(
            compute_schedule,
            num_steps,
            self.elastic_latent_counts or (),
            self.backbone.num_latents,
        )
        functions = {
            count: self._sampling_function(
                sampler, bool(clip_x0), guided, count
            )
            for _, _, count in segments
        }
        read_function = None
        if read_attention_steps is not None:
            read_function = self._read_attention_function(guided)
        steps_per_call = num_steps
        show_progress = verbose == 1 or verbose == "auto"
        if show_progress:
            steps_per_call = max(
                1, math.ceil(num_steps / _PROGRESS_UPDATES_PER_BATCH)
            )
        num_batches = math.ceil(num_examples / batch_size)
        progress = keras.utils.Progbar(
            num_batches * num_steps,
            verbose=1 if show_progress else 0,
            unit_name="step",
        )
        outputs = []
        maps = []
        for index in range(num_batches):
            batch = slice(index * batch_size, (index + 1) * batch_size)
            size = min(batch_size, num_examples - index * batch_size)
            x, batch_maps = self._sample_batch(
                functions,
                size,
                None if labels is None else labels[batch],
                None if context is None else context[batch],
                num_steps,
                steps_per_call,
                seeds.batch_seed(seed, index),
                guidance_scale,
                lambda stop, index=index: progress.update(
                    index * num_steps + stop
                ),
                read_function,
                read_attention_steps or (),
                segments,
            )
            outputs.append(x)
            maps.append(batch_maps)
        samples = np.concatenate(outputs, axis=0)
        if read_attention_steps is None:
            return samples
        return samples, np.concatenate(maps, axis=0)

    def _sample_batch(
        self,
        functions,
        size,
        labels,
        context,
        num_steps,
        steps_per_call,
        seed,
        guidance_scale,
        report_progress,
        read_function=None,
        read_attention_steps=(),
        segments=None,
    ):
        """Samples one batch; returns `(samples, maps)`, `maps` None unless
        `read_attention_steps` are given. The compiled loop runs in chunks
        of `steps_per_call` steps, also split at each of those steps, where
        `read_function` is called on the current state first, and at each
        change of the active-latent count of `segments` (`(start, stop,
        count)`; `functions` maps each count to its compiled loop), where
        the latents are resized (new slots start from zeros)."""
        full = self.backbone.num_latents
        segments = segments or [(0, num_steps, full)]
        noise_seed = keras.random.SeedGenerator(seed)
        x = keras.random.normal((size,) + self.target_shape, seed=noise_seed)
        streams = 2 if guidance_scale != 1.0 else 1
        latents = ops.zeros(
            (size * streams, segments[0][2], self.backbone.latent_dim)
        )
        if labels is None:
            labels = np.zeros((size,), "int32")
        labels = ops.convert_to_tensor(np.asarray(labels, "int32"))
        if context is not None:
            context = ops.convert_to_tensor(context, "float32")
        state = ops.convert_to_tensor(noise_seed.state.value)
        guidance = ops.convert_to_tensor(guidance_scale, "float32")
        total = ops.convert_to_tensor(num_steps, "int32")
        starts = sorted(
            set(range(0, num_steps, steps_per_call))
            | set(read_attention_steps)
            | {start for start, _, _ in segments}
        )
        maps = []
        for start, stop in zip(starts, starts[1:] + [num_steps], strict=True):
            if start in read_attention_steps:
                step = ops.convert_to_tensor(start, "int32")
                maps.append(
                    ops.convert_to_numpy(
                        read_function(x, latents, labels, context, step, total)
                    )
                )
            count = next(c for a, b, c in segments if a <= start < b)
            if ops.shape(latents)[1] != count:
                latents = self.backbone.resize_latents(latents, count)
            x, latents, state = functions[count](
                x,
                latents,
                labels,
                context,
                state,
                ops.convert_to_tensor(start, "int32"),
                ops.convert_to_tensor(stop, "int32"),
                total,
                guidance,
            )
            # Wait for the chunk (JAX dispatches asynchronously) so the
            # progress bar tells the truth; one value is enough.
            ops.convert_to_numpy(x[0, 0, 0, 0])
            report_progress(stop)
        samples = ops.convert_to_numpy(
            targets.inputs_to_images(ops.convert_to_tensor(x), self.input_scale)
        )
        if not read_attention_steps:
            return samples, None
        return samples, np.stack(maps, axis=1).astype("float32")

    def _read_attention_function(self, guided):
        """The compiled backbone pass of `generate_with_read_attention`:
        `(x, latents, labels, context, step, num_steps)` -> the read
        attention of the conditional stream at sampling step `step`,
        float32 `(batch, num_blocks, num_tokens)`."""
        key = ("read_attention", guided)
        if key not in self._sampling_functions:

            def read_attention(x, latents, labels, context, step, num_steps):
                t_now, _ = samplers.sampling_times(step, num_steps)
                gamma = self.sampling_schedule(t_now)
                inputs = self._denoising_inputs(
                    x, gamma, labels, latents, context, guided
                )
                outputs = self.backbone.read_attention(inputs)
                return outputs["read_attention"][: ops.shape(x)[0]]

            self._sampling_functions[key] = compile_inference_function(
                read_attention, self.backbone.variables
            )
        return self._sampling_functions[key]

    def _sampling_function(self, sampler, clip_x0, guided, count=None):
        """The compiled sampling loop, one per sampler, clipping, guidance
        and active-latent count."""
        if count is None or count == self.backbone.num_latents:
            key, count = (sampler, clip_x0, guided), None
        else:
            key = (sampler, clip_x0, guided, count)
        if key not in self._sampling_functions:
            template = keras.random.SeedGenerator(0)

            def run_steps(*args):
                return self._sampling_steps(
                    sampler, clip_x0, guided, template, count, *args
                )

            self._sampling_functions[key] = compile_inference_function(
                run_steps, self.backbone.variables
            )
        return self._sampling_functions[key]

    def _sampling_steps(
        self,
        sampler,
        clip_x0,
        guided,
        noise_template,
        num_active_latents,
        x,
        latents,
        labels,
        context,
        seed_state,
        start,
        stop,
        num_steps,
        guidance_scale,
    ):
        """Runs sampling steps `start..stop-1` of `num_steps` in a loop."""

        def step_fn(step, carry):
            x, latents, seed_state = carry
            t_now, t_next = samplers.sampling_times(step, num_steps)
            gamma_now = self.sampling_schedule(t_now)
            gamma_next = self.sampling_schedule(t_next)
            prediction, latents = self._denoise(
                x,
                gamma_now,
                labels,
                latents,
                context,
                guided,
                guidance_scale,
                num_active_latents,
            )
            x0 = targets.prediction_to_x0(
                x, prediction, gamma_now, self.prediction_target
            )
            x0 = samplers.clip_x0(x0, self.input_scale, clip_x0)
            if sampler == "ddim":
                return (
                    samplers.ddim_step(x, x0, gamma_now, gamma_next),
                    latents,
                    seed_state,
                )
            noise, seed_state = _normal_like(x, noise_template, seed_state)
            x = samplers.ddpm_step(x, x0, gamma_now, gamma_next, noise)
            return x, latents, seed_state

        return ops.fori_loop(start, stop, step_fn, (x, latents, seed_state))

    def _denoise(
        self,
        x,
        gamma,
        labels,
        latents,
        context,
        guided,
        guidance_scale,
        num_active_latents=None,
    ):
        """One backbone pass at a shared noise level; with guidance, the
        conditional and unconditional streams run as one batch."""
        outputs = self._run_backbone(
            self._denoising_inputs(x, gamma, labels, latents, context, guided),
            False,
            num_active_latents=num_active_latents,
        )
        prediction = self._target_part(
            ops.cast(outputs["prediction"], "float32")
        )
        latents = ops.cast(outputs["latents"], "float32")
        if guided:
            conditional, unconditional = ops.split(prediction, 2, axis=0)
            prediction = unconditional + guidance_scale * (
                conditional - unconditional
            )
        return prediction, latents

    def _denoising_inputs(self, x, gamma, labels, latents, context, guided):
        """The backbone's inputs for a sampling pass at a shared noise level
        `gamma`; with guidance, the conditional stream (first half) and the
        unconditional stream (labels -1) as one batch."""
        size = ops.shape(x)[0]
        if guided:
            x = ops.concatenate([x, x], axis=0)
            labels = ops.concatenate([labels, -ops.ones_like(labels)], axis=0)
            if context is not None:
                context = ops.concatenate([context, context], axis=0)
            size = size * 2
        gamma = ops.broadcast_to(gamma, (size,))
        return self._backbone_inputs(
            self._network_input(x, context), gamma, labels, latents
        )

    def _check_sampling_args(
        self, num_steps, sampler, seed, batch_size, guidance_scale
    ):
        samplers.check_sampler(sampler)
        validation.check_positive_int("num_steps", num_steps)
        if batch_size is not None:
            validation.check_positive_int("batch_size", batch_size)
        if seed is not None and (
            isinstance(seed, bool) or not isinstance(seed, int)
        ):
            raise ValueError(
                f"`seed` must be an int or None. Received: seed={seed!r}"
            )
        check_guidance_scale(guidance_scale, self.num_classes)

    def _check_read_attention_steps(self, steps, num_steps):
        """`steps` of `generate_with_read_attention`: returns a tuple of
        increasing ints in `[0, num_steps)`; None gives up to 4 steps
        spread evenly from the first to the last."""
        validation.check_positive_int("num_steps", num_steps)
        if steps is None:
            count = min(4, num_steps)
            return tuple(
                sorted(
                    {
                        int(round(s))
                        for s in np.linspace(0, num_steps - 1, count)
                    }
                )
            )
        if isinstance(steps, (str, bytes)) or not hasattr(steps, "__len__"):
            raise ValueError(
                "`steps` must be a sequence of sampling step indices in "
                f"[0, num_steps={num_steps}), e.g. [0, {num_steps - 1}]. "
                f"Received: steps={steps!r}"
            )
        steps = list(steps)
        if not steps or not all(
            isinstance(s, (int, np.integer)) and not isinstance(s, bool)
            for s in steps
        ):
            raise ValueError(
                "`steps` must be a non-empty sequence of integer sampling "
                f"step indices in [0, num_steps={num_steps}). Received: "
                f"steps={steps!r}"
            )
        steps = [int(s) for s in steps]
        if min(steps) < 0 or max(steps) >= num_steps:
            raise ValueError(
                "`steps` must be 0-based sampling step indices in "
                f"[0, num_steps={num_steps}). Received: steps={steps}"
            )
        if any(b <= a for a, b in zip(steps[:-1], steps[1:], strict=True)):
            raise ValueError(
                "`steps` must be strictly increasing (sorted, without "
                f"repeats). Received: steps={steps}"
            )
        return tuple(steps)

    def _read_attention_maps(self, maps):
        """`(num_examples, num_steps, num_blocks, num_tokens)` to
        `(num_examples, num_steps, num_blocks) + token_grid_shape`."""
        return self.backbone.tokens_to_grid(np.asarray(maps, "float32"))

    def _check_generate_labels(self, labels, num_examples):
        """Labels for `generate`: returns `(int32 labels or None,
        num_examples)`; a single label is repeated, and `num_examples` may
        be None when labels are a list."""
        if not self.num_classes:
            if labels is not None:
                raise ValueError(
                    "This model is unconditional (num_classes=None): "
                    f"`labels` must be None. Received: labels={labels!r}"
                )
            return None, num_examples
        if labels is None:
            raise ValueError(
                "`labels` are required: this model is class-conditional "
                f"(num_classes={self.num_classes})."
            )
        labels = np.asarray(labels)
        if labels.ndim == 0:
            if num_examples is None:
                num_examples = 1
            labels = np.full((num_examples,), labels)
        if labels.ndim != 1:
            raise ValueError(
                "`labels` must be an int or a 1-D sequence of ints. "
                f"Received shape {labels.shape}"
            )
        if num_examples is None:
            num_examples = len(labels)
        if len(labels) != num_examples:
            raise ValueError(
                f"`labels` has {len(labels)} entries but {num_examples} "
                f"{self.data_key} are generated; they must match."
            )
        check_labels("labels", labels, self.num_classes, num_examples)
        return labels.astype("int32"), num_examples

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
    probabilities = [float(p) for p in probabilities]
    if (
        len(probabilities) != len(checked)
        or any(not math.isfinite(p) or p < 0 for p in probabilities)
        or not math.isclose(sum(probabilities), 1.0, abs_tol=1e-6)
    ):
        raise ValueError(
            "`elastic_latent_probabilities` must hold one non-negative "
            "probability per count, adding up to 1. Received: "
            f"elastic_latent_probabilities={probabilities!r} for "
            f"elastic_latent_counts={counts!r}"
        )
    return checked, probabilities


def check_guidance_scale(guidance_scale, num_classes):
    if (
        isinstance(guidance_scale, bool)
        or not isinstance(guidance_scale, (int, float))
        or not math.isfinite(guidance_scale)
        or guidance_scale < 0
    ):
        raise ValueError(
            "`guidance_scale` must be a finite number >= 0. "
            f"Received: guidance_scale={guidance_scale!r}"
        )
    if not num_classes and guidance_scale != 1.0:
        raise ValueError(
            "`guidance_scale` needs a class-conditional model. "
            f"Received: guidance_scale={guidance_scale}"
        )


def check_pixels(name, array, what="pixel values"):
    """Checks that an array holds float pixels in [0, 1] or uint8 pixels."""
    if array.dtype == np.uint8:
        return
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(
            f"`{name}` must be float {what} in [0, 1] or uint8 in "
            f"[0, 255]. Received dtype {array.dtype}"
        )
    if not np.all(np.isfinite(array)):
        bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        raise ValueError(
            f"`{name}` contains {bad} non-finite {what} (NaN or inf); "
            "expected finite values in [0, 1]."
        )
    if array.size:
        low, high = float(array.min()), float(array.max())
        if low < -1e-3 or high > 1 + 1e-3:
            raise ValueError(
                f"`{name}` must hold float {what} in [0, 1] (or uint8 in "
                f"[0, 255]). Received values in [{low:.4g}, {high:.4g}]"
            )


def check_labels(name, labels, num_classes, expected_length):
    if labels.ndim != 1 or len(labels) != expected_length:
        raise ValueError(
            f"`{name}` must be a 1-D array of {expected_length} class ids. "
            f"Received shape {labels.shape}"
        )
    if not np.issubdtype(labels.dtype, np.integer):
        if not np.all(np.isfinite(labels)) or np.any(
            labels != np.round(labels)
        ):
            raise ValueError(
                f"`{name}` must hold integer class ids. Received dtype "
                f"{labels.dtype} with non-integer values"
            )
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"`{name}` must be in [0, {num_classes}) (num_classes="
            f"{num_classes}). Received values in [{labels.min()}, "
            f"{labels.max()}]"
        )


def to_unit_range(data):
    """uint8 pixels to float32 in [0, 1]; float pixels cast to float32."""
    if keras.backend.standardize_dtype(data.dtype) == "uint8":
        return ops.cast(data, "float32") / 255.0
    return ops.cast(data, "float32")


def is_array(value):
    return (
        value is not None
        and hasattr(value, "shape")
        and hasattr(value, "dtype")
        and not hasattr(value, "element_spec")
    )


def _normal_like(x, template, seed_state):
    """Standard normal noise from an explicit seed state.

    The state is carried through the sampling loop instead of living in a
    variable, so every step gets new noise inside compiled loops on all
    backends (a variable update would not escape a JAX loop body).
    """
    mapping = [(template.state, seed_state)]
    with keras.StatelessScope(state_mapping=mapping) as scope:
        noise = keras.random.normal(ops.shape(x), seed=template)
        new_state = scope.get_current_value(template.state)
    return noise, new_state


def _broadcast_like(gamma, x):
    return ops.reshape(gamma, (-1,) + (1,) * (len(x.shape) - 1))


def _dims(shape):
    return ", ".join(map(str, shape))


class _EMAState:
    """The raw weights kept aside while the model holds the EMA weights
    after `fit` (a plain object, so Keras does not track the tensors)."""

    def __init__(self):
        self.raw = None
        self.averages = None

    @property
    def holds_ema(self):
        return self.raw is not None

    def stash(self, raw, averages):
        self.raw, self.averages = raw, averages

    def pop(self):
        raw, averages = self.raw, self.averages
        self.raw = self.averages = None
        return raw, averages
