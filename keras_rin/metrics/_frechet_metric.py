from keras_rin.metrics._features import select_features
from keras_rin.metrics.frechet_distance import frechet_distance_from_statistics
from keras_rin.metrics.streaming_moments import StreamingMoments


class FrechetMetric:
    """What FID and FVD share: the `StreamingMoments` of real and of
    generated features, kept to one feature dimension, and the Fréchet
    distance between them.

    A subclass sets `metric_name` (`"FID"`), `examples` (`"images"`) and
    `feature_key` (the entry of a dict of features to read, or None for
    arrays only), and calls `_reset_moments()` in its `__init__`.
    """

    metric_name = None
    examples = None
    feature_key = None

    def _reset_moments(self):
        self._real = StreamingMoments()
        self._generated = StreamingMoments()

    @property
    def real_moments(self):
        """The `StreamingMoments` of the real features."""
        return self._real

    @property
    def generated_moments(self):
        """The `StreamingMoments` of the generated features."""
        return self._generated

    def update_real_features(self, features):
        """Adds precomputed features of real examples: an array `(batch,
        dim)` (for FID also a dict with a `"pool"` entry of them)."""
        self._update(self._real, self._generated, features)

    def update_generated_features(self, features):
        """Adds precomputed features of generated examples (same format as
        `update_real_features`)."""
        self._update(self._generated, self._real, features)

    def _update(self, moments, other, features):
        features = select_features(features, self.feature_key)
        if other.dim is not None and features.shape[1] != other.dim:
            raise ValueError(
                f"`features` of real and generated {self.examples} must have "
                f"the same dimension ({other.dim} so far). Received shape "
                f"{features.shape}"
            )
        moments.update(features)

    def result(self):
        """The Fréchet distance, a float >= 0."""
        for side, moments in (
            ("real", self._real),
            ("generated", self._generated),
        ):
            if moments.count < 2:
                raise ValueError(
                    f"{self.metric_name} needs at least 2 {side} "
                    f"{self.examples} (thousands for a meaningful value). "
                    f"Received: {moments.count}"
                )
        return frechet_distance_from_statistics(
            self._real.mean,
            self._real.covariance,
            self._generated.mean,
            self._generated.covariance,
        )

    def reset_state(self):
        """Forgets every example (keeps the feature extractor)."""
        self._reset_moments()
