"""A PNG timeline of one daemon-only drill, read back from its instance: landings (the simulator's),
the runs the daemon launched (one lane per job), monitoring breaches, deployments and canary decisions. Drawn
with Pillow like lakehouse_ml/monitoring/charts.py; docs/autopilot-drill.png is one."""

from __future__ import annotations

import io
from dataclasses import dataclass

import dagster as dg

WIDTH, LANE_HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 1100, 46, 170, 30, 40, 40
STATUS_COLOUR = {"SUCCESS": "#2ca02c", "FAILURE": "#d62728", "CANCELED": "#7f7f7f"}
MARK_COLOUR = {
    "landing": "#1f77b4",
    "breach": "#d62728",
    "deployment": "#9467bd",
    "promote": "#2ca02c",
    "rollback": "#d62728",
}


@dataclass(frozen=True)
class Mark:
    lane: str
    start: float
    end: float | None  # None: a point in time
    label: str
    colour: str


def drill_marks(instance: dg.DagsterInstance, landings: list[tuple[float, str]]) -> list[Mark]:
    """``landings``: (time, label) of each landing the simulator made."""
    from lakehouse_ml.assets.monitoring.common import SIGNAL_ASSETS, VERDICT_KEY

    marks = [Mark("landings", at, None, label, MARK_COLOUR["landing"]) for at, label in landings]
    for record in reversed(instance.get_run_records()):
        run = record.dagster_run
        start = record.start_time or record.create_timestamp.timestamp()
        colour = STATUS_COLOUR.get(run.status.value, "#ff7f0e")
        trigger = run.tags.get("lakehouse/trigger", run.status.value.lower())
        marks.append(Mark(run.job_name, start, record.end_time or start, trigger, colour))
    for signal, key in SIGNAL_ASSETS.items():
        for event in instance.fetch_materializations(key, limit=200).records:
            verdict = event.asset_materialization.metadata.get(VERDICT_KEY)
            if verdict is not None and verdict.value.get("breach"):
                marks.append(Mark("breaches", event.timestamp, None, signal, MARK_COLOUR["breach"]))
    for event in instance.fetch_materializations(
        dg.AssetKey("churn_predictor_deployment"), limit=200
    ).records:
        metadata = event.asset_materialization.metadata
        label = " ".join(
            f"{name}={metadata[name].value}"
            for name in ("stable_version", "canary_version")
            if name in metadata
        )
        marks.append(Mark("deployments", event.timestamp, None, label, MARK_COLOUR["deployment"]))
    for event in instance.fetch_materializations(dg.AssetKey("canary_analysis"), limit=200).records:
        metadata = event.asset_materialization.metadata
        decision = metadata["decision"].value if "decision" in metadata else None
        if decision in ("promote", "rollback"):
            label = f"{decision} {metadata['canary_version'].value}"
            marks.append(Mark("canary decisions", event.timestamp, None, label, MARK_COLOUR[decision]))
    return marks


def timeline_png(marks: list[Mark], title: str) -> bytes:
    """One lane per distinct ``Mark.lane`` (in first-seen order); x is minutes since the first mark."""
    from PIL import Image, ImageDraw, ImageFont

    if not marks:
        raise ValueError("timeline_png needs at least one mark")
    lanes = list(dict.fromkeys(mark.lane for mark in marks))
    origin = min(mark.start for mark in marks)
    span = max((mark.end or mark.start) for mark in marks) - origin or 1.0
    height = TOP + LANE_HEIGHT * len(lanes) + BOTTOM
    image = Image.new("RGB", (WIDTH, height), "white")
    draw = ImageDraw.Draw(image)
    font, big = ImageFont.load_default(size=11), ImageFont.load_default(size=14)
    draw.text((LEFT, 10), title, fill="black", font=big)

    def x(at: float) -> float:
        return LEFT + (at - origin) / span * (WIDTH - LEFT - RIGHT)

    for index, lane in enumerate(lanes):
        top = TOP + index * LANE_HEIGHT
        draw.line((LEFT, top + LANE_HEIGHT, WIDTH - RIGHT, top + LANE_HEIGHT), fill="#dddddd")
        draw.text((8, top + LANE_HEIGHT / 2 - 7), lane, fill="black", font=font)
        for number, mark in enumerate(m for m in marks if m.lane == lane):
            text_y = top + 4 + (number % 2) * 28  # alternate label rows so neighbours do not overlap
            if mark.end is None:
                draw.line(
                    (x(mark.start), top + 4, x(mark.start), top + LANE_HEIGHT - 4), fill=mark.colour, width=3
                )
            else:
                right = max(x(mark.end), x(mark.start) + 3)
                draw.rectangle((x(mark.start), top + 16, right, top + 28), fill=mark.colour)
            draw.text((x(mark.start) + 3, text_y), mark.label, fill="black", font=font)
    bottom = TOP + LANE_HEIGHT * len(lanes)
    minutes = int(span // 60) + 1
    for minute in range(0, minutes + 1, max(1, minutes // 10)):
        at = origin + minute * 60
        if at - origin <= span:
            draw.line((x(at), bottom, x(at), bottom + 5), fill="#888888")
            draw.text((x(at) - 8, bottom + 8), f"{minute} min", fill="black", font=font)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
