import numpy as np


def frechet_distance(features_a, features_b):
    """Fréchet distance between Gaussians fitted to two sets of features.

    `|mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2))`, the distance
    behind FID (Heusel et al., 2017) when the features come from Inception.
    The means and (ddof=1) covariances are fitted here and the distance is
    taken by `frechet_distance_from_statistics`.

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
    return frechet_distance_from_statistics(
        features_a.mean(0),
        np.cov(features_a, rowvar=False),
        features_b.mean(0),
        np.cov(features_b, rowvar=False),
    )


def frechet_distance_from_statistics(mean_a, cov_a, mean_b, cov_b):
    """Fréchet distance between two Gaussians given by their moments.

    `|mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2))`. The trace of
    the matrix square root is taken through symmetric eigendecompositions,
    `Tr((S_a S_b)^(1/2)) = Tr((S_a^(1/2) S_b S_a^(1/2))^(1/2))`, so only
    NumPy is needed and no complex parts have to be discarded.

    Args:
        mean_a: array `(dim,)`.
        cov_a: symmetric positive semi-definite array `(dim, dim)`.
        mean_b: array `(dim,)`.
        cov_b: symmetric positive semi-definite array `(dim, dim)`.

    Returns:
        float, >= 0.

    Example:
    ```python
    real = keras_rin.metrics.StreamingMoments()
    fake = keras_rin.metrics.StreamingMoments()
    real.update(real_features)
    fake.update(fake_features)
    frechet_distance_from_statistics(
        real.mean, real.covariance, fake.mean, fake.covariance
    )
    ```
    """
    mean_a = _check_array("mean_a", mean_a, 1)
    mean_b = _check_array("mean_b", mean_b, 1)
    cov_a = _check_array("cov_a", cov_a, 2)
    cov_b = _check_array("cov_b", cov_b, 2)
    dim = mean_a.shape[0]
    for name, array, shape in (
        ("mean_b", mean_b, (dim,)),
        ("cov_a", cov_a, (dim, dim)),
        ("cov_b", cov_b, (dim, dim)),
    ):
        if array.shape != shape:
            raise ValueError(
                f"`{name}` must have shape {shape} to match `mean_a` of "
                f"shape {mean_a.shape}. Received shape {array.shape}"
            )
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


def _check_array(name, array, ndim):
    array = np.asarray(array, dtype="float64")
    if array.ndim != ndim:
        raise ValueError(
            f"`{name}` must be a {ndim}-D array. Received shape {array.shape}"
        )
    if not np.all(np.isfinite(array)):
        raise ValueError(f"`{name}` contains NaN or infinite values.")
    return array


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
