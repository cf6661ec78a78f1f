"""The grading round trip of `ps1_sliding_window` through the real nbgrader CLI, in a temporary course directory.

generate the release -> submit the reference solution (student `ref`) and the release untouched
(student `blank`) -> `python -m grading autograde` -> read the points from the gradebook.
The pattern of tests/test_grading.py, cut down to these two students.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from nbgrader.api import Gradebook

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT = "ps1_sliding_window"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
TOTAL, AUTOGRADED, WRITTEN = 28, 24, "ps1_written_answer"  # points; WRITTEN is the hand-graded answer cell
TIMEOUT = 120  # seconds per cell; the slowest cell takes a few seconds on a busy 2-core CPU

pytestmark = pytest.mark.grading


def _env() -> dict[str, str]:
    # No virtualenv on PATH, as in tests/test_grading.py: nbgrader_config.py must cope.
    path = [d for d in os.environ["PATH"].split(os.pathsep) if Path(d).resolve() != Path(sys.executable).parent.resolve()]
    return {**os.environ, "PATH": os.pathsep.join(path)}


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A course directory with the release generated and two submissions autograded."""
    course = tmp_path_factory.mktemp("course")
    shutil.copy(ROOT / "nbgrader_config.py", course)
    shutil.copytree(ROOT / "solutions" / ASSIGNMENT, course / "solutions" / ASSIGNMENT)
    generate = subprocess.run(
        [sys.executable, "-m", "nbgrader", "generate_assignment", ASSIGNMENT, "--force"],
        cwd=course, capture_output=True, text=True, env=_env(),
    )
    assert generate.returncode == 0, generate.stdout + generate.stderr
    for student, source in [("ref", course / "solutions"), ("blank", course / "exercises")]:
        folder = course / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        shutil.copy(source / ASSIGNMENT / NOTEBOOK, folder / NOTEBOOK)
    grading = subprocess.run(
        [sys.executable, "-m", "grading", "autograde", ASSIGNMENT, "--course-dir", str(course), f"--Execute.timeout={TIMEOUT}"],
        cwd=ROOT, capture_output=True, text=True, env=_env(),
    )
    return {"dir": course, "grading": grading}


def test_release_is_what_is_committed(course):
    generated = course["dir"] / "exercises" / ASSIGNMENT / NOTEBOOK
    assert generated.read_bytes() == (ROOT / "exercises" / ASSIGNMENT / NOTEBOOK).read_bytes(), (
        f"exercises/{ASSIGNMENT} is stale: run `make release ASSIGNMENT={ASSIGNMENT}`"
    )


def test_reference_gets_every_autograded_point_and_untouched_gets_none(course):
    grading = course["grading"]
    assert grading.returncode == 0, grading.stdout + grading.stderr
    with Gradebook(f"sqlite:///{course['dir'] / 'gradebook.db'}") as gradebook:
        assignment = gradebook.find_assignment(ASSIGNMENT)
        assert (assignment.max_score, assignment.max_code_score, assignment.max_written_score) == (TOTAL, AUTOGRADED, TOTAL - AUTOGRADED)

        ref = gradebook.find_submission(ASSIGNMENT, "ref")
        assert ref.score == AUTOGRADED, grading.stdout
        # Every autograded cell has full marks; the written answer waits for a person.
        grades = ref.notebooks[0].grades
        assert [g.name for g in grades if g.needs_manual_grade] == [WRITTEN]
        assert all(g.score == g.max_score for g in grades if g.name != WRITTEN), [(g.name, g.score) for g in grades]

        blank = gradebook.find_submission(ASSIGNMENT, "blank")
        assert blank.score == 0, grading.stdout
        # The unchanged answer cell is recognised as "no response": 0 points, nothing left to grade by hand.
        assert not blank.needs_manual_grade
