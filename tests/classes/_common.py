"""What every simulated class is made of: a `Student` record and helpers that build submissions.

Nothing here knows a particular assignment; see `tests/classes/__init__.py` for how to add one.
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
from nbformat.notebooknode import NotebookNode

__all__ = [
    "Student",
    "instructor_env",
    "new_course",
    "cell",
    "grade_ids",
    "points_of",
    "completed",
    "solution_source",
    "with_sources",
    "without",
    "with_cell_after",
    "strip_metadata",
    "notebook_file",
    "replaced",
    "builders",
]


ROOT = Path(__file__).resolve().parents[2]


def instructor_env(**extra: str) -> dict[str, str]:
    """The environment an instructor grades in, plus `extra`: no virtualenv on PATH, as for one who
    did not activate it (nbgrader_config.py must cope: nbgrader runs `alembic` from PATH)."""
    path = [d for d in os.environ["PATH"].split(os.pathsep) if Path(d).resolve() != Path(sys.executable).parent.resolve()]
    return {**os.environ, "PATH": os.pathsep.join(path), **extra}


def new_course(course: Path, assignment: str, env: dict[str, str] | None = None) -> tuple[NotebookNode, NotebookNode]:
    """Set up `course` as an instructor does: the course's nbgrader_config.py and grading/, the
    assignment's solutions/, and its release made by `nbgrader generate_assignment`.

    Returns the release and the solution notebook (`<assignment>.ipynb`) as read back from it."""
    shutil.copy(ROOT / "nbgrader_config.py", course)
    shutil.copytree(ROOT / "grading", course / "grading", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "solutions" / assignment, course / "solutions" / assignment)
    generate = subprocess.run(
        [sys.executable, "-m", "nbgrader", "generate_assignment", assignment, "--force"],
        cwd=course, capture_output=True, text=True, env=env or instructor_env(),
    )  # fmt: skip
    assert generate.returncode == 0, generate.stdout + generate.stderr
    notebook = f"{assignment}.ipynb"
    return tuple(nbformat.read(course / folder / assignment / notebook, as_version=4) for folder in ("exercises", "solutions"))


@dataclass
class Student:
    """One simulated submission and what grading must make of it.

    files: file name -> bytes, placed in `submitted/<name>/<assignment>/`; an empty dict makes
        an empty folder, None no folder at all (the student is only on the gradebook's roster).
    lost: grade_ids of the test cells this submission fails; a graded student's points must be
        the assignment's total minus their points (the test checks `points` against this).
    points: the points the gradebook must hold, None when it must hold no submission.
    status: what `python -m grading report` must say: GRADED, MANUAL (graded, with a written
        answer still to grade by hand: `points` are the autograded ones), FAILED, MISSING, ...
    intake: what `python -m grading intake` must say: ok, fixed, rejected (None: not run on it).
    reason: a phrase that the report (text and CSV) must give for this student.
    """

    name: str
    files: dict[str, bytes] | None
    points: float | None
    lost: tuple[str, ...] = ()
    status: str = "GRADED"
    intake: str | None = "ok"
    reason: str = ""


def cell(nb: NotebookNode, grade_id: str) -> NotebookNode:
    """The cell with this nbgrader grade_id."""
    for c in nb.cells:
        if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id:
            return c
    raise KeyError(grade_id)


def grade_ids(nb: NotebookNode) -> list[str]:
    """The grade_ids of the graded (test) cells, in order."""
    return [c.metadata.nbgrader["grade_id"] for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade")]


def points_of(nb: NotebookNode, lost: tuple[str, ...] | list[str] = ()) -> float:
    """The notebook's total points, minus those of the test cells in `lost`."""
    total = 0.0
    for grade_id in grade_ids(nb):
        if grade_id not in lost:
            total += float(cell(nb, grade_id).metadata.nbgrader["points"])
    return total


def solution_source(solution: NotebookNode, grade_id: str) -> str:
    return cell(solution, grade_id).source


def completed(release: NotebookNode, solution: NotebookNode, only: tuple[str, ...] | None = None) -> NotebookNode:
    """The release with answer cells filled in as the solution has them (all, or those in `only`)."""
    nb = copy.deepcopy(release)
    for c in nb.cells:
        meta = c.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution") and (only is None or meta["grade_id"] in only):
            c.source = solution_source(solution, meta["grade_id"])
    return nb


def with_sources(nb: NotebookNode, **sources: str) -> NotebookNode:
    """A copy of nb with the cells named by grade_id given new source code."""
    nb = copy.deepcopy(nb)
    for grade_id, source in sources.items():
        cell(nb, grade_id).source = source
    return nb


def without(nb: NotebookNode, *removed: str) -> NotebookNode:
    """A copy of nb without the cells with these grade_ids."""
    nb = copy.deepcopy(nb)
    nb.cells = [c for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") not in removed]
    return nb


def with_cell_after(nb: NotebookNode, grade_id: str, source: str) -> NotebookNode:
    """A copy of nb with a new code cell (no nbgrader metadata) after the cell `grade_id`."""
    nb = copy.deepcopy(nb)
    index = nb.cells.index(cell(nb, grade_id))
    nb.cells.insert(index + 1, nbformat.v4.new_code_cell(source))
    return nb


def strip_metadata(nb: NotebookNode) -> NotebookNode:
    """A copy of nb whose cells lost all their metadata (as some editors and converters do)."""
    nb = copy.deepcopy(nb)
    for c in nb.cells:
        c.metadata = nbformat.NotebookNode()
    return nb


def notebook_file(nb: NotebookNode | dict[str, Any]) -> bytes:
    """A notebook as the bytes of an .ipynb file (cell ids are added by nbformat where missing)."""
    return nbformat.writes(nbformat.from_dict(copy.deepcopy(nb))).encode()


def replaced(source: str, old: str, new: str) -> str:
    """source with `old` replaced by `new`; fails loudly when the solution no longer has `old`."""
    if old not in source:
        raise ValueError(f"the solution changed: {old!r} is not in it; update the class table")
    return source.replace(old, new)


def builders(release: NotebookNode, notebook: str, written: tuple[str, ...] = ()) -> tuple[Any, Any]:
    """The two ways a table writes a student down: `graded(name, nb, lost)`, whose points are
    the release's total minus those of `lost` (plus the hand-graded `written` answers, which
    autograde never scores), and `failed(name, files, reason)`, which nbgrader cannot grade."""

    def graded(name: str, nb: NotebookNode, lost: tuple[str, ...] = (), file: str = notebook, **kw: Any) -> Student:
        lost = tuple(lost) + tuple(w for w in written if w not in lost)
        return Student(name, {file: notebook_file(nb)}, points_of(release, lost), lost, **kw)

    def failed(name: str, files: dict[str, bytes] | None, reason: str, points: float | None = 0.0, **kw: Any) -> Student:
        return Student(name, files, points, status=kw.pop("status", "FAILED"), reason=reason, **kw)

    return graded, failed
