"""seglib.cpu: the thread policy every chapter sets before torch loads."""

import subprocess
import sys

import pytest

from seglib.cpu import cpu_thread_policy


def run(code: str, env_policy: str | None = None) -> str:
    import os

    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if env_policy is not None:
        env["OMP_WAIT_POLICY"] = env_policy
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout


def test_sets_passive_wait_policy_before_torch_loads_and_one_thread():
    code = (
        "import sys, os\nfrom seglib.cpu import cpu_thread_policy\nassert 'torch' not in sys.modules\n"
        "n = cpu_thread_policy()\nimport torch\nprint(os.environ['OMP_WAIT_POLICY'], n, torch.get_num_threads())"
    )
    assert run(code).split() == ["PASSIVE", "1", "1"]


def test_keeps_a_wait_policy_already_set_and_takes_a_thread_count():
    code = (
        "import os\nfrom seglib.cpu import cpu_thread_policy\n"
        "n = cpu_thread_policy(2)\nprint(os.environ['OMP_WAIT_POLICY'], n)"
    )
    assert run(code, env_policy="ACTIVE").split() == ["ACTIVE", "2"]


def test_warns_when_torch_was_imported_first():
    code = (
        "import warnings, torch\nfrom seglib.cpu import cpu_thread_policy\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n    cpu_thread_policy()\n"
        "print(len(caught), caught[0].category.__name__)"
    )
    assert run(code).split() == ["1", "RuntimeWarning"]


@pytest.mark.parametrize(
    "bad, error", [(0, ValueError), (-1, ValueError), (1.5, TypeError), (True, TypeError), ("2", TypeError)]
)
def test_rejects_bad_thread_counts(bad, error):
    with pytest.raises(error, match="num_threads must be an int >= 1"):
        cpu_thread_policy(bad)
