"""The prediction log: Iceberg table ``ml.churn_predictions`` and the loader of the server's spool."""
