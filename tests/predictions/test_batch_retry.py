"""Batch scoring retries a request answered 503 (a failing canary), and still fails when the server keeps
failing."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from lakehouse_ml.predictions.batch import RETRIES_ON_UNAVAILABLE, score_customers


class _Server(BaseHTTPRequestHandler):
    """Answers like the model server; the requests numbered in ``failing`` get 503 (the canary's turn)."""

    failing: set[int] = set()
    seen = 0

    def do_POST(self):
        type(self).seen += 1
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.seen in self.failing:
            answer, status = {"error": "model version v2 failed to predict: boom"}, 503
        else:
            predictions = [
                {
                    "customer_id": i["customer_id"],
                    "churn_probability": 0.25,
                    "churn": 0,
                    "model_version": "v1",
                }
                for i in body["instances"]
            ]
            answer, status = {"model_version": "v1", "predictions": predictions}, 200
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    _Server.seen = 0
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Server)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1/models/churn-predictor:predict"
    httpd.shutdown()
    httpd.server_close()


def test_a_503_is_retried_and_the_batch_completes(server):
    _Server.failing = {2}
    summary = score_customers(server, [f"c{i}" for i in range(30)], batch_size=10)
    assert (summary.scored, summary.requests, summary.retried) == (30, 3, 1)


def test_a_server_that_keeps_failing_still_fails_the_scoring(server):
    _Server.failing = set(range(1, 2 + RETRIES_ON_UNAVAILABLE))
    with pytest.raises(RuntimeError, match="answered 503"):
        score_customers(server, ["c1"], batch_size=10)
