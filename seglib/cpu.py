"""How the book's chapters use the CPU: call `cpu_thread_policy()` before importing torch.

Every chapter's first cell calls it. The models of the book are small, and a CPU that other
programs share (a laptop, a CI runner, a build executing several chapters) punishes the default
settings: PyTorch starts one OpenMP thread per core, and idle OpenMP threads *spin*, waiting
for work, so that programs each running as many spinning threads as there are cores slow each
other down many times over (chapter 6's U-Net once took 25 s to train on an idle two-core
machine and 393 s at a load average of 5). Sleeping idle threads and a single thread per small
model make a busy machine slow a chapter down in proportion to its load instead.

This module does not import torch at import time: the wait policy is read once, when PyTorch
loads its OpenMP runtime, so it has to be in the environment before `import torch`.
"""

from __future__ import annotations

import os
import sys
import warnings

__all__ = ["cpu_thread_policy"]


def cpu_thread_policy(num_threads: int = 1) -> int:
    """Let idle OpenMP threads sleep (`OMP_WAIT_POLICY=PASSIVE`), then set torch's CPU threads.

    Call it before the first `import torch` of the process (a notebook's first cell). A value
    of `OMP_WAIT_POLICY` already in the environment is kept. One thread is the default: the
    book's models are small, and a single thread never waits at a barrier for a partner
    thread that the operating system has put aside for another program. A GPU, if present,
    is not affected.

    Args:
        num_threads: threads for torch's CPU operations (`torch.set_num_threads`), at least 1.

    Returns:
        The number of threads torch now uses.
    """
    if isinstance(num_threads, bool) or not isinstance(num_threads, int):
        raise TypeError(f"num_threads must be an int >= 1, got {type(num_threads).__name__}")
    if num_threads < 1:
        raise ValueError(f"num_threads must be an int >= 1, got {num_threads}")
    if "torch" in sys.modules and "OMP_WAIT_POLICY" not in os.environ:
        warnings.warn("torch was imported before cpu_thread_policy(): the OpenMP wait policy only "
                      "applies from the next process (restart the kernel and run this first)",
                      RuntimeWarning, stacklevel=2)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

    import torch

    torch.set_num_threads(num_threads)
    return torch.get_num_threads()
