"""The drill's code location for ``dagster-daemon`` (``-f tests/support/prod_drill_location.py -a defs``)."""

from tests.support.prod_drill_defs import drill_definitions

defs = drill_definitions()
