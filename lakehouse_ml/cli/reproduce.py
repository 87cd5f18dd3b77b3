"""``lakehouse-ml reproduce vN``: rebuild a registered model version from the registry alone and compare
bytes (logic in ``lakehouse_ml.registry.reproduce``)."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "Rebuild a registered model version from the registry alone and compare it byte for byte."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("version", help="registered version, e.g. v3")
    parser.add_argument(
        "--scratch",
        type=Path,
        help="folder to rebuild in (default: $LAKEHOUSE_HOME/reproduce/vN), emptied first",
    )
    parser.add_argument(
        "--code",
        choices=("revision", "installed"),
        default="revision",
        help="train with the code revision the lineage names (default) or with the installed code",
    )


def run(args: argparse.Namespace) -> int:
    import dagster as dg

    from lakehouse_ml.platform.settings import Settings, project_root
    from lakehouse_ml.registry import RegistryError
    from lakehouse_ml.registry.model_registry import version_number
    from lakehouse_ml.registry.reproduce import reproduce
    from lakehouse_ml.resources.registry import local_model_registry, prod_model_registry

    settings = Settings.from_env()
    opener = local_model_registry if settings.profile == "local" else prod_model_registry
    with dg.build_resources({"model_registry": opener(settings)}) as resources:  # resolves dg.EnvVar
        registry = resources.model_registry.open()
        try:
            number = version_number(args.version)
            scratch = args.scratch or settings.home / "reproduce" / f"v{number}"
            result = reproduce(registry, f"v{number}", scratch, project_root(), args.code == "installed")
        except RegistryError as err:
            print(f"error: {err}")
            return 2
    print(result.describe())
    return result.exit_code
