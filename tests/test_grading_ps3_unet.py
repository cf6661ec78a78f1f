"""The nbgrader round trip for `ps3_unet`, through the real CLI in a temporary course directory.

generate the release -> submit the reference solution (student `ref`) and the untouched release
(student `blank`) -> `python -m grading autograde` -> read the points back from the gradebook.
The reference earns every autograded point and waits for a person to grade its written answer;
the untouched release earns nothing, and its unanswered written answer needs no one.
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
ASSIGNMENT = "ps3_unet"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
AUTOGRADED, WRITTEN = 32, 3  # points of the test cells, and of the written answer graded by hand
WRITTEN_ANSWER = "ps3_written_answer"

pytestmark = pytest.mark.grading


def _env() -> dict[str, str]:
    # No virtualenv on PATH, as for an instructor who did not activate it (see tests/test_grading.py).
    path = [d for d in os.environ["PATH"].split(os.pathsep) if Path(d).resolve() != Path(sys.executable).parent.resolve()]
    return {**os.environ, "PATH": os.pathsep.join(path)}


def _run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, env=_env())


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A course directory with the release generated and both submissions autograded."""
    course = tmp_path_factory.mktemp(f"course-{ASSIGNMENT}")
    shutil.copy(ROOT / "nbgrader_config.py", course)
    shutil.copytree(ROOT / "grading", course / "grading", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "solutions" / ASSIGNMENT, course / "solutions" / ASSIGNMENT)
    generate = _run(course, "-m", "nbgrader", "generate_assignment", ASSIGNMENT, "--force")
    assert generate.returncode == 0, generate.stdout + generate.stderr
    for student, folder in (("ref", "solutions"), ("blank", "exercises")):
        submitted = course / "submitted" / student / ASSIGNMENT
        submitted.mkdir(parents=True)
        shutil.copy(course / folder / ASSIGNMENT / NOTEBOOK, submitted / NOTEBOOK)
    # The cell timeout is the one in nbgrader_config.py, as for a real class.
    grading = _run(course, "-m", "grading", "autograde", ASSIGNMENT)
    return {"dir": course, "grading": grading}


def test_release_is_what_is_committed(course):
    generated = (course["dir"] / "exercises" / ASSIGNMENT / NOTEBOOK).read_bytes()
    assert generated == (ROOT / "exercises" / ASSIGNMENT / NOTEBOOK).read_bytes(), f"exercises/{ASSIGNMENT} is stale: run `make release`"


def test_both_submissions_are_graded(course):
    grading = course["grading"]
    assert grading.returncode == 0, grading.stdout + grading.stderr
    assert "2 graded, 0 failed" in grading.stdout, grading.stdout


def test_reference_earns_every_autograded_point_and_waits_for_a_person(course):
    with Gradebook(f"sqlite:///{course['dir'] / 'gradebook.db'}") as gradebook:
        assert gradebook.find_assignment(ASSIGNMENT).max_score == AUTOGRADED + WRITTEN
        submission = gradebook.find_submission(ASSIGNMENT, "ref")
        assert (submission.code_score, submission.written_score, submission.score) == (AUTOGRADED, 0, AUTOGRADED), course["grading"].stdout
        assert submission.needs_manual_grade
        written = gradebook.find_grade(WRITTEN_ANSWER, ASSIGNMENT, ASSIGNMENT, "ref")
        assert written.max_score == WRITTEN and written.auto_score is None and written.needs_manual_grade


def test_untouched_release_earns_nothing_and_needs_no_one(course):
    with Gradebook(f"sqlite:///{course['dir'] / 'gradebook.db'}") as gradebook:
        submission = gradebook.find_submission(ASSIGNMENT, "blank")
        assert submission.score == 0, course["grading"].stdout
        assert not submission.needs_manual_grade  # "YOUR ANSWER HERE" left as it was scores 0 by itself
        written = gradebook.find_grade(WRITTEN_ANSWER, ASSIGNMENT, ASSIGNMENT, "blank")
        assert written.auto_score == 0 and not written.needs_manual_grade
