"""Monitoring logic (no Dagster): label rule for actuals, performance SQL, drift maths, trigger policy.

The Dagster wiring lives in ``lakehouse_ml/assets/monitoring/`` and ``lakehouse_ml/sensors/``.
"""
