"""The class report: every student's points for every assignment, and why any result is not clean.

nbgrader's gradebook stores a number per student and assignment and nothing about how it came
about: a submission that killed its kernel and one that was never handed in both export as 0.
The report puts the gradebook's points next to what `python -m grading intake` and
`python -m grading autograde` logged, so that every failure is named with its reason:

    GRADED      autograded; any interrupted cell or intake repair is listed as a note
    CHECK       autograded, but intake found a problem it could not fix: the points may be too low
    MANUAL      autograded; some answers still need grading by hand (formgrader)
    FAILED      autograding failed or the submission could not be read; the gradebook may say 0
    NOT GRADED  submitted (or changed by intake) after the last autograde
    MISSING     nothing submitted

`write_csv` writes the same rows, one per student and assignment, with the status and reasons.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from nbgrader.api import MissingEntry

from grading.course import Course

__all__ = ["Row", "class_report", "format_report", "similarity_reports", "write_csv", "CSV_NAME"]

CSV_NAME = "class-report.csv"


@dataclass
class Row:
    """One student's result for one assignment."""

    student: str
    assignment: str
    status: str
    points: float | None
    max_points: float | None
    reasons: list[str] = field(default_factory=list)


def _assignments(course: Course) -> list[str]:
    names: set[str] = {e["assignment"] for e in course.events()}
    if course.has_gradebook():
        with course.gradebook() as gradebook:
            names |= {a.name for a in gradebook.assignments}
    if not names and course.source.is_dir():
        names = {p.name for p in course.source.iterdir() if p.is_dir() and not p.name.startswith(".")}
    return sorted(names)


def _gradebook_state(course: Course, assignments: Sequence[str]) -> tuple[set[str], dict, dict]:
    """Students in the gradebook; (assignment, student) -> (score, max, needs manual); assignment -> max."""
    students, submissions, maxima = set(), {}, {}
    if not course.has_gradebook():
        return students, submissions, maxima
    with course.gradebook() as gradebook:
        students = {s.id for s in gradebook.students}
        for assignment in assignments:
            try:
                maxima[assignment] = gradebook.find_assignment(assignment).max_score
            except MissingEntry:
                continue
            for student in students:
                try:
                    sub = gradebook.find_submission(assignment, student)
                except MissingEntry:
                    continue
                submissions[assignment, student] = (sub.score, sub.max_score, bool(sub.needs_manual_grade))
    return students, submissions, maxima


def _row(course: Course, assignment: str, student: str, logged: dict, submission: tuple | None, max_points: float | None) -> Row:
    intake, outcome, feedback = (logged[kind].get((assignment, student)) for kind in ("intake", "autograde", "feedback"))
    submitted = course.submission_dir(student, assignment).is_dir()
    points = submission[0] if submission else None
    row = Row(student, assignment, "GRADED", points, submission[1] if submission else max_points)
    intake_problems = [f"intake: {p}" for p in (intake or {}).get("problems", [])]
    intake_fixes = [f"intake fixed: {a}" for a in (intake or {}).get("actions", [])]
    intake_fixes += [f"intake note: {n}" for n in (intake or {}).get("notes", [])]

    if not submitted and submission is None:
        row.status, row.points, row.reasons = "MISSING", 0.0, ["nothing submitted"]
        return row
    if outcome is None:
        if submission is not None and (course.autograded / student / assignment).is_dir():
            row.reasons = ["autograded outside `python -m grading autograde`, which would have logged any failure"]
        elif submission is not None:
            row.status = "FAILED"
            row.reasons = [*intake_problems, "the gradebook has a score but there is no autograded notebook: its autograde failed; regrade with `python -m grading autograde`"]
        else:
            row.status, row.reasons = "NOT GRADED", [*intake_problems, "submitted but not autograded yet"]
        return row
    if intake and intake["time"] > outcome["time"] and intake.get("actions"):
        row.status, row.reasons = "NOT GRADED", [*intake_fixes, "intake changed the submission after it was graded: autograde it again"]
        return row
    row.reasons = [*intake_problems, *(f"autograde: {p}" for p in outcome.get("problems", [])), *intake_fixes]
    if outcome.get("status") != "graded":
        row.status = "FAILED"
    elif intake_problems or outcome.get("unsafe") or outcome.get("check"):
        row.status = "CHECK"
    elif submission and submission[2]:
        row.status = "MANUAL"
        row.reasons.append("some answers need grading by hand (formgrader)")
    if feedback and feedback.get("status") != "written":
        row.reasons += [f"feedback: {p}" for p in feedback.get("problems", [])]
    return row


def class_report(course: Course, assignments: Iterable[str] | None = None) -> list[Row]:
    """One row per (student, assignment): every student known to the gradebook, the submitted
    folders or the grading log, for every assignment asked for (default: all)."""
    assignments = sorted(assignments) if assignments else _assignments(course)
    logged = {kind: course.latest(kind) for kind in ("intake", "autograde", "feedback")}
    students, submissions, maxima = _gradebook_state(course, assignments)
    for assignment in assignments:
        students |= set(course.submitted_students(assignment))
    students |= {student for (assignment, student) in logged["intake"] if assignment in assignments}
    students |= {student for (assignment, student) in logged["autograde"] if assignment in assignments}
    return [
        _row(course, assignment, student, logged, submissions.get((assignment, student)), maxima.get(assignment))
        for student in sorted(students)
        for assignment in assignments
    ]


def similarity_reports(course: Course, assignments: Iterable[str]) -> dict[str, Path]:
    """assignment -> its similarity report (`python -m grading similarity`), where one was written."""
    from grading.similarity import page_path

    return {a: page_path(course, a) for a in assignments if page_path(course, a).is_file()}


def _points(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def format_report(rows: Sequence[Row]) -> str:
    """A table of students by assignments, then every failure and note spelt out, then counts."""
    if not rows:
        return "Class report: no students yet (no submissions, no students in the gradebook, nothing logged)"
    assignments = sorted({r.assignment for r in rows})
    students = sorted({r.student for r in rows})
    cell = {(r.student, r.assignment): r for r in rows}
    width = max([len("student"), *map(len, students)])
    columns = [max(len(a), 14) for a in assignments]
    lines = ["Class report", "  ".join([f"{'student':<{width}}", *(f"{a:<{w}}" for a, w in zip(assignments, columns)), "total"])]
    for student in students:
        entries, total, total_max = [], 0.0, 0.0
        for assignment, w in zip(assignments, columns):
            row = cell[student, assignment]
            shown = f"{_points(row.points)} / {_points(row.max_points)}"
            if row.status in ("FAILED", "MISSING", "NOT GRADED"):
                shown = row.status
            elif row.status != "GRADED" or row.reasons:
                shown += f" {row.status if row.status != 'GRADED' else '*'}"
            entries.append(f"{shown:<{w}}")
            total += row.points or 0.0
            total_max += row.max_points or 0.0
        lines.append("  ".join([f"{student:<{width}}", *entries, f"{total:g} / {total_max:g}"]))
    notes = [r for r in rows if r.reasons]
    if notes:
        lines += ["", "Failures and notes (* = graded, with notes):"]
        for r in notes:
            lines.append(f"  {r.student} / {r.assignment}: {r.status}")
            lines.extend(f"      {reason}" for reason in r.reasons)
    counts = Counter(r.status for r in rows)
    lines += ["", ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))]
    return "\n".join(lines)


def write_csv(rows: Sequence[Row], path: Path | str) -> Path:
    """Write one line per (student, assignment): status, points, maximum and reasons."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["student", "assignment", "status", "points", "max_points", "reasons"])
        for r in rows:
            writer.writerow([r.student, r.assignment, r.status, "" if r.points is None else f"{r.points:g}", "" if r.max_points is None else f"{r.max_points:g}", " | ".join(r.reasons)])
    return path
