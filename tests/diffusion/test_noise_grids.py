import numpy as np
import pytest
from keras import ops

from keras_rin.diffusion import noise_grids
from keras_rin.diffusion import schedules

COSINE = schedules.CosineSchedule()


def _levels(spacing, num_steps, t_start=1.0, schedule=COSINE):
    steps = np.arange(num_steps + 1)
    return ops.convert_to_numpy(
        noise_grids.noise_level(schedule, spacing, steps, num_steps, t_start)
    ).astype("float64")


def _log_snr(gamma):
    return np.log(gamma) - np.log1p(-gamma)


def test_time_spacing_is_uniform_in_time():
    expected = ops.convert_to_numpy(COSINE(1.0 - np.arange(5) / 4))
    np.testing.assert_allclose(_levels("time", 4), expected, rtol=1e-6)
    half = ops.convert_to_numpy(COSINE(0.5 * (1.0 - np.arange(5) / 4)))
    np.testing.assert_allclose(_levels("time", 4, 0.5), half, rtol=1e-6)


def test_logsnr_spacing_is_uniform_in_logsnr_then_clean():
    levels = _levels("logsnr", 6)
    log_snr = _log_snr(levels[:-1])
    expected = np.linspace(noise_grids.LOG_SNR_MIN, noise_grids.LOG_SNR_MAX, 6)
    # gamma is float32: 1 - gamma near 4e-6 holds 1% rounding.
    np.testing.assert_allclose(log_snr, expected, atol=2e-2)
    assert levels[-1] == 1.0


def test_edm_spacing_is_karras_rho_spacing_then_clean():
    levels = _levels("edm", 5)
    sigma = np.sqrt((1 - levels[:-1]) / levels[:-1])
    np.testing.assert_allclose(sigma[[0, -1]], [80.0, 0.002], rtol=1e-2)
    root = sigma ** (1 / noise_grids.EDM_RHO)
    np.testing.assert_allclose(np.diff(root), np.diff(root)[0], rtol=1e-2)
    assert levels[-1] == 1.0


@pytest.mark.parametrize("spacing", noise_grids.SPACINGS)
@pytest.mark.parametrize("num_steps", [1, 2, 7])
def test_every_spacing_rises_from_noise_to_data(spacing, num_steps):
    levels = _levels(spacing, num_steps)
    assert np.all(np.diff(levels) > 0), levels
    assert levels[0] < 2e-4 and levels[-1] > 1 - 1e-6


def test_editing_starts_at_the_noise_level_of_t_start():
    for spacing in ("logsnr", "edm"):
        levels = _levels(spacing, 4, t_start=0.5)
        start = float(ops.convert_to_numpy(COSINE(0.5)))
        np.testing.assert_allclose(levels[0], start, rtol=1e-4)


def test_the_schedule_range_narrows_the_grid():
    # A linear schedule never gets noisier than gamma = 0.5.
    schedule = schedules.LinearSchedule(clip_min=0.5)
    levels = _levels("logsnr", 3, schedule=schedule)
    np.testing.assert_allclose(levels[0], 0.5, rtol=1e-5)


def test_step_times_invert_the_schedule():
    for spacing in noise_grids.SPACINGS:
        times = noise_grids.step_times(COSINE, spacing, 8)
        levels = ops.convert_to_numpy(COSINE(times))
        np.testing.assert_allclose(levels, _levels(spacing, 8)[:-1], atol=1e-4)
        assert np.all(np.diff(times) < 0) and times[0] <= 1.0
    np.testing.assert_allclose(
        noise_grids.step_times(COSINE, "time", 4, 0.8), [0.8, 0.6, 0.4, 0.2]
    )


def test_unknown_spacing_raises():
    with pytest.raises(ValueError, match="`spacing` must be one of"):
        noise_grids.check_spacing("karras")
