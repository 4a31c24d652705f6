"""`klantsignaal monitor evaluate`: the monitor's detection delay and false alarms, measured."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace

from pipeline.monitoring.evaluate import DROPS, Scenario, evaluate


def cmd_evaluate(args: argparse.Namespace) -> int:
    from pipeline.settings import Settings
    from pipeline.stages.monitoring import monitor_config

    config = monitor_config(Settings.from_env())  # the monitor exactly as configured
    scenario = replace(
        Scenario(),
        days=args.days,
        change_day=args.change_day,
        contacts_per_day=args.contacts_per_day,
        detractor_shift=args.detractor_shift,
        promoter_shift=args.promoter_shift,
        shift=args.shift,
    )
    drops = list(DROPS) if args.drop == "all" else [args.drop]
    results = {}
    for drop in drops:
        print(f"monitor evaluate: {drop}, {args.seeds} seeds x {args.days} days", file=sys.stderr)
        results[drop] = evaluate(args.seeds, replace(scenario, drop=drop), config)
    print(json.dumps(results[drops[0]] if len(drops) == 1 else results, indent=2))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    monitor = sub.add_parser("monitor", help="the service monitor (control charts)")
    commands = monitor.add_subparsers(dest="monitor_command", required=True, metavar="COMMAND")
    ev = commands.add_parser(
        "evaluate",
        help="simulate stable data and an injected drop over many seeds; prints JSON",
        description="Detection delay of an injected drop (NPS -15 points on one service and "
        "channel) and false alarms per service per 30 days on stable services, with the "
        "monitor settings from the environment (KLANTSIGNAAL_MONITOR_*).",
    )
    ev.add_argument("--seeds", type=int, default=20, help="simulated runs (20)")
    ev.add_argument("--days", type=int, default=180, help="days per run (180)")
    ev.add_argument("--change-day", type=int, default=35, help="day the drop starts (35)")
    ev.add_argument(
        "--contacts-per-day", type=float, default=600.0, help="contacts per working day (600)"
    )
    ev.add_argument(
        "--detractor-shift", type=float, default=0.075, help="detractor share +0.075 (NPS -7.5)"
    )
    ev.add_argument(
        "--promoter-shift", type=float, default=0.075, help="promoter share -0.075 (NPS -7.5)"
    )
    ev.add_argument(
        "--drop",
        choices=[*DROPS, "all"],
        default="nps",
        help="the injected change: nps (default), negatief, contact, slecht, respons, or all "
        "(one JSON object per drop)",
    )
    ev.add_argument(
        "--shift",
        type=float,
        default=-1.0,
        help="size of a non-NPS change (default per drop: negatief +0.10, contact +0.06, "
        "slecht +0.10, respons -0.05)",
    )
    ev.set_defaults(func=cmd_evaluate)
