"""Inline PNG charts in asset metadata, decoded and checked."""

from __future__ import annotations

import base64
import io
import re

import dagster as dg
from PIL import Image

from lakehouse_ml.monitoring.charts import (
    HEIGHT,
    WIDTH,
)


def decode_markdown_png(markdown: str) -> Image.Image:
    match = re.fullmatch(r"!\[[^\]]*\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)", markdown)
    assert match, f"not an inline PNG: {markdown[:80]}"
    image = Image.open(io.BytesIO(base64.b64decode(match.group(1))))
    image.verify()  # raises on a truncated or corrupt file
    return Image.open(io.BytesIO(base64.b64decode(match.group(1))))


def assert_png_chart(value: dg.MetadataValue) -> None:
    assert isinstance(value, dg.MarkdownMetadataValue)
    image = decode_markdown_png(value.value)
    assert image.format == "PNG" and image.size == (WIDTH, HEIGHT)
