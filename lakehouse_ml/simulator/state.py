"""Simulator state kept in ``<raw>/_simulator/`` so a later run advances the same process.

``state.json`` holds the scalars (seed, days simulated, part and order counters, active drift
scenarios); ``population.npz`` holds the latent per-customer arrays (type, order rate, engagement,
churned flag, ...). Randomness needs no stored generator state: each simulated day draws from
generators seeded by ``(seed, day, purpose)``, so advancing 10 days at once or one day ten times
gives the same data.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields
from datetime import date
from pathlib import Path

import numpy as np

from lakehouse_ml.simulator.scenarios import ActiveDrift

STATE_DIR = "_simulator"
STATE_FILE = "state.json"
POPULATION_FILE = "population.npz"
STATE_VERSION = 1


@dataclass
class Population:
    """Latent per-customer arrays; index i is customer ``customer_id_for(i)``."""

    signup_day: np.ndarray  # int32, days since 1970-01-01
    signup_second: np.ndarray  # int32, second of the signup day
    country: np.ndarray  # int8 index into COUNTRIES, -1 when unknown
    channel: np.ndarray  # int8 index into CHANNELS
    latent_type: np.ndarray  # int8 index into LATENT_TYPES
    rate: np.ndarray  # float64, individual order-rate multiplier
    price: np.ndarray  # float64, individual price multiplier
    engagement: np.ndarray  # float64, log-scale engagement that drifts day to day
    churned: np.ndarray  # bool, churned customers never order again

    @classmethod
    def empty(cls) -> Population:
        return cls(
            signup_day=np.empty(0, np.int32),
            signup_second=np.empty(0, np.int32),
            country=np.empty(0, np.int8),
            channel=np.empty(0, np.int8),
            latent_type=np.empty(0, np.int8),
            rate=np.empty(0, np.float64),
            price=np.empty(0, np.float64),
            engagement=np.empty(0, np.float64),
            churned=np.empty(0, bool),
        )

    def __len__(self) -> int:
        return len(self.signup_day)

    def extend(self, other: Population) -> None:
        for item in fields(self):
            setattr(self, item.name, np.concatenate([getattr(self, item.name), getattr(other, item.name)]))

    def save(self, path: Path) -> None:
        with path.open("wb") as handle:
            np.savez(handle, **{item.name: getattr(self, item.name) for item in fields(self)})

    @classmethod
    def load(cls, path: Path) -> Population:
        with np.load(path) as arrays:
            return cls(**{item.name: arrays[item.name] for item in fields(cls)})


@dataclass
class SimulatorState:
    seed: int
    file_format: str
    start_date: date
    last_day: date
    arrivals_per_day: float
    next_part: int = 0
    next_order_number: int = 0
    drifts: list[ActiveDrift] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {
            "version": STATE_VERSION,
            "seed": self.seed,
            "file_format": self.file_format,
            "start_date": self.start_date.isoformat(),
            "last_day": self.last_day.isoformat(),
            "arrivals_per_day": self.arrivals_per_day,
            "next_part": self.next_part,
            "next_order_number": self.next_order_number,
            "drifts": [drift.to_json() for drift in self.drifts],
        }

    @classmethod
    def from_json(cls, payload: dict) -> SimulatorState:
        if payload.get("version") != STATE_VERSION:
            raise ValueError(f"simulator state version {payload.get('version')!r} is not {STATE_VERSION}")
        return cls(
            seed=int(payload["seed"]),
            file_format=payload["file_format"],
            start_date=date.fromisoformat(payload["start_date"]),
            last_day=date.fromisoformat(payload["last_day"]),
            arrivals_per_day=float(payload["arrivals_per_day"]),
            next_part=int(payload["next_part"]),
            next_order_number=int(payload["next_order_number"]),
            drifts=[ActiveDrift.from_json(item) for item in payload["drifts"]],
        )


def state_dir(raw_dir: Path) -> Path:
    return raw_dir / STATE_DIR


def has_state(raw_dir: Path) -> bool:
    return (state_dir(raw_dir) / STATE_FILE).is_file()


def load_state(raw_dir: Path) -> tuple[SimulatorState, Population]:
    folder = state_dir(raw_dir)
    try:
        state = SimulatorState.from_json(json.loads((folder / STATE_FILE).read_text()))
        population = Population.load(folder / POPULATION_FILE)
    except (OSError, ValueError, KeyError) as err:
        raise ValueError(f"simulator state in {folder} is unreadable: {err}") from err
    return state, population


def staged_state_files(
    raw_dir: Path, state: SimulatorState, population: Population
) -> list[tuple[Path, Path]]:
    """Write the new state to temporary files; return (temporary, final) pairs to rename into place."""
    folder = state_dir(raw_dir)
    folder.mkdir(parents=True, exist_ok=True)
    population_tmp = folder / f".{POPULATION_FILE}.tmp"
    population.save(population_tmp)
    state_tmp = folder / f".{STATE_FILE}.tmp"
    state_tmp.write_text(json.dumps(state.to_json(), indent=2) + "\n")
    return [(population_tmp, folder / POPULATION_FILE), (state_tmp, folder / STATE_FILE)]


def commit(staged: list[tuple[Path, Path]]) -> None:
    for temporary, final in staged:
        os.replace(temporary, final)
