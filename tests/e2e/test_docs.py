"""The documentation builds without a warning, the config reference included; every page is
reachable from the index through the toctrees, and no table has an empty cell."""

from __future__ import annotations

import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urldefrag, urljoin

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


@pytest.fixture(scope="module")
def html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("sphinx", reason="the docs extra is not installed in this environment")
    out = tmp_path_factory.mktemp("docs") / "html"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "--keep-going",
            "-q",
            "-b",
            "html",
            str(DOCS),
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return out


def test_docs_build_without_warnings(html: Path):
    reference = (html / "reference" / "config.html").read_text()
    assert "KUBESPAWNER_ONLY_TRAITS" not in reference
    assert "CHANGED_DEFAULTS_TABLE" not in reference


class _Page(HTMLParser):
    """A built page's toctree links (in the page's content, not the theme's navigation) and
    the text of each table cell."""

    def __init__(self) -> None:
        super().__init__()
        self.toctree_links: list[str] = []
        self.cells: list[tuple[str, str]] = []  # (the table's caption or first row, text)
        self._divs: list[bool] = []  # for each open div: is it a toctree wrapper
        self._cell: list[str] | None = None
        self._row: list[str] = []
        self._table_label = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = (dict(attrs).get("class") or "").split()
        if tag == "div":
            self._divs.append("toctree-wrapper" in classes)
        elif tag == "a" and any(self._divs):
            href = dict(attrs).get("href")
            if href and "reference" in classes and "internal" in classes:
                self.toctree_links.append(href)
        elif tag == "table":
            self._table_label = ""
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "div" and self._divs:
            self._divs.pop()
        elif tag in ("td", "th") and self._cell is not None:
            text = " ".join("".join(self._cell).split())
            self._row.append(text)
            self.cells.append((self._table_label, text))
            self._cell = None
        elif tag == "tr":
            self._table_label = self._table_label or " | ".join(self._row)
            self._row = []

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text())
    return page


def _source_pages() -> set[str]:
    """Every page the sources make, as its path in the built site."""
    pages = set()
    for pattern in ("**/*.md", "**/*.rst"):
        for source in DOCS.glob(pattern):
            if "_build" not in source.relative_to(DOCS).parts:
                pages.add(source.relative_to(DOCS).with_suffix(".html").as_posix())
    return pages


def test_every_page_is_reachable_from_the_index(html: Path):
    reached, todo = set(), ["index.html"]
    while todo:
        page = todo.pop()
        if page in reached:
            continue
        reached.add(page)
        for href in _parse(html / page).toctree_links:
            target = urldefrag(urljoin(page, href)).url
            if target.endswith(".html"):
                todo.append(target)
    unreachable = sorted(_source_pages() - reached)
    assert not unreachable, f"pages in no toctree under index: {unreachable}"


def test_no_table_has_an_empty_cell(html: Path):
    empty = []
    tables = 0
    for path in sorted(html.rglob("*.html")):
        page = _parse(path)
        tables += bool(page.cells)
        empty += [
            f"{path.relative_to(html)}: a table starting {label!r}"
            for label, text in page.cells
            if not text
        ]
    assert tables, "no tables in the built docs: the check would not see one"
    assert not empty, "\n".join(sorted(set(empty)))


@pytest.mark.parametrize(
    ("markup", "empty_cells", "links"),
    [
        ("<table><tr><th>a</th><th>b</th></tr><tr><td>1</td><td> </td></tr></table>", 1, []),
        ("<table><tr><td><code>x</code></td></tr></table>", 0, []),
        (
            '<div class="toctree-wrapper compound"><ul><li><a class="reference internal" '
            'href="admin/x.html">X</a></li></ul></div><a class="reference internal" '
            'href="nav.html">nav</a>',
            0,
            ["admin/x.html"],
        ),
    ],
)
def test_page_parser(markup: str, empty_cells: int, links: list[str]):
    """The checks above see what they are meant to see."""
    page = _Page()
    page.feed(markup)
    assert sum(1 for _, text in page.cells if not text) == empty_cells
    assert page.toctree_links == links
