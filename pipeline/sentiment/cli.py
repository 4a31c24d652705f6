"""`klantsignaal sentiment ...`: score, evaluate, train, retrain, bench.

`register(subparsers)` is called by the main CLI (pipeline/cli.py); `python -m
pipeline.sentiment.cli ...` runs the same commands on their own.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from .retrain import CorrectionSource, WeakLabelSource

_LABEL_ALIASES = {
    "negative": "neg",
    "neutral": "neu",
    "positive": "pos",
    "-1": "neg",
    "0": "neu",
    "1": "pos",
    "neg": "neg",
    "neu": "neu",
    "pos": "pos",
}


def register(
    subparsers: Any,
    weak_labels: Callable[[str], WeakLabelSource] | None = None,
    corrections: Callable[[str], CorrectionSource] | None = None,
) -> argparse.ArgumentParser:
    """Add `sentiment`; `weak_labels(url)` and `corrections(url)` are the warehouse adapters
    that retrain reads from (passed in by the composition root, so this package never
    imports the warehouse)."""
    p = subparsers.add_parser(
        "sentiment",
        help="Dutch sentiment: score, evaluate, train, retrain",
        description="Dutch sentiment of citizen comments (label neg/neu/pos, score -1..1, "
        "very_negative for alerts, explanation, model version, language).",
    )
    sub = p.add_subparsers(dest="sentiment_command", metavar="COMMAND")
    sub.required = True

    s = sub.add_parser(
        "score",
        help="JSON lines in (stdin), JSON lines out (stdout)",
        description="Reads JSON objects with a 'text' field, one per line; "
        "writes each back with label, score, very_negative, explanation, "
        "model_version and language added (other fields pass through). A bad "
        "line is reported on stderr and skipped.",
    )
    _scorer_args(s)
    s.add_argument("--field", default="text", help="the field holding the comment (text)")
    s.set_defaults(func=cmd_score)

    e = sub.add_parser(
        "evaluate",
        help="accuracy, macro-F1, per-class P/R, confusion matrix",
        description="Evaluate on FILE.jsonl (lines with 'text' and 'label' "
        "neg|neu|pos, optional 'very_negative'); without FILE, on the held-out "
        "split of the gold corpus, with the lexicon baseline beside the model.",
    )
    e.add_argument("file", nargs="?", type=Path, help="JSON lines with text and label")
    _scorer_args(e)
    e.add_argument(
        "--split",
        choices=("test", "train", "all", "dev", "realtext"),
        default="test",
        help="gold split when no FILE is given (test = the held-out 20%%); "
        "realtext = the evaluation part of the real Dutch texts in "
        ".cache/sentiment-data (scripts/fetch-sentiment-data.sh)",
    )
    e.set_defaults(func=cmd_evaluate)

    t = sub.add_parser("train", help="(dev) train on the gold corpus, write the shipped model")
    t.add_argument("--out", type=Path, help="model file (default: the package's data/model.json)")
    t.add_argument("--c", type=float, default=None, help="inverse regularisation strength")
    t.add_argument(
        "--unconstrained",
        action="store_true",
        help="previous method: function words fitted freely, neutralised at export",
    )
    _recipe_args(t)
    t.set_defaults(func=cmd_train)

    r = sub.add_parser("retrain", help="gold corpus + warehouse weak labels; promote if not worse")
    r.add_argument("--data-dir", type=Path, required=True, help="models go to DIR/models")
    r.add_argument("--warehouse-url", help="SQLAlchemy URL of the warehouse (weak labels)")
    r.set_defaults(func=cmd_retrain, weak_labels=weak_labels, corrections=corrections)

    b = sub.add_parser("bench", help="speed of the model against the lexicon baseline")
    b.add_argument("-n", type=int, default=20000, help="comments (20000)")
    b.set_defaults(func=cmd_bench)
    return p


def _pair(text: str) -> tuple[float, float]:
    a, b = text.split(",")
    return float(a), float(b)


def _recipe_args(p: argparse.ArgumentParser) -> None:
    """Training settings a candidate can differ in (defaults: the train module's constants)."""
    p.add_argument("--length-norm", type=_pair, help="REF,POWER (train.LENGTH_NORM)")
    p.add_argument(
        "--length-norm-lexicon",
        action="store_true",
        default=None,
        help="length normalisation also of the lexicon sums",
    )
    p.add_argument("--realtext-weight", type=float, help="train.REALTEXT_WEIGHT")
    p.add_argument(
        "--lexicon-sign", type=float, help="train.LEXICON_SIGN: min |lexicon polarity| (0: off)"
    )
    p.add_argument(
        "--lexicon-net",
        type=float,
        help="min |lexicon polarity| of words whose total (own + lexicon) may not lean "
        "against the lexicon (0: off; refuted or not: docs/sentiment.md round 6)",
    )
    p.add_argument("--weak-sentence-weight", type=float, help="train.WEAK_SENTENCE_WEIGHT")
    p.add_argument("--closing", type=_pair, help="MIN_WORDS,EXTRA (train.CLOSING)")
    p.add_argument(
        "--constructions",
        action="store_true",
        default=None,
        help="phrase-construction features (te + adjective, nog steeds + negator, praise "
        "then maar; round 8 of issue 8, not shipped: docs/sentiment.md)",
    )


def _scorer_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--scorer",
        choices=("model", "lexicon"),
        default="model",
        help="model (default: newest promoted, else shipped) or the lexicon baseline",
    )
    p.add_argument(
        "--model-dir", type=Path, help="directory of retrained models (e.g. <data-dir>/models)"
    )


def _scorer(args: argparse.Namespace):
    from . import lexicon_scorer, load_scorer

    if args.scorer == "lexicon":
        return lexicon_scorer()
    return load_scorer(getattr(args, "model_dir", None))


def _dump(obj: Any, out: TextIO) -> None:
    out.write(json.dumps(obj, ensure_ascii=False, indent=2) + "\n")


def cmd_score(
    args: argparse.Namespace,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    scorer = _scorer(args)
    interactive = stdin.isatty()
    field = args.field
    bad = 0
    for n, line in enumerate(stdin, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as exc:
            bad += 1
            stderr.write(f"line {n}: not valid JSON ({exc.msg}); skipped\n")
            continue
        if not isinstance(obj, dict) or not isinstance(obj.get(field), str):
            bad += 1
            stderr.write(f"line {n}: expected a JSON object with a string '{field}'; skipped\n")
            continue
        obj.update(scorer.score(obj[field]).to_dict())
        stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
        if interactive:
            stdout.flush()
    stdout.flush()
    if bad:
        stderr.write(f"{bad} bad line(s) skipped\n")
    return 0


def _read_labelled(path: Path):
    from .corpus import Example

    out = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                label = _LABEL_ALIASES[str(row["label"]).strip().lower()]
                text = row["text"]
                if not isinstance(text, str):
                    raise TypeError("text is not a string")
            except (ValueError, KeyError, TypeError) as exc:
                raise SystemExit(
                    f"{path}:{n}: needs 'text' and 'label' (neg|neu|pos): {exc}"
                ) from None
            out.append(
                Example(text=text, label=label, very_negative=bool(row.get("very_negative", False)))
            )
    return out


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .corpus import load_dev, load_gold
    from .evaluate import evaluate

    if args.file is not None:
        _dump(evaluate(_scorer(args), _read_labelled(args.file)), sys.stdout)
        return 0
    if args.split == "realtext":
        return _evaluate_realtext(args)
    train, test = load_gold()
    examples = {"test": test, "train": train, "all": train + test, "dev": load_dev()}[args.split]
    if not examples:
        raise SystemExit("no gold corpus found (pipeline/sentiment/corpus)")
    from . import lexicon_scorer

    _dump(
        {
            "split": args.split,
            "model": evaluate(_scorer(args), examples),
            "lexicon_baseline": evaluate(lexicon_scorer(), examples),
        },
        sys.stdout,
    )
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from . import train as T
    from .corpus import load_dev, load_gold
    from .evaluate import evaluate
    from .lexicon import LexiconScorer
    from .model import SHIPPED_MODEL, LinearScorer
    from .realtext import load_parts, report
    from .train import DEFAULT_C, DROP_EXCLUDED, fit, realtext_extra, save

    train, test = load_gold()
    if not train:
        raise SystemExit("no gold corpus found (pipeline/sentiment/corpus)")
    parts = load_parts()
    rt_train, rt_dev, rt_eval = parts["train"], parts["dev"], parts["eval"]
    real_w = args.realtext_weight if args.realtext_weight is not None else T.REALTEXT_WEIGHT
    weak_w = (
        args.weak_sentence_weight
        if args.weak_sentence_weight is not None
        else T.WEAK_SENTENCE_WEIGHT
    )
    model = fit(
        train,
        c=args.c or DEFAULT_C,
        drop_excluded=DROP_EXCLUDED and not getattr(args, "unconstrained", False),
        extra=realtext_extra(rt_train, real_w, weak_w),
        dev=rt_dev,
        length_norm=args.length_norm or T.LENGTH_NORM,
        closing=args.closing or T.CLOSING,
        length_norm_lexicon=args.length_norm_lexicon or T.LENGTH_NORM_LEXICON,
        lexicon_sign=args.lexicon_sign if args.lexicon_sign is not None else T.LEXICON_SIGN,
        lexicon_net=getattr(args, "lexicon_net", None) or 0.0,
        constructions=getattr(args, "constructions", None) or T.CONSTRUCTIONS,
        note=f"shipped model: gold train split + {len(rt_train)} real-text train lines; "
        f"settings chosen on {len(rt_dev)} real-text dev lines (never on the eval part); "
        f"real-text weight {real_w}, weak sentences {weak_w}",
    )
    scorer = LinearScorer(model)
    model["evaluation"] = {
        "held_out_gold": evaluate(scorer, test),
        "held_out_gold_lexicon_baseline": evaluate(LexiconScorer(), test),
        "dev_general": evaluate(scorer, load_dev()),
        "real_text_eval": report(scorer, rt_eval) if rt_eval else None,
    }
    path = save(model, args.out or SHIPPED_MODEL)
    ev = model["evaluation"]["held_out_gold"]
    _dump(
        {
            "written": str(path),
            "version": model["version"],
            "features": len(model["weights"]),
            "train": len(train),
            "test": len(test),
            "accuracy": ev["accuracy"],
            "macro_f1": ev["macro_f1"],
            "pos_vs_neg": ev["pos_vs_neg"],
        },
        sys.stdout,
    )
    return 0


def _evaluate_realtext(args: argparse.Namespace) -> int:
    from . import lexicon_scorer
    from .realtext import data_dir, load_realtext, report

    _, examples = load_realtext()
    if not examples:
        raise SystemExit(f"no real-text data in {data_dir()}: run scripts/fetch-sentiment-data.sh")
    _dump(
        {
            "split": "realtext-eval",
            "data_dir": str(data_dir()),
            "model": report(_scorer(args), examples),
            "lexicon_baseline": report(lexicon_scorer(), examples),
        },
        sys.stdout,
    )
    return 0


def cmd_retrain(args: argparse.Namespace) -> int:
    from .retrain import retrain

    source = fixes = None
    if args.warehouse_url:
        if args.weak_labels is None:
            raise SystemExit("this build has no warehouse adapter for --warehouse-url")
        source = args.weak_labels(args.warehouse_url)
        if args.corrections is not None:
            fixes = args.corrections(args.warehouse_url)
    _dump(retrain(args.data_dir, source, corrections=fixes), sys.stdout)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from .bench import run

    _dump(run(args.n), sys.stdout)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.sentiment.cli")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["sentiment", *(argv if argv is not None else sys.argv[1:])])
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
