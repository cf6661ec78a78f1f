"""Autograde a class on a Dask cluster: each student is one task, graded as on one machine.

`python -m grading autograde ps2 --workers 8` starts a local cluster of 8 worker processes;
`--scheduler tcp://host:8786` uses a running one (a SLURM allocation through dask-jobqueue, a
Kubernetes deployment through dask-kubernetes: see the instructors' page). Either way each
student is a task of its own that runs the same sandboxed `nbgrader autograde --student` as
`grading.autograde.autograde`, and the gradebook should be a server every worker can write to at
once (`--db postgresql://...`; nbgrader takes any SQLAlchemy URL). Every worker must see the
course at the same path (a shared filesystem): nbgrader reads `submitted/` and writes
`autograded/` there.

Failures and retries are per student. A task that raises is retried (`retries`); a worker that
dies takes its current student's run with it (the nbgrader process and the sandboxed kernel die
with the worker: `grading.forks.end_with`), and Dask's scheduler gives that student's
task to another worker (up to `distributed.scheduler.allowed-failures` deaths, then the student
is reported FAILED with the reason). Regrading a student is idempotent in nbgrader: its
submission is unique per (assignment, student) and a run updates that submission's grades in
place. And no student is graded twice to completion: each finished task leaves a record in
`autograded/.grading-runs/<run>/` before it returns, so a task that Dask runs again (its result
was lost with a worker) returns the record instead of grading again. Every attempt is recorded
there too.

The tamper checks hold on every worker: a task compares the course files it sees, before and
after grading, with the snapshot the instructor's process took before the first student, and
checks the gradebook's tests; any difference stops the class as `autograde` does.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import socket
import sys
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from grading.autograde import Outcome, _grade_one, finish, preflight
from grading.course import Course
from grading.tamper import changed_files, gradebook_mismatches, snapshot

__all__ = ["Job", "autograde_on_cluster", "grade_student", "RUNS"]

RUNS = ".grading-runs"  # in the autograded folder: one folder per class run, one record per student


@dataclass(frozen=True)
class Job:
    """What every task of one class run needs (sent to the workers with each task)."""

    run: str
    course_dir: str
    db_url: str
    assignment: str
    extra_args: tuple[str, ...]
    unsafe: bool
    before: dict[str, str]  # course file -> SHA-256, taken by the instructor's process

    def course(self) -> Course:
        return Course.load(self.course_dir, self.db_url)

    def folder(self) -> Path:
        return self.course().autograded / RUNS / self.run


def _write_json(path: Path, data: dict) -> None:
    """Write a file whole or not at all (a reader never sees half a record)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


def grade_student(job: Job, student: str) -> dict:
    """The task: grade one student unless this run already has, and return the outcome as a dict
    with `tamper`, the evidence of a changed course or gradebook (empty when none)."""
    course = job.course()
    record = job.folder() / f"{student}.json"
    if record.is_file():  # graded by an earlier attempt whose result was lost with its worker
        return json.loads(record.read_text(encoding="utf-8"))
    with open(job.folder() / f"{student}.attempts", "a", encoding="utf-8") as attempts:
        attempts.write(json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "time": time.time()}) + "\n")
    stale = changed_files(job.before, course)
    if multiprocessing.current_process().daemon:  # nbgrader runs in a child process, which a daemon may not start
        outcome = Outcome(student, "failed", problems=["this Dask worker is a daemonic process and cannot start nbgrader: start the workers with DASK_DISTRIBUTED__WORKER__DAEMON=False"])
        tamper = []
    elif stale:  # this worker's course is not the instructor's: grade nobody with it
        outcome = Outcome(student, "failed", problems=[f"the course on {socket.gethostname()} differs from the instructor's in {len(stale)} files, e.g. {stale[0]} (every worker must see the same course at the same path)"])
        tamper = [f"course file differs on a worker: {path}" for path in stale[:5]]
    else:
        outcome = _grade_one(course, job.assignment, student, [*job.extra_args, *course.nbgrader_args()], job.unsafe)
        tamper = [f"course file changed: {path}" for path in changed_files(job.before, course)] + gradebook_mismatches(course, job.assignment)
        if tamper:
            outcome.status, outcome.problems = "failed", [*outcome.problems, *tamper]
    result = {**asdict(outcome), "tamper": tamper}
    _write_json(record, result)
    return result


@contextlib.contextmanager
def _client(scheduler: str | None, workers: int | None) -> Iterator:
    """A Dask client of the cluster at `scheduler`, or of a new local cluster of `workers` processes."""
    import dask
    from distributed import Client, LocalCluster

    if scheduler:
        with Client(scheduler) as client:
            yield client
        return
    # The workers start nbgrader through multiprocessing, which a daemonic process may not do. Set
    # for good, not for a block: a nanny reads it again whenever it restarts a worker that died.
    dask.config.set({"distributed.worker.daemon": False})
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, Client(cluster) as client:
        yield client


def autograde_on_cluster(
    assignment: str,
    course_dir: Path | str = ".",
    students: Iterable[str] | None = None,
    extra_args: Sequence[str] = (),
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    db_url: str | None = None,
    unsafe: bool = False,
    retries: int = 2,
    progress: bool = True,
) -> list[Outcome]:
    """Autograde each student as a task of a Dask cluster; return one `Outcome` per student.

    Args:
        scheduler: the address of a running Dask scheduler; else a local cluster of `workers`.
        workers: worker processes of the local cluster (one student at a time each).
        db_url: the gradebook for every worker (default: nbgrader_config.py's).
        retries: further attempts for a task that raised (a worker that died counts apart:
            Dask's `distributed.scheduler.allowed-failures`).
        progress: a tqdm bar on stderr with the students done, failed and left.

    Raises SandboxError and TamperError as `grading.autograde.autograde` does.
    """
    from distributed import as_completed
    from tqdm import tqdm

    if scheduler is None and (workers is None or workers < 1):
        raise ValueError(f"give a scheduler address or at least 1 worker, got workers={workers}")
    course = Course.load(course_dir, db_url)
    students = sorted(students) if students is not None else course.submitted_students(assignment)
    problem = preflight(course, assignment, students, unsafe)
    job = Job(uuid.uuid4().hex[:12], str(course.root), course.db_url, assignment, tuple(extra_args), unsafe, snapshot(course))
    job.folder().mkdir(parents=True, exist_ok=True)
    outcomes: dict[str, Outcome] = {}
    stop: list[str] = []
    bar = tqdm(total=len(students), desc=f"autograde {assignment}", unit="student", file=sys.stderr, disable=not progress)

    def record(outcome: Outcome) -> None:
        outcomes[outcome.student] = outcome
        failed = sum(o.status == "failed" for o in outcomes.values())
        bar.update(1)
        bar.set_postfix(done=len(outcomes) - failed, failed=failed, left=len(students) - len(outcomes))

    with _client(scheduler, workers) as client:
        pending = {client.submit(grade_student, job, s, key=f"grade-{job.run}-{s}", pure=False, retries=retries): s for s in students}
        again: list[str] = []
        for future in as_completed(pending):
            student = pending.pop(future)
            try:
                result = future.result()
            except Exception as error:  # KilledWorker (its worker died too often), or a task that kept raising
                if not future.cancelled():  # cancelled: grading stopped before this student, who stays ungraded
                    record(Outcome(student, "failed", problems=[_lost(error)]))
                continue
            finally:
                future.release()
            tamper = result.pop("tamper")
            outcome = Outcome(**result)
            evidence = tamper + [f"course file changed: {p}" for p in changed_files(job.before, course)]
            if evidence and not stop:
                stop.append(f"grading stopped after {student}: " + "; ".join(evidence))
                for other in pending:
                    other.cancel()
            if outcome.retry and not stop:  # an SQLite gradebook was locked: graded again at the end
                again.append(student)
                continue
            attempts = _attempts(job, student)
            if attempts > 1:
                outcome.problems.append(f"graded again after its worker stopped ({attempts} attempts)")
            record(outcome)
        for student in again:  # one at a time, as `autograde` does
            (job.folder() / f"{student}.json").unlink(missing_ok=True)
            result = client.submit(grade_student, job, student, key=f"regrade-{job.run}-{student}", pure=False).result()
            result.pop("tamper")
            record(Outcome(**result))
    bar.close()
    graded = [outcomes[s] for s in students if s in outcomes]
    return finish(course, assignment, graded, problem, stop)


def _attempts(job: Job, student: str) -> int:
    path = job.folder() / f"{student}.attempts"
    return len(path.read_text(encoding="utf-8").splitlines()) if path.is_file() else 0


def _lost(error: Exception) -> str:
    name = type(error).__name__
    if name == "KilledWorker":
        return "every worker that tried to grade this submission died (distributed.scheduler.allowed-failures reached): grade it alone to see why"
    return f"the grading task failed: {name}: {str(error)[:300]}"
