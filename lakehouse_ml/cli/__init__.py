"""The ``lakehouse-ml`` console script: one module per subcommand (``main`` dispatches)."""
