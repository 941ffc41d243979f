import warnings

import numpy as np

from keras_rin.metrics._features import PoolFeatureMetric
from keras_rin.metrics._features import select_features
from keras_rin.utils import validation


class KernelInceptionDistance(PoolFeatureMetric):
    """Kernel Inception Distance (KID), as in Bińkowski et al. (2018).

    KID is the squared maximum mean discrepancy (MMD^2) between the
    features of real and of generated images under the cubic polynomial
    kernel `k(x, y) = (x . y / dim + 1)^3`. Its unbiased estimator is
    computed on `num_subsets` random subsets of `subset_size` real and
    `subset_size` generated features (drawn without replacement, with a
    NumPy generator seeded by `seed`), and the result is their mean and
    standard deviation, as in `torch-fidelity`:

        MMD^2 = sum_{i != j} k(x_i, x_j) / (m (m - 1))
              + sum_{i != j} k(y_i, y_j) / (m (m - 1))
              - 2 sum_{i, j} k(x_i, y_j) / m^2

    Unlike FID it is unbiased, so small sample counts give no systematic
    offset (but a larger spread), and it can be slightly negative.

    Memory: the metric keeps every feature vector (never the images), in
    float32: `dim * 4` bytes per sample, 8 KiB for 2048-d Inception
    features (400 MiB for 50,000 samples).

    Args:
        feature_extractor: `keras.Model` or callable mapping images,
            float32 `(batch, height, width, channels)` in [0, 1], to
            features `(batch, dim)` or to a dict with a `"pool"` entry of
            them. None uses an `InceptionFeatureExtractor()` (NOT the
            reference Inception of published numbers), built on first use.
        num_subsets: int, number of random subsets.
        subset_size: int, samples per side in each subset. When fewer real
            or generated samples are held, `result` uses
            `min(num_real, num_generated)` and warns.
        seed: int, seed of the subset draws.

    Example:
    ```python
    kid = keras_rin.metrics.KernelInceptionDistance(subset_size=1000)
    kid.update_real(real_images)
    kid.update_generated(generated_images)
    kid.result()  # {"kid": ..., "kid_std": ...}
    ```

    Reference:
    - [Bińkowski et al., 2018](https://arxiv.org/abs/1801.01401)
    """

    def __init__(
        self, feature_extractor=None, num_subsets=100, subset_size=1000, seed=0
    ):
        super().__init__(feature_extractor)
        validation.check_positive_int("num_subsets", num_subsets)
        validation.check_positive_int("subset_size", subset_size)
        validation.check_non_negative_int("seed", seed)
        if subset_size < 2:
            raise ValueError(
                "`subset_size` must be at least 2 (the unbiased estimator "
                f"needs pairs). Received: subset_size={subset_size}"
            )
        self.num_subsets = num_subsets
        self.subset_size = subset_size
        self.seed = seed
        self.reset_state()

    @property
    def num_real(self):
        """int, the number of real samples held."""
        return sum(len(f) for f in self._real)

    @property
    def num_generated(self):
        """int, the number of generated samples held."""
        return sum(len(f) for f in self._generated)

    def update_real_features(self, features):
        """Adds precomputed features of real images: an array `(batch,
        dim)`, or a dict with a `"pool"` entry of them."""
        self._update(self._real, features)

    def update_generated_features(self, features):
        """Adds precomputed features of generated images (same format as
        `update_real_features`)."""
        self._update(self._generated, features)

    def _update(self, store, features):
        features = select_features(features, "pool")
        if self._dim is not None and features.shape[1] != self._dim:
            raise ValueError(
                f"`features` must have dimension {self._dim}, like the "
                "features of the previous updates. Received shape "
                f"{features.shape}"
            )
        self._dim = features.shape[1]
        store.append(features.astype("float32"))

    def result(self):
        """dict `{"kid": mean, "kid_std": std}` of the unbiased MMD^2 over
        the subsets (floats)."""
        num_real, num_generated = self.num_real, self.num_generated
        if min(num_real, num_generated) < 2:
            raise ValueError(
                "KID needs at least 2 real and 2 generated samples. "
                f"Received: {num_real} real, {num_generated} generated"
            )
        subset_size = self.subset_size
        if min(num_real, num_generated) < subset_size:
            subset_size = min(num_real, num_generated)
            warnings.warn(
                f"KernelInceptionDistance: subset_size={self.subset_size} "
                f"but only {num_real} real and {num_generated} generated "
                f"samples are held; using subsets of {subset_size}.",
                stacklevel=2,
            )
        real = np.concatenate(self._real)
        generated = np.concatenate(self._generated)
        rng = np.random.default_rng(self.seed)
        values = np.empty(self.num_subsets)
        for i in range(self.num_subsets):
            x = real[rng.choice(num_real, subset_size, replace=False)]
            y = generated[rng.choice(num_generated, subset_size, replace=False)]
            values[i] = _polynomial_mmd2(x, y)
        return {"kid": float(values.mean()), "kid_std": float(values.std())}

    def reset_state(self):
        """Forgets every sample (keeps the feature extractor)."""
        self._real = []
        self._generated = []
        self._dim = None


def _polynomial_mmd2(x, y):
    """Unbiased MMD^2 between two equally sized sets of features under
    `k(a, b) = (a . b / dim + 1)^3`, in float64."""
    x = np.asarray(x, dtype="float64")
    y = np.asarray(y, dtype="float64")
    m, dim = x.shape
    k_xx = (x @ x.T / dim + 1.0) ** 3
    k_yy = (y @ y.T / dim + 1.0) ** 3
    k_xy = (x @ y.T / dim + 1.0) ** 3
    within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (
        m * (m - 1)
    )
    return within - 2.0 * k_xy.sum() / (m * m)
