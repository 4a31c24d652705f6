import pytest

pytest_plugins = ["tests.infra.plugin", "tests.browser"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Live-broker tests get one rerun. In three clean CI-style runs of this stop each run
    had one different live-Kafka test fail once (commit wait, a half-read burst, a restart
    slower than its deadline) and pass on every rerun by hand. A rerun is reported as R in
    the summary, so a flake stays visible; a defect that fails twice still fails the suite.
    The underlying timing is an open item of the Kafka issue: do not widen this."""
    for item in items:
        if item.get_closest_marker("kafka") is not None:
            item.add_marker(pytest.mark.flaky(reruns=1, reruns_delay=1))
