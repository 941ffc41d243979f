"""Sample-quality metrics: FID, Inception Score, KID and FVD.

Every metric streams: it is updated batch by batch with images (or
videos), or with features computed elsewhere, and holds O(dim^2) numbers
(FID, FVD) or the features (KID, IS), never the images. See
`InceptionFeatureExtractor` for why its numbers are not comparable with
published ones.
"""

from keras_rin.metrics.evaluation import compute_image_metrics
from keras_rin.metrics.evaluation import compute_video_metrics
from keras_rin.metrics.evaluation import generated_image_batches
from keras_rin.metrics.evaluation import generated_video_batches
from keras_rin.metrics.frechet_distance import frechet_distance
from keras_rin.metrics.frechet_distance import frechet_distance_from_statistics
from keras_rin.metrics.frechet_inception_distance import (
    FrechetInceptionDistance,
)
from keras_rin.metrics.frechet_video_distance import FrechetVideoDistance
from keras_rin.metrics.inception_feature_extractor import (
    InceptionFeatureExtractor,
)
from keras_rin.metrics.inception_score import InceptionScore
from keras_rin.metrics.kernel_inception_distance import KernelInceptionDistance
from keras_rin.metrics.streaming_moments import StreamingMoments

__all__ = [
    "FrechetInceptionDistance",
    "FrechetVideoDistance",
    "InceptionFeatureExtractor",
    "InceptionScore",
    "KernelInceptionDistance",
    "StreamingMoments",
    "compute_image_metrics",
    "compute_video_metrics",
    "frechet_distance",
    "frechet_distance_from_statistics",
    "generated_image_batches",
    "generated_video_batches",
]
