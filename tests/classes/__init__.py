"""Simulated classes for the grading round trip in tests/test_grading.py, one module per assignment.

Each module `tests/classes/<assignment>.py` describes the submissions of a class for that
assignment and the points each deserves. To add one for an assignment (say `ps4_segnet`):

1. Create `tests/classes/ps4_segnet.py` with `ASSIGNMENT = "ps4_segnet"` and a function
   `students(release, solution) -> list[Student]`. It gets the release and the source notebook
   of the assignment (`nbformat` nodes, keyed by notebook name when the assignment has several)
   and returns one `Student` per kind of submission: its files and the points it deserves,
   worked out by hand from the points of the test cells it fails (`lost`).
2. Build submissions with the helpers in `classes._common`: `completed` (every answer cell as
   the solution has it), `with_sources`, `without`, `strip_metadata`, `replaced` (an edit of the
   solution's code that fails loudly once the solution changes), ..., and write each student down
   with the `graded` and `failed` that `builders(release, NOTEBOOK, WRITTEN)` returns.
3. Optionally set `REGRADE = ("<grade_id of a test cell>", <new points>)`: the round trip then
   changes that cell's points in the source, regenerates, regrades two students who pass that
   cell and two who fail it (everyone with `REGRADE_EVERYONE = True`, as ps2 does) and checks that
   exactly the regraded students who pass it change score. Pick a cell that some students pass
   and some fail.

`tests/test_grading.py` finds every such module (names not starting with "_") and runs the
whole flow for it: intake, autograde with feedback, report and CSV, export, regrade.
"""
