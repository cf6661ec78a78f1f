"""`python -m grading similarity`: a ps2_upsampling class with known copies among honest students.

The honest students and the copies are in tests/classes/_similar_ps2.py (written by hand). The
oracle is which pairs are copies, known by construction: every known copy must rank above the
first pair that is not one. Malformed and hostile notebooks sit in the same class.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from classes import _similar_ps2 as similar
from classes._common import cell, notebook_file

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from grading.course import Course  # noqa: E402
from grading.similarity import REFERENCE, answer_code, similarity  # noqa: E402

ASSIGNMENT = "ps2_upsampling"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
STUB = "    # YOUR CODE HERE\n    raise NotImplementedError()"
SCRIPT = "</pre><script>alert('copied')</script><pre>"
OWN_NEAREST = """
    size = (x.shape[-2] * scale, x.shape[-1] * scale)
    picks = [torch.div(torch.arange(n), scale, rounding_mode="floor") for n in size]
    return x.index_select(2, picks[0]).index_select(3, picks[1])
"""
KNOWN = {frozenset(p) for p in [("c1_renamed", "h1_loops"), ("c2_reordered", "h2_kron"), ("c3_commented", "h3_indexing"),
                                 ("c4_reference", REFERENCE), ("c5_disguised", "h5_transposed")]}


def _fill(release_source: str, bodies: list[str], reverse: bool = False, prefix: str = "") -> str:
    """A release answer cell with each stub replaced by a body (functions in reverse order if asked)."""
    parts = release_source.split(STUB)
    assert len(parts) == len(bodies) + 1, "the release's answer cell changed: update tests/classes/_similar_ps2.py"
    text = parts[0] + "".join(body.strip("\n") + rest for body, rest in zip(bodies, parts[1:]))
    if reverse:
        text = "\n\n\n".join(reversed(re.split(r"\n\n\n(?=def )", text)))
    return prefix + text


def _submission(release, answers, reordered=(), prefix="") -> nbformat.NotebookNode:
    nb = copy.deepcopy(release)
    for grade_id, bodies in answers.items():
        c = cell(nb, grade_id)
        c.source = _fill(c.source, bodies, grade_id in reordered, prefix if grade_id == "ps2_conv_matrix" else "")
    return nb


def _reference_copy(release, solution) -> nbformat.NotebookNode:
    """The solution's answers, BEGIN/END markers gone and a few names changed."""
    nb = copy.deepcopy(release)
    for c in nb.cells:
        if c.get("metadata", {}).get("nbgrader", {}).get("solution"):
            source = re.sub(r"\n\s*### (BEGIN|END) SOLUTION", "", cell(solution, c.metadata.nbgrader["grade_id"]).source)
            c.source = similar.renamed({"x": [source]}, similar.REFERENCE_RENAMES)["x"][0]
    return nb


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = tmp_path_factory.mktemp("course-similarity")
    shutil.copy(ROOT / "nbgrader_config.py", root)
    shutil.copytree(ROOT / "grading", root / "grading", ignore=shutil.ignore_patterns("__pycache__"))
    for folder in ("exercises", "solutions"):
        shutil.copytree(ROOT / folder / ASSIGNMENT, root / folder / ASSIGNMENT)
    release = nbformat.read(root / "exercises" / ASSIGNMENT / NOTEBOOK, as_version=4)
    solution = nbformat.read(root / "solutions" / ASSIGNMENT / NOTEBOOK, as_version=4)
    files: dict[str, bytes | None] = {name: notebook_file(_submission(release, answers)) for name, answers in similar.HONEST.items()}
    for name, (answers, prefix, reordered, _) in similar.COPIES.items():
        nb = _submission(release, answers, reordered, prefix)
        if name == "c3_commented":  # hostile text in the code the report shows
            cell(nb, "ps2_bed_of_nails").source += f"\n# {SCRIPT}\n"
        files[name] = notebook_file(nb)
    files["c4_reference"] = notebook_file(_reference_copy(release, solution))
    files["u1_untouched"] = notebook_file(release)
    files["m1_invalid_json"] = b'{"cells": [{"source": "x = 1"'
    files["m2_not_a_notebook"] = b"[1, 2, 3]"
    # An answer of its own, then cells that are not cells, a source that is a number, metadata that is a list.
    bad = json.loads(notebook_file(_submission(release, {"ps2_nearest_upsample": [OWN_NEAREST]})))
    bad["cells"][2] = "not a cell"
    bad["cells"][3]["source"] = 42
    bad["cells"][4]["metadata"] = ["not", "a", "dict"]
    files["m3_bad_cells"] = json.dumps(bad).encode()
    files["m4_folder"] = None  # the notebook is a folder
    files["m5_<b>odd name<b>"] = notebook_file(_submission(release, {"ps2_nearest_upsample": ["\n    return x  # " + SCRIPT + "\n"]}))
    for name, content in files.items():
        folder = root / "submitted" / name / ASSIGNMENT
        folder.mkdir(parents=True)
        if content is None:
            (folder / NOTEBOOK).mkdir()
        else:
            (folder / NOTEBOOK).write_bytes(content)
    link = root / "submitted" / "m6_link" / ASSIGNMENT
    link.mkdir(parents=True)
    (link / NOTEBOOK).symlink_to(root / "submitted" / "h1_loops" / ASSIGNMENT / NOTEBOOK)  # another's notebook
    run = subprocess.run([sys.executable, "-m", "grading", "similarity", ASSIGNMENT, "--top", "30"], cwd=root, capture_output=True, text=True)
    return {"root": root, "run": run, "result": similarity(Course.load(root), ASSIGNMENT, top=30, write=False), "release": release}


def test_command_runs_for_the_whole_class_and_names_what_it_skipped(course):
    run = course["run"]
    assert run.returncode == 0, run.stdout + run.stderr
    skipped = course["result"].skipped
    assert set(skipped) == {"u1_untouched", "m1_invalid_json", "m2_not_a_notebook", "m4_folder", "m5_<b>odd name<b>", "m6_link"}, skipped
    assert "is a link" in skipped["m6_link"]
    assert "not valid JSON" in skipped["m1_invalid_json"] and "not a Jupyter notebook" in skipped["m2_not_a_notebook"]
    assert "no code of their own" in skipped["u1_untouched"]
    assert "too little code" in skipped["m5_<b>odd name<b>"]  # `return x`: the signature around it is the release's
    # The malformed cells are passed over, the rest of that notebook is compared.
    assert "m3_bad_cells" in course["result"].compared
    for name in ("m1_invalid_json", "m4_folder"):
        assert name in run.stdout


def test_known_copies_rank_above_every_honest_pair(course):
    pairs = course["result"].pairs
    ranks = [i for i, p in enumerate(pairs) if frozenset((p.a, p.b)) in KNOWN]
    first_honest = next(i for i, p in enumerate(pairs) if frozenset((p.a, p.b)) not in KNOWN)
    above = sum(r < first_honest for r in ranks)
    honest = pairs[first_honest]
    print(f"\n{above} of {len(KNOWN)} known copies rank above the first honest pair "
          f"({honest.a} / {honest.b}, {honest.score:.0%}); copies: "
          + ", ".join(f"{pairs[r].a}/{pairs[r].b} {pairs[r].score:.0%}" for r in ranks))
    assert len(ranks) == len(KNOWN)
    assert above == len(KNOWN), [(p.a, p.b, round(p.score, 2)) for p in pairs[:12]]


def test_answer_code_leaves_out_tests_and_starter_code(course):
    release_cells = json.loads(notebook_file(course["release"]))["cells"]
    code = answer_code(course["root"] / "submitted" / "h2_kron" / ASSIGNMENT / NOTEBOOK, release_cells)
    assert "torch.kron(x, mask)" in code and "F.unfold" not in code
    tests = [c.source for c in course["release"].cells if c.get("metadata", {}).get("nbgrader", {}).get("grade") and not c.metadata.nbgrader.get("solution")]
    assert tests and not any(line.strip() in code for t in tests for line in t.splitlines() if len(line.strip()) > 20)
    assert "raise NotImplementedError" not in code


def test_html_report_escapes_student_code_and_names_and_is_linked_from_the_class_report(course):
    page = course["root"] / "autograded" / f"similarity-{ASSIGNMENT}.html"
    text = page.read_text()
    assert "<script" not in text and "<b>odd" not in text
    assert "&lt;/pre&gt;&lt;script&gt;alert(" in text and "&lt;b&gt;odd name&lt;b&gt;" in text  # shown, as text
    assert text.count("<mark>") >= 5  # overlaps highlighted
    report = subprocess.run([sys.executable, "-m", "grading", "report", ASSIGNMENT, "--csv", "r.csv"], cwd=course["root"], capture_output=True, text=True)
    assert report.returncode == 0, report.stderr
    assert page.as_uri() in report.stdout
