"""The churn model's Feast objects for the ``feast`` CLI (``feast -c feast_repo apply``).

Entity ``customer``, feature view ``customer_features`` over the gold table
``fct_customer_features`` and feature service ``churn_v1``, defined in
``lakehouse_ml/features/definitions.py`` so that the ``feast_definitions`` asset applies the very same
objects. Importing this module refuses definitions that do not match the gold table's columns,
which Feast itself would not notice.
"""

from lakehouse_ml.features.definitions import build
from lakehouse_ml.features.gold import check_view_matches_gold, cli_gold_source

_gold = cli_gold_source()
customer, fct_customer_features_source, customer_features, churn_v1 = build(_gold)
check_view_matches_gold(customer_features, _gold)
