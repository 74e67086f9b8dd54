"""Comfort checks: the Savitzky-Golay matrices against scipy, and each bound on hand-built states."""

import numpy as np
import pytest
from scipy.signal import savgol_filter

from elfrl.scoring.comfort import COMFORT_CHECKS, comfort_v1, savgol_matrix
from elfrl.scoring.simulate import AX, AY, HEADING, STATE_SIZE, VX, X, Y, principal_value

# (n, window, polyorder, deriv): every combination comfort_v1 / comfort_v2 use
SAVGOL_CASES = [
    (41, 41, 2, 0),
    (41, 8, 2, 0),
    (41, 41, 2, 1),
    (41, 5, 3, 2),
    (41, 5, 2, 1),
    (55, 8, 2, 0),
    (55, 15, 2, 1),
]


@pytest.mark.parametrize("n, window, poly, deriv", SAVGOL_CASES)
def test_savgol_matrix_matches_scipy(n, window, poly, deriv):
    y = np.random.default_rng(n + window + poly + deriv).normal(0.0, 2.0, (4, n))
    m = savgol_matrix(n, window, poly, deriv)
    assert m.shape == (n, n) and not m.flags.writeable
    expected = savgol_filter(y, window_length=min(window, n), polyorder=poly, deriv=deriv, delta=0.1, mode="interp")
    np.testing.assert_allclose(y @ m.T, expected, rtol=0, atol=1e-12)


T = np.arange(41) * 0.1


def _states(ax=0.0, ay=0.0, heading=None, v0=5.0):
    """[1, 41, 11] states driving along x with longitudinal acceleration ax(t), lateral ay(t) and heading(t)."""
    s = np.zeros((1, 41, STATE_SIZE))
    ax = np.broadcast_to(np.asarray(ax, dtype=np.float64), T.shape)
    s[0, :, AX] = ax
    s[0, :, AY] = ay
    s[0, :, VX] = v0 + np.concatenate([[0.0], np.cumsum(ax[:-1] * 0.1)])
    s[0, :, X] = np.concatenate([[0.0], np.cumsum(s[0, :-1, VX] * 0.1)])
    s[0, :, Y] = 0.0
    if heading is not None:
        s[0, :, HEADING] = heading
    return s


ALL_PASS = dict.fromkeys(COMFORT_CHECKS, True)


def _expect(**failed):
    return {**ALL_PASS, **failed}


# (name, states, expected check results); bounds are strict and signals rounded to 8 decimals
COMFORT_CASES = [
    ("constant speed, straight", _states(), ALL_PASS),
    ("standing still", _states(v0=0.0), ALL_PASS),
    ("accelerating 3 m/s^2", _states(ax=3.0), _expect(lon_accel=False)),
    ("accelerating 2.40 m/s^2", _states(ax=2.40), _expect(lon_accel=False)),
    ("accelerating 2.39 m/s^2", _states(ax=2.39), ALL_PASS),
    ("braking 4.05 m/s^2", _states(ax=-4.05, v0=20.0), _expect(lon_accel=False)),
    ("braking 4.04 m/s^2", _states(ax=-4.04, v0=20.0), ALL_PASS),
    ("lateral 4.89 m/s^2", _states(ay=4.89), _expect(lat_accel=False)),
    ("lateral -4.89 m/s^2", _states(ay=-4.89), _expect(lat_accel=False)),
    ("lateral 4.88 m/s^2", _states(ay=4.88), ALL_PASS),
    ("accel ramp 4.2 m/s^3", _states(ax=4.2 * T), _expect(lon_accel=False, lon_jerk=False)),
    ("accel ramp 1.0 m/s^3 from -2", _states(ax=-2.0 + 1.0 * T), ALL_PASS),
    ("lateral ramp 9 m/s^3", _states(ay=9.0 * T), _expect(lat_accel=False, jerk=False)),
    ("yaw rate 0.95 rad/s", _states(heading=0.95 * T), _expect(yaw_rate=False)),
    ("yaw rate 0.94 rad/s", _states(heading=0.94 * T), ALL_PASS),
    ("yaw rate -0.95 rad/s", _states(heading=-0.95 * T), _expect(yaw_rate=False)),
    ("yaw rate 0.5 rad/s across the pi wrap", _states(heading=principal_value(3.0 + 0.5 * T)), ALL_PASS),
    ("yaw accel 1.93 rad/s^2", _states(heading=0.5 * 1.93 * T**2), _expect(yaw_accel=False, yaw_rate=False)),
    ("yaw accel 0.2 rad/s^2", _states(heading=0.5 * 0.2 * T**2), ALL_PASS),
]


@pytest.mark.parametrize("name, states, expected", COMFORT_CASES, ids=[c[0] for c in COMFORT_CASES])
def test_comfort_v1_cases(name, states, expected):
    out = comfort_v1(states)
    assert out.shape == (1, len(COMFORT_CHECKS)) and out.dtype == np.bool_
    assert dict(zip(COMFORT_CHECKS, out[0].tolist())) == expected


def test_comfort_v1_batch():
    states = np.concatenate([c[1] for c in COMFORT_CASES])
    expected = [[c[2][k] for k in COMFORT_CHECKS] for c in COMFORT_CASES]
    assert comfort_v1(states).tolist() == expected
