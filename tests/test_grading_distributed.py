"""`python -m grading autograde --scheduler/--workers --db`: a class graded on a Dask cluster into PostgreSQL.

For real: a PostgreSQL server of its own in a temporary folder (Debian's `postgresql`, `make
postgres`), a `distributed.LocalCluster` of 2 worker processes, and part of the ps2_upsampling
class of tests/classes (the cheapest assignment to grade). The oracle is the same class graded
serially into SQLite by `python -m grading autograde`: every student's points must be equal.
Then the class is graded again into a fresh database while one worker is killed (SIGKILL) in the
middle of grading a student: the grades must still be equal, that student graded again on the
other worker, nobody's grading finished twice, and the killed run's sandboxed kernel gone.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import psutil
import pytest
from nbgrader.api import Gradebook, MissingEntry

from classes import ps2_upsampling as table
from classes._common import instructor_env, new_course

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from grading.course import Course  # noqa: E402
from grading.distributed import Job, grade_student  # noqa: E402
from grading.tamper import snapshot  # noqa: E402
ASSIGNMENT = table.ASSIGNMENT
# Enough students for a worker to be killed mid-class, few enough to stay cheap.
STUDENTS = ("s01_complete", "s02_untouched", "s04_off_by_one", "s08_kernel_death")
LIMITS = ("--Execute.timeout=60", "--Execute.iopub_timeout=30")


_env = instructor_env


def _run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, env=_env())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or [shutil.which(name)]
    if not found[-1]:
        pytest.fail(f"PostgreSQL's {name} not found: `make postgres` installs Debian's postgresql")
    return found[-1]


@pytest.fixture(scope="module")
def postgres():
    """A PostgreSQL server in a temporary folder, on a free port of 127.0.0.1; yields a function
    that creates a database and returns its URL."""
    folder = Path(tempfile.mkdtemp(prefix="grading-pg-"))
    user = []  # postgres refuses to run as root: as the postgres user, which must own the folder
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
        user = ["runuser", "-u", "postgres", "--"]
    data, port = folder / "data", _free_port()
    init = subprocess.run([*user, _pg_bin("initdb"), "-D", str(data), "-U", "grader", "--auth=trust", "--no-sync"], capture_output=True, text=True)
    assert init.returncode == 0, init.stdout + init.stderr
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100"
    start = subprocess.run([*user, _pg_bin("pg_ctl"), "-D", str(data), "-l", str(folder / "log"), "-o", options, "-w", "start"], capture_output=True, text=True)
    assert start.returncode == 0, start.stdout + start.stderr + (folder / "log").read_text()

    def database(name: str) -> str:
        made = subprocess.run([_pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "grader", name], capture_output=True, text=True)
        assert made.returncode == 0, made.stderr
        return f"postgresql://grader@127.0.0.1:{port}/{name}"

    try:
        yield database
    finally:
        subprocess.run([*user, _pg_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster():
    import dask
    from distributed import LocalCluster

    # The workers start nbgrader through multiprocessing; set for good, as a nanny reads it again
    # when it restarts the worker this test kills.
    dask.config.set({"distributed.worker.daemon": False})
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as local:
        yield local


def _scores(db_url: str) -> dict[str, float | None]:
    with Gradebook(db_url) as gradebook:
        scores = {}
        for student in STUDENTS:
            try:
                scores[student] = gradebook.find_submission(ASSIGNMENT, student).score
            except MissingEntry:
                scores[student] = None
        return scores


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A course with the students' submissions, graded serially into SQLite (the oracle)."""
    root = tmp_path_factory.mktemp("course-distributed")
    release, solution = new_course(root, ASSIGNMENT)
    students = {s.name: s for s in table.students(release, solution) if s.name in STUDENTS}
    assert set(students) == set(STUDENTS)
    for student in students.values():
        folder = root / "submitted" / student.name / ASSIGNMENT
        folder.mkdir(parents=True)
        for name, content in student.files.items():
            (folder / name).write_bytes(content)
    serial = _run(root, "-m", "grading", "autograde", ASSIGNMENT, "--jobs", "2", *LIMITS)
    assert serial.returncode == 1, serial.stdout + serial.stderr  # s08 kills its kernel: FAILED
    sqlite = _scores(f"sqlite:///{root / 'gradebook.db'}")
    assert sqlite == {s.name: s.points for s in students.values()}, serial.stdout  # the oracle is right
    return {"root": root, "sqlite": sqlite, "students": students}


def _generate(root: Path, db_url: str) -> None:
    run = _run(root, "-m", "nbgrader", "generate_assignment", ASSIGNMENT, "--force", f"--CourseDirectory.db_url={db_url}")
    assert run.returncode == 0, run.stdout + run.stderr


def _events_since(root: Path, since: str) -> list[dict]:
    lines = (root / "autograded" / "grading-log.jsonl").read_text().splitlines()
    return [e for e in map(json.loads, lines) if e["kind"] == "autograde" and e["time"] > since]


def _runs(root: Path) -> dict[str, Path]:
    """The run folders of autograded/.grading-runs, by name."""
    return {p.name: p for p in (root / "autograded" / ".grading-runs").iterdir()}


@pytest.mark.grading
def test_cluster_grades_equal_serial_grades(course, cluster, postgres):
    root, db_url = course["root"], postgres("gradebook")
    _generate(root, db_url)
    runs_before = set(_runs(root)) if (root / "autograded" / ".grading-runs").is_dir() else set()
    since = datetime.now(timezone.utc).isoformat()
    run = _run(root, "-m", "grading", "autograde", ASSIGNMENT, "--scheduler", cluster.scheduler_address, "--db", db_url, *LIMITS)
    assert run.returncode == 1, run.stdout + run.stderr
    assert _scores(db_url) == course["sqlite"], run.stdout
    assert "3 graded, 1 failed" in run.stdout and "kernel died" in run.stdout, run.stdout
    # The progress bar counted the class.
    assert "done=3, failed=1, left=0" in run.stderr, run.stderr[-2000:]
    assert sorted(e["student"] for e in _events_since(root, since)) == sorted(STUDENTS)
    [new] = set(_runs(root)) - runs_before
    attempts = {p.stem: len(p.read_text().splitlines()) for p in _runs(root)[new].glob("*.attempts")}
    assert attempts == {s: 1 for s in STUDENTS}
    # The class report reads the same gradebook.
    report = _run(root, "-m", "grading", "--db", db_url, "report", ASSIGNMENT, "--csv", "pg.csv")
    assert report.returncode == 0 and "s01_complete" in report.stdout, report.stdout + report.stderr


def _descendants(process: psutil.Process) -> list[psutil.Process]:
    with contextlib.suppress(psutil.Error):
        return process.children(recursive=True)
    return []


def _is_kernel(process: psutil.Process) -> bool:
    """A sandboxed kernel: bwrap running ipykernel."""
    with contextlib.suppress(psutil.Error):
        return process.name() == "bwrap" and "ipykernel" in _cmdline(process)
    return False


def _cmdline(process: psutil.Process | None) -> str:
    with contextlib.suppress(psutil.Error, AttributeError):
        return " ".join(process.cmdline())
    return ""


def _is_nbgrader_run(process: psutil.Process) -> bool:
    """A process forked from a multiprocessing forkserver (its parent), as `_nbgrader` starts nbgrader."""
    with contextlib.suppress(psutil.Error):
        return all("multiprocessing.forkserver" in _cmdline(p) for p in (process, process.parent()))
    return False


@pytest.mark.grading
def test_a_worker_killed_mid_class_loses_no_grade_and_grades_nobody_twice(course, cluster, postgres):
    root, db_url = course["root"], postgres("gradebook_killed")
    _generate(root, db_url)
    runs_before = set(_runs(root)) if (root / "autograded" / ".grading-runs").is_dir() else set()
    since = datetime.now(timezone.utc).isoformat()
    me = psutil.Process()
    grader = subprocess.Popen([sys.executable, "-m", "grading", "autograde", ASSIGNMENT, "--scheduler", cluster.scheduler_address, "--db", db_url, *LIMITS],
                              cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
    # The worker processes are children of this process (LocalCluster's nannies run here). Wait
    # until one of them is grading: a sandboxed kernel (bwrap) runs under it. Then kill it.
    victim, kernels, tree, deadline = None, [], [], time.monotonic() + 300
    while victim is None and time.monotonic() < deadline and grader.poll() is None:
        for worker in me.children():
            if worker.pid == grader.pid:  # the instructor's process: it grades nobody itself
                continue
            tree = _descendants(worker)
            kernels = [p for p in tree if _is_kernel(p)]
            if kernels:
                victim = worker
                break
        time.sleep(0.2)
    assert victim is not None, "no worker was seen grading"
    # Its nbgrader run (a child of the worker's multiprocessing forkserver, which outlives the
    # worker while its children live) ends with it, before its student is graded again elsewhere:
    # else it would go on and remove or overwrite that new run's files and grades.
    # Its checkers are held still, as in a long test cell: the run must not wait for them.
    runs = [p for p in tree if _is_nbgrader_run(p)]
    checkers = [p for p in tree if "grading.forks import serve" in _cmdline(p)]
    for p in checkers:
        with contextlib.suppress(psutil.Error):
            p.suspend()
    victim.send_signal(signal.SIGKILL)
    _, still_grading = psutil.wait_procs(runs, timeout=10)
    for p in checkers:
        with contextlib.suppress(psutil.Error):
            p.resume()
    assert runs and not still_grading, [p.pid for p in still_grading]
    out, err = grader.communicate(timeout=600)
    # The killed run's kernel died with its worker (it would otherwise still be grading).
    gone, alive = psutil.wait_procs(kernels, timeout=30)
    assert not alive, [p.cmdline() for p in alive]

    assert grader.returncode == 1, out + err
    assert _scores(db_url) == course["sqlite"], out
    assert sorted(e["student"] for e in _events_since(root, since)) == sorted(STUDENTS), out
    [new] = set(_runs(root)) - runs_before
    folder = _runs(root)[new]
    attempts = {p.stem: len(p.read_text().splitlines()) for p in folder.glob("*.attempts")}
    # Exactly one student was being graded by the killed worker; it was graded again, once.
    assert sorted(attempts.values()) == [1] * (len(STUDENTS) - 1) + [2], attempts
    [again] = [s for s, n in attempts.items() if n == 2]
    assert "graded again after its worker stopped (2 attempts)" in out, out
    assert {p.stem for p in folder.glob("*.json")} == set(STUDENTS)


# --- fast checks of the task itself (no cluster, no nbgrader run) ----------------------------------


@pytest.fixture
def job(tmp_path):
    shutil.copy(ROOT / "nbgrader_config.py", tmp_path)
    (tmp_path / "solutions" / ASSIGNMENT).mkdir(parents=True)
    course = Course.load(tmp_path)
    made = Job("run1", str(tmp_path), course.db_url, ASSIGNMENT, (), False, snapshot(course))
    made.folder().mkdir(parents=True)
    return made


def test_a_task_run_again_returns_the_record_and_grades_nobody(job):
    """What a task whose result was lost with its worker does when Dask runs it again."""
    record = {"student": "alice", "status": "graded", "score": None, "max_score": None, "problems": [], "retry": False, "check": False, "seconds": 3.0, "tamper": []}
    (job.folder() / "alice.json").write_text(json.dumps(record))
    assert grade_student(job, "alice") == record
    assert not (job.folder() / "alice.attempts").exists()  # no nbgrader run was started


def test_a_worker_whose_course_differs_grades_nobody(job):
    (Path(job.course_dir) / "nbgrader_config.py").write_text("c = get_config()\n# changed on this worker\n")
    result = grade_student(job, "bob")
    assert result["status"] == "failed" and "differs from the instructor's" in result["problems"][0]
    assert any("nbgrader_config.py" in t for t in result["tamper"])
    assert json.loads((job.folder() / "bob.json").read_text()) == result  # recorded: a rerun returns it
    assert len((job.folder() / "bob.attempts").read_text().splitlines()) == 1


def test_postgresql_urls_get_the_installed_driver(tmp_path):
    shutil.copy(ROOT / "nbgrader_config.py", tmp_path)
    assert Course.load(tmp_path, "postgresql://u@h/db").db_url == "postgresql+psycopg://u@h/db"
    assert Course.load(tmp_path, "postgresql+psycopg2://u@h/db").db_url == "postgresql+psycopg2://u@h/db"
    assert Course.load(tmp_path).db_url == f"sqlite:///{tmp_path / 'gradebook.db'}"
    assert Course.load(tmp_path, "postgresql://u@h/db").nbgrader_args() == ["--CourseDirectory.db_url=postgresql+psycopg://u@h/db"]
