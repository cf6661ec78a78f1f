"""A simulated class of typical mistakes: each must fail a visible test cell with the course's message.

The mistakes and the runner are in `tests/student_mistakes.py`. The notebooks run in-process (no
kernel, no nbgrader), so the whole simulation takes a minute or two rather than a grading run per
mistake.
"""

from __future__ import annotations

from collections import Counter

import pytest

from student_mistakes import MISTAKES, SOLUTIONS, course_message, run, applied

ASSIGNMENTS = sorted({m.assignment for m in MISTAKES})


def test_at_least_six_mistakes_per_assignment():
    counts = Counter(m.assignment for m in MISTAKES)
    assert all(counts[a] >= 6 for a in ASSIGNMENTS), counts
    assert len({(m.assignment, m.name) for m in MISTAKES}) == len(MISTAKES)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_reference_solution_passes_every_test_cell(assignment):
    assert run(assignment, hidden=True).failures == {}


@pytest.mark.parametrize("mistake", MISTAKES, ids=[f"{m.assignment}-{m.name}" for m in MISTAKES])
def test_mistake_fails_a_visible_test_with_the_course_message(mistake):
    failures = run(mistake.assignment, applied(mistake), stop_after=mistake.stop_after).failures
    assert failures, f"{mistake.name}: every visible test passes"
    good = {cell: message for cell, (kind, message) in failures.items() if course_message(kind, message)}
    assert good, f"{mistake.name}: only raw errors: {failures}"
    assert any(mistake.message in message for message in good.values()), f"{mistake.name}: expected {mistake.message!r} in {good}"
    # No visible failure is a bare library error: every one is the course's own message.
    raw = {cell: f for cell, f in failures.items() if not course_message(*f)}
    assert not raw, f"{mistake.name}: raw errors in {raw}"


def test_untouched_release_fails_every_check_with_a_message():
    """The release as handed out: answers still `raise NotImplementedError()`; no test cell may fail with a KeyError or NameError."""
    import json
    import re

    for assignment in ASSIGNMENTS:
        nb = json.loads((SOLUTIONS / assignment / f"{assignment}.ipynb").read_text())
        replace = {}
        for cell in nb["cells"]:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if cell["cell_type"] == "code" and meta.get("solution"):
                source = "".join(cell["source"])
                replace[meta["grade_id"]] = re.sub(r"### BEGIN SOLUTION\n.*?### END SOLUTION", "raise NotImplementedError()", source, flags=re.S)
        failures = run(assignment, replace).failures
        raw = {cell: f for cell, f in failures.items() if not course_message(*f)}
        assert not raw, f"{assignment}: {raw}"


@pytest.mark.parametrize("assignment", sorted(p.name for p in SOLUTIONS.iterdir() if p.is_dir()))
def test_no_test_cell_shows_an_out_value(assignment):
    """A test cell whose last statement is a bare value (a docstring left alone once nbgrader removed
    the hidden tests) shows it as `Out[n]`: the release's test cells end in a statement or a call."""
    import ast
    import json

    nb = json.loads((SOLUTIONS.parent / "exercises" / assignment / f"{assignment}.ipynb").read_text())
    for cell in nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell["cell_type"] == "code" and meta.get("grade") and not meta.get("solution"):
            body = ast.parse("".join(cell["source"])).body
            last = body[-1] if body else None
            assert not (isinstance(last, ast.Expr) and not isinstance(last.value, ast.Call)), f"{meta['grade_id']} ends in a bare value"


@pytest.mark.parametrize("assignment", sorted(p.name for p in SOLUTIONS.iterdir() if p.is_dir()))
def test_no_release_line_quotes_a_hidden_test_line(assignment):
    """The grader withholds a feedback page that shows a hidden test's line (grading.autograde): a
    visible line that merely contains one (`x = f(a)  # comment` beside a hidden `x = f(a)`) would
    withhold every student's page."""
    import json
    import sys

    sys.path.insert(0, str(SOLUTIONS.parent))
    from grading.feedback import meaningful_lines, occurs, split_hidden

    solution = json.loads((SOLUTIONS / assignment / f"{assignment}.ipynb").read_text())["cells"]
    release = json.loads((SOLUTIONS.parent / "exercises" / assignment / f"{assignment}.ipynb").read_text())["cells"]
    hidden = meaningful_lines(line for cell in solution for line in split_hidden("".join(cell["source"]))[1])
    text = "\n".join("".join(cell["source"]) for cell in release)
    secret = hidden - meaningful_lines(text.splitlines())
    assert not [line for line in secret if occurs(line, text)]
