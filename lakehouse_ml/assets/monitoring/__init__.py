"""Monitoring assets: actuals backfill, performance over time, data / prediction / concept drift.

Each drift asset writes an Evidently HTML report under ``$LAKEHOUSE_HOME/reports`` (published to
``LAKEHOUSE_REPORTS_URI`` when set, e.g. S3 in prod), records the numbers in its metadata, evaluates
its checks with the thresholds of the ``monitoring_policy`` resource and stores a small verdict in its
materialization metadata, which ``drift_retrain_sensor`` reads from the instance (it never
recomputes drift). The trigger policy is documented in docs/trigger-policy.md.
"""
