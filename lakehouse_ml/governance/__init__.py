"""Data governance set-up for the prod profile (Apache Polaris catalog, roles and grants)."""
