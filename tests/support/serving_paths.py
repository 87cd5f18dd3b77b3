"""The model server's KServe V1 and V2 request paths."""

from __future__ import annotations

V1 = "/v1/models/churn-predictor:predict"


V2 = "/v2/models/churn-predictor/infer"
