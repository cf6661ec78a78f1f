"""Repository conventions that a newcomer, Colab and CI rely on."""

import json
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
