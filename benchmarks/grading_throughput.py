"""Students graded per minute on a Dask cluster: `python -m grading autograde --workers W`.

Builds a class of N students for ps2_upsampling (the non-training assignment of the simulated
class in tests/classes, cycling through its complete, untouched, partial and wrong answers),
grades it on a local cluster of W worker processes into the gradebook `--db` (default: SQLite
in the course; use PostgreSQL for W > 2), and prints the wall time, students per minute, students
per minute per worker (one worker per core: W must not exceed the idle cores) and the projected
wall time of 1,000 students on C cores at that rate. Where it may (root, cgroup v1), it also
counts the CPU time of the whole grading process tree, which other programs' load does not
inflate as it does wall time, and projects from that too.

    python benchmarks/grading_throughput.py --students 12 --workers 2 --db postgresql://grader@127.0.0.1:5432/bench
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from classes import ps2_upsampling as table  # noqa: E402

KINDS = ("s01_complete", "s02_untouched", "s03_partial", "s04_off_by_one", "s05_wrong_shape")


def _cpu_group() -> Path | None:
    """A cgroup (v1 cpuacct) that counts the CPU time of the grading command and every process it
    starts, kernels included; None where this machine does not let us make one (not root, cgroup v2)."""
    group = Path("/sys/fs/cgroup/cpuacct") / f"grading-bench-{os.getpid()}"
    try:
        group.mkdir()
    except OSError:
        return None
    return group


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--db", default=None, help="gradebook URL (default: SQLite in the temporary course)")
    parser.add_argument("--cores", type=int, nargs="*", default=[16, 64, 256], help="core counts to project 1,000 students onto")
    args = parser.parse_args()
    assignment = table.ASSIGNMENT
    with tempfile.TemporaryDirectory(prefix="grading-bench-") as tmp:
        course = Path(tmp)
        shutil.copy(ROOT / "nbgrader_config.py", course)
        shutil.copytree(ROOT / "grading", course / "grading", ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copytree(ROOT / "solutions" / assignment, course / "solutions" / assignment)
        db = [f"--CourseDirectory.db_url={args.db}"] if args.db else []
        subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", assignment, "--force", *db], cwd=course, check=True, capture_output=True)
        release = nbformat.read(course / "exercises" / assignment / f"{assignment}.ipynb", as_version=4)
        solution = nbformat.read(course / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
        kinds = {s.name: s for s in table.students(release, solution) if s.name in KINDS}
        for i in range(args.students):
            kind = kinds[KINDS[i % len(KINDS)]]
            folder = course / "submitted" / f"{kind.name}_{i:04d}" / assignment
            folder.mkdir(parents=True)
            for name, content in kind.files.items():
                (folder / name).write_bytes(content)
        group = _cpu_group()
        start = time.perf_counter()
        run = subprocess.run(
            [sys.executable, "-m", "grading", "autograde", assignment, "--workers", str(args.workers), *(["--db", args.db] if args.db else [])],
            cwd=course, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
            preexec_fn=(lambda: (group / "cgroup.procs").write_text(str(os.getpid()))) if group else None,
        )
        wall = time.perf_counter() - start
        cpu = int((group / "cpuacct.usage").read_text()) / 1e9 if group else None
        if group:
            try:
                group.rmdir()
            except OSError:  # a process of the run still ends: leave the empty group
                pass
    graded = run.stdout.count(" GRADED ")
    if run.returncode != 0 or graded != args.students:
        sys.exit(f"grading failed ({graded} of {args.students} graded):\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}")
    if cpu is not None:  # CPU time does not grow with other programs' load, as wall time does
        print(f"CPU time of the grading process tree: {cpu:.0f} s, {cpu / args.students:.1f} s per student "
              f"(cluster start included): at most {60 * args.students / cpu:.1f} students/min per idle core")
        for cores in args.cores:
            print(f"1,000 students on {cores} idle cores, by CPU time: {1000 * cpu / args.students / cores / 60:.0f} min")
    per_minute = args.students / wall * 60
    per_core = per_minute / args.workers
    print(f"{args.students} students, {args.workers} workers: {wall:.0f} s wall (cluster start included)")
    print(f"{per_minute:.1f} students/min, {per_core:.2f} students/min per worker (core)")
    for cores in args.cores:
        print(f"1,000 students on {cores} cores: {1000 / (per_core * cores):.0f} min")


if __name__ == "__main__":
    main()
