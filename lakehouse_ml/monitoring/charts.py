"""Small PNG charts for asset metadata, drawn with Pillow (matplotlib is not a dependency).

``png_markdown`` embeds a chart as an inline data URI, which the Dagster UI renders on the asset page.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence

WIDTH, HEIGHT = 560, 260
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 48, 120, 28, 56
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
THRESHOLD_COLOUR = "#d62728"


def _canvas(title: str):
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=11)
    draw.text((MARGIN_LEFT, 6), title, fill="black", font=ImageFont.load_default(size=13))
    return image, draw, font


def _y_axis(draw, font, low: float, high: float):
    """Draw the plot frame and four y ticks; return value -> pixel row."""
    top, bottom = MARGIN_TOP, HEIGHT - MARGIN_BOTTOM
    right = WIDTH - MARGIN_RIGHT
    draw.rectangle((MARGIN_LEFT, top, right, bottom), outline="#888888")
    span = high - low or 1.0

    def row(value: float) -> float:
        return bottom - (value - low) / span * (bottom - top)

    for i in range(5):
        value = low + span * i / 4
        y = row(value)
        draw.line((MARGIN_LEFT - 3, y, MARGIN_LEFT, y), fill="#888888")
        draw.text((4, y - 6), f"{value:.2f}", fill="black", font=font)
    return row


def _threshold(draw, font, row, threshold: float | None) -> None:
    if threshold is None:
        return
    y = row(threshold)
    draw.line((MARGIN_LEFT, y, WIDTH - MARGIN_RIGHT, y), fill=THRESHOLD_COLOUR, width=1)
    draw.text((WIDTH - MARGIN_RIGHT + 4, y - 6), f"threshold {threshold:g}", fill=THRESHOLD_COLOUR, font=font)


def _png(image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def line_chart(
    series: Mapping[str, Sequence[float | None]],
    x_labels: Sequence[str],
    title: str,
    threshold: float | None = None,
) -> bytes:
    """One line per series over ``x_labels`` (``None`` leaves a gap); legend on the right."""
    if not x_labels:
        raise ValueError("line_chart needs at least one x label")
    values = [v for points in series.values() for v in points if v is not None]
    bounds = [*values, *([threshold] if threshold is not None else [])] or [0.0, 1.0]
    low, high = min(0.5, min(bounds)), max(1.0, max(bounds))
    image, draw, font = _canvas(title)
    row = _y_axis(draw, font, low, high)
    step = (WIDTH - MARGIN_LEFT - MARGIN_RIGHT) / max(1, len(x_labels) - 1)
    xs = [MARGIN_LEFT + (i * step if len(x_labels) > 1 else step / 2) for i in range(len(x_labels))]
    every = max(1, len(x_labels) // 6)
    for i, label in enumerate(x_labels):
        if i % every == 0:
            draw.text((xs[i] - 14, HEIGHT - MARGIN_BOTTOM + 4), label, fill="black", font=font)
    _threshold(draw, font, row, threshold)
    for n, (name, points) in enumerate(series.items()):
        colour = PALETTE[n % len(PALETTE)]
        drawn = [(xs[i], row(v)) for i, v in enumerate(points) if v is not None]
        if len(drawn) > 1:
            draw.line(drawn, fill=colour, width=2)
        for x, y in drawn:
            draw.ellipse((x - 2.5, y - 2.5, x + 2.5, y + 2.5), fill=colour)
        draw.text((WIDTH - MARGIN_RIGHT + 4, MARGIN_TOP + 14 * n), name, fill=colour, font=font)
    return _png(image)


def bar_chart(values: Mapping[str, float], title: str, threshold: float | None = None) -> bytes:
    """Horizontal-label bar chart of ``values``; bars at or above ``threshold`` are red."""
    if not values:
        raise ValueError("bar_chart needs at least one value")
    high = max([*values.values(), *([threshold] if threshold is not None else []), 1e-9]) * 1.1
    image, draw, font = _canvas(title)
    row = _y_axis(draw, font, 0.0, high)
    slot = (WIDTH - MARGIN_LEFT - MARGIN_RIGHT) / len(values)
    for i, (name, value) in enumerate(values.items()):
        left = MARGIN_LEFT + i * slot + slot * 0.15
        breach = threshold is not None and value >= threshold
        draw.rectangle(
            (left, row(value), left + slot * 0.7, row(0.0)), fill=THRESHOLD_COLOUR if breach else PALETTE[0]
        )
        draw.text((left, HEIGHT - MARGIN_BOTTOM + 4 + 12 * (i % 3)), name, fill="black", font=font)
    _threshold(draw, font, row, threshold)
    return _png(image)


def png_markdown(png: bytes, alt: str) -> str:
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"
