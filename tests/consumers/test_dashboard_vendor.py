"""The vendored Chart.js: the pinned file (sha256), its licence, nothing our CSP forbids,
and shipped with the package. Re-fetch it with scripts/fetch-chartjs.sh."""

from __future__ import annotations

import hashlib
import re
from importlib.resources import files

from tests.support.paths import REPO_ROOT

CHARTJS_VERSION = "4.5.1"
CHARTJS_SHA256 = "48444a82d4edcb5bec0f1965faacdde18d9c17db3063d042abada2f705c9f54a"
ROOT = REPO_ROOT
VENDOR = files("consumers") / "static" / "vendor"


def test_chartjs_is_the_pinned_file_with_its_licence() -> None:
    data = (VENDOR / "chart.umd.min.js").read_bytes()
    assert hashlib.sha256(data).hexdigest() == CHARTJS_SHA256
    assert f"Chart.js v{CHARTJS_VERSION}".encode() in data[:200]
    licence = (VENDOR / "chart.js-LICENSE.md").read_text(encoding="utf-8")
    assert "The MIT License" in licence and "Chart.js Contributors" in licence
    script = (ROOT / "scripts" / "fetch-chartjs.sh").read_text(encoding="utf-8")
    assert f"VERSION={CHARTJS_VERSION}" in script


def test_no_code_that_the_csp_would_block() -> None:
    """script-src 'self' without 'unsafe-eval', style-src without 'unsafe-inline'."""
    for name in ("vendor/chart.umd.min.js", "dashboard.js"):
        text = (files("consumers") / "static" / name).read_text(encoding="utf-8")
        assert not re.search(r"\beval\(|new Function\(|setTimeout\(\s*['\"]", text), name
        assert 'createElement("style")' not in text and "insertRule" not in text, name
