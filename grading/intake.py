"""Intake: check the notebooks students handed in before autograding, and fix what is safe to fix.

nbgrader grades `submitted/<student>/<assignment>/<notebook>.ipynb` by name and by the nbgrader
metadata of its cells. Submissions that break either are graded wrong without a word:

* a notebook saved under another name ("Copy of ps2_upsampling.ipynb", "ps2_upsampling (1).ipynb")
  is skipped, and the student scores 0;
* a notebook whose cells lost their nbgrader metadata (some editors and converters drop cell
  metadata) scores 0, or makes nbgrader crash while it puts back the test cells;
* an empty file, a truncated download (invalid JSON), a different notebook.

`intake` looks at each submission, renames a notebook when exactly one file can be the expected
one, and puts back lost metadata by matching the student's cells to the released notebook when
the match is unambiguous. Before it changes anything it copies the student's files to
`.intake-original/` in the submission folder (nbgrader_config.py tells nbgrader to ignore it).
Every student gets one row in the table, and the outcome goes to the grading log for `report`.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat.notebooknode import NotebookNode

from grading.course import Course

__all__ = ["IntakeResult", "Repair", "intake", "check_submission", "repair_metadata", "format_table", "not_regular_files", "BACKUP"]

BACKUP = ".intake-original"


@dataclass
class IntakeResult:
    """What intake found in one student's submission, and what it did."""

    student: str
    actions: list[str] = field(default_factory=list)  # changes intake made (renamed, repaired)
    notes: list[str] = field(default_factory=list)  # findings nbgrader copes with by itself
    problems: list[str] = field(default_factory=list)  # what still stops correct grading

    @property
    def status(self) -> str:
        """"rejected" when a problem remains, "fixed" when intake changed files, else "ok"."""
        return "rejected" if self.problems else "fixed" if self.actions else "ok"


@dataclass
class Repair:
    """The result of matching a submitted notebook's cells to the release."""

    notebook: NotebookNode | None  # the repaired notebook; None when nothing was changed
    actions: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


# --- cells -------------------------------------------------------------------------------


def _meta(cell: NotebookNode) -> dict:
    meta = cell.get("metadata", {})
    meta = meta.get("nbgrader", {}) if isinstance(meta, dict) else {}
    return meta if isinstance(meta, dict) else {}  # a student's editor may have written anything here


def _grade_id(cell: NotebookNode) -> str | None:
    return _meta(cell).get("grade_id")


def _is_solution(cell: NotebookNode) -> bool:
    return bool(_meta(cell).get("solution"))


def _is_grade(cell: NotebookNode) -> bool:
    return bool(_meta(cell).get("grade"))


def _normal(source: str) -> str:
    """Source compared without trailing spaces and surrounding blank lines."""
    return "\n".join(line.rstrip() for line in source.strip("\n").splitlines()).strip()


def _defined_names(source: str) -> set[str]:
    """Functions and classes a cell defines at top level."""
    return set(re.findall(r"^(?:async\s+)?(?:def|class)\s+(\w+)", source, flags=re.MULTILINE))


def _kind(cell: NotebookNode) -> str:
    return "test cell" if _is_grade(cell) else "answer cell" if _is_solution(cell) else "read-only cell"


def _describe(nb: NotebookNode, index: int) -> str:
    """A cell by its position and first line, for messages."""
    first = next((line.strip() for line in nb.cells[index].source.splitlines() if line.strip()), "")
    return f"cell {index + 1} ({first[:40]!r})"


# --- matching cells to the release -------------------------------------------------------


def _crashes_nbgrader(present: set[str], release: NotebookNode) -> list[str]:
    """The test cells nbgrader's `add_missing_cells` cannot put back (it fails with a KeyError).

    nbgrader inserts a missing test cell after the cell that precedes it in the release, looked
    up among the notebook's answer and test cells; when that one is missing too, it crashes.
    """
    tracked = [c for c in release.cells if _grade_id(c)]
    ids = [_grade_id(c) for c in tracked]
    known = set(present)
    failing = []
    for index, cell in enumerate(tracked):
        grade_id = ids[index]
        if not _is_grade(cell) or grade_id in known:
            continue
        if index > 0 and ids[index - 1] not in known:
            failing.append(f"{grade_id} (after {ids[index - 1]})")
        known.add(grade_id)
    return failing


def repair_metadata(nb: NotebookNode, release: NotebookNode) -> Repair:
    """Check a submitted notebook's nbgrader cells against the release, and repair lost metadata.

    When every answer cell of the release is present (by grade_id) and nbgrader can put back any
    deleted test cell, nothing changes; edited and deleted test cells are noted. Otherwise cells are
    matched to the release: by grade_id where it survived; by identical source for read-only and
    test cells; and, between two matched cells, answer cells by position when the student's cells
    there have the same number and types as the release's, else by the functions they define.
    Release cells that match nothing are put back from the release. Nothing is changed, and a
    problem is reported, when a match is ambiguous or the notebook does not resemble the release.
    """
    release_ids = {_grade_id(c): i for i, c in enumerate(release.cells) if _grade_id(c)}
    present = {}
    for j, cell in enumerate(nb.cells):
        if _grade_id(cell) in release_ids and _grade_id(cell) not in present:
            present[_grade_id(cell)] = j
    graded_present = {g for g, j in present.items() if _is_grade(nb.cells[j]) or _is_solution(nb.cells[j])}

    notes = []
    for grade_id, j in present.items():
        original = release.cells[release_ids[grade_id]]
        if _meta(original).get("locked") and _normal(nb.cells[j].source) != _normal(original.source):
            notes.append(f"{_kind(original)} {grade_id} was edited (nbgrader restores the original)")
    missing = [release.cells[release_ids[g]] for g in release_ids if g not in present]
    if not missing:
        return Repair(None, notes=notes)
    # Deleted test or read-only cells alone: nbgrader puts test cells back, unless it would crash.
    answers_missing = any(_is_solution(c) and not _is_grade(c) for c in missing)
    if not answers_missing and not _crashes_nbgrader(graded_present, release):
        notes += [f"test cell {_grade_id(c)} was deleted (nbgrader puts it back)" for c in missing if _is_grade(c)]
        return Repair(None, notes=notes)
    return _rematch(nb, release, present, notes)


def _rematch(nb: NotebookNode, release: NotebookNode, present: dict[str, int], notes: list[str]) -> Repair:
    """Match the cells of `nb` to the release; see `repair_metadata`."""
    release_index = {_grade_id(c): i for i, c in enumerate(release.cells) if _grade_id(c)}
    pairs: dict[int, int] = {release_index[g]: j for g, j in present.items()}  # release cell -> student cell
    unmarked = [j for j, c in enumerate(nb.cells) if j not in pairs.values()]

    # Read-only and test cells with a source found exactly once on each side.
    release_sources = Counter(_normal(c.source) for c in release.cells)
    student_sources: dict[str, list[int]] = {}
    for j in unmarked:
        student_sources.setdefault(_normal(nb.cells[j].source), []).append(j)
    for i, cell in enumerate(release.cells):
        key = _normal(cell.source)
        if i in pairs or _is_solution(cell) or not key or release_sources[key] != 1:
            continue
        if len(student_sources.get(key, [])) == 1 and nb.cells[student_sources[key][0]].cell_type == cell.cell_type:
            pairs[i] = student_sources[key][0]
    tracked = [i for i, c in enumerate(release.cells) if _grade_id(c)]
    matched = sum(1 for i in tracked if i in pairs)
    if matched < len(tracked) / 2:
        return Repair(None, notes=notes, problems=[f"could not repair: only {matched} of the release's {len(tracked)} nbgrader cells are recognisable in it (is this the right notebook?)"])

    # Anchors: matched cells in the same order on both sides; the cells between two are a gap.
    anchors, last = [], -1
    for i in sorted(pairs):
        if pairs[i] > last:
            anchors.append((i, pairs[i]))
            last = pairs[i]
    problems, used = [], set(pairs.values())
    bounds = [(-1, -1), *anchors, (len(release.cells), len(nb.cells))]
    for (r0, s0), (r1, s1) in zip(bounds, bounds[1:]):
        gap_release = [i for i in range(r0 + 1, r1) if i not in pairs]
        gap_student = [j for j in range(s0 + 1, s1) if j not in used]
        needed = [i for i in gap_release if _grade_id(release.cells[i])]
        if not needed:
            continue
        if [release.cells[i].cell_type for i in gap_release] == [nb.cells[j].cell_type for j in gap_student]:
            pairs.update(zip(gap_release, gap_student))
            used.update(gap_student)
            continue
        for i in needed:
            cell = release.cells[i]
            if not _is_solution(cell):
                continue  # a read-only or test cell that was deleted or edited: put back below
            names = _defined_names(cell.source)
            candidates = [j for j in gap_student if j not in used and nb.cells[j].cell_type == cell.cell_type and names <= _defined_names(nb.cells[j].source)]
            if len(candidates) == 1:
                pairs[i] = candidates[0]
                used.add(candidates[0])
                continue
            what = f"defines {', '.join(sorted(names))}" if names else f"is a {cell.cell_type} cell"
            where = f"between {_describe(nb, s0) if s0 >= 0 else 'the start'} and {_describe(nb, s1) if s1 < len(nb.cells) else 'the end'}"
            if candidates:
                problems.append(f"could not repair answer cell {_grade_id(cell)}: {len(candidates)} cells {where} could be it ({', '.join(_describe(nb, j) for j in candidates)}); keep one")
            elif names and any(names <= _defined_names(nb.cells[j].source) for j in range(len(nb.cells)) if j not in used):
                problems.append(f"could not repair answer cell {_grade_id(cell)}: the cell that {what} is not where the release has it")
    if problems:
        return Repair(None, notes=notes, problems=problems)

    # Build the repaired notebook: the student's cells with the release's metadata, and every
    # release cell that matched nothing put back after the cell matched to its predecessor.
    repaired = copy.deepcopy(nb)
    actions, restored_after = [], {}
    for i, j in pairs.items():
        original, cell = release.cells[i], repaired.cells[j]
        if "nbgrader" not in original.metadata:
            continue
        for key in ("nbgrader", "editable", "deletable"):
            if key in original.metadata:
                cell.metadata[key] = copy.deepcopy(original.metadata[key])
    relabelled = sum(1 for i, j in pairs.items() if _grade_id(release.cells[i]) and _grade_id(nb.cells[j]) != _grade_id(release.cells[i]))
    if relabelled:
        actions.append(f"restored the nbgrader metadata of {relabelled} cells by matching them to the release")
    for i, cell in enumerate(release.cells):
        if i in pairs or not _grade_id(cell):
            continue
        before = max((j for r, j in pairs.items() if r < i), default=-1)
        restored_after.setdefault(before, []).append(copy.deepcopy(cell))
        empty = ", empty (graded as unanswered)" if _is_solution(cell) else ""
        actions.append(f"put back {_kind(cell)} {_grade_id(cell)} from the release{empty}")
    for before in sorted(restored_after, reverse=True):
        repaired.cells[before + 1 : before + 1] = restored_after[before]
    return Repair(repaired, actions=actions, notes=notes)


# --- files -------------------------------------------------------------------------------


def _stem_key(name: str) -> str:
    """A file name without the decorations that copies and downloads add, lower case."""
    stem = name[: -len(".ipynb")] if name.lower().endswith(".ipynb") else name
    previous = None
    while stem != previous:
        previous = stem
        stem = re.sub(r"(?i)^copy\s+of\s+", "", stem.strip())
        stem = re.sub(r"\s*\(\d+\)$", "", stem)
        stem = re.sub(r"(?i)[-_ ]copy\d*$", "", stem)
    return stem.lower()


def _read(path: Path) -> tuple[NotebookNode | None, str | None]:
    """The notebook in a file, or None and why it cannot be read."""
    raw = path.read_bytes()
    if not raw.strip():
        return None, f"{path.name} is empty ({len(raw)} bytes)"
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return None, f"{path.name} is not a text file"
    except json.JSONDecodeError as error:
        return None, f"{path.name} is not valid JSON (line {error.lineno}, column {error.colno}: {error.msg}); an interrupted download?"
    if not isinstance(data, dict) or "cells" not in data:
        return None, f"{path.name} is JSON but not a Jupyter notebook"
    try:
        nb = nbformat.reads(json.dumps(data), as_version=4)
        nbformat.validate(nb)
    except Exception as error:  # nbformat raises several kinds of validation error
        return None, f"{path.name} is not a valid notebook ({type(error).__name__}: {str(error).splitlines()[0][:120]})"
    return nb, None


def _resembles(path: Path, release: NotebookNode) -> bool:
    """Whether at least half the release's nbgrader cells are in a notebook file, by id or source."""
    nb, _ = _read(path)
    if nb is None:
        return False
    ids = {_grade_id(c) for c in nb.cells}
    sources = {_normal(c.source) for c in nb.cells}
    tracked = [c for c in release.cells if _grade_id(c)]
    found = sum(1 for c in tracked if _grade_id(c) in ids or (not _is_solution(c) and _normal(c.source) in sources))
    return found >= len(tracked) / 2


def _backup(folder: Path) -> None:
    """Copy the submission's files to `.intake-original/` (the first copy is kept)."""
    backup = folder / BACKUP
    backup.mkdir(exist_ok=True)
    for path in folder.iterdir():
        if path.is_file() and not (backup / path.name).exists():
            shutil.copy2(path, backup / path.name)


def not_regular_files(folder: Path) -> list[Path]:
    """Links, pipes, sockets and devices in a submission folder (links are not followed)."""
    found = []
    for directory, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(directory) / name
            if path.is_symlink() or not (path.is_dir() or path.is_file()):
                found.append(path)
    return found


def check_submission(folder: Path, student: str, release: dict[str, NotebookNode], fix: bool = True) -> IntakeResult:
    """Check (and, with `fix`, repair) one student's submission folder against the release notebooks."""
    result = IntakeResult(student)
    for path in not_regular_files(folder):
        # nbgrader copies what a link points to (the gradebook, say) into the folder the kernel sees.
        result.actions.append(f"removed {path.relative_to(folder)} ({'a link to ' + os.readlink(path) if path.is_symlink() else 'not a regular file'})")
        if fix:
            path.unlink() if not path.is_dir() or path.is_symlink() else shutil.rmtree(path)
    several = len(release) > 1
    notebooks = sorted(p for p in folder.glob("*.ipynb") if p.is_file())
    unexpected = [p for p in notebooks if p.stem not in release]
    if (folder / BACKUP).is_dir():
        result.notes.append(f"an earlier intake changed this submission (originals in {BACKUP}/)")
    for name, release_nb in release.items():
        label = f"{name}.ipynb: " if several else ""
        path = source = folder / f"{name}.ipynb"
        if not path.is_file():
            candidates = [p for p in unexpected if _stem_key(p.name) == name.lower()] or [p for p in unexpected if _resembles(p, release_nb)]
            if len(candidates) != 1:
                found = f"found {', '.join(repr(p.name) for p in unexpected)}" if unexpected else "the folder holds no notebook"
                which = "; none of them is this assignment's notebook" if not candidates else f"; {len(candidates)} of them could be it: keep one"
                result.problems.append(f"{label}no {name}.ipynb ({found}{which if unexpected else ''})")
                continue
            source = candidates[0]
            unexpected.remove(source)
            result.actions.append(f"renamed {source.name!r} to {path.name!r}")
            if fix:
                _backup(folder)
                source = source.rename(path)
        nb, unreadable = _read(source)
        if nb is None:
            result.problems.append(label + unreadable)
            continue
        repair = repair_metadata(nb, release_nb)
        result.notes += [label + n for n in repair.notes]
        result.problems += [label + p for p in repair.problems]
        result.actions += [label + a for a in repair.actions]
        if repair.notebook is not None and fix:
            _backup(folder)
            nbformat.write(repair.notebook, path)
    if unexpected and not result.problems:
        result.notes.append(f"also handed in {', '.join(repr(p.name) for p in unexpected)} (not graded)")
    return result


def intake(course: Course, assignment: str, students: Iterable[str] | None = None, fix: bool = True) -> list[IntakeResult]:
    """Check every submission of an assignment (or the given students'), fix what is safe, log it."""
    release = {name: nbformat.read(path, as_version=4) for name, path in course.release_notebooks(assignment).items()}
    expected = course.expected_notebooks(assignment)
    if not release or set(expected) != set(release):
        raise FileNotFoundError(f"the release of {assignment} in {course.release} does not hold the notebooks nbgrader grades ({expected}): run nbgrader generate_assignment {assignment}")
    results = []
    for student in students if students is not None else course.submitted_students(assignment):
        folder = course.submission_dir(student, assignment)
        if folder.is_dir():
            try:
                result = check_submission(folder, student, release, fix)
            except Exception as error:  # nothing in one submission may stop the others' intake
                result = IntakeResult(student, problems=[f"intake could not read this submission: {type(error).__name__}: {str(error)[:200]}"])
        else:
            result = IntakeResult(student, problems=[f"nothing submitted (no folder {folder.relative_to(course.root)})"])
        results.append(result)
        course.log("intake", assignment, student, status=result.status, actions=result.actions, notes=result.notes, problems=result.problems)
    return results


def format_table(assignment: str, results: list[IntakeResult]) -> str:
    """One row per student: the outcome, then each action, problem and note on its own line."""
    width = max([len("student"), *(len(r.student) for r in results)])
    lines = [f"Intake of {assignment}", f"{'student':<{width}}  {'result':<8}  details", f"{'-' * width}  {'-' * 8}  {'-' * 40}"]
    for result in results:
        details = [f"PROBLEM: {p}" for p in result.problems] + [f"fixed: {a}" for a in result.actions] + [f"note: {n}" for n in result.notes]
        for k, detail in enumerate(details or [""]):
            lines.append(f"{result.student if k == 0 else '':<{width}}  {result.status.upper() if k == 0 else '':<8}  {detail}".rstrip())
    counts = Counter(r.status for r in results)
    lines.append("")
    lines.append(f"{len(results)} submissions: {counts['ok']} ok, {counts['fixed']} fixed, {counts['rejected']} rejected")
    if counts["rejected"]:
        lines.append("Rejected submissions cannot be graded correctly as they are: fix them by hand (the problem says how) and run intake again.")
    return "\n".join(lines)
