import keras
import numpy as np

from keras_rin.diffusion import sampling_options
from keras_rin.models import data_checks
from keras_rin.models import sampler_export
from keras_rin.models.rin_diffusion_model import RINDiffusionModel
from keras_rin.utils import validation


@keras.saving.register_keras_serializable(package="keras_rin")
class RINImageGenerator(RINDiffusionModel):
    """A RIN diffusion model for images, trained with `fit`, sampled with
    `generate`.

    Training (`call` and `compute_loss`, so plain `compile()` + `fit()` works
    on JAX, TensorFlow and PyTorch): for each image, draw `t ~ U(0, 1)` and
    noise `eps`, form `x_t = sqrt(gamma(t)) x + sqrt(1 - gamma(t)) eps`, and
    regress the backbone's prediction on the target (`eps`, `x` or `v`) with
    a mean squared error. Latent self-conditioning: per example, with
    probability `self_conditioning_rate`, the previous latents come from a
    first pass of the backbone on the same `x_t` with zero latents, under
    stop-gradient; otherwise they are zeros. With `label_dropout_rate > 0`
    labels are dropped per example, so the model also learns the
    unconditional score that classifier-free guidance needs.

    Data: images in [0, 1] (float) or [0, 255] (uint8), shaped
    `backbone.image_shape`; for a class-conditional backbone, integer labels
    in `[0, num_classes)`. Pass them as `fit(images, labels)`,
    `fit({"images": ..., "labels": ...})` or a dataset of `(images, labels)`.

    Sampling (`generate`): from t=1 to t=0 with a fast solver
    (DPM-Solver++ 2M or 3M, Heun) or the paper's DDPM / DDIM, on steps
    uniform in time (on `sampling_schedule`), in logSNR or EDM's; every
    network evaluation receives the latents of the one before (zeros at
    the first), the clean-image estimate is clipped to
    `[-input_scale, input_scale]`. Classifier-free guidance may run on an
    interval of noise levels only, and `init_images` edit images (SDEdit
    with `strength`, inpainting with `mask`). The loop runs compiled (XLA
    on JAX and TensorFlow), with a Keras progress bar. The model's
    `sampler`, `num_sampling_steps`, `sampling_spacing` and
    `guidance_interval` are what `generate` uses unless told otherwise; a
    preset stores those its model card measured best.

    Args:
        backbone: `RINBackbone`, the denoising network.
        train_schedule: noise schedule for training: a name (`"cosine"`,
            `"sigmoid"`, `"linear"`), a dict `{"name": ..., **kwargs}` or a
            `keras_rin.diffusion.NoiseSchedule`. Defaults to the official
            `sigmoid(start=-3, end=3, tau=0.9)`.
        sampling_schedule: noise schedule for sampling, same forms. Defaults
            to `"cosine"`, as in the official evaluation.
        prediction_target: `"eps"` (the paper's), `"x"` or `"v"`.
        self_conditioning_rate: float in [0, 1], probability per training
            example of latent self-conditioning. 0 disables it (and the
            first pass).
        label_dropout_rate: float in [0, 1), probability per training
            example of dropping the label (classifier-free guidance).
        input_scale: float > 0, the input scaling factor `b` of Chen (2023):
            images are mapped to `[-b, b]`.
        seed: int or None, seed of the training noise.
        guidance_scale: float >= 0, the classifier-free guidance weight
            `generate` uses when it is not given one (1: no guidance). A
            preset stores the value its model card recommends.
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
        sampler: the solver `generate` uses by default: `"dpmpp_2m"`
            (the default), `"dpmpp_3m"`, `"heun"`, `"ddim"` or `"ddpm"`.
        num_sampling_steps: int, `generate`'s default number of steps.
        sampling_spacing: `"logsnr"` (the default), `"edm"` or `"time"`,
            `generate`'s default step spacing.
        guidance_interval: None (guidance at every step) or `(t_low,
            t_high)`, `generate`'s default guidance interval.
        **kwargs: base model arguments (`name`, ...).

    Example:
    ```python
    backbone = keras_rin.RINBackbone(
        image_shape=(8, 8, 1), patch_size=2, num_latents=16, latent_dim=64,
        interface_dim=32, num_blocks=2, block_depth=1, latent_num_heads=4,
        rw_num_heads=2, num_classes=10)
    model = keras_rin.RINImageGenerator(backbone)
    model.compile(optimizer=keras.optimizers.AdamW(1e-3))
    model.fit(images, labels, batch_size=64, epochs=10)
    samples = model.generate(labels=[0, 1, 2], seed=0)
    ```

    Reference:
    - [Jabri et al., 2023](https://arxiv.org/abs/2212.11972)
    """

    data_key = "images"
    data_axes = ("height", "width", "channels")
    data_rank = 3

    def generate(
        self,
        num_images=None,
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
        init_images=None,
        strength=1.0,
        mask=None,
        resample_jumps=0,
    ):
        """Samples images.

        Args:
            num_images: int, number of images. For a class-conditional model
                it may be omitted when `labels` is a list, or given with a
                single int label to repeat it.
            labels: int or sequence of ints in `[0, num_classes)` (an
                integer dtype: floats, even whole ones, and bools are
                refused); required for a class-conditional model, not
                allowed otherwise.
            num_steps: int in `[1, 2**31 - 1]`, number of sampling steps,
                or None for the model's `num_sampling_steps` (its preset's
                recommendation). Heun's method evaluates the network
                `2 * num_steps - 1` times, the others `num_steps` times.
            sampler: None (the model's `sampler`), `"dpmpp_2m"` or
                `"dpmpp_3m"` (DPM-Solver++, multistep), `"heun"` (EDM's
                second-order method), `"ddim"` (deterministic, or with
                noise `eta`) or `"ddpm"` (ancestral, the official
                implementation's).
            seed: int or None. Equal seeds give equal images; None draws a
                seed from NumPy's global generator.
            batch_size: int or None, images per compiled call (all at once
                by default).
            guidance_scale: float >= 0, classifier-free guidance weight `w`
                in `eps_uncond + w * (eps_cond - eps_uncond)`; 1 means no
                guidance. Needs a model trained with `label_dropout_rate > 0`.
                None uses the model's `guidance_scale` (1 unless the preset
                says otherwise).
            clip_x0: bool, clip the clean-image estimate at each step.
            verbose: `"auto"`, 0, 1 or 2: show a progress bar (`"auto"`,
                1) or not.
            compute_schedule: None (all latents at every step, the
                default), or `(fraction, num_active_latents)` pairs over
                the steps from the noisiest on, fractions adding up to 1,
                e.g. `[(0.5, 32), (0.25, 64), (0.25, 128)]`. The counts
                must be the model's `elastic_latent_counts` (or
                `num_latents`); each count compiles its own loop once. See
                `keras_rin.utils.count_sampling_flops` for the cost.
            spacing: None (the model's `sampling_spacing`), `"time"`
                (uniform in t), `"logsnr"` (uniform in logSNR) or `"edm"`
                (Karras et al.'s); see `keras_rin.diffusion.noise_grids`.
            eta: float in [0, 1], the noise of `"ddim"`: 0 deterministic,
                1 ancestral with the posterior variance.
            guidance_interval: None (the model's: every step unless its
                preset says otherwise) or `(t_low, t_high)`: guidance only
                at the steps with `t_low < t <= t_high`; the others run the
                conditional stream alone, at half the cost. `(0, 1)` guides
                every step, `(t, t)` none.
            init_images: None, or images `(num_images, height, width,
                channels)` (or one image) in [0, 1] (uint8 in [0, 255]) to
                edit: noised to `t = strength` and denoised from there
                (SDEdit), and with `mask` the pixels outside the mask kept
                (inpainting).
            strength: float in (0, 1], with `init_images`: the time from
                which sampling starts (the fewer, the closer to the
                images); steps run over `[0, strength]`. 1 starts from pure
                noise (the images' content is not used).
            mask: None, or bool (or 0/1) shaped like the images, with or
                without the batch and channel axes: True where the model
                draws, False where `init_images` are kept. At every step
                the kept pixels become the images noised to the step's
                noise level (RePaint); the result holds them exactly.
            resample_jumps: int >= 0, with `mask`: RePaint's resampling,
                each step noised back and taken again this many more
                times (more coherent fills, one more network evaluation
                each).

        Returns:
            float32 NumPy array `(num_images, height, width, channels)` in
            [0, 1].

        Example:
        ```python
        model = keras_rin.RINImageGenerator.from_preset("rin_digits")
        images = model.generate(labels=[3, 1, 4], seed=0)
        # Redraw the 3 as an 8, keeping its top half.
        mask = np.zeros((8, 8), bool)
        mask[4:] = True
        edited = model.generate(
            labels=[8], init_images=images[:1], mask=mask, seed=1)
        ```
        """
        options = sampling_options.SamplingOptions.from_arguments(locals())
        return self._generate_images(
            num_images, labels, options, (init_images, mask)
        )

    def generate_with_read_attention(
        self,
        num_images=None,
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
        """Samples images and records where the reads looked (Figure 6 of
        the paper).

        Runs the same sampling as `generate` (the same images for the same
        arguments and seed), paused before each sampling step in `steps`
        for one more backbone pass on the current state, with the latents
        that the step's own pass receives (those of the step before, for
        latent self-conditioning). That pass computes each block's read
        attention, averaged over heads and latents: which image patches
        the latents read from. With guidance, it is the conditional
        stream's.

        Args:
            num_images: int, number of images (see `generate`).
            labels: int or sequence of ints (see `generate`).
            num_steps: int or None, number of sampling steps (see
                `generate`).
            sampler: None or a sampler name (see `generate`).
            seed: int or None, as in `generate`.
            batch_size: int or None, images per compiled call.
            guidance_scale: float >= 0 or None, as in `generate`.
            clip_x0: bool, clip the clean-image estimate at each step.
            verbose: `"auto"`, 0 or 1: show a progress bar.
            steps: increasing 0-based sampling step indices in
                `[0, num_steps)`; with `spacing="time"`, step `s` denoises
                from time `t = 1 - s / num_steps`. None takes 4 steps
                spread evenly from the first to the last.
            spacing, eta, guidance_interval: as in `generate`.

        Returns:
            A tuple `(images, maps)`: `images` as `generate` returns them,
            and `maps` float32 NumPy `(num_images, len(steps), num_blocks,
            grid_height, grid_width)` (the backbone's `token_grid_shape`),
            each map a distribution over the patches (it sums to 1).

        Example:
        ```python
        images, maps = model.generate_with_read_attention(
            labels=[3, 7], num_steps=100, seed=0, steps=[0, 50, 90, 99])
        keras_rin.visualization.save_read_attention_grid(
            images[0], maps[0], "read_attention.png",
            step_labels=["t=1.00", "t=0.50", "t=0.10", "t=0.01"])
        ```
        """
        options = sampling_options.SamplingOptions.from_arguments(locals())
        images, maps = self._generate_images(
            num_images, labels, options, (None, None)
        )
        return images, self.backbone.tokens_to_grid(maps)

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
        num_images=None,
    ):
        """Exports the sampler as a TensorFlow SavedModel for serving.

        Its `serve` signature runs the whole sampling loop inside the graph
        (TF Serving or any TensorFlow runtime serves it without keras-rin
        or Keras): it takes `labels` (int32 `(batch,)`, class-conditional
        models; -1 drops the label) and `seed` (an int32 scalar) and
        returns `{"images": float32 (batch, height, width, channels) in
        [0, 1]}`. The sampling options are fixed at export, as `generate`
        takes them; those left out are the model's. `serve(labels, seed=s)`
        returns what `generate(labels=labels, seed=t)` returns for
        `s = keras_rin.utils.seeds.batch_seed(t, 0)` (the noise seed of
        `generate`'s first batch). Labels out of range are not checked in
        the graph.

        Works from the JAX backend (through `jax2tf`) and TensorFlow; on
        PyTorch it raises a `NotImplementedError` (export from JAX or
        TensorFlow: the weights are the same).

        Args:
            path: str, the SavedModel directory to create or replace
                (atomically).
            num_steps, sampler, guidance_scale, spacing, eta,
                guidance_interval, clip_x0, compute_schedule: as in
                `generate`.
            num_images: int, the images per call of an unconditional
                model (its batch size); None for a class-conditional one.

        Returns:
            The SavedModel's path.

        Example:
        ```python
        model = keras_rin.RINImageGenerator.from_preset("rin_digits")
        model.export_sampler("digits_sampler", num_steps=10)
        served = tf.saved_model.load("digits_sampler")
        images = served.serve(tf.constant([3, 1, 4]), tf.constant(7))
        ```
        """
        return sampler_export.export_from_arguments(self, locals())

    def _generate_images(self, num_images, labels, options, edit):
        """`edit` is `(init_images, mask)`, both None without editing."""
        if num_images is not None:
            num_images = validation.check_count("num_images", num_images)
        init_images, mask = edit
        if init_images is not None and num_images is None:
            labels_given = labels is not None and np.ndim(labels) > 0
            if not labels_given:
                num_images = len(_with_batch_axis(self, init_images))
        labels, num_images = data_checks.check_generate_labels(
            self, labels, num_images
        )
        if num_images is None:
            raise ValueError("`num_images` is required. Received: None")
        edit = data_checks.check_edit(
            self, "init_images", init_images, mask, num_images
        )
        data_checks.check_edit_options(options, edit, "init_images")
        return self._sampling.sample(options, num_images, labels, edit=edit)


def _with_batch_axis(model, images):
    """`images` as an array with a batch axis (one image gets one)."""
    images = validation.as_array("init_images", images)
    if images.shape == tuple(model.target_shape):
        return images[None]
    return images
