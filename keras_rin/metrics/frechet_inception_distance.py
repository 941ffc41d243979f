from keras_rin.metrics._features import FeatureMetric
from keras_rin.metrics._features import select_features
from keras_rin.metrics.frechet_distance import frechet_distance_from_statistics
from keras_rin.metrics.streaming_moments import StreamingMoments


class FrechetInceptionDistance(FeatureMetric):
    """Fréchet Inception Distance (FID), accumulated batch by batch.

    FID is the Fréchet distance between Gaussians fitted to the features of
    real and of generated images, `|mu_r - mu_g|^2 + Tr(S_r + S_g -
    2 (S_r S_g)^(1/2))`. Each side keeps a `StreamingMoments` (float64 mean
    and covariance, merged with Chan's parallel update): the metric never
    holds the images or the features, only O(dim^2) numbers (2 x 32 MiB for
    2048-d Inception features), whatever the number of samples.

    The default feature extractor is Keras' Inception-v3 (see
    `InceptionFeatureExtractor`): its FID is NOT comparable with published
    numbers, which use the 2015-12-05 TF-GAN / `pytorch-fid` Inception.
    Papers report FID on 50,000 samples (FID is biased upwards at small
    sample counts), so compare FIDs only at equal `count`s.

    Args:
        feature_extractor: `keras.Model` or callable mapping images,
            float32 `(batch, height, width, channels)` in [0, 1], to
            features `(batch, dim)` or to a dict with a `"pool"` entry of
            them. None uses an `InceptionFeatureExtractor()`, built (and
            its weights downloaded) on first use.

    Example:
    ```python
    fid = keras_rin.metrics.FrechetInceptionDistance()
    for images, _ in real_dataset:
        fid.update_real(images)
    for start in range(0, 50_000, 500):
        fid.update_generated(model.generate(num_images=500, seed=start))
    fid.result()
    ```

    Reference:
    - [Heusel et al., 2017](https://arxiv.org/abs/1706.08500)
    """

    def __init__(self, feature_extractor=None):
        super().__init__(feature_extractor)
        self.real_moments = StreamingMoments()
        self.generated_moments = StreamingMoments()

    def update_real(self, images):
        """Adds a batch of real images: float in [0, 1] or uint8 in
        [0, 255], shaped `(batch, height, width, channels)`."""
        self.update_real_features(self._image_features(images, "pool"))

    def update_generated(self, images):
        """Adds a batch of generated images (same format as
        `update_real`)."""
        self.update_generated_features(self._image_features(images, "pool"))

    def update_real_features(self, features):
        """Adds precomputed features of real images: an array `(batch,
        dim)`, or a dict with a `"pool"` entry of them."""
        self._update(self.real_moments, self.generated_moments, features)

    def update_generated_features(self, features):
        """Adds precomputed features of generated images (same format as
        `update_real_features`)."""
        self._update(self.generated_moments, self.real_moments, features)

    def _update(self, moments, other, features):
        features = select_features(features, "pool")
        if other.dim is not None and features.shape[1] != other.dim:
            raise ValueError(
                "`features` of real and generated images must have the "
                f"same dimension ({other.dim} so far). Received shape "
                f"{features.shape}"
            )
        moments.update(features)

    def result(self):
        """The FID, a float >= 0."""
        for side, moments in (
            ("real", self.real_moments),
            ("generated", self.generated_moments),
        ):
            if moments.count < 2:
                raise ValueError(
                    f"FID needs at least 2 {side} samples (thousands for a "
                    f"meaningful value). Received: {moments.count}"
                )
        return frechet_distance_from_statistics(
            self.real_moments.mean,
            self.real_moments.covariance,
            self.generated_moments.mean,
            self.generated_moments.covariance,
        )

    def reset_state(self):
        """Forgets every sample (keeps the feature extractor)."""
        self.real_moments.reset()
        self.generated_moments.reset()
