"""The nbgrader round trip of the assignments that train a model, through the real CLI.

A whole simulated class (tests/classes/, run by test_grading.py) would train dozens of models,
so these assignments get the round trip that matters most: generate the release, submit the
reference solution (`ref`) and the untouched release (`blank`), and a student whose training
cell only builds the model (`untrained`), then `python -m grading autograde` with the cell
timeout of nbgrader_config.py, as for a real class. Points are read back from the gradebook:

- `ref` earns every autograded point and waits for a person to grade its written answers;
- `blank` earns nothing, does not crash the grader, and needs no one (an unanswered written
  answer scores 0 by itself);
- `untrained` keeps the points of the pieces and loses exactly those of the trained result.
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from nbgrader.api import Gradebook

import classes
from classes._common import instructor_env, new_course, notebook_file, with_sources

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.grading


@dataclass(frozen=True)
class Training:
    """What a training assignment's reference earns, written down by hand from its notebook."""

    autograded: float  # points of the test cells
    written: dict[str, float]  # grade_id -> points of each answer graded by hand
    train_cell: str  # grade_id of the cell that trains the model
    untrained: str  # what the `untrained` student writes in it instead
    result_points: float  # points of the tests that judge the trained model
    env: tuple[tuple[str, str], ...] = ()


TRAINING = {
    "ps3_unet": Training(
        autograded=32, written={"ps3_written_answer": 3},
        train_cell="ps3_train", result_points=6,
        untrained="model = UNet(3, len(SyntheticShapes.CLASSES), base_channels=8, depth=3, padding=1, batch_norm=True)  # never trained\n",
    ),
    "ps6_capstone": Training(
        autograded=25, written={"ps6_report": 5},
        train_cell="ps6_train", untrained="model = build_model(NUM_CLASSES)  # never trained\n", result_points=9,
        env=(("PS6_DATA", "shapes"),),  # the CPU-sized data, whatever this machine holds
    ),
}


def _env(assignment: str) -> dict[str, str]:
    # No virtualenv on PATH, as for an instructor who did not activate it (see test_grading.py).
    return instructor_env(**dict(TRAINING[assignment].env))


def _run(cwd: Path, assignment: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, env=_env(assignment))


def test_every_assignment_has_a_round_trip():
    """Each assignment is graded end to end: a simulated class, or (training) this round trip."""
    with_class = {m.name for m in pkgutil.iter_modules(classes.__path__) if not m.name.startswith("_")}
    assignments = {p.name for p in (ROOT / "solutions").iterdir() if p.is_dir()}
    assert assignments == with_class | set(TRAINING), (sorted(assignments - with_class - set(TRAINING)), sorted(set(TRAINING) - assignments))
    assert not with_class & set(TRAINING)


# One worker per assignment under `--dist loadgroup` (tests/xdist_groups.py): it trains once.
@pytest.fixture(scope="module", params=sorted(TRAINING))
def course(request, tmp_path_factory):
    """A course directory with the release generated and three submissions autograded."""
    assignment, spec = request.param, TRAINING[request.param]
    course = tmp_path_factory.mktemp(f"course-{assignment}")
    release, solution = new_course(course, assignment, _env(assignment))
    notebook = f"{assignment}.ipynb"
    submissions = {"ref": solution, "blank": release, "untrained": with_sources(solution, **{spec.train_cell: spec.untrained})}
    for student, nb in submissions.items():
        folder = course / "submitted" / student / assignment
        folder.mkdir(parents=True)
        (folder / notebook).write_bytes(notebook_file(nb))
    grading = _run(course, assignment, "-m", "grading", "autograde", assignment, "--jobs", "3")
    return {"dir": course, "assignment": assignment, "spec": spec, "grading": grading}


def test_release_is_what_is_committed(course):
    """exercises/ is exactly what `nbgrader generate_assignment` makes from solutions/."""
    assignment = course["assignment"]
    generated, committed = course["dir"] / "exercises" / assignment, ROOT / "exercises" / assignment
    names = sorted(p.relative_to(generated) for p in generated.rglob("*") if p.is_file())
    assert names == sorted(p.relative_to(committed) for p in committed.rglob("*") if p.is_file())
    for name in names:
        assert (generated / name).read_bytes() == (committed / name).read_bytes(), f"exercises/{assignment}/{name} is stale: run `make release`"


def test_every_submission_is_graded_within_the_time_limit(course):
    grading = course["grading"]
    assert grading.returncode == 0, grading.stdout + grading.stderr
    assert "3 graded, 0 failed" in grading.stdout and "timed out" not in grading.stdout, grading.stdout


def test_points_in_the_gradebook(course):
    assignment, spec = course["assignment"], course["spec"]
    log = course["grading"].stdout
    with Gradebook(f"sqlite:///{course['dir'] / 'gradebook.db'}") as gradebook:
        assert gradebook.find_assignment(assignment).max_score == spec.autograded + sum(spec.written.values())

        ref = gradebook.find_submission(assignment, "ref")
        assert (ref.code_score, ref.written_score, ref.score, ref.needs_manual_grade) == (spec.autograded, 0, spec.autograded, True), log
        for grade_id, points in spec.written.items():
            written = gradebook.find_grade(grade_id, assignment, assignment, "ref")
            assert (written.max_score, written.auto_score, written.needs_manual_grade) == (points, None, True)

        blank = gradebook.find_submission(assignment, "blank")
        assert (blank.score, blank.needs_manual_grade) == (0, False), log
        for grade_id in spec.written:
            written = gradebook.find_grade(grade_id, assignment, assignment, "blank")
            assert (written.auto_score, written.needs_manual_grade) == (0, False)

        untrained = gradebook.find_submission(assignment, "untrained")
        assert untrained.code_score == spec.autograded - spec.result_points, log
