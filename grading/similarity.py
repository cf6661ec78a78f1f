"""Who copied: the students' answers compared pairwise with winnowing fingerprints, as MOSS does.

`python -m grading similarity ps2_upsampling` reads every submission of the assignment and keeps
the student's own code: the answer cells (nbgrader metadata `solution: true`) and the code cells
they added, never the test cells nor any other cell of the release. The release's code (the
signatures, docstrings and `raise NotImplementedError()` of the answer cells, the imports) is
boilerplate: its fingerprints are removed first, so that what every student was given counts for
no one. The reference solution (solutions/) takes part as one more "student", so a copy of it
shows up too.

The fingerprints and their comparison are copydetect's (`copydetect.CodeFingerprint`,
`copydetect.compare_files`): the code is tokenised by Pygments, names become one placeholder and
comments are dropped (a rename or a comment changes nothing), and the hashes of all k-grams are
winnowed into a set (the order of functions changes nothing). A pair's similarity is, for each
side, the share of its tokens that the other side also has; pairs are ranked by the larger.

The HTML report shows the `top` pairs with the overlapping code highlighted, side by side, and
names every submission it could not read. Submissions are hostile input: a notebook that is not
one is skipped with the reason, and everything a student wrote is escaped in the page.
"""

from __future__ import annotations

import html
import io
import itertools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from grading.course import Course

__all__ = ["Pair", "Similarity", "REFERENCE", "answer_code", "similarity", "format_pairs", "page_path"]

REFERENCE = "(reference solution)"
NOISE = 25  # copydetect's default k: matches shorter than this many filtered characters are noise
MAX_NOTEBOOK_BYTES = 20 << 20  # a larger "notebook" is not read (it could fill the grader's memory)
_MARKER = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$", re.MULTILINE)


@dataclass
class Pair:
    """Two students (or one and the reference) and how much of each one's code the other has."""

    a: str
    b: str
    similarity_a: float  # share of a's tokens found in b
    similarity_b: float
    overlap: int  # tokens in common
    html_a: str = ""  # a's code, escaped, the overlap in <mark>
    html_b: str = ""

    @property
    def score(self) -> float:
        return max(self.similarity_a, self.similarity_b)


@dataclass
class Similarity:
    assignment: str
    pairs: list[Pair]  # most similar first
    compared: list[str]  # the students (and REFERENCE) whose code was compared
    skipped: dict[str, str] = field(default_factory=dict)  # student -> why their code was not compared
    page: Path | None = None


def page_path(course: Course, assignment: str) -> Path:
    """Where the HTML report of an assignment is written (beside the grading log)."""
    return course.autograded / f"similarity-{assignment}.html"


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    if isinstance(source, list) and all(isinstance(s, str) for s in source):
        return "".join(source)
    if isinstance(source, str):
        return source
    raise ValueError("a cell's source is neither text nor a list of lines")


def _nbgrader(cell: dict) -> dict:
    meta = cell.get("metadata")
    meta = meta.get("nbgrader") if isinstance(meta, dict) else None
    return meta if isinstance(meta, dict) else {}


def _cells(path: Path) -> list[dict]:
    """The cells of a notebook file; ValueError saying why when it is not a readable notebook."""
    if path.is_symlink():  # it could point at anything the grader may read
        raise ValueError(f"{path.name} is a link: run `python -m grading intake`, which removes links")
    if not path.is_file():
        raise ValueError(f"{path.name} is missing or not a file")
    if path.stat().st_size > MAX_NOTEBOOK_BYTES:
        raise ValueError(f"{path.name} is larger than {MAX_NOTEBOOK_BYTES >> 20} MB")
    try:
        nb = json.loads(path.read_bytes().decode("utf-8", errors="replace"))
    except (ValueError, RecursionError) as error:
        raise ValueError(f"{path.name} is not valid JSON ({type(error).__name__})") from None
    cells = nb.get("cells") if isinstance(nb, dict) else None
    if not isinstance(cells, list):
        raise ValueError(f"{path.name} is not a Jupyter notebook (no list of cells)")
    return [c for c in cells if isinstance(c, dict)]


def answer_code(path: Path, release: Sequence[dict]) -> str:
    """The student's own code in a notebook: answer cells and added code cells, in order.

    `release` is the cells of the release notebook: its test cells and unchanged cells are left out.
    Raises ValueError when the file is not a notebook."""
    release_ids = {_nbgrader(c).get("grade_id") for c in release} - {None}
    answer_ids = {_nbgrader(c).get("grade_id") for c in release if _nbgrader(c).get("solution")} - {None}
    given, given_lines = set(), set()
    for c in release:
        try:
            text = _source(c)
        except ValueError:
            continue
        given.add(text.strip())
        if c.get("cell_type") == "code":
            given_lines |= {line.strip() for line in text.splitlines() if line.strip()}
    parts = []
    for c in _cells(path):
        if c.get("cell_type") != "code":
            continue
        try:
            text = _source(c)
        except ValueError:
            continue
        grade_id = _nbgrader(c).get("grade_id")
        if text.strip() not in given and (grade_id in answer_ids or grade_id not in release_ids):
            parts.append(_given_as_comments(_MARKER.sub("", text), given_lines))
    return "\n\n".join(p.strip("\n") for p in parts if p.strip())


def _given_as_comments(code: str, given: set[str]) -> str:
    """Lines the release has (signatures, docstrings) turned into comments: still shown in the
    report, but no fingerprint spans them, so a one-line answer does not match every other one
    through the signature around it."""
    lines = []
    for line in code.splitlines():
        stripped = line.strip()
        lines.append(f"{line[: len(line) - len(line.lstrip())]}# given: {stripped}" if stripped in given else line)
    return "\n".join(lines)


def _fingerprint(code: str, boilerplate: Any) -> Any:
    from copydetect import CodeFingerprint

    return CodeFingerprint("answers.py", NOISE, 1, boilerplate=boilerplate, language="python", fp=io.StringIO(code))


def _highlight(code: str, slices: Any) -> str:
    from copydetect.utils import highlight_overlap

    if getattr(slices, "size", 0) == 0 or slices.shape[-1] == 0:
        return html.escape(code)
    marked, _ = highlight_overlap(code, slices, "<mark>", "</mark>", escape_html=True)
    return marked


def similarity(course: Course, assignment: str, top: int = 50, reference: bool = True, write: bool = True) -> Similarity:
    """Compare every pair of submissions of `assignment`; write the HTML report of the `top` pairs."""
    from copydetect import compare_files

    releases = course.release_notebooks(assignment)
    if not releases:
        raise FileNotFoundError(f"no release notebooks in {course.release / assignment}: run `nbgrader generate_assignment {assignment}`")
    release_cells = {name: _cells(path) for name, path in releases.items()}
    starter = "\n\n".join(_source(c) for cells in release_cells.values() for c in cells if c.get("cell_type") == "code")
    boilerplate = np.unique(np.fromiter(_fingerprint(starter, None).hashes, dtype=np.int64))

    codes: dict[str, str] = {}
    skipped: dict[str, str] = {}
    sources = {REFERENCE: course.source / assignment} if reference else {}
    sources |= {s: course.submission_dir(s, assignment) for s in course.submitted_students(assignment)}
    for who, folder in sources.items():
        try:
            code = "\n\n".join(answer_code(folder / f"{name}.ipynb", cells) for name, cells in release_cells.items())
        except (ValueError, OSError) as error:
            skipped[who] = str(error)
            continue
        if not code.strip():
            skipped[who] = "no code of their own in the answer cells"
            continue
        codes[who] = code

    prints = {}
    for who, code in codes.items():
        try:
            fingerprint = _fingerprint(code, boilerplate)
        except Exception as error:  # whatever a submission holds, the others are still compared
            skipped[who] = f"its code could not be fingerprinted ({type(error).__name__})"
            continue
        if len(fingerprint.hashes) == 0:
            skipped[who] = "nothing but the release's code (or too little code to compare)"
            continue
        prints[who] = fingerprint

    pairs = []
    for a, b in itertools.combinations(sorted(prints), 2):
        overlap, (sim_a, sim_b), _ = compare_files(prints[a], prints[b])
        pairs.append(Pair(a, b, float(sim_a), float(sim_b), int(overlap)))
    pairs.sort(key=lambda p: (-p.score, -p.overlap, p.a, p.b))
    for pair in pairs[:top]:  # highlighted code only for the pairs shown
        _, _, (slices_a, slices_b) = compare_files(prints[pair.a], prints[pair.b])
        pair.html_a, pair.html_b = _highlight(codes[pair.a], slices_a), _highlight(codes[pair.b], slices_b)
    result = Similarity(assignment, pairs, sorted(prints), skipped)
    if write:
        result.page = page_path(course, assignment)
        result.page.parent.mkdir(parents=True, exist_ok=True)
        result.page.write_text(format_html(result, top), encoding="utf-8")
    return result


def format_pairs(result: Similarity, limit: int = 20) -> str:
    """The most similar pairs as a text table, then the submissions not compared."""
    lines = [f"Similarity of {result.assignment}: {len(result.compared)} submissions compared, {len(result.pairs)} pairs",
             f"{'rank':>4}  {'similarity':>10}  {'tokens':>6}  pair"]
    for rank, p in enumerate(result.pairs[:limit], 1):
        lines.append(f"{rank:>4}  {p.similarity_a:>4.0%} {p.similarity_b:>4.0%}  {p.overlap:>6}  {p.a} / {p.b}")
    if result.skipped:
        lines += ["", "Not compared:"] + [f"  {who}: {why}" for who, why in sorted(result.skipped.items())]
    return "\n".join(lines)


_STYLE = """
body { font-family: sans-serif; margin: 2em; }
table.pairs td, table.pairs th { padding: 0.2em 0.8em; text-align: left; }
.side { display: flex; gap: 1em; }
.side > div { flex: 1; min-width: 0; }
pre { background: #f6f6f6; padding: 0.6em; overflow-x: auto; font-size: 0.85em; }
mark { background: #ffd54f; }
"""


def format_html(result: Similarity, top: int = 50) -> str:
    """The report page: a table of the `top` pairs, then each pair's code side by side."""
    e = html.escape
    rows, sections = [], []
    for rank, p in enumerate(result.pairs[:top], 1):
        rows.append(f"<tr><td><a href='#pair-{rank}'>{rank}</a></td><td>{e(p.a)}</td><td>{p.similarity_a:.0%}</td>"
                    f"<td>{e(p.b)}</td><td>{p.similarity_b:.0%}</td><td>{p.overlap}</td></tr>")
        sections.append(
            f"<h2 id='pair-{rank}'>{rank}. {e(p.a)} ({p.similarity_a:.0%}) and {e(p.b)} ({p.similarity_b:.0%})</h2>"
            f"<div class='side'><div><h3>{e(p.a)}</h3><pre>{p.html_a}</pre></div>"
            f"<div><h3>{e(p.b)}</h3><pre>{p.html_b}</pre></div></div>"
        )
    skipped = "".join(f"<li>{e(who)}: {e(why)}</li>" for who, why in sorted(result.skipped.items()))
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>Similarity: {e(result.assignment)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>Similarity of the answers to {e(result.assignment)}</h1>"
        f"<p>{len(result.compared)} submissions compared ({len(result.pairs)} pairs) with winnowing fingerprints "
        "(copydetect): names and comments do not count, the release's code is removed first. A percentage is the share of "
        "that side's code found in the other. A high score is a reason to look, not proof of copying: short or standard "
        "answers are alike by nature.</p>"
        "<table class='pairs'><tr><th>rank</th><th>student</th><th>share</th><th>student</th><th>share</th><th>tokens in common</th></tr>"
        + "".join(rows) + "</table>"
        + (f"<h2>Not compared</h2><ul>{skipped}</ul>" if skipped else "")
        + "".join(sections) + "</body></html>"
    )
