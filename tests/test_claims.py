r"""Every headline number in the README and docs traces to a committed results JSON.

The convention (also in benchmarks/README.md): a markdown line that states measured numbers ends
with a source comment

    <!-- src: FILE.json[#PATH] [FILE.json[#PATH] ...] [| given: 95 +0.3] -->

(in a table row the bar is escaped, ``\|``, and the comment goes inside the last cell)

- ``FILE.json`` is a file in ``benchmarks/results/``. ``PATH`` narrows the search to a subtree:
  segments separated by ``/``; a segment is a key, a list index, ``*`` (every key or item) or a
  filter ``{field=value,...}`` (the items whose fields have these values, compared as text).
  ``diff(A;B)`` and ``ratio(A;B)`` (A, B: ``FILE.json#PATH`` selecting one number each) stand for
  A - B and A / B: a figure recomputed from the JSON.
- Every number on the line (outside the comment, code spans and link targets; digits glued to a
  letter, as in ``resnet8`` or ``q50``, are names, not numbers) must equal a numeric leaf of one
  of the sources, or that leaf x 100 (a percentage) or x 1,000 or x 1,000,000 (seconds printed in
  ms or µs), to the number's printed precision
  (half a unit of its last digit), sign ignored. Ranges such as ``0.57-1.09x`` are two numbers.
  Numbers written in the sources' prose strings (a ``description``) count as leaves.
- ``given:`` lists numbers on the line that are not measurements (a goal, a confidence level);
  each must appear on the line.
- In prose, a comment covers its paragraph or list item from its start (or from the previous
  comment) down to the comment's line; a table row is covered by a comment inside it.

Lines in ``REQUIRED`` sections (README's "Results at a glance"; the docs' headline tables) must
carry a source comment whenever they hold a number, so a number cannot enter a headline without
one; every other annotated line in README.md, docs/*.md and benchmarks/README.md is checked too.
A stale number, one that no committed JSON holds, fails.
"""

from __future__ import annotations

import json
import math
import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
DOCUMENTS = ("README.md", "benchmarks/README.md", *sorted(p.relative_to(ROOT).as_posix()
                                                          for p in (ROOT / "docs").glob("*.md")))  # fmt: skip
# (document, heading, tables only): every line (or every table row) with a number in these
# sections carries a source comment.
REQUIRED = (
    ("README.md", "## Results at a glance", False),
    ("docs/j4d.md", "## Headline: what a deployable sender gets", True),
    ("docs/sparse.md", "### Per layer, 1 thread: the sparsest quarter of each model's layers", True),
    ("docs/sparse.md", "### Whole model, batch 1 (ms per image; median over 10 held-out test images x 5 rounds)", True),
)

SEPARATOR = re.compile(r"\|(?:\s*:?-+:?\s*\|)+")  # the line under a table's header
LIST_ITEM = re.compile(r"\s*(?:[-*]|\d+\.)\s")
SOURCE = re.compile(r"<!--\s*src:\s*(?P<body>.*?)\s*-->")
NUMBER = re.compile(
    r"(?<![\w.])(?P<sign>[-+\u2212]?)(?P<digits>\d{1,3}(?:,\d{3})+|\d+)(?P<fraction>\.\d+)?(?!\d|\.\d|:\d)"
)
DERIVED = re.compile(r"(?P<op>diff|ratio)\((?P<a>[^;]+);(?P<b>[^;]+)\)")  # diff(A;B) = A - B, ratio(A;B) = A / B
SCALES = (1, 100, 1_000, 1_000_000)  # as is, per cent, seconds in ms and in µs
IGNORED = (re.compile(r"`[^`]*`"), re.compile(r"\]\([^)]*\)"), re.compile(r"<!--.*?-->"))


def numbers(text: str) -> list[str]:
    """The numbers stated on a line, as printed (``-55.0``, ``3,000``, ``1.40``), in order."""
    for pattern in IGNORED:
        text = pattern.sub(" ", text)
    found = []
    for match in NUMBER.finditer(text):
        start = match.start("digits")
        before = text[max(0, start - 2) : start]
        if before[-1:] in ("_", ":", "/") or (before[-1:] == "-" and before[:1].isalpha()):
            continue  # 4:2:0, paths, ResNet-18
        found.append(match.group(0).replace("\u2212", "-"))
    return found


def _select(node: object, segments: list[str]) -> list[object]:
    if not segments:
        return [node]
    head, rest = segments[0], segments[1:]
    children: list[object] = []
    items = list(node.items()) if isinstance(node, dict) else list(enumerate(node)) if isinstance(node, list) else []
    if head == "*":
        children = [value for _, value in items]
    elif head.startswith("{") and head.endswith("}"):
        wanted = dict(part.split("=", 1) for part in head[1:-1].split(","))
        children = [value for _, value in items if isinstance(value, dict)
                    and all(str(value.get(k)) == v for k, v in wanted.items())]  # fmt: skip
    elif isinstance(node, dict) and head in node:
        children = [node[head]]
    elif isinstance(node, list) and head.isdigit() and int(head) < len(node):
        children = [node[int(head)]]
    return [found for child in children for found in _select(child, rest)]


def _leaves(node: object) -> list[float]:
    """Numeric leaves, and the numbers written in prose strings (those holding a space: descriptions,
    not the packed per-image records)."""
    if isinstance(node, bool) or node is None:
        return []
    if isinstance(node, (int, float)):
        return [float(node)] if math.isfinite(node) else []
    if isinstance(node, str):
        return [float(x) for x in re.findall(r"\d+(?:\.\d+)?", node)] if " " in node else []
    values = node.values() if isinstance(node, dict) else node if isinstance(node, list) else []
    return [leaf for child in values for leaf in _leaves(child)]


@cache
def _load(name: str) -> object:
    path = RESULTS / name
    if not path.is_file():
        raise FileNotFoundError(f"source {name}: no such file in benchmarks/results/")
    return json.loads(path.read_text())


def source_values(body: str, load=_load) -> tuple[list[float], list[str]]:
    """The candidate values of a source comment's body, and its ``given`` numbers."""
    sources, _, given = body.replace("\\|", "|").partition("|")  # inside a table cell the bar is escaped
    given = given.strip()
    if given and not given.startswith("given:"):
        raise ValueError(f"source comment: expected '| given: NUMBERS', got {given!r}")
    values: list[float] = []
    for source in sources.split():
        derived = DERIVED.fullmatch(source)
        if derived:
            first, second = (_one(part, load) for part in derived.group("a", "b"))
            values.append(first - second if derived.group("op") == "diff" else first / second)
        else:
            values += [leaf for node in _nodes(source, load) for leaf in _leaves(node)]
    return values, given.removeprefix("given:").split()


def _nodes(source: str, load) -> list[object]:
    name, _, path = source.partition("#")
    selected = _select(load(name), [s for s in path.split("/") if s]) if path else [load(name)]
    if not selected:
        raise ValueError(f"source {source}: the path selects nothing")
    return selected


def _one(source: str, load) -> float:
    leaves = [leaf for node in _nodes(source, load) for leaf in _leaves(node)]
    if len(leaves) != 1:
        raise ValueError(f"source {source}: diff/ratio needs exactly one number, the path selects {len(leaves)}")
    return leaves[0]


def matches(number: str, values: list[float]) -> bool:
    """Whether the printed ``number`` is one of ``values`` (or a percentage, or seconds in ms or µs, of
    one), to its precision."""
    text = number.lstrip("+-").replace(",", "")
    decimals = len(text.partition(".")[2])
    target, tolerance = float(text), 0.5 * 10**-decimals + 1e-9
    return any(abs(abs(scale * v) - target) <= tolerance for v in values for scale in SCALES)


def check_line(line: str, load=_load) -> list[str]:
    """Problems with one annotated line (empty when every number is found)."""
    comment = SOURCE.search(line)
    if comment is None:
        return []
    values, given = source_values(comment.group("body"), load)
    stated = numbers(line)
    bare = {n.lstrip("+-") for n in stated}
    problems = [f"given {g} is not on the line" for g in given if g.lstrip("+-") not in bare]
    free = {g.lstrip("+-") for g in given}
    unexplained = [n for n in stated if n.lstrip("+-") not in free and not matches(n, values)]
    if unexplained:
        sources = comment.group("body").replace("\\|", "|").partition("|")[0].strip()
        problems.append(f"not in {sources}: {', '.join(unexplained)}")
    return problems


def claims(lines: list[str]) -> list[tuple[int, str]]:
    """``(line number, text)`` of every source comment with the text it covers: a table row is its
    own claim; in prose a comment covers its paragraph or list item up to the comment (from the
    last blank line, heading, list-item start or earlier comment)."""
    found, start = [], 0
    for index, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", "|")) or LIST_ITEM.match(line):
            start = index
        if SOURCE.search(line):
            found.append((index + 1, line if stripped.startswith("|") else " ".join(lines[start : index + 1])))
            start = index + 1
    return found


def section(lines: list[str], heading: str) -> list[tuple[int, str]]:
    """Numbered lines under ``heading`` up to the next heading of the same or a higher level."""
    level = len(heading) - len(heading.lstrip("#"))
    start = next((i for i, line in enumerate(lines) if line.strip() == heading), None)
    if start is None:
        return []
    body = []
    fenced = False
    for index in range(start + 1, len(lines)):
        line = lines[index]
        fenced ^= line.startswith("```")
        hashes = len(line) - len(line.lstrip("#"))
        if not fenced and 0 < hashes <= level and line[hashes : hashes + 1] == " ":
            break
        body.append((index + 1, line))
    return body


# -- the convention itself ------------------------------------------------------------------------


def fake_results(name: str) -> object:
    return {"summary": {"resnet8": {"bd_rate": -0.5501, "interval": [-0.601, -0.505]}, "images": 3000},
            "other": {"bd_rate": -0.33}, "rows": [{"codec": "a", "x": 1.4}, {"codec": "b", "x": 2.9}]}  # fmt: skip


def test_numbers_skip_names_codes_and_links():
    line = "resnet8 on 3,000 images (q50, 4:2:0): -55.0 % [-60.1, -50.5], 0.57-1.09x; `vgg8 12` [a](x/1.md) ResNet-18"
    assert numbers(line) == ["3,000", "-55.0", "-60.1", "-50.5", "0.57", "1.09"]


def test_a_found_number_passes_and_a_stale_one_fails():
    good = "| resnet8 | -55.0 % [-60.1, -50.5] on 3,000 images | <!-- src: r.json#summary -->"
    assert check_line(good, fake_results) == []
    stale = "| resnet8 | -53.0 % [-60.1, -50.5] | <!-- src: r.json#summary/resnet8 -->"
    assert check_line(stale, fake_results) == ["not in r.json#summary/resnet8: -53.0"]
    assert check_line("no comment here: 12 %", fake_results) == []


def test_paths_narrow_the_search():
    assert check_line("1.40x <!-- src: r.json#rows/{codec=a}/x -->", fake_results) == []
    assert check_line("2.9x <!-- src: r.json#rows/{codec=a} -->", fake_results) != []
    assert check_line("-33 % <!-- src: r.json#other r.json#rows/*/x -->", fake_results) == []
    assert check_line("+1.5 points <!-- src: diff(r.json#rows/1/x;r.json#rows/0/x) -->", fake_results) == []
    assert check_line("2.07x <!-- src: ratio(r.json#rows/1/x;r.json#rows/0/x) -->", fake_results) == []
    with pytest.raises(ValueError, match="exactly one number"):
        check_line("1 <!-- src: diff(r.json#rows;r.json#other) -->", fake_results)
    with pytest.raises(ValueError, match="selects nothing"):
        check_line("1 <!-- src: r.json#nothing/here -->", fake_results)


def test_given_numbers_must_be_on_the_line():
    assert check_line("goal +0.3 not met: -55.0 % <!-- src: r.json | given: +0.3 -->", fake_results) == []
    assert check_line("-55.0 % <!-- src: r.json | given: +0.3 -->", fake_results) == ["given +0.3 is not on the line"]


def test_a_comment_covers_its_paragraph_or_list_item():
    lines = ["Intro 7 %.", "", "- first 3,000", "  and -55.0 % <!-- src: r.json -->", "- next 12 <!-- src: r.json -->"]
    assert claims(lines) == [(4, "- first 3,000   and -55.0 % <!-- src: r.json -->"), (5, lines[4])]
    assert check_line(claims(lines)[1][1], fake_results) == ["not in r.json: 12"]


def test_rounding_tolerance_is_half_a_unit():
    assert matches("-55", [-0.5501]) and matches("-55.0", [-0.5501]) and not matches("-55.1", [-0.5501])
    assert matches("3,000", [3000.0]) and not matches("3,001", [3000.0])


# -- the repository's documents -------------------------------------------------------------------


@pytest.mark.parametrize("document", DOCUMENTS)
def test_annotated_numbers_are_in_committed_results(document):
    path = ROOT / document
    if not path.is_file():
        pytest.skip(f"{document} is absent")
    problems = []
    for number, text in claims(path.read_text().splitlines()):
        problems += [f"{document}:{number}: {problem}" for problem in check_line(text)]
    assert not problems, "stale or unsourced numbers:\n" + "\n".join(problems)


@pytest.mark.parametrize(("document", "heading", "tables_only"), REQUIRED)
def test_headline_sections_carry_sources(document, heading, tables_only):
    lines = (ROOT / document).read_text().splitlines()
    body = section(lines, heading)
    assert body, f"{document}: heading {heading!r} not found (update REQUIRED in tests/test_claims.py)"
    header = {number for number, line in body if number < len(lines) and SEPARATOR.fullmatch(lines[number].strip())}
    missing = [f"{document}:{number}: {line[:80]}" for number, line in body
               if numbers(line) and not SOURCE.search(line) and number not in header
               and (line.startswith("|") or not tables_only)]  # fmt: skip
    assert not missing, "numbers without a source comment (<!-- src: FILE.json#PATH -->):\n" + "\n".join(missing)
