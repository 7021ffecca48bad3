"""Static checks run with the suite, so the README's one test command covers them too."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ruff_finds_nothing() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "nb_oauth", "tests", "bench", "scripts"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_passes_on_the_package() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_message_cites_rules_a_user_cannot_look_up() -> None:
    # Messages say what is wrong and what to do; comments cite docs/security.md by heading.
    cited = []
    for path in (ROOT / "nb_oauth").rglob("*.py"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if "SEC-" in line or "SPEC" in line or "SECURITY.md" in line:
                cited.append(f"{path.relative_to(ROOT)}:{number}")
    assert cited == []


def test_every_security_citation_names_a_heading_of_docs_security_md() -> None:
    import re

    text = (ROOT / "docs" / "security.md").read_text()
    headings = {
        re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in text.splitlines()
        if line.startswith("#")
    }
    cited = set()
    for path in (ROOT / "nb_oauth").rglob("*.py"):
        citations = r"security\.md#([a-z0-9-]+)((?:, #[a-z0-9-]+)*)"
        for match in re.finditer(citations, path.read_text()):
            cited.add(match.group(1))
            cited.update(re.findall(r"#([a-z0-9-]+)", match.group(2)))
    assert cited, "the code cites docs/security.md"
    assert cited <= headings, cited - headings
