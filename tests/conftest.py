import pytest
import torch

# One graded class per pytest-xdist worker under `--dist loadgroup` (see tests/xdist_groups.py).
from xdist_groups import pytest_xdist_make_scheduler  # noqa: F401


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from the same random state, so a failure reproduces."""
    torch.manual_seed(0)
