import pytest

pytest_plugins = ["tests.infra.plugin", "tests.support.browser"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Live-broker tests get one rerun. Stopgap, reported as R in the summary so a flake
    stays visible; a defect that fails twice still fails the suite. Several runtime causes
    of these flakes are fixed (docs/kafka.md, "Offsets"); one remains open in the Kafka
    issue (the second-worker test once lost records after three rebalances, 1 of 3 runs).
    Do not widen this."""
    for item in items:
        if item.get_closest_marker("kafka") is not None:
            item.add_marker(pytest.mark.flaky(reruns=1, reruns_delay=1))
