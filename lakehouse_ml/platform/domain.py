"""Domain constants shared by dbt, training, monitoring and the tests (docs/ARCHITECTURE.md).

A customer has churned as of day D when they place no order in the ``LABEL_HORIZON_DAYS`` after D.
dbt receives it as the ``label_horizon_days`` var whenever it differs from dbt_project.yml's default.
"""

from typing import Literal

LABEL_HORIZON_DAYS = 90
# Where training reads features: Feast's point-in-time join, or the gold table joined directly.
FeatureSource = Literal["feast", "gold"]
