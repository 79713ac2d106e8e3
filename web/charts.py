"""Accessible charts drawn on the server as SVG: no script, no chart library, no CDN.

Each chart is `role="img"` with a <title> and <desc> (the one-line summary) that screen readers
announce; the page puts the same figures in a table next to it. Sizes are in the viewBox, so the
chart scales to the column (360 px phones included). Colours come from app.css classes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import count

from markupsafe import Markup, escape

_ids = count(1)


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    marker: int | None = None  # a target or expected value drawn as a tick on the bar


def _short(text: str, room: int) -> str:
    # Fit a label in `room` half-width units (a CJK character takes two); the table has it in full.
    used, kept = 0, []
    for character in text:
        used += 2 if ord(character) > 0x2E80 else 1
        if used > room:
            return "".join(kept[:-1]) + "…"
        kept.append(character)
    return text


def _number(value: float) -> str:
    return f"{value:,.0f}"


def bar_chart(title: str, summary: str, bars: Sequence[Bar], *, marker_name: str = "") -> Markup:
    """Horizontal bars, one per row, the value written at the end of each bar."""
    chart_id = next(_ids)
    width, label_width, row_height = 440, 130, 28
    top = max([bar.value for bar in bars] + [bar.marker or 0 for bar in bars] + [1])
    height = row_height * max(1, len(bars)) + 10
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="chart-title-{chart_id} chart-desc-{chart_id}" preserveAspectRatio="xMinYMin meet">',
        f'<title id="chart-title-{chart_id}">{escape(title)}</title>',
        f'<desc id="chart-desc-{chart_id}">{escape(summary)}</desc>',
    ]
    span = width - label_width - 70
    for index, bar in enumerate(bars):
        y = 5 + index * row_height
        length = span * bar.value / top
        name = _short(bar.label, 18)
        parts.append(
            f'<text class="chart-label" x="{label_width - 6}" y="{y + 18}" text-anchor="end">{escape(name)}</text>'
        )
        parts.append(
            f'<rect class="chart-bar" x="{label_width}" y="{y + 4}" width="{length:.1f}" height="{row_height - 8}"/>'
        )
        parts.append(
            f'<text class="chart-value" x="{label_width + length + 4:.1f}" y="{y + 18}">{_number(bar.value)}</text>'
        )
        if bar.marker is not None:
            x = label_width + span * bar.marker / top
            parts.append(
                f'<line class="chart-marker" x1="{x:.1f}" x2="{x:.1f}" y1="{y + 1}" y2="{y + row_height - 1}">'
                f"<title>{escape(marker_name)}: {_number(bar.marker)}</title></line>"
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def line_chart(
    title: str,
    summary: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[int | None], str]],
) -> Markup:
    """Lines over the same x labels; each series is (name, values, css class). None leaves a gap."""
    chart_id = next(_ids)
    width, height, left, bottom, top_pad = 440, 240, 52, 30, 12
    values = [value for _name, points, _css in series for value in points if value is not None]
    top = max(values + [1])
    plot_width, plot_height = width - left - 10, height - bottom - top_pad
    step = plot_width / max(1, len(labels) - 1)

    def y_of(value: float) -> float:
        return top_pad + plot_height * (1 - value / top)

    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="chart-title-{chart_id} chart-desc-{chart_id}" preserveAspectRatio="xMinYMin meet">',
        f'<title id="chart-title-{chart_id}">{escape(title)}</title>',
        f'<desc id="chart-desc-{chart_id}">{escape(summary)}</desc>',
    ]
    for fraction in (0, 0.5, 1):
        y = y_of(top * fraction)
        parts.append(f'<line class="chart-grid" x1="{left}" x2="{width - 10}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(
            f'<text class="chart-label" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{_number(top * fraction)}</text>'
        )
    for index, text in enumerate(labels):
        x = left + step * index
        parts.append(
            f'<text class="chart-label" x="{x:.1f}" y="{height - 8}" text-anchor="middle">{escape(text)}</text>'
        )
    for name, points, css in series:
        segments: list[list[str]] = [[]]
        for index, value in enumerate(points):
            if value is None:
                segments.append([])
                continue
            segments[-1].append(f"{left + step * index:.1f},{y_of(value):.1f}")
        for segment in segments:
            if len(segment) > 1:
                parts.append(f'<polyline class="chart-line {escape(css)}" points="{" ".join(segment)}">')
                parts.append(f"<title>{escape(name)}</title></polyline>")
            elif segment:
                x, y = segment[0].split(",")
                parts.append(f'<circle class="chart-dot {escape(css)}" cx="{x}" cy="{y}" r="3"/>')
    parts.append("</svg>")
    return Markup("".join(parts))


@dataclass(frozen=True)
class MapPoint:
    label: str
    lat: float
    lon: float
    value: int  # what the shade shows (households waiting)
    total: int  # households of the place (the circle's title)


MAP_SHADES = 5


def shade_of(value: int, top: int) -> int:
    """0 for none, else 1..MAP_SHADES-1 by the share of the largest value."""
    if value <= 0 or top <= 0:
        return 0
    return min(MAP_SHADES - 1, 1 + (MAP_SHADES - 2) * value // top)


def shade_limits(top: int) -> list[tuple[int, int, int]]:
    """The legend: (shade, lowest, highest) of each shade in use for values up to `top`."""
    limits: dict[int, list[int]] = {}
    for value in range(0, top + 1):
        limits.setdefault(shade_of(value, top), []).append(value)
    return [(shade, values[0], values[-1]) for shade, values in sorted(limits.items())]


def symbol_map(title: str, summary: str, points: Sequence[MapPoint]) -> Markup:
    """A symbol map: each place a circle at its centroid, shaded by its value (no tiles, no
    boundaries: the region data ships centroids only). Longitudes are scaled by the cosine of the
    middle latitude so distances look right; labels sit beside the circles."""
    import math

    width, height, margin = 480, 360, 40
    placed = [point for point in points if point.lat is not None and point.lon is not None]
    chart_id = next(_ids)
    parts = [
        f'<svg class="chart map" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="map-{chart_id}-title map-{chart_id}-desc">'
        f'<title id="map-{chart_id}-title">{escape(title)}</title>'
        f'<desc id="map-{chart_id}-desc">{escape(summary)}</desc>'
        f'<rect class="map-frame" x="1" y="1" width="{width - 2}" height="{height - 2}"/>'
    ]
    if placed:
        middle = sum(point.lat for point in placed) / len(placed)
        scale_x = math.cos(math.radians(middle))
        xs = [point.lon * scale_x for point in placed]
        ys = [point.lat for point in placed]
        span = max(max(xs) - min(xs), max(ys) - min(ys), 1e-6)
        unit = min(width, height) - 2 * margin
        top = max(point.value for point in placed)
        for point, x_raw, y_raw in zip(placed, xs, ys, strict=True):
            x = margin + (x_raw - min(xs)) / span * unit + (width - unit - 2 * margin) / 2
            y = height - margin - (y_raw - min(ys)) / span * unit
            if len(placed) == 1:
                x, y = width / 2, height / 2
            radius = 10 + min(12, int(math.sqrt(point.total)))
            parts.append(
                f'<circle class="map-place shade-{shade_of(point.value, top)}" cx="{x:.1f}" cy="{y:.1f}" '
                f'r="{radius}"><title>{escape(point.label)}: {_number(point.value)} / {_number(point.total)}'
                f"</title></circle>"
                f'<text class="chart-label" x="{x + radius + 3:.1f}" y="{y + 4:.1f}">{escape(_short(point.label, 14))}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))
