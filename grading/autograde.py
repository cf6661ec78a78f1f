"""Autograde a class with nbgrader, one student at a time, and report every outcome.

Plain `nbgrader autograde` grades all students in one process. When one submission kills its
kernel (`os._exit`, a segfault, running out of memory), nbgrader removes that student's
autograded copy, logs an error, and the student later exports as an unexplained 0. Here each
student is graded by a separate `nbgrader autograde --student` run (several at a time, `jobs`).
That run's exit status and log, together with the cells of the autograded notebook, say what
happened; the summary names every failure and every interrupted cell with its reason, and each
outcome is appended to the grading log that `python -m grading report` reads.

The gradebook is SQLite: parallel runs write to it in short transactions, and a run that still
finds it locked is graded again afterwards on its own, so no result is lost.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import subprocess
import tempfile
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from nbgrader.api import MissingEntry

from grading.course import Course
from grading.forks import FORKS_ENV, end_with, fork_server
from grading.intake import not_regular_files
from grading.feedback import leaked_lines, meaningful_lines, secret_lines, split_hidden
from grading.sandbox import UNSAFE_ENV, VERDICT_ENV, sandbox_problem
from grading.tamper import TamperError, changed_files, gradebook_mismatches, snapshot

__all__ = ["Outcome", "SandboxError", "TamperError", "autograde", "generate_feedback", "format_summary", "preflight", "finish"]


class SandboxError(RuntimeError):
    """Student code would run without the sandbox, and the instructor did not allow it."""


@dataclass
class Outcome:
    """What autograding did with one student's submission."""

    student: str
    status: str  # "graded" or "failed"
    score: float | None = None
    max_score: float | None = None
    problems: list[str] = field(default_factory=list)  # human-readable reasons, empty when clean
    retry: bool = False  # failed only because the gradebook was locked
    check: bool = False  # a test cell left no evidence that it ran (grading/verdict.py): a person must look
    seconds: float = 0.0  # wall time of this student's `nbgrader autograde` run


# Every nbgrader command runs in a process of its own, so that a crash costs one student only.
# Those processes are forked from a server that has imported nbgrader once: the import takes about
# 2 s of CPU, as long as grading a short notebook, and a class needs one command per student.
# (Where there is no forkserver, as on Windows, each process starts afresh.)
_START = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


def _nbgrader_main(cwd: str, args: list[str], log: str, env: dict[str, str], grader: int) -> None:
    """In the child: `nbgrader ARGS` in `cwd`, its output (and its kernels') going to the file `log`.

    It ends as soon as the process `grader` does. So when a grader is killed (a Dask worker that
    dies mid-class), its nbgrader run dies too, and with it the sandboxed kernel (`bwrap
    --die-with-parent`): the student graded again elsewhere is not also still being graded here,
    where this run would remove or overwrite the new run's files and grades. (Its parent, the
    forkserver, is no help: it lives as long as any of its children do.)"""
    end_with(grader)
    out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.environ.update(env)  # the forkserver's environment is the one it started with
    os.chdir(cwd)  # where nbgrader_config.py is
    from nbgrader.apps.nbgraderapp import NbGraderApp

    NbGraderApp.launch_instance(argv=args)


def _nbgrader(course_dir: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`nbgrader ARGS` in the course directory, with its exit status and its output as stdout.

    The child imports this `grading` package from where this process did: nbgrader_config.py
    imports `grading.feedback`, also in a course directory that holds no copy of it."""
    context = multiprocessing.get_context(_START)
    context.set_forkserver_preload(["nbgrader.apps.nbgraderapp", __name__])
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "nbgrader.log"
        child = context.Process(target=_nbgrader_main, args=(str(course_dir), list(args), str(log), env or {}, os.getpid()))
        child.start()
        child.join()
        output = _tail(log)
    return subprocess.CompletedProcess(["nbgrader", *args], child.exitcode, stdout=output, stderr="")


def _tail(path: Path, limit: int = 1 << 20) -> str:
    """The last `limit` bytes of a log (a student's output must not fill the grader's memory)."""
    if not path.exists():
        return ""
    with open(path, "rb") as f:
        f.seek(max(0, path.stat().st_size - limit))
        return f.read().decode(errors="replace")


def _failure_reason(log: str) -> str:
    """The most specific reason an nbgrader log gives for a failed autograde."""
    if "DeadKernelError" in log or "Kernel died" in log:
        return "the kernel died while running the notebook (os._exit, a crash, or out of memory)"
    if "UnresponsiveKernelError" in log:
        return "the kernel stopped responding"
    if "Timeout waiting for IOPub output" in log:
        return "a cell ran past the time limit and the kernel did not settle within Execute.iopub_timeout of the interrupt"
    if "NotJSONError" in log or "does not appear to be JSON" in log:
        return "the notebook file is empty or not valid JSON"
    if "refusing to run student code without the sandbox" in log:
        return "no sandbox: " + next(line for line in log.splitlines() if "refusing to run student code" in line).split("refusing", 1)[1].strip()[:300]
    if "add_missing_grade_cells" in log or "add_missing_cells" in log:
        return "nbgrader could not put back missing test cells (cell metadata lost?): run `python -m grading intake`"
    if "No notebooks found" in log or "No notebooks were matched" in log:
        return "no notebook with the assignment's name was submitted: run `python -m grading intake`"
    if "database is locked" in log:
        return "the gradebook was locked by another process"
    if "MissingEntry" in log or "does not exist in the database" in log:
        return "the submission does not match the assignment in the gradebook (missing or renamed notebook?)"
    # The exception that ended the run, as its traceback's last line states it ("FileNotFoundError: ...").
    raised = [line.strip() for line in log.splitlines() if re.match(r"\s*[A-Za-z_][\w.]*(Error|Exception): ", line)]
    errors = [line.strip() for line in log.splitlines() if "ERROR" in line or "Error" in line]
    return (raised or errors or ["nbgrader failed without saying why; see its log"])[-1][:500]


def _cell_problems(notebook: Path) -> list[str]:
    """Timed-out graded cells in an autograded notebook, by grade_id."""
    problems = []
    try:
        nb = json.loads(notebook.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        return [f"{notebook.name}: the autograded notebook cannot be read ({type(error).__name__})"]
    for cell in nb["cells"]:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "(ungraded cell)")
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error" and output.get("ename") == "CellTimeoutError":
                problems.append(f"{notebook.name}: cell {grade_id} timed out and was interrupted")
    return problems


def _scores(course: Course, assignment: str, student: str) -> tuple[float | None, float | None]:
    with course.gradebook() as gradebook:
        try:
            submission = gradebook.find_submission(assignment, student)
        except MissingEntry:
            try:
                return None, gradebook.find_assignment(assignment).max_score
            except MissingEntry:
                return None, None
        return submission.score, submission.max_score


def _register(course: Course, students: Iterable[str]) -> None:
    """Put every student in the gradebook, so that `nbgrader export` lists even those whose
    submission nbgrader cannot open (it adds a student only once it has opened a notebook)."""
    if not course.has_gradebook():
        return
    with course.gradebook() as gradebook:
        for student in students:
            gradebook.update_or_create_student(student)


def _grade_one(course: Course, assignment: str, student: str, extra_args: Sequence[str], unsafe: bool = False) -> Outcome:
    """One `nbgrader autograde --student` run; the scores are read later, once no run writes."""
    try:
        return _grade_one_unchecked(course, assignment, student, extra_args, unsafe)
    except Exception as error:  # whatever a submission does, the others are still graded
        return Outcome(student, "failed", problems=[f"grading this submission crashed the grader: {type(error).__name__}: {str(error)[:300]}"])


def _grade_one_unchecked(course: Course, assignment: str, student: str, extra_args: Sequence[str], unsafe: bool) -> Outcome:
    links = [str(p.relative_to(course.submitted)) for p in not_regular_files(course.submission_dir(student, assignment))]
    if links:  # nbgrader would copy what a link points to into the kernel's folder
        return Outcome(student, "failed", problems=[f"the submission holds links or special files ({', '.join(links[:3])}): run `python -m grading intake`, which removes them"])
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        verdicts = Path(tmp) / "verdicts.jsonl"  # written by the nbgrader process, never by the kernel
        env = {VERDICT_ENV: str(verdicts), FORKS_ENV: fork_server(), **({UNSAFE_ENV: "1"} if unsafe else {})}
        run = _nbgrader(course.root, "autograde", assignment, "--student", student, "--force", *extra_args, env=env)
        evidence = [p for line in _tail(verdicts).splitlines() for p in json.loads(line)["problems"]]
    seconds = time.perf_counter() - start
    log = run.stdout + run.stderr
    autograded = course.autograded / student / assignment
    if run.returncode != 0 or "Removing failed assignment" in log or not autograded.is_dir():
        return Outcome(student, "failed", problems=[_failure_reason(log)], retry="database is locked" in log, seconds=seconds)
    problems = [p for nb in sorted(autograded.glob("*.ipynb")) for p in _cell_problems(nb)]
    return Outcome(student, "graded", problems=problems + evidence, seconds=seconds, check=bool(evidence))


def autograde(
    assignment: str,
    course_dir: Path | str = ".",
    students: Iterable[str] | None = None,
    extra_args: Sequence[str] = (),
    jobs: int | None = None,
    unsafe: bool = False,
    db_url: str | None = None,
) -> list[Outcome]:
    """Autograde each student's submission separately; return one `Outcome` per student.

    Args:
        assignment: the assignment name, e.g. "ps2_upsampling".
        course_dir: the course root (where `nbgrader_config.py` and `submitted/` are).
        students: whom to grade; default every student with a submission.
        extra_args: passed to `nbgrader autograde`, e.g. `["--Execute.timeout=60"]`.
        jobs: students graded at the same time; default the number of CPUs, at most 4.
        unsafe: grade even where the sandbox cannot run (every such student is reported).
        db_url: the gradebook (any SQLAlchemy URL); default nbgrader_config.py's.

    Raises:
        SandboxError: the sandbox cannot run here and `unsafe` is not set; nothing was graded.
        TamperError: the gradebook's tests differ from solutions/ before grading, or a course
            file or gradebook test changed while grading (the outcomes so far are logged first).
    """
    course = Course.load(course_dir, db_url)
    if db_url:
        extra_args = [*extra_args, *course.nbgrader_args()]
    students = sorted(students) if students is not None else course.submitted_students(assignment)
    jobs = jobs or min(4, os.cpu_count() or 1)
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    if students:
        fork_server()  # its imports (torch) overlap the checks below and the first nbgrader start
    problem = preflight(course, assignment, students, unsafe)
    before = snapshot(course)
    stop: list[str] = []

    def grade(student: str) -> Outcome | None:
        if stop:
            return None
        outcome = _grade_one(course, assignment, student, extra_args, unsafe)
        evidence = [f"course file changed: {path}" for path in changed_files(before, course)] + gradebook_mismatches(course, assignment)
        if evidence:
            stop.append(f"grading stopped after {student}: " + "; ".join(evidence))
            outcome.status, outcome.problems = "failed", [*outcome.problems, *evidence]
        return outcome

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        outcomes = [o for o in pool.map(grade, students) if o is not None]
    # A run that lost the race for the gradebook is graded again, alone.
    if not stop:
        outcomes = [(grade(o.student) or o) if o.retry else o for o in outcomes]
    return finish(course, assignment, outcomes, problem, stop)


def preflight(course: Course, assignment: str, students: Iterable[str], unsafe: bool) -> str | None:
    """The checks before the first student: the sandbox (its problem, None when it runs; raises
    SandboxError unless `unsafe`) and the gradebook's tests (TamperError); then the roster."""
    problem = sandbox_problem()
    if problem is not None and not unsafe:
        raise SandboxError(f"refusing to autograde: {problem}. Install bubblewrap (`make sandbox`) or, on a machine where no student code can do harm, pass --unsafe-no-sandbox")
    mismatches = gradebook_mismatches(course, assignment)
    if mismatches:
        raise TamperError("refusing to autograde: " + "; ".join(mismatches))
    _register(course, students)
    return problem


def finish(course: Course, assignment: str, outcomes: list[Outcome], problem: str | None, stop: Sequence[str] = ()) -> list[Outcome]:
    """Read each student's scores from the gradebook, once no run writes, and log every outcome;
    then raise TamperError if grading was stopped (`stop` says why)."""
    for o in outcomes:
        o.score, o.max_score = _scores(course, assignment, o.student)
        if problem is not None:
            o.problems.insert(0, f"graded WITHOUT the sandbox (--unsafe-no-sandbox): {problem}")
        course.log("autograde", assignment, o.student, status=o.status, points=o.score, max_points=o.max_score, problems=o.problems, seconds=round(o.seconds, 1), unsafe=problem is not None, check=o.check)
    if stop:
        raise TamperError(stop[0])
    return outcomes


def _hidden_test_lines(course: Course, assignment: str) -> dict[str, set[str]]:
    """Notebook name -> the lines of its hidden tests that the release does not show (the
    instructor's `# feedback:` descriptions, which feedback shows, aside)."""
    lines: dict[str, set[str]] = {}
    with course.gradebook() as gradebook:
        for notebook in gradebook.find_assignment(assignment).notebooks:
            hidden = [line for cell in notebook.source_cells for line in secret_lines(split_hidden(cell.source)[1])]
            lines[notebook.name] = meaningful_lines(hidden)
    for name, path in course.release_notebooks(assignment).items():
        lines[name] = lines.get(name, set()) - _sources(path)
    return lines


def _sources(path: Path) -> set[str]:
    """The stripped source lines of a notebook file (empty when it cannot be read)."""
    try:
        cells = json.loads(path.read_text())["cells"]
    except (OSError, ValueError, KeyError, TypeError):
        return set()
    text = "\n".join("".join(c.get("source", "")) for c in cells)
    return meaningful_lines(text.splitlines())


def generate_feedback(assignment: str, course_dir: Path | str = ".", students: Iterable[str] = (), db_url: str | None = None) -> dict[str, str | None]:
    """Write feedback HTML for the given (autograded) students in one `nbgrader generate_feedback` run.

    Returns student -> None when the feedback was written, else why not. A page that still shows
    a line of a hidden test (which nbgrader_config.py's `HideHiddenTests` should have removed) is
    deleted, not handed out.
    """
    course = Course.load(course_dir, db_url)
    students = sorted(students)
    if not students:
        return {}
    others = sorted(p.parent.name for p in course.autograded.glob(f"*/{assignment}") if p.parent.name not in students)
    args = ["generate_feedback", assignment, "--force", *(course.nbgrader_args() if db_url else [])]
    if others:
        args.append(f"--CourseDirectory.student_id_exclude={','.join(others)}")
    for student in students:  # so that a page left from an earlier run is not taken for a new one
        for page in (course.feedback / student / assignment).glob("*.html"):
            page.unlink()
    run = _nbgrader(course.root, *args)
    secret = _hidden_test_lines(course, assignment)
    result: dict[str, str | None] = {}
    for student in students:
        folder = course.feedback / student / assignment
        pages = {name: folder / f"{name}.html" for name in secret}
        absent = [name for name, page in pages.items() if not page.is_file()]
        if absent:
            errors = [line for line in (run.stdout + run.stderr).splitlines() if student in line and "ERROR" in line]
            result[student] = f"no feedback written for {', '.join(absent)}" + (f" ({errors[-1].strip()})" if errors else "")
        else:
            result[student] = None
            for name, page in pages.items():
                own = _sources(course.submission_dir(student, assignment) / f"{name}.ipynb")
                leaks = leaked_lines(page.read_text(encoding="utf-8"), secret[name] - own)
                if leaks:
                    page.unlink()
                    result[student] = f"feedback withheld: {page.name} showed {len(leaks)} hidden test lines (check GenerateFeedback.preprocessors in nbgrader_config.py)"
        course.log("feedback", assignment, student, status="written" if result[student] is None else "failed", problems=[result[student]] if result[student] else [])
    return result


def format_summary(assignment: str, outcomes: Sequence[Outcome]) -> str:
    """One table row per student, then the failures and problems spelt out."""
    width = max([len("student"), *(len(o.student) for o in outcomes)])
    lines = [f"Autograde summary for {assignment}", f"{'student':<{width}} {'status':<8} {'score':>12} {'time':>7}"]
    for outcome in outcomes:
        score = "-" if outcome.score is None else f"{outcome.score:g} / {outcome.max_score:g}"
        if outcome.status == "failed":
            score = "-"
        lines.append(f"{outcome.student:<{width}} {outcome.status.upper():<8} {score:>12} {outcome.seconds:>6.0f}s")
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
