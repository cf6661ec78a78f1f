import os

import pytest
import torch
from hypothesis import HealthCheck, settings

# One graded class per pytest-xdist worker under `--dist loadgroup` (see tests/xdist_groups.py).
from xdist_groups import pytest_xdist_make_scheduler  # noqa: F401


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from the same random state, so a failure reproduces."""
    torch.manual_seed(0)


# Property-based tests (tests/test_properties.py): the same examples on every run, a bounded
# number of them, no deadline (CI machines are slow and shared). HYPOTHESIS_PROFILE=thorough
# draws ten times as many, at random, for a local search.
_HEALTH = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much]
settings.register_profile(
    "ci", derandomize=True, max_examples=40, deadline=None, database=None, suppress_health_check=_HEALTH
)
settings.register_profile("thorough", max_examples=300, deadline=None, suppress_health_check=_HEALTH)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
