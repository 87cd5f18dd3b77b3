"""Training stage: time-split training sets, model search, evaluation and the KFP pipeline.

Plain modules (no Dagster). ``pipeline.py`` and ``components.py`` import kfp at module top, so
only import them inside functions from anything the code location loads.
"""
