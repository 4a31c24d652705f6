"""axe-core in the real browser: WCAG 2.1 A/AA violations of the page a driver shows.

axe-core comes from the npm registry (scripts/axe/package.json, installed into .cache/axe
by scripts/install-test-deps.sh). Use `assert_accessible(driver, "what the page is")`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.support.paths import REPO_ROOT

if TYPE_CHECKING:
    from selenium.webdriver.chrome.webdriver import WebDriver

AXE_JS = REPO_ROOT / ".cache/axe/node_modules/axe-core/axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def axe_violations(driver: WebDriver) -> list[dict[str, Any]]:
    """Run axe-core on the current page and return its violations (empty when clean)."""
    if not AXE_JS.exists():
        raise RuntimeError(f"{AXE_JS} missing: run scripts/install-test-deps.sh")
    driver.execute_script(AXE_JS.read_text(encoding="utf-8"))
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {runOnly: {type: 'tag', values: arguments[0]}})"
        ".then(r => done(r.violations)).catch(e => done([{id: 'axe-error', help: String(e)}]));",
        WCAG_TAGS,
    )
    return list(result)


def describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for v in violations:
        targets = [n.get("target") for n in v.get("nodes", [])][:3]
        lines.append(f"{v.get('id')}: {v.get('help')} at {targets}")
    return "\n".join(lines)


def assert_accessible(driver: WebDriver, page: str) -> None:
    violations = axe_violations(driver)
    assert not violations, f"axe-core on {page}:\n{describe(violations)}"
