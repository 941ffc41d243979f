import numpy as np


def batch_seed(seed, index):
    """An independent seed for batch `index` of a run seeded with `seed`
    (None stays None).

    `seed + index` would make batch 1 of `seed=0` repeat batch 0 of
    `seed=1`; a `numpy.random.SeedSequence` of `(seed, index)` does not.
    """
    if seed is None:
        return None
    state = np.random.SeedSequence([seed, index]).generate_state(1)[0]
    return int(state % (2**31 - 1))
