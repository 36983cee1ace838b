"""The documentation stays true: the configuration page is the code's `Settings`, every
link and anchor leads somewhere, and every command the pages show is one the CLI takes."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from tools import check_links, configuration_page

from users_service.entrypoints.cli import parser
from users_service.entrypoints.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
README_LIMIT = 250


def test_the_configuration_page_is_the_settings() -> None:
    expected = configuration_page.render()
    assert configuration_page.PAGE.read_text(encoding="utf-8") == expected, (
        "docs/configuration.md and Settings disagree: run `make docs`"
    )


def test_every_setting_is_described() -> None:
    undescribed = [name for name, field in Settings.model_fields.items() if not field.description]
    assert undescribed == []


def test_every_link_and_anchor_leads_somewhere() -> None:
    assert check_links.broken() == []


def test_a_broken_anchor_is_found(tmp_path: Path) -> None:
    """The checker can fail: a page linking to a heading that does not exist."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "README.md").write_text(
        "# Title\n\n## A heading\n\n[ok](#a-heading) [bad](#no-such) [gone](docs/none.md)\n"
    )
    assert check_links.broken(tmp_path) == [
        "README.md: #no-such (no such heading)",
        "README.md: docs/none.md (no such file)",
    ]


def test_the_readme_is_a_front_door() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_LIMIT
    for page in ("api", "configuration", "deployment", "scaling", "operations", "events",
                 "bulk", "security", "development", "performance"):  # fmt: skip
        assert f"(docs/{page}.md)" in "\n".join(lines), page


def test_every_page_starts_with_its_table_of_contents() -> None:
    for page in sorted((ROOT / "docs").glob("*.md")):
        lines = page.read_text(encoding="utf-8").splitlines()
        headings = [line[3:] for line in lines if line.startswith("## ")]
        toc = [line for line in lines[:40] if line.startswith("- [")]
        assert lines[0].startswith("# "), page.name
        assert [line.split("](", 1)[0][3:] for line in toc] == headings, page.name


def _shown_commands() -> list[tuple[str, str]]:
    """Every `users-service ...` line of a shell block in the README and docs/."""
    found = []
    for page in check_links.pages(ROOT):
        text = page.read_text(encoding="utf-8")
        for block in re.findall(r"```(?:sh|console|bash)\n(.*?)```", text, re.S):
            joined = block.replace("\\\n", " ")
            for line in joined.splitlines():
                line = line.strip().removeprefix("$ ")
                words = shlex.split(line, comments=True) if line else []
                while words and "=" in words[0] and not words[0].startswith("-"):
                    words = words[1:]  # VARIABLE=value before the command
                if words and words[0].endswith("users-service"):
                    found.append((page.name, " ".join(words[1:])))
    return found


def test_the_pages_show_commands() -> None:
    assert len(_shown_commands()) >= 5


@pytest.mark.parametrize(("page", "command"), _shown_commands())
def test_every_command_shown_is_one_the_cli_takes(page: str, command: str) -> None:
    words = shlex.split(command)
    if words and words[0] in {"-h", "--help", "--version"}:
        return
    args = parser().parse_args(words)
    assert callable(args.run), (page, command)
