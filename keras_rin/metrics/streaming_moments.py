import numpy as np


class StreamingMoments:
    """Running mean and covariance of feature vectors, batch by batch.

    The statistics are kept in float64 NumPy as a count, a mean and the
    sum of outer products of deviations from the mean (`M2`). Each batch is
    first reduced to its own count, mean and `M2` (deviations from the
    batch mean), then merged with Chan et al.'s parallel update

        delta = mean_b - mean
        mean += delta * n_b / n
        M2 += M2_b + outer(delta, delta) * n_a * n_b / n

    which, unlike accumulating `sum(x)` and `sum(x x^T)`, does not lose
    precision when the features have a large mean compared to their spread.
    Memory is O(dim^2) whatever the number of samples.

    Example:
    ```python
    moments = keras_rin.metrics.StreamingMoments()
    for batch in feature_batches:
        moments.update(batch)
    mean, covariance = moments.mean, moments.covariance
    ```

    Reference:
    - [Chan, Golub and LeVeque, 1979](
        https://doi.org/10.1007/978-3-642-51461-6_3), "Updating formulae
        and a pairwise algorithm for computing sample variances".
    """

    def __init__(self):
        self.reset()

    def reset(self):
        """Forgets every sample seen so far (and the feature dimension)."""
        self._count = 0
        self._mean = None
        self._m2 = None

    @property
    def count(self):
        """int, the number of feature vectors seen."""
        return self._count

    @property
    def dim(self):
        """int or None, the feature dimension (None before any update)."""
        return None if self._mean is None else self._mean.shape[0]

    @property
    def mean(self):
        """float64 array `(dim,)`, the mean of the features seen."""
        if self._count < 1:
            raise ValueError(
                "`StreamingMoments.mean` needs at least 1 sample. "
                "Received: 0 samples"
            )
        return self._mean.copy()

    @property
    def covariance(self):
        """float64 array `(dim, dim)`, the unbiased (ddof=1) covariance of
        the features seen, as `np.cov(features, rowvar=False)`."""
        if self._count < 2:
            raise ValueError(
                "`StreamingMoments.covariance` needs at least 2 samples. "
                f"Received: {self._count} sample(s)"
            )
        return self._m2 / (self._count - 1)

    def update(self, features):
        """Adds a batch of feature vectors.

        Args:
            features: array-like `(batch, dim)` of finite numbers; `dim`
                must be the same for every update. A batch of 0 rows is
                ignored.
        """
        features = np.asarray(features, dtype="float64")
        if features.ndim != 2:
            raise ValueError(
                "`features` must be a 2-D array (batch, dim). Received "
                f"shape {features.shape}"
            )
        if self._mean is not None and features.shape[1] != self.dim:
            raise ValueError(
                f"`features` must have dimension {self.dim}, like the "
                "features of the previous updates. Received shape "
                f"{features.shape}"
            )
        if not np.all(np.isfinite(features)):
            raise ValueError("`features` contains NaN or infinite values.")
        count_b = features.shape[0]
        if count_b == 0:
            return
        mean_b = features.mean(axis=0)
        centered = features - mean_b
        m2_b = centered.T @ centered
        if self._mean is None:
            self._count, self._mean, self._m2 = count_b, mean_b, m2_b
            return
        count_a = self._count
        count = count_a + count_b
        delta = mean_b - self._mean
        self._mean = self._mean + delta * (count_b / count)
        self._m2 = (
            self._m2
            + m2_b
            + np.outer(delta, delta) * (count_a * count_b) / count
        )
        self._count = count
