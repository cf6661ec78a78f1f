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

# A student who deletes a graded or read-only cell gets it back, run, and graded,
# instead of a validation error.
c.OverwriteCells.add_missing_cells = True

c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
