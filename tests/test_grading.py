"""The grading round trip through the real nbgrader CLI, in a temporary course directory.

generate the release -> place one submission per student -> `python -m grading autograde`
(with feedback) -> read the gradebook directly. Each student is a kind of submission an
instructor meets; the points each deserves are written down here by hand.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.validator import Validator

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT = "ps2_upsampling"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
TIMEOUT = 10  # seconds per cell for this test: the class's solutions each take well under a second

pytestmark = pytest.mark.grading


def _env() -> dict[str, str]:
    # No virtualenv on PATH, as for an instructor who did not activate it: nbgrader_config.py must cope
    # (nbgrader runs `alembic` from PATH when it creates the gradebook).
    path = [d for d in os.environ["PATH"].split(os.pathsep) if Path(d).resolve() != Path(sys.executable).parent.resolve()]
    return {**os.environ, "PATH": os.pathsep.join(path)}


def _run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, env=_env())


def _cell(nb, grade_id: str):
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            return cell
    raise KeyError(grade_id)


def _completed_release(release, solution):
    """The release notebook with every solution cell answered as the reference solution does."""
    nb = copy.deepcopy(release)
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            cell.source = _cell(solution, meta["grade_id"]).source
    return nb


def _with(nb, **sources: str):
    """A copy of nb with the cells named by grade_id given new source code."""
    nb = copy.deepcopy(nb)
    for grade_id, source in sources.items():
        _cell(nb, grade_id).source = source
    return nb


def _without(nb, grade_id: str):
    nb = copy.deepcopy(nb)
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != grade_id]
    return nb


def _class(release, solution) -> dict[str, tuple[object, str, float | None]]:
    """student -> (notebook, expected status, expected points out of 25 in the gradebook)."""
    done = _completed_release(release, solution)
    wrong_nearest = "def nearest_upsample(x, scale):\n    return x\n"
    return {
        # The reference solution, as committed.
        "s01_reference": (solution, "graded", 25),
        # Opened and submitted without an answer.
        "s02_untouched": (release, "graded", 0),
        # nearest_upsample never returns: its two test cells time out (2 + 1 points lost), the rest run.
        "s03_infinite_loop": (_with(done, ps2_nearest_upsample="def nearest_upsample(x, scale):\n    while True:\n        pass\n"), "graded", 22),
        # Kills its kernel: nbgrader records a bare 0 in the gradebook, so the summary must say why.
        "s04_kernel_death": (_with(done, ps2_conv_matrix="import os\nos._exit(1)\n"), "failed", 0),
        # A wrong nearest_upsample and its visible test edited to `pass`: the test is restored, 3 points lost.
        "s05_edits_test_to_pass": (_with(done, ps2_nearest_upsample=wrong_nearest, ps2_nearest_upsample_example="pass\n"), "graded", 22),
        # A wrong max_unpool and its visible test cell deleted: the cell is restored, 2 + 2 points lost.
        "s06_deletes_test_cell": (
            _without(_with(done, ps2_max_unpool="def max_unpool(x, indices, output_size):\n    return x.new_zeros(*x.shape[:2], *output_size)\n"), "ps2_max_unpool_example"),
            "graded",
            21,
        ),
        # Imports the reference answer, and calls the built-in for another: both switched off, 3 + 3 lost.
        "s07_imports_seglib": (
            _with(
                done,
                ps2_bed_of_nails="from seglib.ops import bed_of_nails\n",
                ps2_nearest_upsample="import torch.nn.functional as F\n\ndef nearest_upsample(x, scale):\n    return F.interpolate(x, scale_factor=scale, mode='nearest')\n",
            ),
            "graded",
            19,
        ),
        # zero_insert returns an object equal to everything: zero_insert (2) and bilinear (2 + 1) lost.
        "s08_always_equal": (
            _with(
                done,
                ps2_zero_insert=_cell(done, "ps2_zero_insert").source
                + "\n\nclass Agreeable:\n    def __eq__(self, other):\n        return True\n\n\ndef zero_insert(x, scale):\n    return Agreeable()\n",
            ),
            "graded",
            20,
        ),
    }


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A graded course directory: release generated, class submitted, autograded, feedback written."""
    course = tmp_path_factory.mktemp("course")
    shutil.copy(ROOT / "nbgrader_config.py", course)
    shutil.copytree(ROOT / "solutions", course / "solutions")
    generate = _run(course, "-m", "nbgrader", "generate_assignment", ASSIGNMENT, "--force")
    assert generate.returncode == 0, generate.stdout + generate.stderr

    release = nbformat.read(course / "exercises" / ASSIGNMENT / NOTEBOOK, as_version=4)
    solution = nbformat.read(course / "solutions" / ASSIGNMENT / NOTEBOOK, as_version=4)
    students = _class(release, solution)
    for student, (nb, _, _) in students.items():
        folder = course / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / NOTEBOOK)

    grading = subprocess.run(
        [sys.executable, "-m", "grading", "autograde", ASSIGNMENT, "--course-dir", str(course), "--feedback", f"--Execute.timeout={TIMEOUT}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=_env(),
    )
    return {"dir": course, "students": students, "grading": grading}


def test_release_is_what_is_committed(course):
    """exercises/ in the repository is exactly what `nbgrader generate_assignment` makes from solutions/."""
    generated = course["dir"] / "exercises"
    committed = ROOT / "exercises"
    names = sorted(p.relative_to(generated) for p in generated.rglob("*") if p.is_file())
    assert names == sorted(p.relative_to(committed) for p in committed.rglob("*") if p.is_file())
    for name in names:
        assert (generated / name).read_bytes() == (committed / name).read_bytes(), f"exercises/{name} is stale: run `make release`"


def test_every_student_gets_exactly_the_points_they_deserve(course):
    """Read from the gradebook itself, not from the grading command's summary."""
    got, expected = {}, {}
    with Gradebook(f"sqlite:///{course['dir'] / 'gradebook.db'}") as gradebook:
        assert gradebook.find_assignment(ASSIGNMENT).max_score == 25
        for student, (_, status, points) in course["students"].items():
            expected[student] = points
            try:
                got[student] = gradebook.find_submission(ASSIGNMENT, student).score
            except MissingEntry:
                got[student] = "no submission recorded"
    assert got == expected, course["grading"].stdout


def test_summary_reports_the_kernel_death_and_the_timeouts(course):
    grading = course["grading"]
    assert grading.returncode == 1, "a failed student must make the grading command fail"
    summary = grading.stdout
    lines = {line.split()[0]: line for line in summary.splitlines() if line.startswith("s0")}
    assert set(lines) == set(course["students"]), summary
    assert "FAILED" in lines["s04_kernel_death"]
    assert "s04_kernel_death: the kernel died" in summary
    assert "s03_infinite_loop: ps2_upsampling.ipynb: cell ps2_nearest_upsample_example timed out" in summary
    assert "s03_infinite_loop: ps2_upsampling.ipynb: cell ps2_nearest_upsample_hidden timed out" in summary
    assert "7 graded, 1 failed" in summary
    for student, (_, status, points) in course["students"].items():
        if status == "graded":
            assert f"{points:g} / 25" in lines[student], lines[student]


def test_feedback_html_for_every_graded_student(course):
    for student, (_, status, _) in course["students"].items():
        html = course["dir"] / "feedback" / student / ASSIGNMENT / f"{ASSIGNMENT}.html"
        assert html.is_file() == (status == "graded"), student
    assert "feedback written for 7 students" in course["grading"].stdout


def test_validator_passes_the_solution_and_fails_the_release(course):
    """nbgrader's Validator (not `nbgrader validate`, whose exit status is 0 even when tests fail)."""
    validator = Validator()
    solved = validator.validate(str(course["dir"] / "solutions" / ASSIGNMENT / NOTEBOOK))
    assert not solved.get("failed") and not solved.get("changed"), solved
    released = validator.validate(str(course["dir"] / "exercises" / ASSIGNMENT / NOTEBOOK))
    failed = [entry["source"].splitlines()[0] for entry in released["failed"]]
    # Every visible test fails on the untouched release (hidden tests are empty there and pass).
    assert len(released["failed"]) == 8, failed
