"""PNG charts embedded in asset metadata: valid images, drawn from the right numbers."""

from __future__ import annotations

import pandas as pd
import pytest
from PIL import Image

from lakehouse_ml.monitoring.charts import (
    THRESHOLD_COLOUR,
    bar_chart,
    line_chart,
    png_markdown,
)
from lakehouse_ml.monitoring.performance import weekly_by_version
from tests.support.charts import decode_markdown_png


def test_bar_chart_marks_scores_over_the_threshold_red():
    image = decode_markdown_png(png_markdown(bar_chart({"low": 0.05, "high": 0.5}, "drift", 0.2), "drift"))
    red = Image.new("RGB", (1, 1), THRESHOLD_COLOUR).getpixel((0, 0))
    pixels = image.convert("RGB")
    width = image.size[0]
    row = image.size[1] - 70  # just above the x axis: both bars are there
    colours = {pixels.getpixel((x, row)) for x in range(width)}
    assert red in colours
    assert (31, 119, 180) in colours  # the low bar keeps the series colour


def test_charts_reject_empty_input():
    with pytest.raises(ValueError, match="at least one value"):
        bar_chart({}, "drift")
    with pytest.raises(ValueError, match="at least one x label"):
        line_chart({}, [], "accuracy")


def test_weekly_accuracy_pools_days_per_iso_week_and_version():
    def day(text, version, labelled, correct):
        return {
            "day": text,
            "model_version": version,
            "prediction_count": labelled,
            "labelled_count": labelled,
            "correct": correct,
            "tp": 0,
            "fp": 0,
            "fn": 0,
            "roc_auc": None,
        }

    daily = pd.DataFrame(
        [
            day("2025-06-02", "1", 10, 9),  # Monday, week 23
            day("2025-06-08", "1", 30, 15),  # Sunday, week 23
            day("2025-06-09", "2", 20, 18),  # week 24
        ]
    )
    weeks, accuracy = weekly_by_version(daily)
    assert weeks == ["2025-W23", "2025-W24"]
    assert accuracy == {"1": [24 / 40, None], "2": [None, 0.9]}
    assert weekly_by_version(daily.iloc[0:0]) == ([], {})
