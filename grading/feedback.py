"""Feedback for students that never shows hidden tests.

nbgrader's autograded notebooks hold the hidden tests (they ran there), and plain
`nbgrader generate_feedback` renders them: their source, and tracebacks that quote the failing
line and its message ("expected shape (2, 3, 9, 15) ..."). `HideHiddenTests`, registered in
`GenerateFeedback.preprocessors` by the course's nbgrader_config.py, runs before the HTML is
written. For every cell that contains a `### BEGIN HIDDEN TESTS` ... `### END HIDDEN TESTS`
region it

* removes the region from the source (what the student saw in the release stays);
* replaces the cell's outputs: nothing when the cell passed, and when it failed one error
  composed here, outside the kernel, from trusted material only: the cell's grade_id, the
  instructor's descriptions of its hidden checks (`# feedback: ...` lines inside the hidden
  region, read from the gradebook, never from the student's notebook) and the exception's type
  if it is one of Python's own (any other name becomes "Exception"). Everything the kernel
  printed or raised (message, traceback, a type named by the student's code) is dropped: the
  student's code ran in that kernel first and can make it say anything, hidden tests included;
* in every cell, replaces any output that quotes a line of a hidden test that no visible
  cell also has (say, a student's code printing `In`, IPython's record of the cells it ran);
* and withholds the outputs of every cell other than a test that runs after the first hidden
  test: the student's code could read those tests there (`In`) and print them encoded, which no
  search for their lines would find. A visible test's message is kept (the student can put
  what a hidden test showed it into that message too: `withhold_test_messages_after_hidden`
  replaces those messages by the exception type, for a course that would rather not).

`leaked_lines` checks a finished HTML page against hidden-test lines; `python -m grading
autograde --feedback` uses it as a last check and withholds a page that fails it. The
descriptions are meant to be shown and are not counted as hidden-test lines (`secret_lines`); a
description that quotes a line of its cell's hidden code is dropped rather than shown.
"""

from __future__ import annotations

import ast
import builtins
import html
import re
from collections.abc import Iterable

from nbformat.notebooknode import NotebookNode, from_dict
from nbgrader.api import Gradebook
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Bool, Integer, Unicode

__all__ = [
    "HideHiddenTests", "split_hidden", "descriptions", "secret_lines", "error_name", "meaningful_lines", "occurs", "html_text", "leaked_lines",
]

BEGIN = "BEGIN HIDDEN TESTS"
END = "END HIDDEN TESTS"
DESCRIPTION = "# feedback:"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# Exception types a failed hidden test may be reported by: Python's own, and those nbclient and
# grading/verdict.py put into a notebook. A name the student's code chose could carry anything.
KNOWN_ERRORS = frozenset(
    name for name, obj in vars(builtins).items() if isinstance(obj, type) and issubclass(obj, BaseException)
) | {"CellTimeoutError", "DeadKernelError", "GradingEvidenceError"}


def split_hidden(source: str, begin: str = BEGIN, end: str = END) -> tuple[str, list[str]]:
    """Split a cell's source into (source without hidden regions, the hidden lines).

    The delimiter lines go with the hidden part. A region without its end runs to the end of
    the cell (nbgrader would refuse it; here nothing after the delimiter is shown).

    >>> split_hidden("a = 1\\n### BEGIN HIDDEN TESTS\\nassert a == 1\\n### END HIDDEN TESTS\\nb = 2")
    ('a = 1\\nb = 2', ['### BEGIN HIDDEN TESTS', 'assert a == 1', '### END HIDDEN TESTS'])
    """
    shown, hidden, inside = [], [], False
    for line in source.split("\n"):
        if begin in line:
            inside = True
        if inside:
            hidden.append(line)
        else:
            shown.append(line)
        if end in line:
            inside = False
    return "\n".join(shown), hidden


def descriptions(hidden: Iterable[str]) -> list[str]:
    """The instructor's descriptions among hidden-test lines: the text of each `# feedback:` line.

    >>> descriptions(["### BEGIN HIDDEN TESTS", "# feedback: f on a batch of 2", "assert f(x) == 1"])
    ['f on a batch of 2']
    """
    return [line.strip()[len(DESCRIPTION) :].strip() for line in hidden if line.strip().startswith(DESCRIPTION)]


def secret_lines(hidden: Iterable[str]) -> list[str]:
    """Hidden-test lines that are secret: all but the descriptions, which feedback shows."""
    return [line for line in hidden if not line.strip().startswith(DESCRIPTION)]


def error_name(ename: object) -> str:
    """`ename` if it is one of `KNOWN_ERRORS`, else "Exception".

    >>> error_name("AssertionError"), error_name("x_7365637265745f6c696e65")
    ('AssertionError', 'Exception')
    """
    return ename if isinstance(ename, str) and ename in KNOWN_ERRORS else "Exception"


def meaningful_lines(lines: Iterable[str], min_length: int = 12) -> set[str]:
    """Stripped lines of at least `min_length` characters: specific enough to recognise a leak."""
    return {line.strip() for line in lines if len(line.strip()) >= min_length}


def occurs(line: str, text: str) -> bool:
    """Whether `line` occurs in `text` as code of its own, not inside a longer name or number.

    A prefix such as a traceback's `----> 7 ` is allowed.

    >>> occurs("_pass = 0.7", "----> 7 _pass = 0.7\\n"), occurs("_pass = 0.7", "ps6_pass = 0.7")
    (True, False)
    """
    return line in text and re.search(rf"(?<![\w.]){re.escape(line)}(?!\w)", text) is not None


def _output_text(output: NotebookNode) -> str:
    """Everything an output would display, as plain text without colour codes."""
    parts: list[str] = []
    if output.get("output_type") == "stream":
        parts.append(str(output.get("text", "")))
    elif output.get("output_type") == "error":
        parts += [str(output.get("ename", "")), str(output.get("evalue", "")), *map(str, output.get("traceback", []))]
    for value in output.get("data", {}).values():
        parts.append(value if isinstance(value, str) else "".join(value) if isinstance(value, list) else str(value))
    return _ANSI.sub("", "\n".join(parts))


class HideHiddenTests(NbGraderPreprocessor):
    """Remove hidden tests, and what they printed or raised, from notebooks before feedback is rendered."""

    begin_test_delimeter = Unicode(BEGIN, help="Marks the start of a hidden test region (as in ClearHiddenTests)").tag(config=True)
    end_test_delimeter = Unicode(END, help="Marks the end of a hidden test region (as in ClearHiddenTests)").tag(config=True)
    failed_message = Unicode(
        "a hidden test in this cell failed (hidden tests, and their messages, are not shown)",
        help="What a student sees instead of the traceback of a failed hidden test that the course does not describe",
    ).tag(config=True)
    min_line_length = Integer(12, help="Only hidden-test lines this long are searched for in other outputs").tag(config=True)
    withhold_after_hidden = Bool(
        True,
        help="Withhold the outputs of every cell but the tests that runs after the first hidden test: the student's code could see those tests and print them encoded",
    ).tag(config=True)
    withheld_message = Unicode("[output not shown in feedback: it was printed after hidden tests had run, where the notebook's code could see them]\n").tag(config=True)
    withhold_test_messages_after_hidden = Bool(
        False,
        help="Also replace the message of a failed visible test that runs after the first hidden test by its exception type: the student's code could put what a hidden test showed it into that message",
    ).tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        self._hidden: set[str] = set()
        self._described = self._course_descriptions(resources)
        self._had_hidden = [bool(split_hidden(c.source, self.begin_test_delimeter, self.end_test_delimeter)[1]) for c in nb.cells]
        nb, resources = super().preprocess(nb, resources)  # preprocess_cell on every cell
        # Lines a visible cell also has (a visible test's `with unavailable(...)`) give nothing away.
        self._hidden -= meaningful_lines(line for cell in nb.cells for line in cell.source.splitlines())
        seen_hidden = False
        for cell, had_hidden in zip(nb.cells, self._had_hidden):
            if cell.cell_type == "code":
                scrubbed = [self._scrub(output) for output in cell.outputs]
                meta = cell.get("metadata", {}).get("nbgrader", {}) or {}
                is_test = bool(meta.get("grade"))
                if seen_hidden and not is_test and self.withhold_after_hidden:
                    kept = [o for o, original in zip(scrubbed, cell.outputs) if o is not original]  # the notes _scrub wrote
                    if len(kept) < len(scrubbed):
                        kept.append(from_dict({"output_type": "stream", "name": "stdout", "text": self.withheld_message}))
                    scrubbed = kept
                elif seen_hidden and is_test and not had_hidden and not meta.get("solution") and self.withhold_test_messages_after_hidden:
                    errors = [o for o in cell.outputs if o.get("output_type") == "error"]
                    scrubbed = [self._visible_failure(errors[0].get("ename"))] if errors else []
                cell.outputs = scrubbed
            seen_hidden = seen_hidden or had_hidden
        return nb, resources

    def preprocess_cell(self, cell: NotebookNode, resources: dict, index: int) -> tuple[NotebookNode, dict]:
        shown, hidden = split_hidden(cell.source, self.begin_test_delimeter, self.end_test_delimeter)
        if not hidden:
            return cell, resources
        self._hidden |= meaningful_lines(secret_lines(hidden), self.min_line_length)
        cell.source = shown.rstrip() + "\n# (hidden tests run here when your notebook is graded; they are not shown)"
        if cell.cell_type == "code":
            errors = [o for o in cell.outputs if o.get("output_type") == "error"]
            meta = cell.get("metadata", {}).get("nbgrader", {})
            grade_id = meta.get("grade_id") if isinstance(meta, dict) else None
            described = self._described.get(grade_id, []) if isinstance(grade_id, str) else []
            cell.outputs = [self._hidden_failure(errors[0].get("ename"), grade_id if described else None, described, _has_code(shown))] if errors else []
        return cell, resources

    def _course_descriptions(self, resources: dict) -> dict[str, list[str]]:
        """grade_id -> the descriptions of that test cell's hidden checks, from the gradebook.

        The gradebook holds the cells as `nbgrader generate_assignment` stored them from
        solutions/ (`python -m grading autograde` checks that they still match); nothing of the
        student's notebook is read here. Without a gradebook entry the plain message is shown."""
        info = resources.get("nbgrader", {}) if isinstance(resources, dict) else {}
        if not all(isinstance(info.get(key), str) for key in ("db_url", "assignment", "notebook")):
            return {}
        try:
            with Gradebook(info["db_url"]) as gradebook:
                sources = {c.name: c.source for c in gradebook.find_notebook(info["notebook"], info["assignment"]).source_cells}
        except Exception as error:  # no such notebook or gradebook: every failure gets the plain message
            self.log.warning("hidden-test descriptions not read from the gradebook (%s: %s)", type(error).__name__, error)
            return {}
        described = {}
        for name, source in sources.items():
            hidden = split_hidden(source or "", self.begin_test_delimeter, self.end_test_delimeter)[1]
            code = meaningful_lines(secret_lines(hidden), self.min_line_length)
            # A description that quotes its test's code would show it: it is left out.
            described[name] = [d for d in descriptions(hidden) if d and not any(occurs(line, d) for line in code)]
        return described

    def _hidden_failure(self, ename: object, grade_id: str | None, described: list[str], visible_checks: bool) -> NotebookNode:
        """The error a student sees for a failed cell with hidden tests, made of trusted parts only."""
        name = error_name(ename)
        if not described:
            lines = [f"{name}: {self.failed_message}"]
        else:
            # The kernel's output cannot say which part failed: a cell with visible checks too says so.
            where = f"test cell {grade_id} failed, in a visible check (run the cell to see its message) or a hidden one" if visible_checks else f"hidden test {grade_id} failed"
            lines = [f"{name}: {where}. What its hidden checks test (their code, values and messages are not shown):"]
            lines += [f"  - {d}" for d in described]
        return from_dict({"output_type": "error", "ename": name, "evalue": lines[0].split(": ", 1)[1], "traceback": lines})

    def _visible_failure(self, ename: object) -> NotebookNode:
        name = error_name(ename)
        text = "this visible test failed: run the cell in your notebook to see its message (a test that runs after a hidden one shows no message here)"
        return from_dict({"output_type": "error", "ename": name, "evalue": text, "traceback": [f"{name}: {text}"]})

    def _scrub(self, output: NotebookNode) -> NotebookNode:
        text = _output_text(output)
        if any(occurs(line, text) for line in self._hidden):
            return from_dict({"output_type": "stream", "name": "stdout", "text": "[this output is not shown: it quoted a hidden test]\n"})
        return output


def _has_code(source: str) -> bool:
    """Whether a cell's source has statements besides comments and a docstring (True if it does not parse)."""
    try:
        body = ast.parse(source).body
    except SyntaxError:
        return True
    return any(not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)) for node in body)


def html_text(page: str) -> str:
    """The text of an HTML page: tags removed (scripts and styles kept), entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def leaked_lines(page: str, secret: Iterable[str]) -> list[str]:
    """The stripped lines of `secret` that occur in an HTML page: in its text (code is highlighted
    token by token, so only the text has whole lines) or anywhere in its markup (attributes)."""
    haystacks = (html_text(page), html.unescape(page))
    return sorted({line.strip() for line in secret if any(occurs(line.strip(), h) for h in haystacks)})
