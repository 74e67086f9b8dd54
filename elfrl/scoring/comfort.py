"""Comfort checks (v1.1 C and v2 HC) as matrix products.

NAVSIM `PDM/scoring/pdm_comfort_metrics.py` filters every signal with
`scipy.signal.savgol_filter(mode="interp")`. That filter is linear, so for a fixed length,
window, order, derivative and spacing it is one [n, n] matrix: built once here by filtering
the identity, then applied to the whole batch with a matmul.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.signal import savgol_filter

from elfrl.scoring.constants import DT, PACIFICA, ComfortBounds
from elfrl.scoring.simulate import AX, AY, HEADING, YAW_ACCEL, YAW_RATE

COMFORT_CHECKS = ("lon_accel", "lat_accel", "jerk", "lon_jerk", "yaw_accel", "yaw_rate")
_DECIMALS = 8  # pdm_comfort_metrics rounds every filtered signal to 8 decimals


@lru_cache(maxsize=None)
def savgol_matrix(n: int, window: int, poly: int, deriv: int = 0) -> np.ndarray:
    """[n, n] matrix M with savgol_filter(y, ...) == y @ M.T for y [..., n]."""
    delta = float(np.diff(np.arange(n, dtype=np.float64) * DT).mean())  # _approximate_derivatives' dx
    m = savgol_filter(np.eye(n), window_length=min(window, n), polyorder=poly, deriv=deriv, delta=delta, axis=0)
    m.setflags(write=False)
    return m


def _filter(signal: np.ndarray, window: int, poly: int, deriv: int = 0) -> np.ndarray:
    """signal [B, n] -> filtered and rounded [B, n]."""
    return np.round(signal @ savgol_matrix(signal.shape[-1], window, poly, deriv).T, _DECIMALS)


def _phase_unwrap(headings: np.ndarray) -> np.ndarray:
    """pdm_comfort_metrics._phase_unwrap: remove cumulative rounded multiples of 2 pi."""
    adjust = np.zeros_like(headings)
    adjust[..., 1:] = np.cumsum(np.round(np.diff(headings, axis=-1) / (2.0 * np.pi)), axis=-1)
    return headings - 2.0 * np.pi * adjust


def _within(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return ((x > lo) & (x < hi)).all(axis=-1)


def _checks(states, lon, lat, jerk, lon_jerk, b: ComfortBounds) -> np.ndarray:
    """[B, 6] strict bound checks in COMFORT_CHECKS order; yaw signals from the headings."""
    # _extract_ego_yaw_rate never forwards its window: _approximate_derivatives' default 5 is used
    heading = _phase_unwrap(states[..., HEADING])
    yaw_accel = _filter(heading, 5, 3, deriv=2)
    yaw_rate = _filter(heading, 5, 2, deriv=1)
    return np.stack(
        [
            _within(lon, b.min_lon_accel, b.max_lon_accel),
            _within(lat, -b.max_abs_lat_accel, b.max_abs_lat_accel),
            _within(jerk, -b.max_abs_mag_jerk, b.max_abs_mag_jerk),
            _within(lon_jerk, -b.max_abs_lon_jerk, b.max_abs_lon_jerk),
            _within(yaw_accel, -b.max_abs_yaw_accel, b.max_abs_yaw_accel),
            _within(yaw_rate, -b.max_abs_yaw_rate, b.max_abs_yaw_rate),
        ],
        axis=-1,
    )


def comfort_v1(states: np.ndarray, bounds: ComfortBounds = ComfortBounds()) -> np.ndarray:
    """NAVSIM v1.1 `ego_is_comfortable` on simulated states [B, n, 11] -> [B, 6] bool (COMFORT_CHECKS)."""
    n = states.shape[1]
    ax, ay = states[..., AX], states[..., AY]
    lon = _filter(ax, n, 2)
    lat = _filter(ay, n, 2)
    # jerk: accel smoothed with the default window 8, derivative with window n
    jerk = _filter(_filter(np.hypot(ax, ay), 8, 2), n, 2, deriv=1)
    lon_jerk = _filter(_filter(ax, 8, 2), n, 2, deriv=1)
    return _checks(states, lon, lat, jerk, lon_jerk, bounds)


def comfort_v2(states: np.ndarray, bounds: ComfortBounds = ComfortBounds()) -> np.ndarray:
    """NAVSIM v2 `ego_is_comfortable` on history-padded states [B, n, 11] -> [B, 6] bool.

    Lon/lat accelerations are those of the box center, computed the v2 way
    (state_array_to_center_state_array): a_c = a + d*omega^2 + d*alpha with d = (1.461, 0),
    which moves only the x component. Windows: accel 8, jerk derivative 15, yaw 5.
    """
    d = PACIFICA.rear_axle_to_center
    ax, ay = states[..., AX], states[..., AY]
    omega, alpha = states[..., YAW_RATE], states[..., YAW_ACCEL]
    ax_center = ax + d * omega**2 + d * alpha
    lon = _filter(ax_center, 8, 2)
    lat = _filter(ay, 8, 2)  # d_y = 0: the center's y acceleration equals the rear axle's
    jerk = _filter(_filter(np.hypot(ax, ay), 8, 2), 15, 2, deriv=1)
    lon_jerk = _filter(lon, 15, 2, deriv=1)
    return _checks(states, lon, lat, jerk, lon_jerk, bounds)
