"""Parallel workers (pytest-xdist, python3 tasks.py test) get service namespaces of their own."""

from __future__ import annotations

import pytest

from tests.conftest import worker_redis_url
from tests.support.scheduling import module_order


@pytest.mark.parametrize("base", range(16))
def test_four_workers_get_four_valid_redis_databases_from_any_base(base):
    urls = [worker_redis_url(f"redis://127.0.0.1:6379/{base}", worker) for worker in range(4)]
    databases = [int(url.rsplit("/", 1)[1]) for url in urls]
    assert databases[0] == base  # without xdist (worker 0) the configured database itself
    assert len(set(databases)) == 4 and all(0 <= db < 16 for db in databases), databases


def test_a_redis_url_without_a_database_number_is_refused():
    with pytest.raises(ValueError, match="must end in a database number"):
        worker_redis_url("redis://127.0.0.1:6379", 1)


def test_each_worker_starts_on_one_whole_loop_module_and_none_queues_behind_the_longest():
    minutes = {"prod": 8, "command": 4, "drift": 4, "resume": 3.5, "twice": 1.5}
    modules = ["a", "command", "b", "drift", "c", "d", "prod", "twice", "resume", "e"]
    order = module_order(minutes, modules, workers=4)
    # loadscope hands modules 1-4, then 5-8, to workers 1-4 in turn
    first, second = order[:4], order[4:8]
    assert first == ["prod", "command", "drift", "resume"]
    assert second[0] in {"a", "b", "c", "d"}, "the longest module must not have a whole-loop one behind it"
    assert second[3] == "twice"  # on the least-loaded worker
    assert sorted(order) == sorted(modules)


def test_without_parallel_workers_the_whole_loop_modules_still_come_first():
    order = module_order({"prod": 8, "twice": 1.5}, ["a", "twice", "prod"], workers=1)
    assert order[:2] == ["prod", "twice"] and sorted(order) == ["a", "prod", "twice"]
