"""Every relative link and anchor in README.md, BENCHMARKS.md, RELIABILITY.md and docs/
leads somewhere: `make lint` runs this, and fails on the first run that finds one broken.

Links are read with markdown-it-py (the parser rich uses), so code spans and code blocks
are never mistaken for links. An anchor is checked against the target page's headings,
slugged as GitHub slugs them (lower case, punctuation dropped, spaces to hyphens, a
repeated heading numbered). External links (http, https, mailto) are not fetched.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

from markdown_it import MarkdownIt
from markdown_it.token import Token

ROOT = Path(__file__).resolve().parents[1]
PAGES = ["README.md", "BENCHMARKS.md", "RELIABILITY.md", "docs"]
EXTERNAL = ("http://", "https://", "mailto:")
_PARSER = MarkdownIt("commonmark").enable("table")


def pages(root: Path = ROOT) -> list[Path]:
    found: list[Path] = []
    for name in PAGES:
        path = root / name
        found += sorted(path.rglob("*.md")) if path.is_dir() else [path]
    return [page for page in found if page.exists()]


def _inline_tokens(tokens: list[Token]) -> Iterator[Token]:
    for token in tokens:
        yield token
        if token.children:
            yield from _inline_tokens(token.children)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's text."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    tokens = _PARSER.parse(page.read_text(encoding="utf-8"))
    seen: dict[str, int] = {}
    found: set[str] = set()
    for index, token in enumerate(tokens):
        if token.type != "heading_open":
            continue
        inline = tokens[index + 1]
        text = "".join(
            child.content
            for child in inline.children or []
            if child.type in {"text", "code_inline"}
        )
        base = slug(text)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    for match in re.finditer(r'<a (?:name|id)="([^"]+)"', page.read_text(encoding="utf-8")):
        found.add(match.group(1))
    return found


def links(page: Path) -> Iterator[str]:
    for token in _inline_tokens(_PARSER.parse(page.read_text(encoding="utf-8"))):
        if token.type == "link_open":
            href = token.attrGet("href")
            if isinstance(href, str):
                yield href


def broken(root: Path = ROOT) -> list[str]:
    problems: list[str] = []
    for page in pages(root):
        for href in links(page):
            if href.startswith(EXTERNAL):
                continue
            path_part, _, anchor = href.partition("#")
            target = (page.parent / path_part).resolve() if path_part else page
            where = f"{page.relative_to(root)}: {href}"
            if not target.exists():
                problems.append(f"{where} (no such file)")
            elif anchor and target.suffix == ".md" and anchor not in anchors(target):
                problems.append(f"{where} (no such heading)")
    return problems


def main() -> int:
    problems = broken()
    for problem in problems:
        print(f"broken link: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
