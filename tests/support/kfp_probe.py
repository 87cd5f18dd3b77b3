"""A two-task KFP pipeline that reports where its tasks ran, for the shared component interpreter's tests:
the first task writes its process ids, its working directory and one environment variable to an artifact;
the second reads that artifact (passed through a file under the pipeline root) and adds its own ids. A third
component fails on purpose; a fourth installs a package first. No postponed annotations: kfp reads them."""

from typing import NamedTuple

from kfp import dsl
from kfp.dsl import Dataset, Input, Output

PROBE_VARIABLE = "LAKEHOUSE_KFP_PROBE"


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def where_first(report: Output[Dataset]) -> int:
    """Writes this task's pid, parent pid, cwd and ``LAKEHOUSE_KFP_PROBE``; returns the pid."""
    import json
    import os

    with open(report.path, "w") as handle:
        json.dump(
            {
                "first": [os.getpid(), os.getppid()],
                "cwd": os.getcwd(),
                "probe": os.environ.get("LAKEHOUSE_KFP_PROBE"),
            },
            handle,
        )
    return os.getpid()


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def where_second(report: Input[Dataset], first_pid: int) -> str:
    """Adds this task's pid and parent pid to the first task's report; returns it as JSON."""
    import json
    import os

    with open(report.path) as handle:
        seen = json.load(handle)
    assert seen["first"][0] == first_pid
    return json.dumps({**seen, "second": [os.getpid(), os.getppid()]})


@dsl.component(base_image="python:3.11", packages_to_install=["six"])
def needs_six() -> str:
    """A component whose launcher installs a package first: not one the shared worker runs."""
    return "six"


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def fails(message: str):
    raise ValueError(message)


class ProbeOutputs(NamedTuple):
    report: str


@dsl.pipeline(name="where-tasks-run")
def probe_pipeline() -> ProbeOutputs:
    first = where_first()
    second = where_second(report=first.outputs["report"], first_pid=first.outputs["Output"])
    return ProbeOutputs(report=second.output)


@dsl.pipeline(name="a-task-fails")
def failing_pipeline(message: str):
    fails(message=message)
