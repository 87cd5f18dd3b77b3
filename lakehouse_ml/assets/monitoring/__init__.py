"""Monitoring assets: actuals backfill, performance over time, data / prediction / concept drift.

Each drift asset writes an Evidently HTML report under ``$LAKEHOUSE_HOME/reports``, records the
numbers in its metadata, evaluates its checks with the thresholds of the ``monitoring_policy``
resource and persists a small JSON verdict that ``drift_retrain_sensor`` reads (it never
recomputes drift). The trigger policy is documented in docs/trigger-policy.md.
"""
