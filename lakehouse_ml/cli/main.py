"""The ``lakehouse-ml`` console script.

Each subcommand is a module of this package (``simulate``, ``serve``, ``run``, ``drill``, ``reproduce``,
``registry``) that exposes ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int`` and keeps its
import light (heavy libraries are imported inside ``run``).
"""

from __future__ import annotations

import argparse
import os
import sys
from importlib import import_module
from pathlib import Path

from lakehouse_ml.orchestration.instance import ensure_instance_config
from lakehouse_ml.platform.settings import Settings

SUBCOMMANDS = {
    "simulate": "lakehouse_ml.cli.simulate",
    "serve": "lakehouse_ml.cli.serve",
    "run": "lakehouse_ml.cli.run",
    "drill": "lakehouse_ml.cli.drill",
    "reproduce": "lakehouse_ml.cli.reproduce",
    "registry": "lakehouse_ml.cli.registry",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lakehouse-ml", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name, module_name in SUBCOMMANDS.items():
        module = import_module(module_name)
        sub = subparsers.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
        sub.set_defaults(handler=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    settings = Settings.from_env()
    os.environ.setdefault("DAGSTER_HOME", str(settings.dagster_home))
    ensure_instance_config(Path(os.environ["DAGSTER_HOME"]))
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
