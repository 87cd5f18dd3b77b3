"""Domain constants shared by dbt, training, monitoring and the tests (docs/ARCHITECTURE.md).

A customer has churned as of day D when they place no order in the ``LABEL_HORIZON_DAYS`` after D.
dbt receives it as the ``label_horizon_days`` var whenever it differs from dbt_project.yml's default.
"""

LABEL_HORIZON_DAYS = 90
