"""The scheduler that keeps each graded class on one worker (tests/xdist_groups.py)."""

import os
import subprocess
import sys
from pathlib import Path

from xdist_groups import work_unit

SUITE = '''
import os
import pytest

@pytest.fixture(scope="module", params=["ps1", "ps2", "ps4"])
def course(request):
    with open(os.environ["SETUP_LOG"], "a") as log:
        print(request.param, os.environ["PYTEST_XDIST_WORKER"], file=log)
    return request.param

def test_intake(course):
    pass

def test_autograde(course):
    pass

def test_export(course):
    pass

def test_regrade(course):
    pass

def test_plain():
    pass
'''


def test_work_unit_is_the_module_and_the_parameter():
    assert work_unit("tests/test_grading.py::test_regrade[ps1_sliding_window]") == "tests/test_grading.py[ps1_sliding_window]"
    assert work_unit("tests/test_grading.py::test_export[ps1_sliding_window]") == "tests/test_grading.py[ps1_sliding_window]"
    assert work_unit("tests/test_grading.py::test_bundle") == "tests/test_grading.py"
    assert work_unit("tests/test_x.py::TestA::test_b[ps3_unet]") == "tests/test_x.py[ps3_unet]"


def test_each_parameter_is_set_up_on_one_worker_only(tmp_path):
    """Through pytest-xdist itself: a module-scoped fixture is built once per parameter."""
    (tmp_path / "test_suite.py").write_text(SUITE)
    log = tmp_path / "setups.txt"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-n", "2", "--dist", "loadgroup", "-p", "xdist_groups", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path, capture_output=True, text=True,
        env={**os.environ, "SETUP_LOG": str(log), "PYTHONPATH": str(Path(__file__).parent)},
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "13 passed" in run.stdout, run.stdout
    setups = [line.split()[0] for line in log.read_text().splitlines()]
    assert sorted(setups) == ["ps1", "ps2", "ps4"], log.read_text()
