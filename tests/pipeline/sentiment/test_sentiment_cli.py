"""`klantsignaal sentiment score|evaluate` as a caller sees them."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

from pipeline.sentiment import cli


def _args(**kw) -> argparse.Namespace:
    base = {"scorer": "model", "model_dir": None, "field": "text"}
    base.update(kw)
    return argparse.Namespace(**base)


def _score(lines: str, **kw) -> tuple[list[dict], str, int]:
    out, err = io.StringIO(), io.StringIO()
    rc = cli.cmd_score(_args(**kw), stdin=io.StringIO(lines), stdout=out, stderr=err)
    return [json.loads(x) for x in out.getvalue().splitlines()], err.getvalue(), rc


def test_cli_score_passes_other_fields_through() -> None:
    rows, err, rc = _score('{"text": "Top geholpen!", "id": 7, "klant": {"k": "x"}}\n')
    assert rc == 0 and err == ""
    (row,) = rows
    assert row["id"] == 7 and row["klant"] == {"k": "x"} and row["text"] == "Top geholpen!"
    assert row["label"] == "pos" and -1 <= row["score"] <= 1
    assert set(row) >= {"very_negative", "explanation", "model_version", "language"}


def test_cli_score_reports_bad_lines_and_keeps_going() -> None:
    lines = '{"text": "slecht"}\nnot json\n{"x": 1}\n[1, 2]\n\n{"text": "prima"}\n'
    rows, err, rc = _score(lines)
    assert rc == 0
    assert [r["text"] for r in rows] == ["slecht", "prima"]
    assert "line 2" in err and "line 3" in err and "line 4" in err


def test_cli_score_with_the_lexicon_baseline() -> None:
    rows, _, _ = _score('{"text": "niet goed"}\n', scorer="lexicon")
    assert rows[0]["label"] == "neg" and rows[0]["model_version"].startswith("lexicon")


def test_cli_evaluate_prints_the_metrics(tmp_path: Path, capsys) -> None:
    f = tmp_path / "gold.jsonl"
    f.write_text(
        "\n".join(
            json.dumps({"text": t, "label": lab})
            for t, lab in [
                ("Top geholpen door de medewerker!", "pos"),
                ("Drie keer doorverwezen en niemand wist het", "neg"),
                ("Ik heb mijn verhuizing online doorgegeven.", "neu"),
                ("slecht", "negative"),
            ]
        )
        + "\n",
        "utf-8",
    )
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers())
    args = parser.parse_args(["sentiment", "evaluate", str(f)])
    assert args.func(args) == 0
    m = json.loads(capsys.readouterr().out)
    assert m["n"] == 4
    for key in ("accuracy", "macro_f1", "per_class", "confusion", "pos_vs_neg"):
        assert key in m
    assert set(m["per_class"]["neg"]) >= {"precision", "recall"}
    assert len(m["confusion"]["matrix"]) == 3


def test_cli_module_entry_point_runs_score(monkeypatch, capsys) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO('{"text": "geen enkel probleem"}\n'))
    assert cli.main(["score"]) == 0
    assert json.loads(capsys.readouterr().out)["label"] == "pos"
