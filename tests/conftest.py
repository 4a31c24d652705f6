import pytest

pytest_plugins = ["tests.infra.plugin", "tests.support.browser"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Live-broker tests get one rerun. Stopgap, reported as R in the summary so a flake
    stays visible; a defect that fails twice still fails the suite. Several runtime causes
    of these flakes are fixed (docs/kafka.md, "Offsets", fixes 1-5). Fix 5 (records faust
    fetched but never handed to the streams) closed the loss the second-worker test showed
    on a heavily loaded machine (2 of 4 runs lost records before it); it has too few
    loaded runs behind it to drop this stopgap yet. Do not widen this."""
    for item in items:
        if item.get_closest_marker("kafka") is not None:
            item.add_marker(pytest.mark.flaky(reruns=1, reruns_delay=1))
