"""Command line for the instructor's grading steps. Run from the course root:

    python -m grading autograde ps2_upsampling                 # every submitted student
    python -m grading autograde ps2_upsampling --student alice  # one student (regrade)
    python -m grading autograde ps2_upsampling --feedback       # and write feedback HTML
    python -m grading autograde ps2_upsampling --Execute.timeout=60   # other options go to nbgrader

Exit status 1 when any student's autograde failed; the summary names them and why.
"""

from __future__ import annotations

import argparse
import sys

from grading.autograde import autograde, format_summary, generate_feedback


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grading", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    grade = commands.add_parser("autograde", help="autograde each student separately and summarise")
    grade.add_argument("assignment")
    grade.add_argument("--student", action="append", help="grade only this student (repeatable)")
    grade.add_argument("--course-dir", default=".")
    grade.add_argument("--feedback", action="store_true", help="generate feedback HTML for graded students")
    # Options this parser does not know (e.g. --Execute.timeout=60) go to `nbgrader autograde`.
    args, nbgrader_args = parser.parse_known_args(argv)

    outcomes = autograde(args.assignment, args.course_dir, args.student, nbgrader_args)
    print(format_summary(args.assignment, outcomes))
    if args.feedback:
        graded = [o.student for o in outcomes if o.status == "graded"]
        written = generate_feedback(args.assignment, args.course_dir, graded)
        missing = [student for student, ok in written.items() if not ok]
        print(f"feedback written for {len(written) - len(missing)} students" + (f"; FAILED for {missing}" if missing else ""))
        if missing:
            return 1
    return 1 if any(o.status == "failed" for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
