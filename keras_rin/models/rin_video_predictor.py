import keras
import numpy as np
from keras import ops

from keras_rin.diffusion import sampling_options
from keras_rin.diffusion import targets
from keras_rin.models import data_checks
from keras_rin.models import sampler_export
from keras_rin.models.rin_diffusion_model import RINDiffusionModel
from keras_rin.utils import validation


@keras.saving.register_keras_serializable(package="keras_rin")
class RINVideoPredictor(RINDiffusionModel):
    """A RIN diffusion model that predicts the future frames of a clip from
    its first frames, trained with `fit`, sampled with `generate`.

    The backbone sees the whole clip: the first `num_context_frames` frames
    enter the interface clean (no noise, at every training and sampling
    step) and the others are noised. Only the predicted frames are
    regressed, so the loss ignores whatever the network reads out at the
    context frames. Everything else is `RINImageGenerator`'s: noise levels
    per clip, latent self-conditioning, `eps`/`x`/`v` targets, the
    samplers (DPM-Solver++, Heun, DDIM, DDPM) with latents carried from
    evaluation to evaluation, optional class conditioning with
    classifier-free guidance (on an interval if asked), and editing of the
    predicted frames (`init_frames` with `strength` or `mask`).

    Data: clips in [0, 1] (float) or [0, 255] (uint8), shaped
    `backbone.video_shape` `(frames, height, width, channels)`: context
    frames first, then the frames to predict. For a class-conditional
    backbone, integer labels in `[0, num_classes)`. Pass them as
    `fit(videos)`, `fit(videos, labels)`, `fit({"videos": ..., "labels":
    ...})` or a dataset of clips or `(clips, labels)`.

    Difference from the official code: it tokenises the context frames and
    the noisy frames separately, each padded to whole temporal patches
    (2,304 tokens for the Kinetics-600 setting of 5 + 11 frames); here the
    whole clip is one interface, which gives the 2,048 tokens of the
    paper's Table C.1, and a temporal patch may hold a context frame and a
    predicted frame.

    Args:
        backbone: `RINVideoBackbone`, the denoising network.
        num_context_frames: int in `[1, frames)`, the number of given
            frames at the start of each clip (5 for Kinetics-600).
        train_schedule: noise schedule for training: a name (`"cosine"`,
            `"sigmoid"`, `"linear"`), a dict `{"name": ..., **kwargs}` or a
            `keras_rin.diffusion.NoiseSchedule`. Defaults to the official
            `sigmoid(start=-3, end=3, tau=0.9)`.
        sampling_schedule: noise schedule for sampling, same forms. Defaults
            to `"cosine"`.
        prediction_target: `"eps"` (the paper's), `"x"` or `"v"`.
        self_conditioning_rate: float in [0, 1], probability per training
            example of latent self-conditioning (0.85 for Kinetics-600).
        label_dropout_rate: float in [0, 1), probability per training
            example of dropping the label (classifier-free guidance).
        input_scale: float > 0, pixels are mapped to `[-b, b]`.
        seed: int or None, seed of the training noise.
        guidance_scale: float >= 0, the classifier-free guidance weight
            `generate` uses when it is not given one (1: no guidance).
        elastic_latent_counts: None, or the active-latent counts to train
            for, e.g. `(m // 4, m // 2, m)` with `m = num_latents`: each
            training example runs with a prefix of the learned latents of a
            count drawn from this set (time and class tokens are always
            kept), so one checkpoint serves every count, and
            `generate(compute_schedule=...)` may use them. No weights are
            added. This is an addition to the paper (decode-time compute
            scaling, after MaGNeTS); see examples/elastic_latents.py.
        elastic_latent_probabilities: None (uniform) or one probability
            per count, adding up to 1.
        sampler, num_sampling_steps, sampling_spacing, guidance_interval:
            what `generate` uses unless told otherwise (see
            `RINImageGenerator`).
        **kwargs: base model arguments (`name`, ...).

    Example:
    ```python
    backbone = keras_rin.RINVideoBackbone(
        video_shape=(8, 16, 16, 3), patch_size=4, frames_per_patch=2,
        num_latents=32, latent_dim=64, interface_dim=64, num_blocks=2,
        block_depth=2, latent_num_heads=4, rw_num_heads=4)
    model = keras_rin.RINVideoPredictor(backbone, num_context_frames=2)
    model.compile(optimizer=keras.optimizers.AdamW(1e-3))
    clips = keras_rin.data.make_bouncing_shapes(1024)
    model.fit(clips, batch_size=32, epochs=10)
    clip = model.generate(clips[:4, :2], num_steps=100, seed=0)
    ```

    Reference:
    - [Jabri et al., 2023](https://arxiv.org/abs/2212.11972)
    """

    data_key = "videos"
    data_axes = ("frames", "height", "width", "channels")
    data_rank = 4
    backbone_class_name = "RINVideoBackbone"

    def __init__(self, backbone, num_context_frames, **kwargs):
        super().__init__(backbone, **kwargs)
        num_context_frames = validation.check_count(
            "num_context_frames", num_context_frames
        )
        num_frames = backbone.video_shape[0]
        if num_context_frames >= num_frames:
            raise ValueError(
                "`num_context_frames` must be smaller than the clip length "
                f"({num_frames} frames in the backbone's video_shape), so "
                "that there are frames to predict. Received: "
                f"num_context_frames={num_context_frames}"
            )
        self.num_context_frames = num_context_frames

    @property
    def num_predicted_frames(self):
        return self.backbone.video_shape[0] - self.num_context_frames

    @property
    def target_shape(self):
        return (self.num_predicted_frames,) + tuple(
            self.backbone.video_shape[1:]
        )

    def _split_context(self, x):
        c = self.num_context_frames
        return x[:, :c], x[:, c:]

    def _network_input(self, x_t, context):
        return ops.concatenate([ops.cast(context, x_t.dtype), x_t], axis=1)

    def _target_part(self, prediction):
        return prediction[:, self.num_context_frames :]

    def generate(
        self,
        context_frames,
        labels=None,
        num_steps=None,
        sampler=None,
        seed=None,
        batch_size=None,
        guidance_scale=None,
        clip_x0=True,
        verbose="auto",
        compute_schedule=None,
        spacing=None,
        eta=0.0,
        guidance_interval=None,
        init_frames=None,
        strength=1.0,
        mask=None,
        resample_jumps=0,
    ):
        """Predicts the rest of each clip from its first frames.

        Args:
            context_frames: float `(num_clips, num_context_frames, height,
                width, channels)` in [0, 1], or uint8 in [0, 255]. A single
                clip may be given without the batch axis.
            labels: int or sequence of ints in `[0, num_classes)` (an
                integer dtype: floats and bools are refused); required for
                a class-conditional model, not allowed otherwise.
            num_steps: int in `[1, 2**31 - 1]`, number of sampling steps,
                or None for the model's `num_sampling_steps`.
            sampler: None (the model's `sampler`) or a sampler name (see
                `RINImageGenerator.generate`).
            seed: int or None. Equal seeds give equal clips; None draws a
                seed from NumPy's global generator.
            batch_size: int or None, clips per compiled call (all at once
                by default).
            guidance_scale: float >= 0, classifier-free guidance weight; 1
                means no guidance. None uses the model's `guidance_scale`.
            clip_x0: bool, clip the clean-frame estimate at each step.
            verbose: `"auto"`, 0, 1 or 2: show a progress bar (`"auto"`,
                1) or not.
            compute_schedule: None (all latents at every step, the
                default), or `(fraction, num_active_latents)` pairs over
                the steps from the noisiest on, fractions adding up to 1,
                e.g. `[(0.5, 32), (0.25, 64), (0.25, 128)]`. The counts
                must be the model's `elastic_latent_counts` (or
                `num_latents`); each count compiles its own loop once. See
                `keras_rin.utils.count_sampling_flops` for the cost.
            spacing, eta, guidance_interval, strength, resample_jumps: as
                in `RINImageGenerator.generate`.
            init_frames: None, or the frames to predict as they start
                `(num_clips, predicted frames, height, width, channels)` in
                [0, 1] (uint8 in [0, 255]): noised to `t = strength` and
                denoised from there, and with `mask` the pixels outside
                the mask kept (inpainting of the predicted frames).
            mask: None, or bool (or 0/1) shaped like `init_frames`, with or
                without the batch and channel axes: True where the model
                draws, False where `init_frames` are kept.

        Returns:
            float32 NumPy array `(num_clips, frames, height, width,
            channels)` in [0, 1]: the context frames exactly as given
            (float32 values unchanged, uint8 divided by 255), followed by
            the predicted frames.
        """
        options = sampling_options.SamplingOptions.from_arguments(locals())
        return self._predict(
            context_frames, labels, options, (init_frames, mask)
        )

    def generate_with_read_attention(
        self,
        context_frames,
        labels=None,
        num_steps=None,
        sampler=None,
        seed=None,
        batch_size=None,
        guidance_scale=None,
        clip_x0=True,
        verbose="auto",
        steps=None,
        spacing=None,
        eta=0.0,
        guidance_interval=None,
    ):
        """Predicts clips and records where the reads looked (Figure D.7 of
        the paper).

        Runs the same sampling as `generate` (the same clips for the same
        arguments and seed), paused before each sampling step in `steps`
        for one more backbone pass on the current state, with the latents
        that the step's own pass receives (those of the step before, for
        latent self-conditioning). That pass computes each block's read
        attention, averaged over heads and latents: which 3-D patches of
        the whole clip, context frames included, the latents read from.
        With guidance, it is the conditional stream's.

        Args:
            context_frames: the first frames of each clip (see
                `generate`).
            labels: int or sequence of ints (see `generate`).
            num_steps: int or None, number of sampling steps.
            sampler: None or a sampler name, as in `generate`.
            seed: int or None, as in `generate`.
            batch_size: int or None, clips per compiled call.
            guidance_scale: float >= 0 or None, as in `generate`.
            clip_x0: bool, clip the clean-frame estimate at each step.
            verbose: `"auto"`, 0 or 1: show a progress bar.
            steps: increasing 0-based sampling step indices in
                `[0, num_steps)`; with `spacing="time"`, step `s` denoises
                from time `t = 1 - s / num_steps`. None takes 4 steps
                spread evenly from the first to the last.
            spacing, eta, guidance_interval: as in `generate`.

        Returns:
            A tuple `(clips, maps)`: `clips` as `generate` returns them
            (context and predicted frames), and `maps` float32 NumPy
            `(num_clips, len(steps), num_blocks, grid_frames, grid_height,
            grid_width)` (the backbone's `token_grid_shape`; a token covers
            `frames_per_patch` frames of a patch), each map a distribution
            over the clip's patches (it sums to 1).

        Example:
        ```python
        clips, maps = model.generate_with_read_attention(
            videos[:2, :2], num_steps=100, seed=0, steps=[0, 50, 99])
        keras_rin.visualization.save_read_attention_grid(
            clips[0], maps[0], "read_attention.png")
        ```
        """
        options = sampling_options.SamplingOptions.from_arguments(locals())
        clips, maps = self._predict(
            context_frames, labels, options, (None, None)
        )
        return clips, self.backbone.tokens_to_grid(maps)

    def _predict(self, context_frames, labels, options, edit):
        """The whole clips (context, then predicted frames), and with
        `options.read_attention` the read attention too; `edit` is
        `(init_frames, mask)`, both None without editing."""
        context = data_checks.check_context_frames(self, context_frames)
        labels, _ = data_checks.check_generate_labels(
            self, labels, len(context)
        )
        init_frames, mask = edit
        edit = data_checks.check_edit(
            self, "init_frames", init_frames, mask, len(context)
        )
        data_checks.check_edit_options(options, edit, "init_frames")
        scaled = ops.convert_to_numpy(
            targets.images_to_inputs(
                ops.convert_to_tensor(context), self.input_scale
            )
        )
        predicted = self._sampling.sample(
            options, len(context), labels, scaled, edit
        )
        if not options.read_attention:
            return np.concatenate([context, predicted], axis=1)
        predicted, maps = predicted
        return np.concatenate([context, predicted], axis=1), maps

    def export_sampler(
        self,
        path,
        num_steps=None,
        sampler=None,
        guidance_scale=None,
        spacing=None,
        eta=0.0,
        guidance_interval=None,
        clip_x0=True,
        compute_schedule=None,
    ):
        """Exports the frame predictor as a TensorFlow SavedModel for
        serving, the sampling loop inside the graph (see
        `RINImageGenerator.export_sampler`).

        Its `serve` signature takes `context_frames` (float32 `(batch,
        num_context_frames, height, width, channels)` in [0, 1]), `labels`
        (int32 `(batch,)`, class-conditional models only) and `seed` (an
        int32 scalar, the noise seed of `generate`'s first batch: see
        `keras_rin.utils.seeds.batch_seed`), and returns `{"frames": the
        whole clips in [0, 1]}`, as `generate` does. JAX and TensorFlow
        only.

        Args:
            path: str, the SavedModel directory to create or replace.
            num_steps, sampler, guidance_scale, spacing, eta,
                guidance_interval, clip_x0, compute_schedule: as in
                `generate`.

        Returns:
            The SavedModel's path.

        Example:
        ```python
        model.export_sampler("predictor", num_steps=20)
        served = tf.saved_model.load("predictor")
        clips = served.serve(tf.constant(context), tf.constant(0))
        ```
        """
        return sampler_export.export_from_arguments(self, locals())

    def get_config(self):
        config = super().get_config()
        config["num_context_frames"] = self.num_context_frames
        return config
