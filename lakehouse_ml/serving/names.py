"""Names clients rely on, importable without KServe."""

MODEL_NAME = "churn-predictor"
VERSION_HEADER = "x-model-version"  # pins a deployed version: a smoke test, not logged
UNKNOWN_CUSTOMER = "unknown customer_id: no features in the online store"
