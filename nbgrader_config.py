"""nbgrader configuration for the course (run nbgrader from this folder).

solutions/  is nbgrader's *source* directory: notebooks with solutions and hidden tests.
exercises/  is its *release* directory: what `nbgrader generate_assignment` makes, and what
            students open. It is committed, and a test checks it is exactly what nbgrader makes.
submitted/, autograded/, feedback/ and gradebook.db are instructor-local and git-ignored: the
gradebook stores every test cell, hidden tests included, in plain text.
"""

import os
import sys

c = get_config()  # noqa: F821  (provided by nbgrader when it loads this file)

# nbgrader runs the `alembic` command from PATH when it creates or upgrades gradebook.db. Put this
# interpreter's bin/ first, so `.venv/bin/nbgrader` works without activating the environment.
os.environ["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])

c.CourseDirectory.course_id = "semantic-segmentation"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"

# Seconds per cell when autograding. nbgrader's default (30 s) is too short for training cells;
# a cell that runs longer (an endless loop) is interrupted and the rest of the notebook still runs.
c.Execute.timeout = 300
# After interrupting such a cell, nbgrader waits this long for the kernel to settle. Its default,
# 4 s, is short for a kernel busy in a C loop on a loaded machine; running out of it fails the
# whole notebook (the report then says so), so give it longer.
c.Execute.iopub_timeout = 30

# A student who deletes a graded or read-only cell gets it back, run, and graded,
# instead of a validation error.
c.OverwriteCells.add_missing_cells = True

c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# `python -m grading intake` keeps each student's original files in this folder of their submission.
# nbgrader must not copy it on into autograded/ and feedback/.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".intake-original"]

# Feedback must never show hidden tests. Autograded notebooks contain them (they ran there), and
# nbgrader's feedback shows their source and tracebacks. grading/feedback.py removes both, so that
# plain `nbgrader generate_feedback` is as safe as `python -m grading autograde --feedback`.
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor  # noqa: E402
from nbgrader.preprocessors import GetGrades, NbGraderPreprocessor  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    from grading.feedback import HideHiddenTests
    from grading.sandbox import SandboxedExecute
except ImportError as error:  # copied without grading/ beside it, and not run by `python -m grading`
    _why = f"grading/ cannot be imported next to {__file__} ({error})"

    class HideHiddenTests(NbGraderPreprocessor):
        """Stands in for grading.feedback.HideHiddenTests: refuses to write feedback at all."""

        def preprocess(self, nb, resources):
            raise RuntimeError(f"refusing to write feedback that would show hidden tests: {_why}")

    class SandboxedExecute(NbGraderPreprocessor):
        """Stands in for grading.sandbox.SandboxedExecute: refuses to run student code at all."""

        def preprocess(self, nb, resources):
            raise RuntimeError(f"refusing to run student code outside the sandbox: {_why}")


c.GenerateFeedback.preprocessors = [GetGrades, HideHiddenTests, CSSHTMLHeaderPreprocessor]

# Student code runs in a bubblewrap sandbox (grading/sandbox.py): nbgrader's own Execute is
# replaced by one whose kernel sees only the student's working copy, as an unprivileged user,
# without network, with limits, and whose output is capped as it arrives.
from nbconvert.preprocessors import ClearMetadataPreprocessor  # noqa: E402
from nbgrader.preprocessors import AssignLatePenalties, CheckCellMetadata, IgnorePattern, LimitOutput, SaveAutoGrades  # noqa: E402

c.Autograde.autograde_preprocessors = [
    SandboxedExecute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput, SaveAutoGrades, AssignLatePenalties, CheckCellMetadata,
]
