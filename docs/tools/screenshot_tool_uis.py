"""Screenshot `evidently ui` and `feast ui` on a LAKEHOUSE_HOME with headless Chromium.

Used for docs/evidently-ui.png and docs/feast-ui.png:

    LAKEHOUSE_HOME=.lakehouse .venv/bin/python docs/tools/screenshot_tool_uis.py docs/
    # or, without a materialized loop, on a small state built from the test builders first:
    LAKEHOUSE_HOME=/tmp/demo .venv/bin/python docs/tools/screenshot_tool_uis.py --demo-state docs/

Both UIs are started on free ports of 127.0.0.1 from the project root, as a user would
(`evidently ui --workspace $LAKEHOUSE_HOME/evidently`, `feast -c feast_repo ui`), screenshotted once
they have rendered, and stopped. The PNGs are reduced to a 128-colour palette to stay small.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import date, timedelta
from pathlib import Path

from screenshot_asset_page import CHROMIUM_FLAGS, DevTools, _devtools_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DRIFT_KIND = "feature_drift/recent_active"


def demo_state(home: Path) -> None:
    """Eight weekly feature snapshots whose basket size drifts from week five, applied to Feast and
    compared week by week into the Evidently workspace, as the monitoring assets do."""
    sys.path.insert(0, str(ROOT))
    import pandas as pd

    from lakehouse_ml.features.apply import apply_definitions
    from lakehouse_ml.features.gold import gold_source
    from lakehouse_ml.features.materialize import materialize_online
    from lakehouse_ml.features.store import FEATURE_NAMES, feature_store
    from lakehouse_ml.monitoring.drift import drift_report
    from lakehouse_ml.monitoring.workspace import SnapshotTarget
    from lakehouse_ml.platform.settings import Settings
    from tests.support.features_fixtures import write_gold
    from tests.support.monitoring_fixtures import snapshot

    settings = Settings.from_env()
    days = [date(2024, 3, 3) + timedelta(weeks=week) for week in range(8)]
    weeks = [
        snapshot(day, 500, seed=i, basket=1.0 if i < 4 else 1.0 + 0.15 * (i - 3))
        for i, day in enumerate(days)
    ]
    write_gold(home, pd.concat(weeks, ignore_index=True))
    store = feature_store(settings)
    apply_definitions(store, gold_source(settings))
    materialize_online(store, gold_source(settings))
    categorical = ["customer_segment"]
    numerical = [name for name in FEATURE_NAMES if name not in categorical]
    for previous, current, day in zip(weeks, weeks[1:], days[1:], strict=False):
        target = SnapshotTarget(
            settings.evidently_workspace,
            settings.evidently_ui_url,
            DRIFT_KIND,
            f"{day} v1",
            day,
            ("model_version=v1",),
        )
        drift_report(
            previous,
            current,
            numerical,
            categorical,
            column_threshold=0.1,
            sample_size=500,
            seed=1,
            snapshot_to=target,
        )


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _serve(command: list[str], url: str, log: Path) -> subprocess.Popen:
    with log.open("w") as out:
        process = subprocess.Popen(
            command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{command[0]} exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return process
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer: {log.read_text()[-2000:]}")


def _stop(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


def _small_png(data: bytes) -> bytes:
    from PIL import Image

    image = Image.open(io.BytesIO(data)).convert("RGB").quantize(colors=128)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def screenshot(urls: dict[Path, str], wait_seconds: float) -> None:
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as profile:
        browser = subprocess.Popen(
            ["chromium", *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            port = _devtools_port(Path(profile), time.monotonic() + 60)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30) as response:
                page = next(t for t in json.load(response) if t["type"] == "page")
            tools = DevTools(page["webSocketDebuggerUrl"])
            tools.call(
                "Emulation.setDeviceMetricsOverride",
                width=1280,
                height=860,
                deviceScaleFactor=1,
                mobile=False,
            )
            tools.call("Page.enable")
            for out, url in urls.items():
                tools.call("Page.navigate", url=url)
                time.sleep(wait_seconds)
                shot = tools.call("Page.captureScreenshot", format="png")
                out.write_bytes(_small_png(base64.b64decode(shot["data"])))
                print(f"{out} ({out.stat().st_size // 1024} kB) <- {url}")
        finally:
            browser.terminate()
            browser.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument(
        "--demo-state", action="store_true", help="first build a small state in LAKEHOUSE_HOME"
    )
    parser.add_argument("--wait", type=float, default=12.0, help="seconds for a page to render")
    args = parser.parse_args()
    home = Path(os.environ.get("LAKEHOUSE_HOME", ROOT / ".lakehouse")).resolve()
    if args.demo_state:
        demo_state(home)
    evidently_port, feast_port = _free_port(), _free_port()
    evidently = _serve(
        [
            str(BIN / "evidently"),
            "ui",
            "--workspace",
            str(home / "evidently"),
            "--host",
            "127.0.0.1",
            "--port",
            str(evidently_port),
        ],
        f"http://127.0.0.1:{evidently_port}/api/projects",
        home / "evidently-ui.log",
    )
    feast = _serve(
        [str(BIN / "feast"), "-c", "feast_repo", "ui", "-h", "127.0.0.1", "-p", str(feast_port)],
        f"http://127.0.0.1:{feast_port}/",
        home / "feast-ui.log",
    )
    try:
        with urllib.request.urlopen(
            f"http://127.0.0.1:{evidently_port}/api/projects", timeout=30
        ) as response:
            projects = {p["name"]: p["id"] for p in json.load(response)}
        project = projects.get(f"churn-predictor {DRIFT_KIND}") or next(iter(projects.values()))
        screenshot(
            {
                args.out_dir / "evidently-ui.png": f"http://127.0.0.1:{evidently_port}/projects/{project}",
                args.out_dir
                / "feast-ui.png": f"http://127.0.0.1:{feast_port}/p/lakehouse_ml/feature-view/customer_features",
            },
            args.wait,
        )
    finally:
        _stop(evidently)
        _stop(feast)


if __name__ == "__main__":
    main()
