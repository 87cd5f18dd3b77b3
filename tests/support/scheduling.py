"""The order in which pytest-xdist's ``loadscope`` hands out test modules, arranged so that the
whole-loop tests (marked ``longest(minutes=...)``) run side by side from the start.

``loadscope`` gives each of the W workers one module, then a second one, in collection order, before
it hands out anything else; a worker runs its modules one after the other. So the W heaviest modules
open the order (one per worker); the second round puts the remaining whole-loop modules on the
least-loaded workers and a quick module on the others, so that no whole-loop test queues behind the
longest one."""

from __future__ import annotations

from collections.abc import Sequence


def module_order(minutes: dict[str, float], modules: Sequence[str], workers: int) -> list[str]:
    """``modules`` in collection order; ``minutes``: the estimated length of the whole-loop ones."""
    heavy = sorted(minutes, key=lambda module: -minutes[module])
    quick = [module for module in modules if module not in minutes]
    first, rest = heavy[:workers], heavy[workers:]
    load = [minutes[module] for module in first]
    second: list[str | None] = [None] * len(first)
    for module in rest:
        free = [slot for slot in range(len(first)) if second[slot] is None]
        if not free:
            break
        slot = min(free, key=lambda index: load[index])
        second[slot], load[slot] = module, load[slot] + minutes[module]
    placed = {module for module in second if module}
    fill = iter(quick)
    second = [module or next(fill, None) for module in second]
    order = [*first, *(module for module in second if module)]
    return order + [module for module in [*rest, *quick] if module not in order and module not in placed]
