from keras_rin.metrics._features import PoolFeatureMetric
from keras_rin.metrics._frechet_metric import FrechetMetric


class FrechetInceptionDistance(FrechetMetric, PoolFeatureMetric):
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

    metric_name = "FID"
    examples = "images"
    feature_key = "pool"

    def __init__(self, feature_extractor=None):
        super().__init__(feature_extractor)
        self._reset_moments()
