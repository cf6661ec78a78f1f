"""The instructor's grading flow, through the real nbgrader CLI, in a temporary course directory.

For every assignment with a simulated class in `tests/classes/` (see its `__init__.py`):
generate the release -> hand in one submission per student -> `python -m grading intake` ->
`python -m grading autograde --feedback` -> `python -m grading report` and `nbgrader export`
-> change one test cell's points, regenerate, regrade everyone. Each student's points are
written down in the class table and read back from the gradebook itself.

The tests without the `grading` mark are fast checks of the same pieces on small inputs: intake's
repairs, the feedback preprocessor, the configuration's fallback, the student bundle's leak check.
"""

from __future__ import annotations

import ast
import copy
import csv
import html
import importlib
import json
import os
import pkgutil
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.validator import Validator
from traitlets.config import Config

import classes
from classes._common import cell, completed, instructor_env, new_course, notebook_file, points_of, strip_metadata, with_cell_after

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # `grading` lives in the course root, beside nbgrader_config.py

from grading.bundle import find_secrets  # noqa: E402
from grading.feedback import HideHiddenTests, leaked_lines  # noqa: E402
from grading.intake import check_submission, repair_metadata  # noqa: E402

# Seconds per cell while grading the class. The slowest honest cells (importing torch, ps4's ASPP
# tests) take 3 to 4 s on a quiet 2-core machine and about three times that while two classes are
# graded at once. The endless-loop student waits this long once per test cell that calls the loop.
TIMEOUT = 30
# Students graded at once: one more than the 2 cores, since the endless-loop student only waits.
JOBS = 3
# Cell time limit, and how long an interrupted cell may take to fall quiet (nbgrader's 4 s is short
# for a starved kernel; running out of it fails the whole notebook).
LIMITS = (f"--Execute.timeout={TIMEOUT}", "--Execute.iopub_timeout=30")
# Report statuses of a student whose notebook was autograded: MANUAL is GRADED with an answer
# still to grade by hand (its points so far are the autograded ones).
AUTOGRADED = ("GRADED", "MANUAL")
CLASSES = sorted(m.name for m in pkgutil.iter_modules(classes.__path__) if not m.name.startswith("_"))
BEGIN_END = re.compile(r"### (BEGIN|END) (SOLUTION|HIDDEN TESTS)")


# --- helpers ---------------------------------------------------------------------------------


_env = instructor_env  # no virtualenv on PATH: nbgrader_config.py must cope


def _run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, env=_env())


def _grading(course: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m grading` as an instructor runs it: from the course root."""
    return _run(course, "-m", "grading", *args)


def _read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def _regions(source: str) -> dict[str, list[str]]:
    """Stripped lines inside the solution and hidden-test regions of a cell, by kind."""
    found: dict[str, list[str]] = {"SOLUTION": [], "HIDDEN TESTS": []}
    kind = None
    for line in source.splitlines():
        marker = BEGIN_END.search(line)
        if marker:
            kind = marker.group(2) if marker.group(1) == "BEGIN" else None
        elif kind:
            found[kind].append(line.strip())
    return found


def _public() -> set[str]:
    """Stripped lines the course publishes on purpose: every release notebook, the book, seglib.
    A solution or hidden-test line found there too is shared code (`n, c, h, w = x.shape`), not a leak."""
    notebooks = sorted((ROOT / "exercises").glob("*/*.ipynb")) + sorted((ROOT / "book").rglob("*.ipynb"))
    texts = [c.source for p in notebooks for c in _read(p).cells]
    texts += [p.read_text() for p in sorted((ROOT / "book").rglob("*.md")) + sorted((ROOT / "seglib").rglob("*.py"))]
    lines = {line.strip() for text in texts for line in text.splitlines()}
    return lines | {line.split("#")[0].strip() for line in lines}  # `x = 1  # why` publishes `x = 1`


def _secret(kind: str, min_length: int = 20) -> set[str]:
    """Lines of `kind` regions ("SOLUTION" or "HIDDEN TESTS") of every assignment's source
    notebooks, of at least `min_length` characters, that the course does not publish anyway."""
    lines = set()
    for source in sorted((ROOT / "solutions").glob("*/*.ipynb")):
        for c in _read(source).cells:
            lines |= {line for line in _regions(c.source)[kind] if len(line) >= min_length}
    lines = {line for line in lines if not line.startswith("# feedback:")}  # descriptions feedback shows on purpose
    lines -= _public()
    # A line that a release states on purpose inside a longer one (a hint: "with `core = ...`") is public too.
    releases = sorted((ROOT / "exercises").glob("*/*.ipynb"))
    return {line for line in lines if not any(_found(p, {line}) for p in releases)}


def _descriptions(source: str) -> list[str]:
    """The text of the `# feedback:` lines of a cell's hidden region: what feedback says it checks."""
    return [line[len("# feedback:") :].strip() for line in _regions(source)["HIDDEN TESTS"] if line.startswith("# feedback:")]


def _visible_text(path: Path) -> list[str]:
    """A file's text in each form a line could take: as stored, as the strings of a JSON document
    (notebooks escape quotes), as the text of an HTML page (code is highlighted token by token)."""
    try:
        raw = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return []
    forms = [raw, html.unescape(re.sub(r"<[^>]+>", "", raw))]
    if path.suffix in (".ipynb", ".json"):
        strings = []
        stack = [json.loads(raw)]
        while stack:
            item = stack.pop()
            if isinstance(item, str):
                strings.append(item)
            elif isinstance(item, list):
                strings.append("".join(x for x in item if isinstance(x, str)))
                stack.extend(item)
            elif isinstance(item, dict):
                stack.extend(item.values())
        forms.append("\n".join(strings))
    return forms


def _visible_text_of(content: bytes) -> list[str]:
    """The source lines of a submitted notebook file (none when it is not one)."""
    try:
        cells = json.loads(content)["cells"]
    except (ValueError, KeyError, TypeError):  # empty, invalid JSON, not a notebook
        return []
    return [line for c in cells for line in "".join(c.get("source", "")).splitlines()]


def _found(path: Path, lines: set[str]) -> set[str]:
    """The lines that occur in a file as code of their own (`_pass = 1` is not in `ps6_pass = 1`)."""
    forms = _visible_text(path)
    return {line for line in lines if any(line in form and re.search(r"(?<![\w.])" + re.escape(line) + r"(?!\w)", form) for form in forms)}


# --- the class, graded once per assignment -----------------------------------------------------


def _place(course: Path, assignment: str, students) -> None:
    for student in students:
        if student.files is None:
            continue
        folder = course / "submitted" / student.name / assignment
        folder.mkdir(parents=True)
        for name, content in student.files.items():
            (folder / name).write_bytes(content)


def _scores(course: Path, assignment: str) -> dict[str, float | None]:
    """Student -> points in the gradebook (None: no submission recorded), for every student in it."""
    scores = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        for student in gradebook.students:
            try:
                scores[student.id] = gradebook.find_submission(assignment, student.id).score
            except MissingEntry:
                scores[student.id] = None
    return scores


# `make test-grading` grades two classes at once: under `--dist loadgroup`, tests/xdist_groups.py
# sends all the tests of one class (one parameter) to the same worker, which grades it once.
@pytest.fixture(scope="module", params=CLASSES)
def graded(request, tmp_path_factory):
    """A course after intake, autograde with feedback, report and export, for one assignment."""
    table = importlib.import_module(f"classes.{request.param}")
    assignment = table.ASSIGNMENT
    course = tmp_path_factory.mktemp(f"course-{assignment}")
    new_course(course, assignment)

    [name] = [p.stem for p in (course / "exercises" / assignment).glob("*.ipynb")] or [None]
    release = _read(course / "exercises" / assignment / f"{name}.ipynb")
    solution = _read(course / "solutions" / assignment / f"{name}.ipynb")
    students = table.students(release, solution)
    _place(course, assignment, students)
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:  # the roster
        for student in students:
            gradebook.update_or_create_student(student.name)

    state = {"dir": course, "assignment": assignment, "table": table, "students": {s.name: s for s in students}, "release": release}
    state["intake"] = _grading(course, "intake", assignment)
    state["autograde"] = _grading(course, "autograde", assignment, "--feedback", "--jobs", str(JOBS), *LIMITS)
    state["scores"] = _scores(course, assignment)
    state["report"] = _grading(course, "report", "--csv", "report.csv")
    with open(course / "report.csv", newline="") as f:
        state["csv"] = list(csv.DictReader(f))
    export = _run(course, "-m", "nbgrader", "export")
    assert export.returncode == 0, export.stdout + export.stderr
    with open(course / "grades.csv", newline="") as f:
        state["export"] = [row for row in csv.DictReader(f) if row["assignment"] == assignment]
    return state


@pytest.mark.grading
def test_release_is_what_is_committed(graded):
    """exercises/ in the repository is exactly what `nbgrader generate_assignment` makes from solutions/."""
    assignment = graded["assignment"]
    generated = graded["dir"] / "exercises" / assignment
    committed = ROOT / "exercises" / assignment
    names = sorted(p.relative_to(generated) for p in generated.rglob("*") if p.is_file())
    assert names == sorted(p.relative_to(committed) for p in committed.rglob("*") if p.is_file())
    for name in names:
        assert (generated / name).read_bytes() == (committed / name).read_bytes(), f"exercises/{assignment}/{name} is stale: run `make release`"


@pytest.mark.grading
def test_class_table_is_consistent(graded):
    """Each graded student's points are the total minus the points of the test cells they fail."""
    release = graded["release"]
    ids = {c.metadata.nbgrader["grade_id"] for c in release.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade")}
    for student in graded["students"].values():
        assert set(student.lost) <= ids, (student.name, set(student.lost) - ids)
        if student.status in AUTOGRADED:
            assert student.points == points_of(release, student.lost), student.name


@pytest.mark.grading
def test_intake_has_one_row_per_submission_with_its_verdict(graded):
    run = graded["intake"]
    assert run.returncode == (1 if any(s.intake == "rejected" for s in graded["students"].values()) else 0), run.stdout + run.stderr
    rows = {line.split()[0]: line.split()[1] for line in run.stdout.splitlines() if line and line.split()[0] in graded["students"]}
    expected = {s.name: s.intake.upper() for s in graded["students"].values() if s.intake is not None}
    assert rows == expected, run.stdout
    # The originals of every changed submission are kept.
    for student in graded["students"].values():
        backup = graded["dir"] / "submitted" / student.name / graded["assignment"] / ".intake-original"
        assert backup.is_dir() == (student.intake == "fixed"), student.name
        if student.intake == "fixed":
            assert {p.name: p.read_bytes() for p in backup.iterdir()} == student.files


@pytest.mark.grading
def test_every_student_gets_exactly_the_points_written_down(graded):
    """Read from the gradebook itself; a student with no folder has no submission recorded."""
    expected = {s.name: s.points for s in graded["students"].values()}
    assert graded["scores"] == expected, graded["autograde"].stdout


@pytest.mark.grading
def test_autograde_summary_names_every_failure(graded):
    run = graded["autograde"]
    failed = sorted(s.name for s in graded["students"].values() if s.status == "FAILED")
    assert run.returncode == (1 if failed else 0), run.stdout + run.stderr
    summary = run.stdout
    rows = {line.split()[0]: line for line in summary.splitlines() if line and line.split()[0] in graded["students"]}
    for student in graded["students"].values():
        if student.files is None:
            assert student.name not in rows
        elif student.status == "FAILED":
            assert "FAILED" in rows[student.name], rows[student.name]
        else:
            assert f"{student.points:g} / " in rows[student.name], rows[student.name]
    assert f"{len(rows) - len(failed)} graded, {len(failed)} failed" in summary, summary


@pytest.mark.grading
def test_report_lists_every_student_with_status_and_reason(graded):
    report = graded["report"]
    assert report.returncode == 0, report.stdout + report.stderr
    by_student = {row["student"]: row for row in graded["csv"]}
    assert set(by_student) == set(graded["students"]), "the CSV must list every student, once"
    for student in graded["students"].values():
        row = by_student[student.name]
        assert row["assignment"] == graded["assignment"]
        assert row["status"] == student.status, (student.name, row)
        if student.reason:
            assert student.reason in row["reasons"], (student.name, row)
            assert student.reason in report.stdout, student.name
        if student.status in AUTOGRADED:
            assert float(row["points"]) == student.points, (student.name, row)
        if student.status in ("FAILED", "MISSING"):
            assert row["reasons"], f"{student.name} fails without a reason"
            table_row = next(line for line in report.stdout.splitlines() if line.startswith(student.name + " "))
            assert student.status in table_row, table_row  # never a bare 0 in the table


@pytest.mark.grading
def test_nbgrader_export_lists_every_student(graded):
    exported = {row["student_id"]: float(row["score"]) for row in graded["export"]}
    assert exported == {s.name: s.points or 0.0 for s in graded["students"].values()}


@pytest.mark.grading
def test_feedback_for_every_graded_student_and_no_hidden_test_anywhere_in_it(graded):
    course, assignment = graded["dir"], graded["assignment"]
    hidden = _secret("HIDDEN TESTS")
    assert hidden, "the oracle found no hidden-test lines"
    pages = {}
    for student in graded["students"].values():
        page = course / "feedback" / student.name / assignment / f"{assignment}.html"
        assert page.is_file() == (student.status in AUTOGRADED), student.name
        if page.is_file():
            pages[student.name] = page
            # A line the student's own notebook has (`n, c, h, w = x.shape`) is theirs, not a leak.
            own = {line.strip() for content in student.files.values() for line in _visible_text_of(content)}
            leaks = _found(page, hidden - own)
            assert not leaks, (student.name, sorted(leaks)[:3])
    # The oracle has teeth: the autograded notebooks the pages were made from show the hidden tests.
    untouched = next(s.name for s in graded["students"].values() if s.status == "GRADED" and s.points == 0)
    assert _found(course / "autograded" / untouched / assignment / f"{assignment}.ipynb", hidden)
    # A failed hidden test is reported by the course's description of its checks (its `# feedback:` lines).
    text = html.unescape(re.sub(r"<[^>]+>", "", pages[untouched].read_text()))
    source = _read(next((ROOT / "solutions" / assignment).glob("*.ipynb")))
    described = {c.metadata.nbgrader["grade_id"]: _descriptions(c.source) for c in source.cells if "BEGIN HIDDEN TESTS" in c.source}
    reported = [g for g in described if f"hidden test {g} failed" in text]
    assert reported, text[:3000]
    assert all(d in text for g in reported for d in described[g])
    assert f"feedback written for {len(pages)} students" in graded["autograde"].stdout


@pytest.mark.grading
def test_plain_nbgrader_feedback_is_safe_too(graded):
    """nbgrader_config.py puts HideHiddenTests into `nbgrader generate_feedback` itself."""
    course, assignment = graded["dir"], graded["assignment"]
    untouched = next(s.name for s in graded["students"].values() if s.status == "GRADED" and s.points == 0)
    page = course / "feedback" / untouched / assignment / f"{assignment}.html"
    own = {line.strip() for line in _visible_text_of(graded["students"][untouched].files[f"{assignment}.ipynb"])}
    hidden = _secret("HIDDEN TESTS") - own
    # Without the preprocessor, nbgrader's feedback shows the hidden tests: the check below has teeth.
    plain = _run(course, "-m", "nbgrader", "generate_feedback", assignment, "--student", untouched, "--force", "--HideHiddenTests.enabled=False")
    assert plain.returncode == 0 and _found(page, hidden), plain.stdout + plain.stderr
    run = _run(course, "-m", "nbgrader", "generate_feedback", assignment, "--student", untouched, "--force")
    assert run.returncode == 0, run.stdout + run.stderr
    assert page.is_file() and not _found(page, hidden)


def _has_visible_check(source: str) -> bool:
    """Whether a test cell has statements outside its hidden-test region (its docstring aside)."""
    lines, hidden = [], False
    for line in source.splitlines():
        marker = BEGIN_END.search(line)
        if marker and marker.group(2) == "HIDDEN TESTS":
            hidden = marker.group(1) == "BEGIN"
        elif not hidden:
            lines.append(line)
    body = ast.parse("\n".join(lines)).body
    return any(not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)) for node in body)


@pytest.mark.grading
def test_validator_passes_the_solution_and_fails_the_release(graded):
    """nbgrader's Validator (not `nbgrader validate`, whose exit status is 0 even when tests fail)."""
    course, assignment = graded["dir"], graded["assignment"]
    # The class's cell limits: nbgrader's default of 30 s can run out on `import torch` on a busy machine.
    config = Config()
    config.Execute.timeout, config.Execute.iopub_timeout = TIMEOUT, 30
    validator = Validator(config=config)
    for source in (course / "solutions" / assignment).glob("*.ipynb"):
        solved = validator.validate(str(source))
        assert not solved.get("failed") and not solved.get("changed"), solved
        release = _read(course / "exercises" / assignment / source.name)
        released = validator.validate(str(course / "exercises" / assignment / source.name))
        by_source = {c.source.strip(): c.metadata.nbgrader["grade_id"] for c in release.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade")}
        failed = {by_source[e["source"]] for e in released["failed"]}
        # On the untouched release, the Validator must flag every written answer (still the
        # release's text) and every test cell with visible code: each visible test must fail
        # before the student writes anything. Cells that are hidden tests only pass there (empty).
        expected = set()
        for c in release.cells:
            meta = c.get("metadata", {}).get("nbgrader", {})
            if meta.get("grade") and (meta.get("solution") or _has_visible_check(c.source)):
                expected.add(meta["grade_id"])
        assert failed == expected, (sorted(failed - expected), sorted(expected - failed))


@pytest.mark.grading
def test_regrade_after_changing_points_changes_only_the_affected_students(graded):
    """Change one test cell's points in the source, regenerate, regrade: exactly the regraded
    students who pass that cell change score, by the change in its points.

    A class with `REGRADE_EVERYONE` is regraded whole. The others regrade four students (two who
    pass the cell, two who fail it) with `--student`, as an instructor does after a complaint:
    that keeps the suite's time (a whole class costs as much as grading it) and checks that the
    students not named keep their points."""
    table = graded["table"]
    if not hasattr(table, "REGRADE"):
        pytest.skip(f"{table.__name__} sets no REGRADE")
    grade_id, new_points = table.REGRADE
    course, assignment = graded["dir"], graded["assignment"]
    source_path = next((course / "solutions" / assignment).glob("*.ipynb"))
    source = _read(source_path)
    old_points = float(cell(source, grade_id).metadata.nbgrader["points"])
    assert new_points != old_points
    cell(source, grade_id).metadata.nbgrader["points"] = new_points
    nbformat.write(source, source_path)
    generate = _run(course, "-m", "nbgrader", "generate_assignment", assignment, "--force")
    assert generate.returncode == 0, generate.stdout + generate.stderr
    autograded = [s for s in graded["students"].values() if s.status in AUTOGRADED]
    if getattr(table, "REGRADE_EVERYONE", False):
        chosen, named = {s.name for s in graded["students"].values()}, []
    else:
        passing = [s.name for s in autograded if grade_id not in s.lost][:2]
        failing = [s.name for s in autograded if grade_id in s.lost][:2]
        assert passing and failing, f"pick a REGRADE cell that some students pass and some fail: {passing}, {failing}"
        chosen = set(passing + failing)
        named = [arg for name in sorted(chosen) for arg in ("--student", name)]
    regrade = _grading(course, "autograde", assignment, *named, "--jobs", str(JOBS), *LIMITS)
    after = _scores(course, assignment)

    changed = {}
    for student in graded["students"].values():
        before = graded["scores"][student.name]
        if student.name in chosen and student.status in AUTOGRADED and grade_id not in student.lost:
            changed[student.name] = before + new_points - old_points
        else:
            changed[student.name] = before
    assert after == changed, regrade.stdout
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        assert gradebook.find_assignment(assignment).max_score == points_of(graded["release"]) + new_points - old_points


# --- fast checks of the pieces -------------------------------------------------------------------

RELEASE = ROOT / "exercises" / "ps2_upsampling" / "ps2_upsampling.ipynb"
SOLUTION = ROOT / "solutions" / "ps2_upsampling" / "ps2_upsampling.ipynb"


@pytest.fixture(scope="module")
def ps2():
    release, solution = _read(RELEASE), _read(SOLUTION)
    return release, solution, completed(release, solution)


def _ids(nb) -> list[str | None]:
    return [c.get("metadata", {}).get("nbgrader", {}).get("grade_id") for c in nb.cells]


def test_repair_restores_stripped_metadata_exactly(ps2):
    release, _, done = ps2
    repair = repair_metadata(strip_metadata(done), release)
    assert not repair.problems and repair.notebook is not None
    assert [c.metadata for c in repair.notebook.cells] == [c.metadata for c in done.cells]
    assert [c.source for c in repair.notebook.cells] == [c.source for c in done.cells]


def test_repair_matches_answers_by_the_functions_they_define(ps2):
    """A scratch cell beside an answer: the answer is the cell that defines the function."""
    release, _, done = ps2
    nb = strip_metadata(with_cell_after(done, "ps2_nearest_upsample", "print(nearest_upsample(torch.ones(1, 1, 2, 2), 2))"))
    repair = repair_metadata(nb, release)
    assert not repair.problems
    ids = _ids(repair.notebook)
    assert ids.count("ps2_nearest_upsample") == 1
    assert "def nearest_upsample" in repair.notebook.cells[ids.index("ps2_nearest_upsample")].source


def test_repair_refuses_to_guess(ps2):
    release, _, done = ps2
    nb = strip_metadata(with_cell_after(done, "ps2_nearest_upsample", "def nearest_upsample(x, scale):\n    return x\n"))
    repair = repair_metadata(nb, release)
    assert repair.notebook is None and repair.problems
    assert "could not repair answer cell ps2_nearest_upsample" in repair.problems[0]
    chapter = _read(ROOT / "book" / "05_upsampling.ipynb")
    assert "right notebook" in repair_metadata(chapter, release).problems[0]


def test_repair_leaves_what_nbgrader_handles_alone(ps2):
    """An edited or deleted test cell with metadata intact: nbgrader restores it; intake only notes it."""
    release, _, done = ps2
    edited = copy.deepcopy(done)
    cell(edited, "ps2_zero_insert_example").source = "pass"
    repair = repair_metadata(edited, release)
    assert repair.notebook is None and not repair.problems and "ps2_zero_insert_example was edited" in repair.notes[0]
    deleted = copy.deepcopy(done)
    deleted.cells.remove(cell(deleted, "ps2_conv_transpose_hidden"))
    repair = repair_metadata(deleted, release)
    assert repair.notebook is None and "ps2_conv_transpose_hidden was deleted" in repair.notes[0]


def test_repair_puts_back_a_deleted_answer_cell(ps2):
    """nbgrader crashes on a test cell whose answer cell is gone; intake puts back the empty answer."""
    release, _, done = ps2
    nb = copy.deepcopy(done)
    nb.cells.remove(cell(nb, "ps2_bed_of_nails"))
    repair = repair_metadata(nb, release)
    assert _ids(repair.notebook) == _ids(done)
    assert cell(repair.notebook, "ps2_bed_of_nails").source == cell(release, "ps2_bed_of_nails").source
    assert "graded as unanswered" in repair.actions[0]


@pytest.mark.parametrize(
    "name, content, status, phrase",
    [
        ("ps2_upsampling (1).ipynb", "done", "fixed", "renamed 'ps2_upsampling (1).ipynb'"),
        ("ps2_upsampling-Copy1.ipynb", "done", "fixed", "renamed"),
        ("my answers.ipynb", "done", "fixed", "renamed 'my answers.ipynb'"),  # recognised by content
        ("ps2_upsampling.ipynb", "", "rejected", "is empty"),
        ("ps2_upsampling.ipynb", "{\"cells\": [", "rejected", "not valid JSON"),
        ("ps2_upsampling.ipynb", "[1, 2]", "rejected", "not a Jupyter notebook"),
        ("notes.txt", "hello", "rejected", "the folder holds no notebook"),
    ],
)
def test_intake_files(tmp_path, ps2, name, content, status, phrase):
    release, _, done = ps2
    folder = tmp_path / "submitted" / "alice" / "ps2_upsampling"
    folder.mkdir(parents=True)
    data = notebook_file(done) if content == "done" else content.encode()
    (folder / name).write_bytes(data)
    result = check_submission(folder, "alice", {"ps2_upsampling": release})
    assert result.status == status, result
    assert any(phrase in line for line in result.actions + result.problems), result
    if status == "fixed":
        assert (folder / "ps2_upsampling.ipynb").read_bytes() == data
        assert (folder / ".intake-original" / name).read_bytes() == data


def test_intake_will_not_choose_between_two_copies(tmp_path, ps2):
    release, _, done = ps2
    folder = tmp_path / "s" / "ps2_upsampling"
    folder.mkdir(parents=True)
    for name in ("Copy of ps2_upsampling.ipynb", "ps2_upsampling (1).ipynb"):
        (folder / name).write_bytes(notebook_file(done))
    result = check_submission(folder, "s", {"ps2_upsampling": release})
    assert result.status == "rejected" and "2 of them could be it" in result.problems[0]
    assert not (folder / "ps2_upsampling.ipynb").exists()


def _autograded_like(solution, failing: str):
    """What an autograded notebook looks like: hidden tests in place, one of them failed."""
    nb = copy.deepcopy(solution)
    for c in nb.cells:
        if c.cell_type == "code":
            c.outputs = []
    hidden_line = next(line for line in cell(nb, failing).source.splitlines() if "check_tensor(" in line)
    cell(nb, failing).outputs = [
        nbformat.v4.new_output("error", ename="AssertionError", evalue="nearest_upsample(x of shape (2, 3, 3, 5), 3): expected shape (2, 3, 9, 15)", traceback=["Traceback", f"----> 7 {hidden_line}", "AssertionError: expected shape (2, 3, 9, 15)"]),
    ]
    # A student's later cell that prints the source of the hidden test (IPython keeps it in `In`).
    cell(nb, "ps2_bed_of_nails").outputs = [nbformat.v4.new_output("stream", name="stdout", text=cell(nb, failing).source)]
    return nb, hidden_line


def test_hide_hidden_tests_removes_source_tracebacks_and_echoes(ps2):
    _, solution, _ = ps2
    nb, hidden_line = _autograded_like(solution, "ps2_nearest_upsample_hidden")
    shown = {line.strip() for c in _read(RELEASE).cells for line in c.source.splitlines()}
    secret = {line.strip() for c in solution.cells for line in _regions(c.source)["HIDDEN TESTS"] if len(line.strip()) >= 12} - shown
    out, _ = HideHiddenTests().preprocess(nb, {})
    dump = json.dumps(out)
    assert not [line for line in secret if line in dump or json.dumps(line)[1:-1] in dump]
    failed = cell(out, "ps2_nearest_upsample_hidden").outputs
    assert [o.ename for o in failed] == ["AssertionError"] and "(2, 3, 9, 15)" not in dump
    assert '# nearest_upsample on several channels' in cell(out, "ps2_nearest_upsample_hidden").source  # the leading comment stays
    assert "quoted a hidden test" in cell(out, "ps2_bed_of_nails").outputs[0].text
    assert cell(out, "ps2_bed_of_nails_example").source == cell(solution, "ps2_bed_of_nails_example").source  # others untouched


def test_every_hidden_region_describes_its_checks_without_their_code():
    """Each hidden region of every assignment has `# feedback:` descriptions, and none of them
    holds a line of hidden-test code (of any cell: feedback shows descriptions, never code)."""
    for path in sorted((ROOT / "solutions").glob("*/*.ipynb")):
        cells = [c for c in _read(path).cells if "BEGIN HIDDEN TESTS" in c.source]
        assert cells, path
        code = {line for c in cells for line in _regions(c.source)["HIDDEN TESTS"] if len(line) >= 12 and not line.startswith("# feedback:")}
        for c in cells:
            described = _descriptions(c.source)
            assert described and all(len(d) > 40 for d in described), (path.name, c.metadata.nbgrader["grade_id"])
            quoted = [line for line in code for d in described if re.search(r"(?<![\w.])" + re.escape(line) + r"(?!\w)", d)]
            assert not quoted, (c.metadata.nbgrader["grade_id"], quoted)
    # The release never shows them: they are inside the hidden regions that nbgrader removes.
    assert not [p for p in (ROOT / "exercises").glob("*/*.ipynb") if "# feedback:" in p.read_text()]


def _gradebook_of(solution, tmp_path, monkeypatch, assignment="ps2_upsampling", extra: dict[str, str] | None = None) -> str:
    """A gradebook holding the solution's graded cells as `nbgrader generate_assignment` stores them."""
    monkeypatch.setenv("PATH", os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]))  # nbgrader runs `alembic`
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    with Gradebook(url) as gradebook:
        gradebook.add_assignment(assignment)
        gradebook.add_notebook(assignment, assignment)
        sources = {c.metadata.nbgrader["grade_id"]: c for c in solution.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade_id")}
        for grade_id, c in sources.items():
            source = (extra or {}).get(grade_id, c.source)
            gradebook.add_source_cell(grade_id, assignment, assignment, cell_type=c.cell_type, source=source, checksum=c.metadata.nbgrader.get("checksum"), locked=True)
    return url


def test_failed_hidden_test_shows_the_courses_description_and_nothing_the_kernel_said(ps2, tmp_path, monkeypatch):
    """The error of a failed hidden test is made of the gradebook's description and a known
    exception type; the kernel's type name, message, traceback and prints are all dropped."""
    _, solution, _ = ps2
    hidden_id = "ps2_bilinear_upsample_hidden"
    planted = cell(solution, "ps2_max_unpool_hidden").source.replace("### BEGIN HIDDEN TESTS", "### BEGIN HIDDEN TESTS\n# feedback: expected = F.max_unpool2d(values, idx, 2, output_size=shape[2:])")
    url = _gradebook_of(solution, tmp_path, monkeypatch, extra={"ps2_max_unpool_hidden": planted})
    nb = copy.deepcopy(solution)
    for c in nb.cells:
        if c.cell_type == "code":
            c.outputs = []
    secret = cell(nb, hidden_id).source
    hostile = [
        nbformat.v4.new_output("stream", name="stdout", text=secret[::-1]),
        nbformat.v4.new_output("error", ename="Leak_" + secret.encode().hex()[:80], evalue=secret[::-1], traceback=[secret[::-1], secret.encode().hex()]),
    ]
    cell(nb, hidden_id).outputs = hostile
    cell(nb, "ps2_max_unpool_hidden").outputs = [nbformat.v4.new_output("error", ename="AssertionError", evalue="", traceback=[])]
    cell(nb, "ps2_max_unpool_hidden").source = "assert True, 'a visible check'\n" + cell(nb, "ps2_max_unpool_hidden").source
    cell(nb, "ps2_conv_matrix_hidden").outputs = [nbformat.v4.new_output("error", ename="CellTimeoutError", evalue="", traceback=[])]
    cell(nb, "ps2_conv_transpose_hidden").outputs = [nbformat.v4.new_output("error", ename="RuntimeError", evalue="x", traceback=[])]
    cell(nb, "ps2_conv_transpose_hidden").metadata.nbgrader["grade_id"] = "not_in_the_gradebook"
    resources = {"nbgrader": {"db_url": url, "assignment": "ps2_upsampling", "notebook": "ps2_upsampling", "student": "s"}}
    out, _ = HideHiddenTests().preprocess(nb, resources)

    [error] = cell(out, hidden_id).outputs
    assert error.ename == "Exception"  # the student's own type: its name is not shown
    assert error.traceback[0] == f"Exception: hidden test {hidden_id} failed. What its hidden checks test (their code, values and messages are not shown):"
    assert error.traceback[1:] == [f"  - {d}" for d in _descriptions(cell(solution, hidden_id).source)]
    dump = json.dumps(out)
    assert secret.encode().hex()[:40] not in dump and "STSET NEDDIH NIGEB" not in dump
    # A description that quotes its test's code is left out; no description, the plain message.
    [error] = cell(out, "ps2_max_unpool_hidden").outputs
    assert error.traceback[0].startswith("AssertionError: test cell ps2_max_unpool_hidden failed, in a visible check (run the cell to see its message) or a hidden one.")
    assert error.traceback[1:] == [f"  - {d}" for d in _descriptions(cell(solution, "ps2_max_unpool_hidden").source)]
    [error] = cell(out, "ps2_conv_matrix_hidden").outputs
    assert error.ename == "CellTimeoutError" and error.traceback[0].startswith("CellTimeoutError: hidden test ps2_conv_matrix_hidden failed.")
    assert cell(out, "not_in_the_gradebook").outputs[0].traceback == ["RuntimeError: a hidden test in this cell failed (hidden tests, and their messages, are not shown)"]
    # Without a gradebook (a notebook converted on its own), every failure gets the plain message.
    nb = copy.deepcopy(solution)
    cell(nb, hidden_id).outputs = hostile
    out, _ = HideHiddenTests().preprocess(nb, {})
    assert cell(out, hidden_id).outputs[0].traceback == ["Exception: a hidden test in this cell failed (hidden tests, and their messages, are not shown)"]


def test_leaked_lines_sees_through_highlighting():
    page = '<span class="n">expected</span> <span class="o">=</span> F.interpolate(x, mode=&quot;nearest&quot;)'
    assert leaked_lines(page, {'expected = F.interpolate(x, mode="nearest")', "never shown anywhere"}) == ['expected = F.interpolate(x, mode="nearest")']


def test_config_without_grading_package_refuses_feedback(tmp_path):
    """nbgrader_config.py copied alone (as other tests do): nbgrader still works, feedback is refused."""
    shutil.copy(ROOT / "nbgrader_config.py", tmp_path)
    probe = (
        "from traitlets.config.loader import PyFileConfigLoader\n"
        "config = PyFileConfigLoader('nbgrader_config.py', path='.').load_config()\n"
        "[pp] = [p for p in config.GenerateFeedback.preprocessors if p.__name__ == 'HideHiddenTests']\n"
        "try:\n    pp().preprocess(None, {})\nexcept RuntimeError as e:\n    print('refused:', e)\n"
        "print(config.CourseDirectory.source_directory)\n"
    )
    run = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, env={**_env(), "PYTHONPATH": ""})
    assert run.returncode == 0, run.stderr
    assert "refused: refusing to write feedback that would show hidden tests" in run.stdout and "solutions" in run.stdout


def test_leak_scan_finds_planted_lines(tmp_path):
    """The bundle's own last check finds a secret line in a notebook (JSON-escaped) and in HTML."""
    line = 'expected = F.interpolate(x, scale_factor=scale, mode="nearest")'
    (tmp_path / "a.ipynb").write_text(notebook_file(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1\n" + line)])).decode())
    (tmp_path / "b.html").write_text('<span>expected</span> = F.interpolate(x, scale_factor=scale, mode=&quot;nearest&quot;)')
    (tmp_path / "c.py").write_text("nothing here\n")
    assert find_secrets(tmp_path, {line}) == {"a.ipynb": [line], "b.html": [line]}


# --- the student bundle ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def student_bundle(tmp_path_factory):
    dest = tmp_path_factory.mktemp("public") / "semantic-segmentation"
    run = _grading(ROOT, "bundle", str(dest))
    assert run.returncode == 0, run.stdout + run.stderr
    return dest


@pytest.mark.grading
def test_bundle_has_what_students_need_and_nothing_that_grades(student_bundle):
    top = {p.name for p in student_bundle.iterdir()}
    assert {"book", "exercises", "seglib", "_config.yml", "_toc.yml", "pyproject.toml", "README.md"} <= top
    assert not top & {"solutions", "tests", "grading", "submitted", "autograded", "feedback", "gradebook.db", "nbgrader_config.py", ".git"}
    assert not list(student_bundle.rglob("gradebook.db")) and not list(student_bundle.rglob("*.pyc"))
    assert sorted(p.relative_to(student_bundle / "exercises") for p in (student_bundle / "exercises").rglob("*.ipynb")) == sorted(
        p.relative_to(ROOT / "exercises") for p in (ROOT / "exercises").rglob("*.ipynb")
    )
    readme = (student_bundle / "README.md").read_text()
    assert "colab.research.google.com/github/" in readme and "Instructors" not in readme
    if (ROOT / "_build" / "html" / "index.html").is_file():
        assert (student_bundle / "docs" / "index.html").is_file() and (student_bundle / "docs" / ".nojekyll").is_file()


@pytest.mark.grading
def test_bundle_contains_no_solution_or_hidden_test_line(student_bundle):
    """Every file, built HTML included. Lines the course publishes anyway do not count (see
    `_public`): seglib, for one, is the reference implementation, which graded tests switch off."""
    secret = _secret("HIDDEN TESTS") | _secret("SOLUTION")
    assert len(secret) > 20, "the oracle found too few lines to be meaningful"
    leaks = {}
    for path in sorted(p for p in student_bundle.rglob("*") if p.is_file()):
        found = _found(path, secret)
        if found:
            leaks[str(path.relative_to(student_bundle))] = sorted(found)[:3]
    assert not leaks


@pytest.mark.grading
def test_bundle_installs_an_importable_seglib(student_bundle, tmp_path):
    target = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index", "--quiet", "--target", str(target), str(student_bundle)],
        capture_output=True,
        text=True,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    probe = "import seglib, seglib.ops, seglib.testing; print(seglib.__file__)"
    run = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(target)})
    assert run.returncode == 0, run.stderr
    assert Path(run.stdout.strip()).is_relative_to(target), run.stdout


def test_bundle_refuses_to_overwrite_the_course(tmp_path):
    from grading.bundle import bundle

    with pytest.raises(ValueError, match="contains the course"):
        bundle(ROOT, ROOT)
    with pytest.raises(ValueError, match="_build"):
        bundle(ROOT, ROOT / "book" / "public")
    (tmp_path / "keep.txt").write_text("x")
    with pytest.raises(FileExistsError, match="--force"):
        bundle(ROOT, tmp_path)
