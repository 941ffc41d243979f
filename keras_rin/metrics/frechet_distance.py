import numpy as np


def frechet_distance(features_a, features_b):
    """Fréchet distance between Gaussians fitted to two sets of features.

    `|mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2))`, the distance
    behind FID (Heusel et al., 2017) when the features come from Inception.
    The matrix square root is taken through symmetric eigendecompositions,
    so only NumPy is needed.

    Args:
        features_a: array `(n_a, dim)`.
        features_b: array `(n_b, dim)`.

    Returns:
        float, >= 0.

    Example:
    ```python
    frechet_distance(real_features, generated_features)
    ```
    """
    features_a = _check_features("features_a", features_a)
    features_b = _check_features("features_b", features_b)
    if features_a.shape[1] != features_b.shape[1]:
        raise ValueError(
            "`features_a` and `features_b` must have the same feature "
            f"dimension. Received: {features_a.shape} and {features_b.shape}"
        )
    mean_a, cov_a = features_a.mean(0), np.cov(features_a, rowvar=False)
    mean_b, cov_b = features_b.mean(0), np.cov(features_b, rowvar=False)
    # Tr((S_a S_b)^(1/2)) = Tr((S_a^(1/2) S_b S_a^(1/2))^(1/2)), and the
    # latter matrix is symmetric positive semi-definite.
    root_a = _psd_sqrt(cov_a)
    cross = np.linalg.eigvalsh(root_a @ cov_b @ root_a)
    trace_sqrt = np.sqrt(np.clip(cross, 0.0, None)).sum()
    distance = (
        np.sum((mean_a - mean_b) ** 2)
        + np.trace(cov_a)
        + np.trace(cov_b)
        - 2.0 * trace_sqrt
    )
    return float(max(distance, 0.0))


def _psd_sqrt(matrix):
    values, vectors = np.linalg.eigh(matrix)
    values = np.sqrt(np.clip(values, 0.0, None))
    return (vectors * values) @ vectors.T


def _check_features(name, features):
    features = np.asarray(features, dtype="float64")
    if features.ndim != 2 or features.shape[0] < 2:
        raise ValueError(
            f"`{name}` must be an array (num_examples >= 2, dim). Received "
            f"shape {features.shape}"
        )
    if not np.all(np.isfinite(features)):
        raise ValueError(f"`{name}` contains NaN or infinite values.")
    return features
