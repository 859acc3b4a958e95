"""axe-core, Deque's accessibility engine, run on a Playwright page (see VENDORED.md: the file
is vendored from npm and checked by its sha256 before use, so a page is judged by known rules)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

AXE = Path(__file__).with_name("axe.min.js")
VERSION = "4.14.1"
SHA256 = "29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c"
BLOCKING = ("serious", "critical")  # axe's two highest impacts: a page with one is not done


@dataclass(frozen=True)
class Violation:
    rule: str
    impact: str
    help: str
    targets: list[str]

    def __str__(self) -> str:
        where = ", ".join(self.targets[:3]) + (" ..." if len(self.targets) > 3 else "")
        return f"{self.impact}: {self.rule} ({self.help}) at {where}"


@cache
def source() -> str:
    data = AXE.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    assert digest == SHA256, f"{AXE} is not axe-core {VERSION} as vendored (sha256 {digest})"
    return data.decode("utf-8")


def violations(page: Any, rules: list[str] | None = None) -> list[Violation]:
    """axe's violations on the page as it is now: every rule axe runs by default (WCAG 2.x A/AA
    and its best practices), or only `rules`."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.add_script_tag(content=source())
    options: dict[str, Any] = {"resultTypes": ["violations"]}
    if rules:
        options["runOnly"] = {"type": "rule", "values": rules}
    result = page.evaluate("options => window.axe.run(document, options)", options)
    assert result["testEngine"]["version"] == VERSION
    return [
        Violation(
            v["id"],
            v["impact"] or "minor",
            v["help"],
            [", ".join(map(str, node["target"])) for node in v["nodes"]],
        )
        for v in result["violations"]
    ]
