"""`--dist loadgroup` that keeps each graded class on one pytest-xdist worker.

The grading tests build one course per assignment in a module-scoped, parametrised fixture: minutes
of nbgrader work, shared by a dozen tests whose ids end in the same parameter,
`test_grading.py::test_regrade_...[ps1_sliding_window]`. Those tests must run on one worker, or
each worker that gets one of them grades the whole class again.

xdist's own loadgroup scheduler finds a test's `xdist_group` by a suffix its workers append to the
test id, and pytest 9.2 no longer lets them change the id (pytest-xdist issue #1386): nothing
fails, every class is simply graded twice. This scheduler takes the group from the id itself
instead: the tests of one module that share a parameter are one unit of work, and the module's
unparametrised tests are another.
"""

from __future__ import annotations

import re

from xdist.scheduler import LoadScopeScheduling

_PARAMETER = re.compile(r"\[([^\]]+)\]$")


def work_unit(nodeid: str) -> str:
    """`tests/a.py::test_x[ps1]` -> `tests/a.py[ps1]`; `tests/a.py::test_y` -> `tests/a.py`."""
    module = nodeid.split("::", 1)[0]
    parameter = _PARAMETER.search(nodeid)
    return f"{module}[{parameter.group(1)}]" if parameter else module


class ByParameterScheduling(LoadScopeScheduling):
    """LoadScopeScheduling with `work_unit` as the scope: whole units go to one worker each."""

    def _split_scope(self, nodeid: str) -> str:
        return work_unit(nodeid)


def pytest_xdist_make_scheduler(config, log):
    """Used for `--dist loadgroup` (`make test-grading`); any other mode keeps xdist's scheduler."""
    if config.getvalue("dist") == "loadgroup":
        return ByParameterScheduling(config, log)
    return None
