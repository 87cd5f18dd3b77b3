"""Create or advance a simulated raw landing zone: the functions other stages and the CLI call."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from lakehouse_ml.simulator import generator, landing
from lakehouse_ml.simulator.scenarios import ActiveDrift, adjustments_for, validate_scenario
from lakehouse_ml.simulator.state import (
    Population,
    SimulatorState,
    commit,
    has_state,
    load_state,
    staged_state_files,
    state_dir,
)

DEFAULT_START = date(2025, 6, 1)
DEFAULT_CUSTOMERS = 10_000
DEFAULT_DAYS = 365
DEFAULT_SEED = 7


@dataclass(frozen=True)
class SimulationSummary:
    raw_dir: Path
    created: bool
    first_day: date
    last_day: date
    customers_written: int
    orders_written: int
    total_customers: int
    files: tuple[Path, ...]
    file_format: str
    drifts: tuple[ActiveDrift, ...]

    def describe(self) -> str:
        action = "created the initial history" if self.created else "advanced the landing zone"
        drift = ", ".join(f"{d.name} from {d.start}" for d in self.drifts) or "none"
        return (
            f"{action} in {self.raw_dir} ({self.file_format})\n"
            f"  days:      {self.first_day} .. {self.last_day}\n"
            f"  written:   {self.customers_written:,} customers, {self.orders_written:,} orders "
            f"in {len(self.files)} part files\n"
            f"  customers: {self.total_customers:,} in total\n"
            f"  drift:     {drift}"
        )


def is_empty(raw_dir: Path) -> bool:
    """True when neither dataset holds data files; a half-filled zone is an error."""
    filled = [name for name in landing.DATASETS if landing.data_files(raw_dir / name)]
    if len(filled) == 1:
        raise ValueError(
            f"raw landing zone {raw_dir} is half filled: {filled[0]}/ has data files but the other "
            "dataset is empty; remove it or complete it before simulating"
        )
    return not filled


def fill_landing_zone_if_empty(raw_dir: Path | str, seed: int = DEFAULT_SEED) -> bool:
    """Write the default initial history when the landing zone is empty; True if it wrote."""
    raw_dir = _local_dir(raw_dir)
    if not is_empty(raw_dir):
        return False
    simulate(raw_dir, customers=DEFAULT_CUSTOMERS, days=DEFAULT_DAYS, seed=seed)
    return True


def simulate(
    raw_dir: Path | str,
    *,
    customers: int | None = None,
    days: int,
    seed: int | None = None,
    drift: str | None = None,
    drift_start: date | None = None,
    file_format: str | None = None,
) -> SimulationSummary:
    """Create the initial history of an empty landing zone, or advance a simulated one by ``days``.

    Initial history: ``customers`` (default 10,000) sign up over ``days`` days from 2025-06-01.
    Advance: ``customers`` new sign-ups over the ``days`` if given, else the initial daily arrival
    rate. ``seed`` and ``file_format`` default to 7 and parquet for a new zone and to the stored ones
    when advancing (passing different ones is an error). ``drift`` starts a scenario on
    ``drift_start`` (default: the first day this call simulates); once started it stays active.
    """
    raw_dir = _local_dir(raw_dir)
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise ValueError(f"days must be a positive integer, got {days!r}")
    if customers is not None and (
        isinstance(customers, bool) or not isinstance(customers, int) or customers < 0
    ):
        raise ValueError(f"customers must be a non-negative integer, got {customers!r}")
    if file_format is not None and file_format not in landing.FORMATS:
        raise ValueError(f"file format must be one of {landing.FORMATS}, got {file_format!r}")
    if drift is not None:
        validate_scenario(drift)
    elif drift_start is not None:
        raise ValueError("drift_start needs a drift scenario")

    if is_empty(raw_dir):
        created = True
        if customers == 0:
            raise ValueError("the initial history needs at least one customer")
        customer_count = DEFAULT_CUSTOMERS if customers is None else customers
        state = SimulatorState(
            seed=DEFAULT_SEED if seed is None else int(seed),
            file_format=file_format or "parquet",
            start_date=DEFAULT_START,
            last_day=DEFAULT_START - timedelta(days=1),
            arrivals_per_day=customer_count / days,
        )
        population = Population.empty()
    else:
        created = False
        if not has_state(raw_dir):
            raise ValueError(
                f"raw landing zone {raw_dir} holds data the simulator did not write "
                f"(no {state_dir(raw_dir).name}/state.json); refusing to append to it"
            )
        state, population = load_state(raw_dir)
        if seed is not None and int(seed) != state.seed:
            raise ValueError(f"{raw_dir} was simulated with seed {state.seed}, not {seed}; omit the seed")
        if file_format is not None and file_format != state.file_format:
            raise ValueError(f"{raw_dir} holds {state.file_format} files; cannot append {file_format} files")
        _check_parts(raw_dir, state)

    first_day = state.last_day + timedelta(days=1)
    last_day = state.last_day + timedelta(days=days)
    if drift is not None:
        _activate(state, drift, drift_start or first_day, first_day)

    first_number = generator.day_number(first_day)
    planned = None
    if customers is not None or created:
        total = customer_count if created else customers
        planned = generator.initial_arrivals(state.seed, first_number, days, total)
    first_customer = len(population)
    batches = []
    for offset in range(days):
        number = first_number + offset
        adjust = adjustments_for(state.drifts, generator.day_from_number(number))
        if planned is None:
            arrivals = generator.daily_arrivals(state.seed, number, state.arrivals_per_day, adjust)
        else:
            arrivals = int(planned[offset])
        batches.append(generator.simulate_day(population, state.seed, number, arrivals, adjust))
    orders = generator.OrderBatch.concat(batches)
    order = np.lexsort((orders.customer_index, orders.second, orders.day))
    orders = generator.OrderBatch(
        *(getattr(orders, name)[order] for name in generator.OrderBatch.__annotations__)
    )

    tables = {
        "customers": landing.customers_table(population, first_customer),
        "orders": landing.orders_table(orders, state.next_order_number),
    }
    part = landing.part_name(state.next_part, state.file_format)
    staging = state_dir(raw_dir)
    staging.mkdir(parents=True, exist_ok=True)
    staged: list[tuple[Path, Path]] = []
    try:
        for name, table in tables.items():
            if table.num_rows == 0:
                continue
            (raw_dir / name).mkdir(exist_ok=True)
            temporary = staging / f".{name}-{part}.tmp"
            landing.write_part(table, temporary, state.file_format)
            staged.append((temporary, raw_dir / name / part))
        state.last_day = last_day
        state.next_part += 1
        state.next_order_number += len(orders)
        staged.extend(staged_state_files(raw_dir, state, population))
    except BaseException:
        for temporary, _ in staged:
            temporary.unlink(missing_ok=True)
        raise
    commit(staged)

    return SimulationSummary(
        raw_dir=raw_dir,
        created=created,
        first_day=first_day,
        last_day=last_day,
        customers_written=tables["customers"].num_rows,
        orders_written=tables["orders"].num_rows,
        total_customers=len(population),
        files=tuple(final for _, final in staged if final.parent.name in landing.DATASETS),
        file_format=state.file_format,
        drifts=tuple(state.drifts),
    )


def _local_dir(raw_dir: Path | str) -> Path:
    if "://" in str(raw_dir):
        raise ValueError(f"the simulator writes to a local folder, not {raw_dir}")
    return Path(raw_dir).expanduser().resolve()


def _check_parts(raw_dir: Path, state: SimulatorState) -> None:
    for name in landing.DATASETS:
        for path in landing.data_files(raw_dir / name):
            stem = path.stem.removeprefix("part-")
            if path.name.startswith("part-") and stem.isdigit() and int(stem) >= state.next_part:
                raise ValueError(
                    f"{path} is newer than the simulator state in {state_dir(raw_dir)} "
                    f"(next part {state.next_part}); the zone was changed outside the simulator"
                )


def _activate(state: SimulatorState, name: str, start: date, first_day: date) -> None:
    if any(active.name == name for active in state.drifts):
        return
    if start < first_day:
        raise ValueError(
            f"drift start {start} is before the first day to simulate ({first_day}); "
            "days already written cannot change"
        )
    state.drifts.append(ActiveDrift(name=name, start=start))
