"""The grading round trip of ps6_capstone through the real nbgrader CLI, in a temporary course directory.

ps6_capstone trains a model, so its reference solution takes minutes to grade (it trains on
the CPU-sized fallback data here, forced with PS6_DATA=shapes). Three students: the reference
solution, which earns every automatic point and waits for the hand-graded report; the release
submitted untouched, which earns nothing and does not crash the grader; and the reference with
its training cell reduced to building the model, which keeps the points for the pieces but
earns none of the 9 for the trained result. The fixture follows `test_grading.py`.
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT = "ps6_capstone"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
AUTO_POINTS, REPORT_POINTS = 25, 5  # the report (grade_id ps6_report) is graded by hand
RESULT_POINTS = 9  # ps6_val_miou, ps6_heldout_partial, ps6_heldout_pass: the trained model's mIoU

pytestmark = pytest.mark.grading


def _env() -> dict[str, str]:
    # As in test_grading.py: no virtualenv on PATH. And the CPU-sized data, whatever this machine holds.
    path = [d for d in os.environ["PATH"].split(os.pathsep) if Path(d).resolve() != Path(sys.executable).parent.resolve()]
    return {**os.environ, "PATH": os.pathsep.join(path), "PS6_DATA": "shapes"}


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A course directory with the release generated and two submissions autograded."""
    course = tmp_path_factory.mktemp("course_ps6")
    shutil.copy(ROOT / "nbgrader_config.py", course)
    shutil.copytree(ROOT / "solutions" / ASSIGNMENT, course / "solutions" / ASSIGNMENT)
    generate = subprocess.run(
        [sys.executable, "-m", "nbgrader", "generate_assignment", ASSIGNMENT, "--force"],
        cwd=course, capture_output=True, text=True, env=_env(),
    )
    assert generate.returncode == 0, generate.stdout + generate.stderr

    solution = nbformat.read(course / "solutions" / ASSIGNMENT / NOTEBOOK, as_version=4)
    untrained = copy.deepcopy(solution)
    for cell in untrained.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "ps6_train":
            cell.source = "model = build_model(NUM_CLASSES)  # never trained\n"
    students = {
        "ref": solution,
        "blank": nbformat.read(course / "exercises" / ASSIGNMENT / NOTEBOOK, as_version=4),
        "untrained": untrained,
    }
    for student, nb in students.items():
        folder = course / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / NOTEBOOK)

    grading = subprocess.run(
        [sys.executable, "-m", "grading", "autograde", ASSIGNMENT, "--course-dir", str(course)],
        cwd=ROOT, capture_output=True, text=True, env=_env(),
    )
    return {"dir": course, "grading": grading}


def test_release_is_what_is_committed(course):
    """exercises/ps6_capstone is exactly what `nbgrader generate_assignment` makes from solutions/."""
    generated = course["dir"] / "exercises" / ASSIGNMENT
    committed = ROOT / "exercises" / ASSIGNMENT
    names = sorted(p.relative_to(generated) for p in generated.rglob("*") if p.is_file())
    assert names == sorted(p.relative_to(committed) for p in committed.rglob("*") if p.is_file())
    for name in names:
        assert (generated / name).read_bytes() == (committed / name).read_bytes(), f"exercises/{ASSIGNMENT}/{name} is stale"


def test_every_submission_is_graded(course):
    grading = course["grading"]
    assert grading.returncode == 0, grading.stdout + grading.stderr
    assert "timed out" not in grading.stdout, grading.stdout


def test_points_in_the_gradebook(course):
    """Reference: every automatic point, the report left for the grader. Untouched: 0, nothing to grade by hand.
    Untrained: the pieces' points only."""
    with Gradebook(f"sqlite:///{course['dir'] / 'gradebook.db'}") as gradebook:
        assert gradebook.find_assignment(ASSIGNMENT).max_score == AUTO_POINTS + REPORT_POINTS

        reference = gradebook.find_submission(ASSIGNMENT, "ref")
        report = gradebook.find_grade("ps6_report", ASSIGNMENT, ASSIGNMENT, "ref")
        assert (reference.score, reference.needs_manual_grade) == (AUTO_POINTS, True), course["grading"].stdout
        assert (report.auto_score, report.needs_manual_grade, report.max_score) == (None, True, REPORT_POINTS)

        blank = gradebook.find_submission(ASSIGNMENT, "blank")
        assert (blank.score, blank.needs_manual_grade) == (0, False), course["grading"].stdout

        untrained = gradebook.find_submission(ASSIGNMENT, "untrained")
        assert untrained.score == AUTO_POINTS - RESULT_POINTS, course["grading"].stdout
