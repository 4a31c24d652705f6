import pytest

pytest_plugins = ["tests.infra.plugin", "tests.support.browser"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Live-broker tests get one rerun. Stopgap, reported as R in the summary so a flake
    stays visible; a defect that fails twice still fails the suite. The record losses behind
    earlier flakes are fixed (docs/kafka.md, "Offsets", fixes 1-6), and the Kafka folder
    passed 51/51 without reruns; but a clean-clone CI run on 30 November still failed once
    without them: the warehouse sink of test_forget_on_kafka_shreds_one_citizen_everywhere
    joined its group while kafka-python's metadata lacked its topics ("No partition metadata
    for topic") and stored nothing in 90 s (mitigated in pipeline/runtimes/kafka/sinks.py,
    metadata_max_age_ms). Do not widen this; drop it once CI runs stay clean without it."""
    for item in items:
        if item.get_closest_marker("kafka") is not None:
            item.add_marker(pytest.mark.flaky(reruns=1, reruns_delay=1))
