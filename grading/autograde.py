"""Autograde a class with nbgrader, one student at a time, and report every outcome.

Plain `nbgrader autograde` grades all students in one process. When one submission kills its
kernel (`os._exit`, a segfault, running out of memory), nbgrader removes that student's
autograded copy, logs an error, and the student later exports as an unexplained 0. Here each
student is graded by a separate `nbgrader autograde --student` run. That run's exit status and
log, together with the cells of the autograded notebook, say what happened, and the summary
names every failure and every interrupted cell with its reason.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry

__all__ = ["Outcome", "autograde", "generate_feedback", "format_summary"]


@dataclass
class Outcome:
    """What autograding did with one student's submission."""

    student: str
    status: str  # "graded" or "failed"
    score: float | None = None
    max_score: float | None = None
    problems: list[str] = field(default_factory=list)  # human-readable reasons, empty when clean


def submitted_students(course_dir: Path, assignment: str) -> list[str]:
    """Students with a folder `submitted/<student>/<assignment>/`, sorted."""
    return sorted(p.parent.name for p in (course_dir / "submitted").glob(f"*/{assignment}") if p.is_dir())


def _nbgrader(course_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run nbgrader with this interpreter, in the course directory (where nbgrader_config.py is)."""
    return subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course_dir, capture_output=True, text=True)


def _failure_reason(log: str) -> str:
    """The most specific reason an nbgrader log gives for a failed autograde."""
    if "DeadKernelError" in log or "Kernel died" in log:
        return "the kernel died while running the notebook (os._exit, a crash, or out of memory)"
    if "UnresponsiveKernelError" in log:
        return "the kernel stopped responding"
    if "MissingEntry" in log or "does not exist in the database" in log:
        return "the submission does not match the assignment in the gradebook (missing or renamed notebook?)"
    errors = [line.strip() for line in log.splitlines() if "ERROR" in line or "Error" in line]
    return errors[-1] if errors else "nbgrader failed without saying why; see its log"


def _cell_problems(notebook: Path) -> list[str]:
    """Timed-out and crashed graded cells in an autograded notebook, by grade_id."""
    problems = []
    cells = json.loads(notebook.read_text())["cells"]
    for cell in cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "(ungraded cell)")
        for output in cell.get("outputs", []):
            if output.get("output_type") != "error":
                continue
            if output.get("ename") == "CellTimeoutError":
                problems.append(f"{notebook.name}: cell {grade_id} timed out and was interrupted")
    return problems


def _scores(course_dir: Path, assignment: str, student: str) -> tuple[float | None, float | None]:
    with Gradebook(f"sqlite:///{course_dir / 'gradebook.db'}") as gradebook:
        try:
            submission = gradebook.find_submission(assignment, student)
        except MissingEntry:
            return None, None
        return submission.score, submission.max_score


def autograde(
    assignment: str,
    course_dir: Path | str = ".",
    students: Iterable[str] | None = None,
    extra_args: Sequence[str] = (),
) -> list[Outcome]:
    """Autograde each student's submission separately; return one `Outcome` per student.

    Args:
        assignment: the assignment name, e.g. "ps2_upsampling".
        course_dir: the course root (where `nbgrader_config.py` and `submitted/` are).
        students: whom to grade; default every student with a submission.
        extra_args: passed to `nbgrader autograde`, e.g. `["--Execute.timeout=60"]`.
    """
    course_dir = Path(course_dir).resolve()
    outcomes = []
    for student in students if students is not None else submitted_students(course_dir, assignment):
        run = _nbgrader(course_dir, "autograde", assignment, "--student", student, "--force", *extra_args)
        log = run.stdout + run.stderr
        autograded = course_dir / "autograded" / student / assignment
        failed = run.returncode != 0 or "Removing failed assignment" in log or not autograded.is_dir()
        score, max_score = _scores(course_dir, assignment, student)
        if failed:
            outcomes.append(Outcome(student, "failed", None, max_score, [_failure_reason(log)]))
            continue
        problems = [p for nb in sorted(autograded.glob("*.ipynb")) for p in _cell_problems(nb)]
        outcomes.append(Outcome(student, "graded", score, max_score, problems))
    return outcomes


def generate_feedback(assignment: str, course_dir: Path | str = ".", students: Iterable[str] = ()) -> dict[str, bool]:
    """Run `nbgrader generate_feedback` for each student; return whether it succeeded."""
    course_dir = Path(course_dir).resolve()
    return {
        student: _nbgrader(course_dir, "generate_feedback", assignment, "--student", student, "--force").returncode == 0
        for student in students
    }


def format_summary(assignment: str, outcomes: Sequence[Outcome]) -> str:
    """One table row per student, then the failures and problems spelt out."""
    lines = [f"Autograde summary for {assignment}", f"{'student':<24} {'status':<8} {'score':>12}"]
    for outcome in outcomes:
        score = "-" if outcome.score is None else f"{outcome.score:g} / {outcome.max_score:g}"
        lines.append(f"{outcome.student:<24} {outcome.status.upper():<8} {score:>12}")
    notes = [(o.student, p) for o in outcomes for p in o.problems]
    if notes:
        lines.append("")
        lines.append("Problems:")
        lines.extend(f"  {student}: {problem}" for student, problem in notes)
    failed = [o.student for o in outcomes if o.status == "failed"]
    lines.append("")
    lines.append(
        f"{len(outcomes) - len(failed)} graded, {len(failed)} failed"
        + (f" ({', '.join(failed)}: no grade recorded; fix the cause and regrade them)" if failed else "")
    )
    return "\n".join(lines)

