"""Coordinate conversion between WGS-84 and the Chinese map systems GCJ-02 and BD-09.

civicgrid stores WGS-84 only. Phones using Chinese map SDKs send GCJ-02 (AMap, Tencent) or BD-09 (Baidu), so
points are converted at the edge with these functions.

GCJ-02 adds a deliberately non-linear offset computed on the Krasovsky 1940 ellipsoid; the forward formulas below
are the widely published public ones. GCJ-02 has no closed-form inverse: we invert it by fixed-point iteration,
which converges because the offset changes very slowly with position (its derivative is ~1e-3), giving round
trips far below 1e-6 degrees. BD-09 is a further polar distortion of GCJ-02; its published "inverse" is only an
approximation, so we refine it by the same iteration.

Outside China's (rough, rectangular) box GCJ-02 is defined to equal WGS-84.

Every function exists twice: scalar (``math``, for one point per request) and ``*_array`` (numpy, for imports).
Both share one formula implementation parameterised by the math module so that they cannot drift apart.
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

import numpy as np

__all__ = [
    "SUPPORTED_CRS",
    "bd09_to_wgs84",
    "bd09_to_wgs84_array",
    "gcj02_to_wgs84",
    "gcj02_to_wgs84_array",
    "in_china",
    "to_wgs84",
    "to_wgs84_array",
    "wgs84_to_bd09",
    "wgs84_to_bd09_array",
    "wgs84_to_gcj02",
    "wgs84_to_gcj02_array",
]

SUPPORTED_CRS = ("wgs84", "gcj02", "bd09")

# Krasovsky 1940 semi-major axis and first eccentricity squared, as used by the GCJ-02 formulas.
_KRASOVSKY_A = 6378245.0
_KRASOVSKY_EE = 0.00669342162296594323
_BD_X_PI = math.pi * 3000.0 / 180.0

# The box in which GCJ-02 applies its offset (the commonly used approximation of China's extent).
_CHINA_MIN_LNG, _CHINA_MAX_LNG = 72.004, 137.8347
_CHINA_MIN_LAT, _CHINA_MAX_LAT = 0.8293, 55.8271

# Iteration budget and stop criterion for the inverses; 1e-12 degrees is ~0.1 micrometre.
_MAX_ITER = 30
_EPS = 1e-12


def in_china(lng: float, lat: float) -> bool:
    """True when (lng, lat) lies in the box where GCJ-02 differs from WGS-84."""
    return _CHINA_MIN_LNG <= lng <= _CHINA_MAX_LNG and _CHINA_MIN_LAT <= lat <= _CHINA_MAX_LAT


def _in_china_array(lng: np.ndarray, lat: np.ndarray) -> np.ndarray:
    return (
        (lng >= _CHINA_MIN_LNG) & (lng <= _CHINA_MAX_LNG) & (lat >= _CHINA_MIN_LAT) & (lat <= _CHINA_MAX_LAT)
    )


def _gcj_offset(lng: Any, lat: Any, xp: ModuleType) -> tuple[Any, Any]:
    """The GCJ-02 offset (dlng, dlat) in degrees at a WGS-84 position; ``xp`` is ``math`` or ``numpy``."""
    pi = math.pi
    x = lng - 105.0
    y = lat - 35.0
    # The periodic terms shared by both axes.
    common = (20.0 * xp.sin(6.0 * x * pi) + 20.0 * xp.sin(2.0 * x * pi)) * 2.0 / 3.0
    sqrt_abs_x = xp.sqrt(xp.fabs(x))
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt_abs_x + common
    dlat = dlat + (20.0 * xp.sin(y * pi) + 40.0 * xp.sin(y / 3.0 * pi)) * 2.0 / 3.0
    dlat = dlat + (160.0 * xp.sin(y / 12.0 * pi) + 320.0 * xp.sin(y * pi / 30.0)) * 2.0 / 3.0
    dlng = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt_abs_x + common
    dlng = dlng + (20.0 * xp.sin(x * pi) + 40.0 * xp.sin(x / 3.0 * pi)) * 2.0 / 3.0
    dlng = dlng + (150.0 * xp.sin(x / 12.0 * pi) + 300.0 * xp.sin(x / 30.0 * pi)) * 2.0 / 3.0
    # Scale metres on the Krasovsky ellipsoid to degrees at this latitude.
    rad_lat = lat / 180.0 * pi
    magic = 1.0 - _KRASOVSKY_EE * xp.sin(rad_lat) ** 2
    sqrt_magic = xp.sqrt(magic)
    dlat = (dlat * 180.0) / ((_KRASOVSKY_A * (1.0 - _KRASOVSKY_EE)) / (magic * sqrt_magic) * pi)
    dlng = (dlng * 180.0) / (_KRASOVSKY_A / sqrt_magic * xp.cos(rad_lat) * pi)
    return dlng, dlat


def _gcj_to_bd(lng: Any, lat: Any, xp: ModuleType) -> tuple[Any, Any]:
    atan2 = np.arctan2 if xp is np else math.atan2
    z = xp.sqrt(lng * lng + lat * lat) + 0.00002 * xp.sin(lat * _BD_X_PI)
    theta = atan2(lat, lng) + 0.000003 * xp.cos(lng * _BD_X_PI)
    return z * xp.cos(theta) + 0.0065, z * xp.sin(theta) + 0.006


def _bd_to_gcj_approx(lng: Any, lat: Any, xp: ModuleType) -> tuple[Any, Any]:
    """The published approximate inverse of ``_gcj_to_bd``; a starting guess for the iteration."""
    atan2 = np.arctan2 if xp is np else math.atan2
    x = lng - 0.0065
    y = lat - 0.006
    z = xp.sqrt(x * x + y * y) - 0.00002 * xp.sin(y * _BD_X_PI)
    theta = atan2(y, x) - 0.000003 * xp.cos(x * _BD_X_PI)
    return z * xp.cos(theta), z * xp.sin(theta)


# --- scalar API ------------------------------------------------------------------------------------------


def wgs84_to_gcj02(lng: float, lat: float) -> tuple[float, float]:
    """Convert a WGS-84 point to GCJ-02; points outside China are returned unchanged."""
    if not in_china(lng, lat):
        return lng, lat
    dlng, dlat = _gcj_offset(lng, lat, math)
    return lng + dlng, lat + dlat


def gcj02_to_wgs84(lng: float, lat: float) -> tuple[float, float]:
    """Convert a GCJ-02 point to WGS-84 by iterating the forward transform (error far below 1e-6 degrees)."""
    if not in_china(lng, lat):
        return lng, lat
    # Start from the usual one-step approximation, then correct by the residual of the forward transform.
    dlng, dlat = _gcj_offset(lng, lat, math)
    w_lng, w_lat = lng - dlng, lat - dlat
    for _ in range(_MAX_ITER):
        g_lng, g_lat = wgs84_to_gcj02(w_lng, w_lat)
        err_lng, err_lat = g_lng - lng, g_lat - lat
        w_lng, w_lat = w_lng - err_lng, w_lat - err_lat
        if abs(err_lng) < _EPS and abs(err_lat) < _EPS:
            break
    return w_lng, w_lat


def _gcj02_to_bd09(lng: float, lat: float) -> tuple[float, float]:
    return _gcj_to_bd(lng, lat, math)


def _bd09_to_gcj02(lng: float, lat: float) -> tuple[float, float]:
    g_lng, g_lat = _bd_to_gcj_approx(lng, lat, math)
    for _ in range(_MAX_ITER):
        b_lng, b_lat = _gcj_to_bd(g_lng, g_lat, math)
        err_lng, err_lat = b_lng - lng, b_lat - lat
        g_lng, g_lat = g_lng - err_lng, g_lat - err_lat
        if abs(err_lng) < _EPS and abs(err_lat) < _EPS:
            break
    return g_lng, g_lat


def wgs84_to_bd09(lng: float, lat: float) -> tuple[float, float]:
    """Convert a WGS-84 point to BD-09 (via GCJ-02)."""
    return _gcj02_to_bd09(*wgs84_to_gcj02(lng, lat))


def bd09_to_wgs84(lng: float, lat: float) -> tuple[float, float]:
    """Convert a BD-09 point to WGS-84 (via GCJ-02, both steps inverted iteratively)."""
    return gcj02_to_wgs84(*_bd09_to_gcj02(lng, lat))


def _normalise_crs(crs: str) -> str:
    key = str(crs).strip().lower().replace("-", "").replace("_", "")
    if key not in SUPPORTED_CRS:
        raise ValueError(f"unknown coordinate system {crs!r}; expected one of {', '.join(SUPPORTED_CRS)}")
    return key


def to_wgs84(lng: float, lat: float, crs: str) -> tuple[float, float]:
    """Convert a point given in ``crs`` ("wgs84", "gcj02" or "bd09") to WGS-84; ValueError for others."""
    key = _normalise_crs(crs)
    if key == "gcj02":
        return gcj02_to_wgs84(lng, lat)
    if key == "bd09":
        return bd09_to_wgs84(lng, lat)
    return float(lng), float(lat)


# --- numpy API -------------------------------------------------------------------------------------------


def _as_arrays(lng: Any, lat: Any) -> tuple[np.ndarray, np.ndarray]:
    lng_arr = np.asarray(lng, dtype=np.float64)
    lat_arr = np.asarray(lat, dtype=np.float64)
    if lng_arr.shape != lat_arr.shape:
        raise ValueError(f"lng and lat shapes differ: {lng_arr.shape} != {lat_arr.shape}")
    return lng_arr, lat_arr


def wgs84_to_gcj02_array(lng: Any, lat: Any) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised :func:`wgs84_to_gcj02` over arrays of equal shape."""
    lng_arr, lat_arr = _as_arrays(lng, lat)
    dlng, dlat = _gcj_offset(lng_arr, lat_arr, np)
    inside = _in_china_array(lng_arr, lat_arr)
    return np.where(inside, lng_arr + dlng, lng_arr), np.where(inside, lat_arr + dlat, lat_arr)


def gcj02_to_wgs84_array(lng: Any, lat: Any) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised :func:`gcj02_to_wgs84` (same iteration, run until every point has converged)."""
    lng_arr, lat_arr = _as_arrays(lng, lat)
    inside = _in_china_array(lng_arr, lat_arr)
    dlng, dlat = _gcj_offset(lng_arr, lat_arr, np)
    w_lng = np.where(inside, lng_arr - dlng, lng_arr)
    w_lat = np.where(inside, lat_arr - dlat, lat_arr)
    for _ in range(_MAX_ITER):
        g_lng, g_lat = wgs84_to_gcj02_array(w_lng, w_lat)
        err_lng = np.where(inside, g_lng - lng_arr, 0.0)
        err_lat = np.where(inside, g_lat - lat_arr, 0.0)
        w_lng = w_lng - err_lng
        w_lat = w_lat - err_lat
        if not (
            np.nanmax(np.abs(err_lng), initial=0.0) >= _EPS or np.nanmax(np.abs(err_lat), initial=0.0) >= _EPS
        ):
            break
    return w_lng, w_lat


def _bd09_to_gcj02_array(lng: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    g_lng, g_lat = _bd_to_gcj_approx(lng, lat, np)
    for _ in range(_MAX_ITER):
        b_lng, b_lat = _gcj_to_bd(g_lng, g_lat, np)
        err_lng, err_lat = b_lng - lng, b_lat - lat
        g_lng, g_lat = g_lng - err_lng, g_lat - err_lat
        if not (
            np.nanmax(np.abs(err_lng), initial=0.0) >= _EPS or np.nanmax(np.abs(err_lat), initial=0.0) >= _EPS
        ):
            break
    return g_lng, g_lat


def wgs84_to_bd09_array(lng: Any, lat: Any) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised :func:`wgs84_to_bd09`."""
    g_lng, g_lat = wgs84_to_gcj02_array(lng, lat)
    return _gcj_to_bd(g_lng, g_lat, np)


def bd09_to_wgs84_array(lng: Any, lat: Any) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised :func:`bd09_to_wgs84`."""
    lng_arr, lat_arr = _as_arrays(lng, lat)
    return gcj02_to_wgs84_array(*_bd09_to_gcj02_array(lng_arr, lat_arr))


def to_wgs84_array(lng: Any, lat: Any, crs: str) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised :func:`to_wgs84`: all points are in the same ``crs``."""
    key = _normalise_crs(crs)
    if key == "gcj02":
        return gcj02_to_wgs84_array(lng, lat)
    if key == "bd09":
        return bd09_to_wgs84_array(lng, lat)
    lng_arr, lat_arr = _as_arrays(lng, lat)
    return lng_arr.copy(), lat_arr.copy()
