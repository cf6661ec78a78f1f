"""The one timing rule every benchmark here uses: the best of several runs, in seconds."""

import timeit
from collections.abc import Callable


def best_time(fn: Callable[[], object], repeats: int, number: int = 1) -> float:
    """Seconds per call of `fn`: the fastest of `repeats` runs of `number` calls each.

    The minimum, not the mean: what other programs add to a run is noise that only ever slows it.
    """
    return min(timeit.repeat(fn, repeat=repeats, number=number)) / number
