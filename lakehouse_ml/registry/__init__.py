"""Model registry: a git repository with DVC (ARCHITECTURE "Registry"). Plain modules, no Dagster;
DVC is imported inside functions."""

from lakehouse_ml.registry.model_registry import ModelRegistry, RegistryError

__all__ = ["ModelRegistry", "RegistryError"]
