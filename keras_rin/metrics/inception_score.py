import numpy as np

from keras_rin.metrics._features import FeatureMetric
from keras_rin.metrics._features import select_features
from keras_rin.utils import validation


class InceptionScore(FeatureMetric):
    """Inception Score (IS) of generated images.

    `IS = exp(E_x KL(p(y|x) || p(y)))`, where `p(y|x)` is a classifier's
    softmax for image `x` and `p(y)` its mean over the images. As in
    Salimans et al. (2016) and `torch-fidelity`, the samples are cut, in
    the order they were added, into `num_splits` contiguous splits of
    (nearly) equal size; the score is computed on each split, and the
    result is their mean and (population) standard deviation. The softmax
    is taken in float64 from the logits. IS has no real side: it only
    rates how confident and how diverse the classifier's predictions on
    generated images are, from 1 (uniform) up to the number of classes.

    Memory: the metric keeps the logits of every sample in float32,
    `num_classes * 4` bytes per sample (about 4 KiB for 1000 ImageNet
    classes, 200 MB for 50,000 samples), since the splits are only known
    once every sample has been seen.

    The default classifier is Keras' Inception-v3 (see
    `InceptionFeatureExtractor`): its IS is NOT comparable with published
    numbers, which use the 2015-12-05 1008-class Inception graph.

    Args:
        classifier: `keras.Model` or callable mapping images, float32
            `(batch, height, width, channels)` in [0, 1], to logits
            `(batch, num_classes)` or to a dict with a `"logits"` entry of
            them. None uses an `InceptionFeatureExtractor()`, built on
            first use.
        num_splits: int, the number of splits (10 in papers, on 50,000
            samples).

    Example:
    ```python
    inception_score = keras_rin.metrics.InceptionScore()
    for start in range(0, 50_000, 500):
        inception_score.update(model.generate(num_images=500, seed=start))
    inception_score.result()
    # {"inception_score": ..., "inception_score_std": ...}
    ```

    Reference:
    - [Salimans et al., 2016](https://arxiv.org/abs/1606.03498)
    """

    def __init__(self, classifier=None, num_splits=10):
        super().__init__(classifier, name="classifier")
        validation.check_positive_int("num_splits", num_splits)
        self.num_splits = num_splits
        self.reset_state()

    @property
    def classifier(self):
        """The classifier (an `InceptionFeatureExtractor` by default)."""
        return self.feature_extractor

    @property
    def count(self):
        """int, the number of samples held."""
        return sum(len(logits) for logits in self._logits)

    def update(self, images):
        """Adds a batch of generated images: float in [0, 1] or uint8 in
        [0, 255], shaped `(batch, height, width, channels)`."""
        self.update_logits(self._image_features(images, "logits"))

    def update_logits(self, logits):
        """Adds precomputed logits: an array `(batch, num_classes)`, or a
        dict with a `"logits"` entry of them."""
        logits = select_features(logits, "logits", name="logits")
        if self._num_classes is not None and (
            logits.shape[1] != self._num_classes
        ):
            raise ValueError(
                f"`logits` must have {self._num_classes} classes, like the "
                "logits of the previous updates. Received shape "
                f"{logits.shape}"
            )
        self._num_classes = logits.shape[1]
        self._logits.append(logits.astype("float32"))

    # IS rates generated images only; these aliases give it the API of the
    # other metrics.
    update_generated = update
    update_generated_features = update_logits

    def result(self):
        """dict `{"inception_score": mean, "inception_score_std": std}`
        over the splits (floats)."""
        count = self.count
        if count < self.num_splits:
            raise ValueError(
                f"The Inception Score with num_splits={self.num_splits} "
                f"needs at least {self.num_splits} samples. Received: {count}"
            )
        logits = np.concatenate(self._logits)
        bounds = [i * count // self.num_splits for i in range(self.num_splits)]
        bounds.append(count)
        scores = np.array(
            [
                _inception_score(logits[start:stop])
                for start, stop in zip(bounds[:-1], bounds[1:], strict=True)
            ]
        )
        return {
            "inception_score": float(scores.mean()),
            "inception_score_std": float(scores.std()),
        }

    def reset_state(self):
        """Forgets every sample (keeps the classifier)."""
        self._logits = []
        self._num_classes = None


def _inception_score(logits):
    logits = logits.astype("float64")
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    p = np.exp(log_p)
    # p(y) >= p(y|x) / n > 0 unless p(y|x) underflowed to 0 for every x.
    log_marginal = np.log(np.maximum(p.mean(axis=0), np.finfo("float64").tiny))
    kl = np.sum(p * (log_p - log_marginal), axis=1)
    return float(np.exp(kl.mean()))
