"""Repository conventions that a newcomer, Colab and CI rely on."""

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
NOTEBOOKS = sorted(p for folder in ("book", "solutions", "exercises") for p in (ROOT / folder).rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def test_there_are_notebooks():
    assert any(p.parts[-2] == "book" for p in NOTEBOOKS) and any("solutions" in p.parts for p in NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_notebook_is_stored_without_outputs(path):
    nb = json.loads(path.read_text())
    kept = [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code" and (c["outputs"] or c["execution_count"])]
    assert not kept, f"cells {kept} keep outputs: clear them before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_first_code_cell_installs_seglib_from_the_configured_repository(path):
    """Colab has no seglib: the first code cell installs it from the one URL in _config.yml."""
    code = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
    first = "".join(code[0]["source"])
    assert 'importlib.util.find_spec("seglib") is None' in first
    assert f'%pip install --quiet "git+{CONFIG["repository"]["url"]}"' in first


def test_book_excludes_instructor_material():
    excluded = set(CONFIG["exclude_patterns"])
    assert {"exercises", "solutions", "tests"} <= excluded
    assert CONFIG["only_build_toc_files"] is True
    assert CONFIG["execute"]["timeout"] > 0 and CONFIG["execute"]["allow_errors"] is False


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    assert "make test" in (ROOT / "README.md").read_text() and "make book" in (ROOT / "README.md").read_text()


def test_grading_state_is_ignored():
    ignored = (ROOT / ".gitignore").read_text().split()
    assert {"submitted/", "autograded/", "feedback/", "gradebook.db"} <= set(ignored)


def test_nbformat_import_skips_the_slow_iri_parsers():
    """Every nbgrader command imports nbformat, hence jsonschema. Without `rfc3987` (the grade
    extra), jsonschema imports rfc3987-syntax, which builds its parsers at import: 2 s of CPU per
    command, once per student while grading a class."""
    import subprocess
    import sys

    code = "import sys, nbformat, jsonschema; print('rfc3987_syntax' in sys.modules)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "False", "rfc3987-syntax was imported: is the `grade` extra's rfc3987 installed?"


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p.parts[-2] == "book"], ids=lambda p: p.name)
def test_book_chapter_sets_the_thread_policy_before_torch_loads(path):
    """OMP_WAIT_POLICY is read when torch loads OpenMP: the first code cell must set it (seglib.cpu)."""
    code = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
    first = "".join(code[0]["source"])
    assert "cpu_thread_policy()" in first and "import torch" not in first


CHAPTERS = sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb"))
EXERCISE = re.compile(r"^(\d+)\. \*\*(.+?)\*\*", re.MULTILINE)      # "3. **Title.** ..." at the margin


def exercises_of(path: Path) -> tuple[int, str]:
    """(index of the chapter's `## Exercises` markdown cell, its text); fails if there is not exactly one."""
    cells = json.loads(path.read_text())["cells"]
    found = [(i, "".join(c["source"])) for i, c in enumerate(cells)
             if c["cell_type"] == "markdown" and re.search(r"^## Exercises\s*$", "".join(c["source"]), re.MULTILINE)]
    assert len(found) == 1, f"{path.name}: {len(found)} '## Exercises' sections, expected one"
    return found[0]


def test_there_are_nine_chapters():
    assert [p.name[:2] for p in CHAPTERS] == [f"{n:02d}" for n in range(1, 10)]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_ends_with_three_to_six_exercises(path):
    """Issue 12: every chapter ends with 3 to 6 numbered exercises, answers in closed MyST dropdowns."""
    index, text = exercises_of(path)
    cells = json.loads(path.read_text())["cells"]
    assert text.lstrip().startswith("## Exercises"), f"{path.name}: the Exercises cell must start with its heading"
    assert all(c["cell_type"] == "code" for c in cells[index + 1 :]), f"{path.name}: Exercises must be the last text"
    numbers = [int(m.group(1)) for m in EXERCISE.finditer(text)]
    assert 3 <= len(numbers) <= 6, f"{path.name}: {len(numbers)} exercises"
    assert numbers == list(range(1, len(numbers) + 1)), f"{path.name}: exercises numbered {numbers}"
    items = EXERCISE.split(text)[1:]                                # number, title, body, number, title, body, ...
    answered = 0
    for number, body in zip(items[::3], items[2::3]):
        opened = re.findall(r"^\s*:::\{dropdown\}", body, re.MULTILINE)
        closed = re.findall(r"^\s*:::\s*$", body, re.MULTILINE)
        assert len(opened) == len(closed) <= 1, f"{path.name}, exercise {number}: unbalanced dropdown"
        answered += len(opened)
    assert answered >= len(numbers) / 2, f"{path.name}: only {answered} of {len(numbers)} exercises have an answer"


def test_assignments_page_says_what_practises_each_chapter():
    page = (ROOT / "book" / "assignments.md").read_text()
    section = page.split("## Which assignment practises which chapter", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| [")]
    assert [re.search(r"\]\((\S+?\.ipynb)\)", row).group(1) for row in rows] == [p.name for p in CHAPTERS]
    for row in rows:
        practised_by = row.rstrip(" |").rsplit("|", 1)[1]
        assert "exercises" in practised_by or re.search(r"`ps\d_\w+`", practised_by), row
