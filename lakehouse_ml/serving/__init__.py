"""Serving stage: the ``churn-predictor`` KServe model, its server process, canary rollouts, the
prediction spool and the prod ``InferenceService`` manifest. Plain modules, no Dagster; KServe and
Feast are imported only by the server process (``model.py``, ``server.py``) or inside functions."""
