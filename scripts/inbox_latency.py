"""Latency from an answer accepted to its alert listed in a caseworker's /inbox, embedded runtime.

    .venv/bin/python scripts/inbox_latency.py --samples 50

Starts `klantsignaal run` in a temporary directory, adds a caseworker, signs in over HTTP and
answers `samples` questionnaires very negatively one after another; prints JSON with p50/p95.
(The Kafka figure: KLANTSIGNAAL_LATENCY_SAMPLES=50 pytest -s
tests/pipeline/runtimes/kafka/test_kafka_inbox.py.)
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.inbox_helpers import add_user, inbox_latencies, percentile, sign_in  # noqa: E402
from tests.support.live_server import live_server  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, live_server(Path(tmp)) as server:
        add_user(Path(tmp) / "data", "meter", "caseworker", "KCC")
        staff = sign_in(server.base, "meter")
        seconds = inbox_latencies(server.base, server.auth, staff, args.samples, "KCC")
    result = {
        "runtime": "embedded",
        "samples": len(seconds),
        "p50_s": round(statistics.median(seconds), 3),
        "p95_s": round(percentile(seconds, 95), 3),
        "max_s": round(max(seconds), 3),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
