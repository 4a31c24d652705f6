"""The Kafka worker with a probe on its event loop: a task that wakes every 20 ms and
writes each longer wait (over 0.1 s) to the file KLANTSIGNAAL_TEST_LOOP_PROBE names, one
line `<time.monotonic() at the wake> <seconds since the previous wake>`, and a line
`<time> 0.000` at least once a second (the probe is alive). Everything on the loop (the
other agents, offset commits, delivery callbacks) waited as long as the probe.

For tests only (tests/pipeline/runtimes/kafka/test_kafka_keystore_hang.py): the harness
starts this module instead of the worker when the worker env holds
KLANTSIGNAAL_TEST_LOOP_PROBE (tests/support/kafka_harness.py). Arguments name fixes to
switch off (tests/support/kafka_worker_without_fix.py). Nothing in pipeline/ reads the
variable.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from typing import Any

from pipeline.runtimes.kafka import worker
from tests.support.kafka_worker_without_fix import switch_off

TICK = 0.02
NOTED = 0.1  # waits longer than this are written

_build_app = worker.build_app


def _probed_app(*args: Any, **kwargs: Any) -> Any:
    app = _build_app(*args, **kwargs)
    path = os.environ["KLANTSIGNAAL_TEST_LOOP_PROBE"]

    async def loop_probe() -> None:
        with open(path, "a", buffering=1, encoding="utf-8") as out:
            last = beat = time.monotonic()
            while True:
                await asyncio.sleep(TICK)
                now = time.monotonic()
                if now - last > NOTED:
                    out.write(f"{now:.3f} {now - last:.3f}\n")
                    beat = now
                elif now - beat >= 1.0:
                    out.write(f"{now:.3f} 0.000\n")
                    beat = now
                last = now

    app.task(loop_probe)
    return app


def read_gaps(path: str | os.PathLike[str]) -> list[tuple[float, float]]:
    """(wake time, wait) of every wait the probe wrote."""
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as lines:
        return [(float(a), float(b)) for a, b in (line.split() for line in lines if line.strip())]


if __name__ == "__main__":
    for name in sys.argv[1:]:
        switch_off(name)
        print(f"fix switched off: {name}", flush=True)
    worker.build_app = _probed_app  # type: ignore[assignment]
    print("event loop probe on", flush=True)
    worker.main()
