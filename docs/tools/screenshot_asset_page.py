"""Screenshot an asset page of a running Dagster UI with headless Chromium (Chrome DevTools Protocol).

Used for docs/asset-page-chart.png:

    env --default-signal=INT,TERM .venv/bin/dg dev -p 3113 &      # on a LAKEHOUSE_HOME after a drill
    .venv/bin/python docs/tools/screenshot_asset_page.py http://127.0.0.1:3113 feature_drift_report \\
        docs/asset-page-chart.png

It dismisses the first-visit dialog (GraphQL ``setNuxSeen``), opens the asset page, clicks the first
"Show Markdown" button if a Markdown metadata value has one, and saves a PNG.
"""

from __future__ import annotations

import base64
import contextlib
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",
    "--remote-allow-origins=*",
]
CLICK_MARKDOWN = """
(() => {
  const button = [...document.querySelectorAll('button, a, span')]
    .find(el => /show markdown/i.test(el.textContent || '') && el.children.length === 0);
  if (button) { button.click(); return true; }
  return false;
})()
"""


def _post_json(url: str, payload: dict) -> dict:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


class DevTools:
    def __init__(self, ws_url: str):
        import websocket

        self.socket = websocket.create_connection(ws_url, timeout=60, suppress_origin=True)
        self.next_id = 0

    def call(self, method: str, **params) -> dict:
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})


def _devtools_port(profile: Path, deadline: float) -> int:
    marker = profile / "DevToolsActivePort"
    while time.monotonic() < deadline:
        if marker.exists() and marker.read_text().strip():
            return int(marker.read_text().splitlines()[0])
        time.sleep(0.5)
    raise TimeoutError("chromium did not open its DevTools port")


@contextlib.contextmanager
def browser_page(width: int, height: int) -> Iterator[DevTools]:
    """A headless Chromium page of ``width`` x ``height``, driven over the DevTools protocol."""
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
                width=width,
                height=height,
                deviceScaleFactor=1,
                mobile=False,
            )
            tools.call("Page.enable")
            yield tools
        finally:
            browser.terminate()
            browser.wait(timeout=30)


def screenshot(ui: str, asset: str, out: Path, wait_seconds: float = 20.0) -> None:
    _post_json(f"{ui}/graphql", {"query": "mutation { setNuxSeen }"})
    with browser_page(1440, 1000) as tools:
        tools.call("Page.navigate", url=f"{ui}/assets/{asset}")
        time.sleep(wait_seconds)
        clicked = tools.call("Runtime.evaluate", expression=CLICK_MARKDOWN, returnByValue=True)
        if clicked.get("result", {}).get("value"):
            time.sleep(3)
        shot = tools.call("Page.captureScreenshot", format="png")
        out.write_bytes(base64.b64decode(shot["data"]))


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    screenshot(sys.argv[1].rstrip("/"), sys.argv[2], Path(sys.argv[3]))
