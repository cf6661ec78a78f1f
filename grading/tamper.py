"""Tamper evidence: the course's own files and the gradebook's tests, checked around autograding.

The sandbox (grading/sandbox.py) keeps a student's code away from the course. These checks are
the second line, and the only one when grading runs with `--unsafe-no-sandbox`: before the first
student and after each one, `python -m grading autograde` compares

* the course code every later grader process runs or trusts (nbgrader_config.py, grading/, the
  seglib package the grader imports) and the source notebooks (solutions/) with a snapshot of
  their SHA-256 sums taken before grading began, and
* every test cell the gradebook stores (hidden tests included; nbgrader runs those, not the
  student's copy) with the same cell in solutions/.

Any difference stops the run: the students not yet graded are left ungraded, and the summary and
the report name what changed.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

from nbgrader.api import MissingEntry

from grading.course import Course

__all__ = ["TamperError", "course_files", "snapshot", "changed_files", "gradebook_mismatches"]


class TamperError(RuntimeError):
    """A course file or a gradebook test cell changed while grading."""


def course_files(course: Course) -> list[Path]:
    """The files whose change would change every later grade: configuration, grading code, seglib, sources."""
    roots = [course.root / "nbgrader_config.py", course.root / "grading", course.root / "seglib", course.source]
    spec = importlib.util.find_spec("seglib")
    if spec and spec.origin:
        roots.append(Path(spec.origin).resolve().parent)
    files: set[Path] = set()
    for root in roots:
        if root.is_file():
            files.add(root.resolve())
        elif root.is_dir():
            files |= {p.resolve() for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}
    return sorted(files)


def snapshot(course: Course) -> dict[str, str]:
    """Path -> SHA-256 of every file in `course_files`."""
    return {str(path): hashlib.sha256(path.read_bytes()).hexdigest() for path in course_files(course)}


def changed_files(before: dict[str, str], course: Course) -> list[str]:
    """The course files added, removed or changed since `before` was taken."""
    after = snapshot(course)
    return sorted(path for path in before.keys() | after.keys() if before.get(path) != after.get(path))


def _test_cells(path: Path) -> dict[str, str]:
    """grade_id -> source of every autograded test cell of a source notebook."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    found = {}
    for cell in cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade") and not meta.get("solution") and cell.get("cell_type") == "code":
            found[meta["grade_id"]] = "".join(cell.get("source", ""))
    return found


def gradebook_mismatches(course: Course, assignment: str) -> list[str]:
    """Test cells whose source in the gradebook differs from solutions/ (or is missing from either)."""
    if not course.has_gradebook():
        return []
    problems = []
    with course.gradebook() as gradebook:
        try:
            notebooks = gradebook.find_assignment(assignment).notebooks
        except MissingEntry:
            return []
        for notebook in notebooks:
            path = course.source / assignment / f"{notebook.name}.ipynb"
            if not path.is_file():
                problems.append(f"{notebook.name}: in the gradebook but not in {course.source.name}/{assignment}/")
                continue
            expected = _test_cells(path)
            stored = {cell.name: cell.source for cell in notebook.source_cells if cell.name in expected or cell.name in {g.name for g in notebook.grade_cells}}
            for grade_id, source in expected.items():
                if stored.get(grade_id) != source:
                    problems.append(f"{notebook.name}: test cell {grade_id} in the gradebook differs from {course.source.name}/ (run `nbgrader generate_assignment {assignment} --force` if you changed it)")
    return problems
