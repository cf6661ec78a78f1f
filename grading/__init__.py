"""Instructor-side grading tools that wrap nbgrader (run from the course root: `python -m grading`)."""
