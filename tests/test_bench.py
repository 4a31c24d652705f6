"""`klantsignaal bench` in quick mode: the figures are there and positive (speed not asserted)."""

from __future__ import annotations

import argparse
import json

from pipeline.bench import QUICK, BenchSizes, add_arguments, run_bench, sizes_from


def test_sizes_from_cli_args_and_dicts() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert sizes_from(parser.parse_args([])) == BenchSizes()
    quick = sizes_from(parser.parse_args(["--quick", "--contacts", "120", "--no-warehouse"]))
    assert quick.contacts == 120 and quick.validation == QUICK.validation
    assert quick.warehouse is False
    # The lead's CLI passes its own Namespace: unknown attributes and None values are ignored.
    lead = argparse.Namespace(quick=True, contacts=None, comments=None, func=print)
    assert sizes_from(lead) == QUICK
    assert sizes_from({"validation": 10}).validation == 10


def test_quick_bench_returns_positive_figures() -> None:
    out = run_bench({"quick": True, "progress": False, "scorer": "lexicon"})
    json.dumps(out)  # one JSON object on stdout: it must serialise
    assert out["quick"] is True
    assert out["machine"]["cpu_count"] >= 1 and out["machine"]["python"]

    pipe = out["pipeline_embedded"]
    assert pipe["contacts"] == QUICK.contacts
    assert pipe["input_events"] == pipe["contacts"] + pipe["page_feedback"] + pipe["responses"]
    assert pipe["responses"] > 0 and pipe["derived"]["invitations"] > 0
    assert pipe["derived"]["signals"] == pipe["responses"] + pipe["page_feedback"]
    assert pipe["derived"]["dead_letter"] == 0
    assert pipe["events_per_s"] > 0 and pipe["seconds"] > 0
    assert pipe["baseline"]["events"] == pipe["input_events"]
    assert pipe["baseline"]["events_per_s"] > 0
    assert pipe["ratio_to_baseline"] > 0
    if pipe["warehouse_rows"] is not None:
        assert pipe["warehouse_rows"]["contacts"] == pipe["contacts"]

    assert out["validation"]["events"] == QUICK.validation
    assert out["validation"]["events_per_s"] > 0
    assert isinstance(out["sentiment"], dict)
    assert out["total_seconds"] > 0
