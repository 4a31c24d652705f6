"""Instructions of the monitor path (monitor-feed -> coalescing -> monitoring), counted by
valgrind's callgrind: a figure that does not move with the load of a shared host.

    python3 scripts/callgrind_monitor_path.py                      # this checkout
    python3 scripts/callgrind_monitor_path.py --source /tmp/before # another checkout

Runs this script twice under `valgrind --tool=callgrind` with PYTHONHASHSEED=0, importing
the code of `--source` (a checkout of the revision to measure; default this one):

- `setup`: the imports, a warm-up pass of the path below over inputs of its own (so that
  lazy imports, scipy for the CUSUM design, and the design cache are not counted as the
  path's: a long-running worker has them; `--no-warm-up-pass` leaves it out), and
  building the measured inputs (deterministic, `--inputs` of them: contacts of
  producers.simulator.ContactSimulator in six cells, and for them invitations, response
  signals and page-feedback signals built by hand, each validated and stamped as the
  edge and the stages stamp), and nothing else;
- `full`: the same setup, then the path itself, in one process and without any transport
  or storage: per run of `--run-size` inputs (the Kafka agent's run of queued records),
  for each input `process_record` of MonitorFeedStage (its input trusted by the stamp,
  its observation re-checked and stamped), `outputs`, `positioned`; the run's outputs
  `coalesced` into one record per cell; for each record `record_items` and
  `process_record` of MonitoringStage (default MonitorConfig but `--warmup` outcomes,
  no warm-up days) on a fresh in-memory `monitor_cells` (pipeline.monitoring.pending.
  MemoryStore: no copy of a cell on a read, unlike the embedded SQLite state, unless
  `--state-copies`), and `outputs` of its alerts.

It prints both counts (callgrind's total of instructions executed, `summary:`) and their
difference, the path's own instructions (BLAS limited to one thread: idle pool threads
spin and callgrind counts every thread), with what the path made (observations, records,
alerts, dead letters) and a digest of the alerts and the final state, so two revisions
can be seen to do the same work. Under the bench lock on a shared host:
`flock /work/tmp/bench.lock python3 scripts/callgrind_monitor_path.py ...` (repeat runs
of the same code agreed to 0.4 %; about two minutes for both counts).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import marshal
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parents[1]


def _inputs(n: int) -> list[tuple[str, Any]]:
    """`n` inputs of the feed, in order: per contact (six cells: three services, two
    channels) the contact, its invitation, and for every other contact a response signal
    (NPS, and a comment on every third), with a page feedback signal every fifth contact.
    Failed contacts and detractors become more common after the first third, so the
    charts have something to find."""
    from producers.simulator import ContactSimulator
    from schemas.cloudevents import CloudEvent, built, derived_id, new_event
    from schemas.types import CONTACT, INVITATION, SIGNAL
    from schemas.validation import schema_id, validate_data

    sentiment_neg = {
        "label": "neg",
        "score": -0.8,
        "very_negative": False,
        "model_version": "lexicon-1",
        "language": "nld",
    }
    sentiment_pos = {**sentiment_neg, "label": "pos", "score": 0.6}
    sim = ContactSimulator(seed=7, pseudonym_key="callgrind-monitor-path")
    # Six cells (three services, two channels), so that charts warm up and alert.
    services = [
        {"code": "paspoort", "naam": "Paspoort aanvragen"},
        {"code": "verhuizing", "naam": "Verhuizing doorgeven"},
        {"code": "afval-grofvuil", "naam": "Grofvuil ophalen"},
    ]
    out: list[tuple[str, Any]] = []

    def add(topic: str, event: CloudEvent) -> None:
        problems = validate_data(event.type, event.data)
        if problems:
            raise SystemExit(f"built an invalid {event.type}: {problems}")
        stamped = built({**event.__dict__, "dataschema": schema_id(event.type)})
        out.append((topic, stamped))

    def _event(kind: str, data: dict[str, Any], key: str, name: str) -> CloudEvent:
        return new_event(kind, data, source="/h", key=key, event_id=derived_id("c", name))

    i = 0
    while len(out) < n:
        contact = sim.next_contact()
        c = {**contact.data, "dienst": services[i % 3], "kanaal": ("telefoon", "balie")[i // 3 % 2]}
        late = i * 3 >= n
        c["indicatieContactGelukt"] = not (late and i % 2 == 0) and i % 10 != 0
        # Ids from the input's number (the simulator's and new_event's are random).
        add(CONTACT.topic, built({**contact.__dict__, "id": derived_id("c", str(i)), "data": c}))
        invitation = {
            "invitationId": f"inv-{i}",
            "contactId": c["contactId"],
            "klant": c["klant"],
            "token": f"{i:032d}",
            "kanaal": c["kanaal"],
            "dienst": c["dienst"],
            "team": c["team"],
            "dispatch": ["inline"],
            "createdAt": c["plaatsgevondenOp"],
            "expiresAt": "2099-01-01T00:00:00Z",
        }
        add(INVITATION.topic, _event(INVITATION.name, invitation, c["klant"], f"i{i}"))
        if i % 2 == 0:
            nps = 2 if (late and i % 4 == 0) or i % 10 == 0 else 8
            signal: dict[str, Any] = {
                "signalId": f"sig-{i}",
                "bron": "response",
                "klant": c["klant"],
                "ontvangenOp": c["plaatsgevondenOp"],
                "responseId": f"resp-{i}",
                "contactId": c["contactId"],
                "kanaal": c["kanaal"],
                "dienst": c["dienst"],
                "nps": nps,
                "sentiment": sentiment_neg if nps < 7 else sentiment_pos,
            }
            if i % 3 == 0:
                signal["opmerking"] = "Lang gewacht" if nps < 7 else "Vlot geholpen"
            add(SIGNAL.topic, _event(SIGNAL.name, signal, c["klant"], f"s{i}"))
        if i % 5 == 0:
            feedback = {
                "signalId": f"fb-{i}",
                "bron": "page-feedback",
                "klant": c["klant"],
                "ontvangenOp": c["plaatsgevondenOp"],
                "feedbackId": f"f-{i}",
                "beoordeling": "slecht" if i % 3 == 0 else "goed",
                "sentiment": sentiment_pos,
            }
            add(SIGNAL.topic, _event(SIGNAL.name, feedback, c["klant"], f"f{i}"))
        i += 1
    return out[:n]


def _path(
    inputs: list[tuple[str, Any]], run_size: int, warmup: int, state_copies: bool
) -> dict[str, Any]:
    """The path over `inputs`, with stages and a monitor_cells of its own: what it made."""
    from pipeline.monitoring.charts import MonitorConfig
    from pipeline.monitoring.pending import MemoryStore
    from pipeline.processing import coalesced, outputs, positioned, process_record, record_items
    from pipeline.stages.monitoring import MonitorFeedStage, MonitoringStage
    from schemas.types import MONITOR_OBSERVATIONS

    feed = MonitorFeedStage()
    monitor = MonitoringStage(config=MonitorConfig(warmup_min=warmup, warmup_days=0))

    class Copying(MemoryStore):
        """As the embedded state hands a monitor value back: a marshal copy taken first."""

        def get(self, key: str, default: Any = None) -> Any:
            value = super().get(key, default)
            if value is not None:
                self.copy = marshal.dumps(value)
            return value

    cells = Copying() if state_copies else MemoryStore()
    states: dict[str, Any] = {"monitor_cells": cells}
    observations = records = dead = offset = 0
    alerts: list[Any] = []
    for start in range(0, len(inputs), run_size):
        outs: list[Any] = []
        for topic, event in inputs[start : start + run_size]:
            outcome = process_record(feed, topic, event, {}, f"0/{offset}", None)
            outs += positioned(outputs(outcome, feed.name, event.partitionkey), "in/0", offset)
            offset += 1
        observations += sum(1 for o in outs if o.event is not None)
        dead += sum(1 for o in outs if o.dead_letter is not None)
        for out in coalesced(outs):
            if out.event is None:
                continue
            records += 1
            position = f"0/{records}"
            for item, at, raw in record_items(MONITOR_OBSERVATIONS.topic, out.event, position):
                outcome = process_record(monitor, MONITOR_OBSERVATIONS.topic, item, states, at, raw)
                for o in outputs(outcome, monitor.name, out.key):
                    if o.dead_letter is not None:
                        dead += 1
                    else:
                        alerts.append(o.event)
    digest = hashlib.sha256()
    for alert in alerts:
        digest.update(json.dumps([alert.id, alert.data], sort_keys=True).encode())
    digest.update(json.dumps(dict(cells), sort_keys=True, default=str).encode())
    return {
        "inputs": len(inputs),
        "observations": observations,
        "records": records,
        "alerts": len(alerts),
        "dead_letters": dead,
        "digest": digest.hexdigest()[:16],
    }


def child(
    mode: str, n: int, run_size: int, warmup: int, warm_up_pass: bool, state_copies: bool
) -> None:
    """One run in this process (what callgrind counts): `setup` or `full`."""
    if warm_up_pass:
        # Lazy imports (scipy for the CUSUM design) and the design cache filled, on inputs
        # of their own (new objects: no parsed-model cache hit for the measured ones).
        _path(_inputs(n), run_size, warmup, state_copies)
    inputs = _inputs(n)
    if mode == "setup":
        print(json.dumps({"mode": mode, "inputs": len(inputs)}))
        return
    print(json.dumps({"mode": mode, **_path(inputs, run_size, warmup, state_copies)}))


def _counted(source: Path, mode: str, args: argparse.Namespace, out_dir: Path) -> dict[str, Any]:
    out_file = out_dir / f"callgrind.{mode}.out"
    command = [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={out_file}",
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        mode,
        "--source",
        str(source),
        "--inputs",
        str(args.inputs),
        "--run-size",
        str(args.run_size),
        "--warmup",
        str(args.warmup),
        *(["--no-warm-up-pass"] if args.no_warm_up_pass else []),
        *(["--state-copies"] if args.state_copies else []),
    ]
    # One BLAS thread: idle pool threads spin, and callgrind counts every thread.
    one = {k: "1" for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    env = {**os.environ, **one, "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(command, env=env, cwd=source, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{done.stdout}\n{done.stderr}")
    found = re.search(r"^summary:\s*(\d+)", out_file.read_text(), re.MULTILINE)
    if found is None:
        raise SystemExit(f"no summary line in {out_file}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    report["instructions"] = int(found.group(1))
    return report


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n", 1)[0],
        epilog=__doc__.split("\n\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--source",
        type=Path,
        default=HERE,
        help="checkout whose code is measured (default: the one holding this script)",
    )
    parser.add_argument("--inputs", type=int, default=3000, help="feed inputs (default 3000)")
    parser.add_argument(
        "--run-size", type=int, default=64, help="inputs per run, then coalesced (default 64)"
    )
    parser.add_argument(
        "--warmup", type=int, default=50, help="outcomes before a chart starts (default 50)"
    )
    parser.add_argument(
        "--no-warm-up-pass",
        action="store_true",
        help="count the lazy imports and first CUSUM designs in the path too",
    )
    parser.add_argument(
        "--state-copies",
        action="store_true",
        help="take a marshal copy of each cell handed out, as the embedded state does",
    )
    parser.add_argument(
        "--keep", type=Path, help="directory for callgrind's output files (default: temporary)"
    )
    parser.add_argument("--child", choices=("setup", "full"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    source = args.source.resolve()
    if args.child:
        sys.path.insert(0, str(source))
        warm_up_pass = not args.no_warm_up_pass
        child(args.child, args.inputs, args.run_size, args.warmup, warm_up_pass, args.state_copies)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        out_dir = args.keep or Path(tmp)
        out_dir.mkdir(parents=True, exist_ok=True)
        setup = _counted(source, "setup", args, out_dir)
        full = _counted(source, "full", args, out_dir)
    path = full["instructions"] - setup["instructions"]
    result = {
        "source": str(source),
        "setup_instructions": setup["instructions"],
        "full_instructions": full["instructions"],
        "path_instructions": path,
        "per_input": round(path / full["inputs"]),
        **{k: full[k] for k in ("inputs", "observations", "records", "alerts", "dead_letters")},
        "digest": full["digest"],
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
