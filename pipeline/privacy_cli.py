"""`klantsignaal privacy ...`: scrub-report, forget, retention."""

from __future__ import annotations

import argparse
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

DEFAULT_CASES = (
    Path("tests/data/scrub_cases.jsonl"),
    Path("tests/data/scrub_cases_holdout.jsonl"),
    Path("tests/data/scrub_cases_holdout2.jsonl"),
)


def cmd_scrub_report(args: argparse.Namespace) -> int:
    from pipeline.scrub_report import evaluate, load_cases

    out: dict[str, Any] = {}
    for file in [Path(f) for f in args.files] or list(DEFAULT_CASES):
        report = evaluate(load_cases(file)).to_dict()
        if not args.misses:
            report.pop("misses")
        out[str(file)] = report
    print(json.dumps(out, indent=2, ensure_ascii=False))
    return 0


def cmd_forget(args: argparse.Namespace, settings: Any) -> int:
    from consumers.privacy_ops import forget

    try:
        result = forget(settings, args.who)
    except ValueError as exc:
        print(f"klantsignaal privacy forget: {exc}")
        return 2
    print(json.dumps(result, indent=2))
    return 0


def cmd_retention(args: argparse.Namespace, settings: Any) -> int:
    from consumers.privacy_ops import retention

    print(json.dumps(retention(settings), indent=2))
    return 0


def register(sub: Any, settings_of: Callable[[argparse.Namespace], Any]) -> None:
    privacy = sub.add_parser("privacy", help="personal data: scrub report, forget, retention")
    commands = privacy.add_subparsers(dest="privacy_command", required=True, metavar="COMMAND")

    report = commands.add_parser(
        "scrub-report", help="precision and recall of the scrubber per kind (labelled JSONL)"
    )
    report.add_argument("files", nargs="*", help="labelled cases (default: tests/data/...)")
    report.add_argument("--misses", action="store_true", help="list the cases it got wrong")
    report.set_defaults(func=cmd_scrub_report)

    forget = commands.add_parser(
        "forget", help="erase a citizen everywhere (both runtimes); prints what went"
    )
    forget.add_argument("who", help="BSN or klant pseudonym (k-...)")
    forget.add_argument("--data-dir")
    forget.set_defaults(func=lambda a: cmd_forget(a, settings_of(a).with_secrets()))

    keep = commands.add_parser("retention", help="remove what is past its retention now")
    keep.add_argument("--data-dir")
    keep.set_defaults(func=lambda a: cmd_retention(a, settings_of(a).with_secrets()))


class RetentionJob:
    """Applies retention every `retention_interval_hours` in `klantsignaal run`."""

    def __init__(self, settings: Any, log: Any):
        self.settings = settings
        self.log = log
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="klantsignaal-retention", daemon=True
        )

    def _run(self) -> None:
        from consumers.privacy_ops import retention

        wait = 60.0  # the first run a minute after start, then every interval
        while not self._stop.wait(wait):
            wait = self.settings.retention_interval_hours * 3600.0
            try:
                result = retention(self.settings)
                self.log.info("retention: %s", json.dumps(result["removed"]))
            except Exception as exc:  # retried at the next interval
                self.log.warning("retention failed: %s", type(exc).__name__)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
