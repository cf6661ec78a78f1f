"""What a student's feedback page says about a failed hidden test, through `python -m grading
intake / autograde --feedback`, as an instructor grades.

A failed cell with hidden tests shows the course's own description of its hidden checks (the
`# feedback:` lines of its hidden region, read from the gradebook) and nothing the kernel printed
or raised: the student's code ran in that kernel first and can make it say anything. Four
submissions of ps2_upsampling (the cheapest assignment to grade), each the reference solution
with one answer changed:

* d1 upsamples by repeated doubling, a typical mistake that the visible tests (scales 2 and 4)
  do not catch and the hidden one (scale 3) does: its page must name the hidden test and show
  the course's description with the hint;
* d2's `nearest_upsample` reads the hidden test's source from the calling frames when a hidden
  test calls it, prints it, and raises an exception of its own type whose name and message
  carry that source, reversed and hex-encoded (so that no search for plain lines finds it);
* d3 rewrites every error the kernel reports (IPython's `_showtraceback`) into the hidden tests,
  encoded;
* d5 reads the notebook files in its working folder, where nbgrader has written the notebook it
  runs with the hidden tests restored, and prints them before any test runs;
* d4 keeps what a hidden test showed it and raises it later from a *visible* test: the known
  limit (a visible test's message is the kernel's), marked as an expected failure, and closed
  by `HideHiddenTests.withhold_test_messages_after_hidden` (off by default).

The oracle is the rendered HTML page, searched for the hidden region's lines plain, reversed and
hex-encoded; the autograded notebooks, which hold the kernel's outputs, show that the attacks
did put the secret there.
"""

from __future__ import annotations

import html
import re
import subprocess
import sys
from pathlib import Path

import pytest
from nbgrader.api import Gradebook

from classes._common import cell, completed, instructor_env, new_course, notebook_file, points_of, with_cell_after, with_sources

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.grading

ASSIGNMENT = "ps2_upsampling"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
# Every test runs in the kernel here, as plain nbgrader runs them and as the course's module tests
# still run (grading/outside.py judges ps2's tests outside it, where no hidden test is ever seen):
# the feedback must hold even where the student's code saw the hidden tests run.
LIMITS = ("--Execute.timeout=60", "--Execute.iopub_timeout=30", "--SandboxedExecute.judge_outside=False")
MARKER = "### BEGIN HIDDEN TESTS"

# Right for scales 1, 2 and 4 (the visible tests), wrong for 3 (the hidden one): it doubles until
# it reaches the scale, as a decoder of 2x steps does.
DOUBLING = """def nearest_upsample(x, scale):
    while scale > 1:
        x = x.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)
        scale //= 2
    return x
"""

# The hidden part of the test cell that called the student's function, read from the calling
# frames as the kernel holds it ('' when a visible test called).
HIDDEN_PART = """import linecache
import sys


_BEGIN = "### BEGIN" + " HIDDEN"  # not written out: this cell's own source must not match


def _hidden_part():
    frame = sys._getframe(2)
    while frame is not None:
        text = "".join(linecache.getlines(frame.f_code.co_filename))
        if _BEGIN in text:
            return text[text.find(_BEGIN):]
        frame = frame.f_back
    return ""


def _right(x, scale):
    return x.repeat_interleave(scale, dim=2).repeat_interleave(scale, dim=3)
"""

RAISES_HIDDEN_SOURCE = HIDDEN_PART + """

class _Leak(BaseException):  # not an Exception, so that the course's call_student does not wrap it
    pass


def nearest_upsample(x, scale):
    secret = _hidden_part()
    if not secret:
        return _right(x, scale)
    print(secret[::-1])
    leak = type("Leak_" + secret.encode().hex()[:200], (_Leak,), {})
    raise leak(secret[::-1].replace("\\n", " | ") + "\\n" + secret.encode().hex())
"""

REWRITES_ERRORS = """from IPython import get_ipython

_shell = get_ipython()
_report = _shell._showtraceback


def _rewritten(etype, evalue, stb):
    source = "\\n".join(_shell.user_ns.get("In", []))
    secret = source[source.rfind("### BEGIN" + " HIDDEN"):]
    _report(type("Rewritten_" + secret.encode().hex()[:200], (Exception,), {}), secret[::-1], [secret[::-1], secret.encode().hex()])


_shell._showtraceback = _rewritten
"""

# Keeps what the hidden test showed it, and raises it from bed_of_nails, which the visible test
# after the first hidden one calls.
KEEPS_AND_RAISES_LATER = HIDDEN_PART + """
_kept = []


def nearest_upsample(x, scale):
    _kept.append(_hidden_part())
    return _right(x, scale)


def bed_of_nails(x, scale):
    raise ValueError(max(_kept, key=len)[::-1].replace("\\n", " | "))
"""

# Reads the notebook files in the kernel's working folder before any test runs. nbgrader writes
# the notebook it runs, hidden tests restored, into that folder first.
READS_ITS_FOLDER = """import glob

for _path in sorted(glob.glob("*.ipynb")):
    _text = open(_path).read()
    print("READ", _path, _text[_text.find("### BEGIN" + " HIDDEN"):][::-1][:5000])
print("FILES", sorted(glob.glob("*")))
"""


_env = instructor_env


def _run(course: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=course, capture_output=True, text=True, env=_env())


def _descriptions(source: str) -> list[str]:
    """The text of the `# feedback:` lines of a cell's source (read here independently of grading/)."""
    return [line.strip()[len("# feedback:") :].strip() for line in source.splitlines() if line.strip().startswith("# feedback:")]


def _hidden_lines(solution, release, min_length: int = 20) -> list[str]:
    """The stripped lines of every hidden region (descriptions aside) that the release does not show."""
    shown = {line.strip() for c in release.cells for line in c.source.splitlines()}
    lines, inside = set(), False
    for c in solution.cells:
        for line in c.source.splitlines():
            if "BEGIN HIDDEN TESTS" in line:
                inside = True
            if inside and len(line.strip()) >= min_length and not line.strip().startswith("# feedback:"):
                lines.add(line.strip())
            if "END HIDDEN TESTS" in line:
                inside = False
    return sorted(lines - shown)


def _encodings(line: str) -> list[str]:
    """A line as the attacks print it: plain, reversed, newlines shown as ' | ', and hex-encoded."""
    return [line, line[::-1], line.encode().hex()]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    course = tmp_path_factory.mktemp("course-feedback")
    release, solution = new_course(course, ASSIGNMENT)
    done = completed(release, solution)
    students = {
        "d1_doubling": with_sources(done, ps2_nearest_upsample=DOUBLING),
        "d2_raises_hidden_source": with_sources(done, ps2_nearest_upsample=RAISES_HIDDEN_SOURCE),
        "d3_rewrites_errors": with_sources(done, ps2_nearest_upsample=DOUBLING + "\n\n" + REWRITES_ERRORS),
        "d5_reads_its_folder": with_cell_after(done, "ps2_imports", READS_ITS_FOLDER),
        "d4_raises_it_later": with_sources(done, ps2_nearest_upsample=KEEPS_AND_RAISES_LATER, ps2_bed_of_nails="# bed_of_nails is defined above\n"),
    }
    for name, nb in students.items():
        folder = course / "submitted" / name / ASSIGNMENT
        folder.mkdir(parents=True)
        (folder / NOTEBOOK).write_bytes(notebook_file(nb))
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        for name in students:
            gradebook.update_or_create_student(name)
    intake = _run(course, "-m", "grading", "intake", ASSIGNMENT)
    autograde = _run(course, "-m", "grading", "autograde", ASSIGNMENT, "--feedback", "--jobs", "2", *LIMITS)
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        scores = {name: gradebook.find_submission(ASSIGNMENT, name).score for name in students}
    pages, kernel = {}, {}
    for name in students:
        page = course / "feedback" / name / ASSIGNMENT / f"{ASSIGNMENT}.html"
        pages[name] = page.read_text(encoding="utf-8") if page.is_file() else None
        kernel[name] = (course / "autograded" / name / ASSIGNMENT / NOTEBOOK).read_text(encoding="utf-8")
    # The same page for d4 with the visible tests' messages after the first hidden test withheld.
    option = "--HideHiddenTests.withhold_test_messages_after_hidden=True"
    strict = _run(course, "-m", "nbgrader", "generate_feedback", ASSIGNMENT, "--student", "d4_raises_it_later", "--force", option)
    assert strict.returncode == 0, strict.stdout + strict.stderr
    pages["d4 withheld"] = (course / "feedback" / "d4_raises_it_later" / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text(encoding="utf-8")
    return {"intake": intake, "autograde": autograde, "scores": scores, "pages": pages, "kernel": kernel,
            "release": release, "solution": solution, "total": points_of(release)}


def _text(page: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def test_every_submission_is_graded_and_gets_a_page(graded):
    assert graded["intake"].returncode == 0, graded["intake"].stdout + graded["intake"].stderr
    assert graded["autograde"].returncode == 0, graded["autograde"].stdout + graded["autograde"].stderr
    assert all(graded["pages"].values()), graded["autograde"].stdout
    assert graded["pages"]["d4 withheld"] != graded["pages"]["d4_raises_it_later"]
    total = graded["total"]
    # Only the hidden nearest-neighbour test (1 point) fails for d1 and d2; d4 also fails bed_of_nails.
    assert graded["scores"]["d1_doubling"] == graded["scores"]["d2_raises_hidden_source"] == total - 1
    assert graded["scores"]["d3_rewrites_errors"] <= total - 1
    assert "d3_rewrites_errors" in graded["autograde"].stdout.split("Problems:")[1]  # flagged CHECK: it changed IPython


def test_a_hidden_only_mistake_gets_the_courses_description(graded):
    text = _text(graded["pages"]["d1_doubling"])
    described = _descriptions(cell(graded["solution"], "ps2_nearest_upsample_hidden").source)
    assert described and "reached by doubling" in described[0]
    assert "hidden test ps2_nearest_upsample_hidden failed" in text
    assert all(d in text for d in described), text[text.find("ps2_nearest_upsample_hidden failed") - 200 :][:2000]
    # Only the failed cell is described: the bilinear hidden test passed.
    assert not any(d in text for d in _descriptions(cell(graded["solution"], "ps2_bilinear_upsample_hidden").source))


# One test for both students, not parametrised: under `make test-grading` (tests/xdist_groups.py)
# a parameter would make a work unit of its own, and another worker would grade the class again.
def test_nothing_the_kernel_said_about_a_hidden_test_reaches_the_page(graded):
    secret = _hidden_lines(graded["solution"], graded["release"])
    assert len(secret) > 20
    for student in ("d2_raises_hidden_source", "d3_rewrites_errors"):
        # The attacks worked inside the kernel: its notebook holds the hidden region, encoded.
        kernel = graded["kernel"][student]
        assert MARKER[::-1] in kernel and MARKER.encode().hex() in kernel
        page = graded["pages"][student]
        text = _text(page)
        for form in _encodings(MARKER):
            assert form not in page and form not in text, (student, form)
        leaks = [line for line in secret if any(form in page or form in text for form in _encodings(line))]
        assert not leaks, (student, leaks[:3])
        assert not re.search(r"(Leak|Rewritten)_[0-9a-f]{8}", text)  # the type names the attacks chose
        # What it does see: the course's description of the check it failed.
        assert "hidden test ps2_nearest_upsample_hidden failed" in text
        assert all(d in text for d in _descriptions(cell(graded["solution"], "ps2_nearest_upsample_hidden").source))


def test_the_kernel_cannot_read_the_notebook_it_runs(graded):
    """nbgrader writes the notebook it runs, hidden tests restored, into the student's folder; the
    sandbox's copy of that folder leaves notebooks out, so code before the first hidden test
    cannot read them there and print them where the feedback keeps the output."""
    kernel = graded["kernel"]["d5_reads_its_folder"]
    assert "FILES []" in kernel and "READ ps2_upsampling.ipynb" not in kernel  # what it printed: no notebook there
    assert MARKER[::-1] not in kernel and MARKER[::-1] not in _text(graded["pages"]["d5_reads_its_folder"])
    assert graded["scores"]["d5_reads_its_folder"] == graded["total"]


@pytest.mark.xfail(strict=True, reason="a visible test that runs after a hidden one shows the kernel's message, which the student's code can fill with what the hidden test showed it")
def test_a_visible_test_after_a_hidden_one_shows_nothing_the_kernel_kept(graded):
    assert MARKER[::-1] in graded["kernel"]["d4_raises_it_later"]
    assert MARKER[::-1] not in _text(graded["pages"]["d4_raises_it_later"])


def test_withholding_visible_test_messages_after_hidden_ones_closes_that_channel(graded):
    """With `HideHiddenTests.withhold_test_messages_after_hidden`, such a visible test shows the
    exception type and where to see its message, not the kernel's message."""
    text = _text(graded["pages"]["d4 withheld"])
    assert MARKER[::-1] not in text
    assert not [line for line in _hidden_lines(graded["solution"], graded["release"]) if any(f in text for f in _encodings(line))]
    assert "AssertionError: this visible test failed: run the cell in your notebook to see its message" in text
    # Tests before the first hidden one keep their messages: d4's visible nearest-neighbour tests pass,
    # and the plain page still shows what the xfail above shows.
    assert MARKER[::-1] in _text(graded["pages"]["d4_raises_it_later"])
