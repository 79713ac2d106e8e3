"""What a screen may show of a person."""

from __future__ import annotations


def mask_id_number(id_number: str | None) -> str:
    """Never the whole ID number: region prefix and last two characters only."""
    if not id_number:
        return ""
    return id_number[:4] + "*" * (len(id_number) - 6) + id_number[-2:]


def mask_phone(phone: str | None) -> str:
    if not phone:
        return ""
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 8 else "****"


# --- where a household is, before a claim ------------------------------------------------------------
#
# Before a partner holds a request it learns where the household lives only to its community: every
# distance, radius test, score and rank it can see is measured from the household's *public point*
# (the community's centre, or the home rounded to 0.01° when the community has no centre — the same
# point the board's map marker shows), never from the home. Moving an offering's base point, its
# radius or an event's venue then only ever re-measures a point the partner already sees on the map:
# no number of moves narrows the home below its community. Distances are shown as bands.

# Upper bounds (km) of the distance bands; beyond the last one the band is "more than 10 km".
BAND_LIMITS_KM: tuple[float, ...] = (1.0, 3.0, 5.0, 10.0)
BANDS: tuple[str, ...] = ("0-1", "1-3", "3-5", "5-10", "10+")


def public_point(
    community_lat: float | None,
    community_lon: float | None,
    home_lat: float | None,
    home_lon: float | None,
) -> tuple[float | None, float | None]:
    """The point a partner may know of a household before claiming: its community's centre, or the
    home rounded to 0.01° (about 1 km) when the community has none; (None, None) when neither is known."""
    if community_lat is not None and community_lon is not None:
        return community_lat, community_lon
    if home_lat is not None and home_lon is not None:
        return round(home_lat, 2), round(home_lon, 2)
    return None, None


def distance_band(distance_km: float | None) -> str | None:
    """The band a distance falls in ("0-1", "1-3", "3-5", "5-10", "10+"); None when unknown."""
    if distance_km is None:
        return None
    for limit, band in zip(BAND_LIMITS_KM, BANDS, strict=False):
        if distance_km < limit:
            return band
    return BANDS[-1]


def band_limit_km(band: str) -> float | None:
    """The upper bound of a band (None for "10+" or an unknown band): the board's "within" filter."""
    if band in BANDS[:-1]:
        return BAND_LIMITS_KM[BANDS.index(band)]
    return None
