"""Command line for the instructor's grading steps. Run from the course root:

    python -m grading intake ps2_upsampling                    # check and fix received notebooks
    python -m grading autograde ps2_upsampling --feedback      # grade each student, write feedback
    python -m grading autograde ps2_upsampling --student alice  # one student (regrade)
    python -m grading autograde ps2_upsampling --Execute.timeout=60   # other options go to nbgrader
    python -m grading autograde ps2_upsampling --unsafe-no-sandbox    # no bubblewrap here: see README
    python -m grading autograde ps2_upsampling --workers 8 --db postgresql://grader@db/gradebook  # a local Dask cluster
    python -m grading autograde ps2_upsampling --scheduler tcp://head:8786 --db postgresql://...  # a running one
    python -m grading similarity ps2_upsampling                # who copied: an HTML report of similar answers
    python -m grading report                                   # every student, every assignment; CSV
    python -m grading bundle ../student-repo                   # the public student repository

intake and autograde exit with status 1 when a submission could not be handled; their tables
name each one and why. Every outcome is logged for `report`. autograde exits with status 2, grading
nobody further, when the sandbox cannot run (without --unsafe-no-sandbox) or a course file or a
gradebook test changed (grading/tamper.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from grading.autograde import SandboxError, TamperError, autograde, format_summary, generate_feedback
from grading.bundle import bundle
from grading.course import Course
from grading.intake import format_table, intake
from grading.report import CSV_NAME, class_report, format_report, similarity_reports, write_csv
from grading.similarity import format_pairs, similarity


def _intake(args: argparse.Namespace) -> int:
    results = intake(Course.load(args.course_dir, args.db), args.assignment, args.student, fix=not args.dry_run)
    print(format_table(args.assignment, results))
    return 1 if any(r.status == "rejected" for r in results) else 0


def _autograde(args: argparse.Namespace, nbgrader_args: list[str]) -> int:
    try:
        if args.scheduler or args.workers:
            from grading.distributed import autograde_on_cluster

            outcomes = autograde_on_cluster(
                args.assignment, args.course_dir, args.student, nbgrader_args,
                scheduler=args.scheduler, workers=args.workers, db_url=args.db, unsafe=args.unsafe_no_sandbox,
            )
        else:
            outcomes = autograde(args.assignment, args.course_dir, args.student, nbgrader_args, jobs=args.jobs, unsafe=args.unsafe_no_sandbox, db_url=args.db)
    except (SandboxError, TamperError) as error:
        print(f"autograde STOPPED: {error}", file=sys.stderr)
        print(f"autograde STOPPED: {error}")
        return 2
    print(format_summary(args.assignment, outcomes))
    status = 1 if any(o.status == "failed" for o in outcomes) else 0
    if args.feedback:
        graded = [o.student for o in outcomes if o.status == "graded"]
        written = generate_feedback(args.assignment, args.course_dir, graded, db_url=args.db)
        failed = {student: why for student, why in written.items() if why}
        print(f"feedback written for {len(written) - len(failed)} students" + (f"; FAILED for {sorted(failed)}" if failed else ""))
        for student, why in sorted(failed.items()):
            print(f"  {student}: {why}")
        status = status or (1 if failed else 0)
    return status


def _report(args: argparse.Namespace) -> int:
    course = Course.load(args.course_dir, args.db)
    rows = class_report(course, args.assignment)
    print(format_report(rows))
    path = write_csv(rows, args.csv or course.autograded / CSV_NAME)
    print(f"\nCSV (one line per student and assignment, with status and reasons): {path}")
    for assignment, page in similarity_reports(course, sorted({r.assignment for r in rows})).items():
        print(f"Similarity of {assignment}'s answers (python -m grading similarity): {page.as_uri()}")
    return 0


def _similarity(args: argparse.Namespace) -> int:
    course = Course.load(args.course_dir, args.db)
    result = similarity(course, args.assignment, top=args.top)
    print(format_pairs(result, limit=args.top))
    print(f"\nHTML report (overlapping code highlighted): {result.page}")
    return 0


def _bundle(args: argparse.Namespace) -> int:
    for warning in bundle(args.course_dir, args.dest, force=args.force):
        print(f"warning: {warning}")
    print(f"student repository written to {Path(args.dest).resolve()}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grading", description=__doc__.splitlines()[0])
    parser.add_argument("--course-dir", default=".", help="the course root, where nbgrader_config.py is (default: here)")
    parser.add_argument("--db", default=None, help="the gradebook, any SQLAlchemy URL, e.g. postgresql://grader@host/gradebook (default: nbgrader_config.py's)")
    commands = parser.add_subparsers(dest="command", required=True)

    check = commands.add_parser("intake", help="check received notebooks; rename and repair what is safe")
    check.add_argument("assignment")
    check.add_argument("--student", action="append", help="only this student (repeatable)")
    check.add_argument("--dry-run", action="store_true", help="report only; change no file")

    grade = commands.add_parser("autograde", help="autograde each student separately and summarise")
    grade.add_argument("assignment")
    grade.add_argument("--student", action="append", help="grade only this student (repeatable)")
    grade.add_argument("--feedback", action="store_true", help="generate feedback HTML for graded students")
    grade.add_argument("--jobs", type=int, default=None, help="students graded at once (default: CPUs, at most 4)")
    grade.add_argument("--workers", type=int, default=None, help="grade on a local Dask cluster of this many worker processes")
    grade.add_argument("--scheduler", default=None, help="grade on the Dask cluster whose scheduler is at this address (tcp://host:8786)")
    grade.add_argument("--unsafe-no-sandbox", action="store_true", help="grade even where bubblewrap cannot run: student code can then read and change the course (the report marks every such student CHECK)")

    report = commands.add_parser("report", help="points and failures of every student; writes a CSV")
    report.add_argument("assignment", nargs="*", help="default: every assignment")
    report.add_argument("--csv", help=f"where to write the CSV (default: <autograded>/{CSV_NAME})")

    similar = commands.add_parser("similarity", help="compare the students' answer cells; writes an HTML report of the most similar pairs")
    similar.add_argument("assignment")
    similar.add_argument("--top", type=int, default=50, help="pairs in the report (default: 50)")

    publish = commands.add_parser("bundle", help="write the public student repository")
    publish.add_argument("dest")
    publish.add_argument("--force", action="store_true", help="replace what DEST holds (a .git folder is kept)")

    for sub in (check, grade, report, similar, publish):  # also accepted after the command
        sub.add_argument("--course-dir", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        sub.add_argument("--db", default=argparse.SUPPRESS, help=argparse.SUPPRESS)

    # Options the autograde parser does not know (e.g. --Execute.timeout=60) go to `nbgrader autograde`.
    args, extra = parser.parse_known_args(argv)
    if args.command == "autograde":
        return _autograde(args, extra)
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return {"intake": _intake, "report": _report, "similarity": _similarity, "bundle": _bundle}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
