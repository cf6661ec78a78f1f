"""Benchmark: counting pixels into a confusion matrix, seglib against torchmetrics (chapter 8).

    python benchmarks/confusion_matrix.py                  # Cityscapes-sized: 1×1024×2048, 19 classes
    python benchmarks/confusion_matrix.py --size 64 128 --repeats 2   # a quick run

On one label map with `--ignored` of its pixels at 255 (the ignore label), times, in one run:
`seglib.metrics.confusion_matrix(pred, target, K, ignore_index=255)` (with every input check),
torchmetrics' `multiclass_confusion_matrix(..., ignore_index=255, validate_args=False)` and
copying both label maps (`clone()`: new memory, then a copy), the floor for anything that
reads them once and writes a result of their size. Checks that
the two matrices are equal, prints the ratios and exits with status 1 unless seglib takes at
most `--max-vs-torchmetrics` of torchmetrics' time and at most `--max-vs-copy` times the copy.
Times are the best of `--repeats` after a warm-up; maps are int64, seglib's mask dtype (`--dtype uint8`:
the copy is then nearly free, so only the ratio to torchmetrics is a fair goal).
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util

import torch
from torchmetrics.functional.classification import multiclass_confusion_matrix

from seglib.metrics import confusion_matrix
from _timing import best_time  # benchmarks/_timing.py: the best of several runs



def fresh_memory_for_large_tensors() -> bool:
    """Make glibc hand out fresh pages for every large allocation, as on a first call.

    glibc raises its mmap threshold after the first large `free`, so that later allocations
    of the same size reuse warm heap memory: a copy then takes 2 ms or 30 ms depending on what
    ran before. A fixed threshold (`mallopt(M_MMAP_THRESHOLD, 128 KiB)`, glibc's default) turns
    that off, so every method pays for the memory it allocates, every time.
    """
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        return bool(libc is not None and libc.mallopt(-3, 128 * 1024))  # M_MMAP_THRESHOLD = -3
    except (OSError, AttributeError):  # not glibc (macOS, musl): allocation stays as it is
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, nargs=2, default=(1024, 2048), metavar=("H", "W"))
    parser.add_argument("--num-classes", type=int, default=19)
    parser.add_argument("--ignored", type=float, default=0.05, help="fraction of target pixels set to 255")
    parser.add_argument("--dtype", choices=("uint8", "int64"), default="int64", help="dtype of both label maps")
    parser.add_argument("--repeats", type=int, default=7, help="runs of each; the best is reported")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: PyTorch's)")
    parser.add_argument("--max-vs-torchmetrics", type=float, default=0.5, help="goal: seglib / torchmetrics")
    parser.add_argument("--max-vs-copy", type=float, default=3.0, help="goal: seglib / copying both maps")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    fresh = fresh_memory_for_large_tensors()
    if args.threads:
        torch.set_num_threads(args.threads)
    generator = torch.Generator().manual_seed(args.seed)
    k, shape, dtype = args.num_classes, (1, *args.size), getattr(torch, args.dtype)
    target = torch.randint(0, k, shape, generator=generator).to(dtype)
    target[torch.rand(shape, generator=generator) < args.ignored] = 255
    # A prediction right on 70% of the pixels, like a trained model's.
    pred = torch.where(torch.rand(shape, generator=generator) < 0.7, target, torch.randint(0, k, shape, generator=generator).to(dtype))
    pred[pred == 255] = 0

    ours = lambda: confusion_matrix(pred, target, k, ignore_index=255)  # noqa: E731
    theirs = lambda: multiclass_confusion_matrix(pred, target, k, ignore_index=255, validate_args=False)  # noqa: E731
    copy = lambda: (pred.clone(), target.clone())  # noqa: E731
    for fn in (ours, theirs, copy):
        fn()  # warm-up
    if not torch.equal(ours(), theirs().long()):
        raise SystemExit("FAILED: seglib's confusion matrix differs from torchmetrics'")
    t_ours, t_theirs, t_copy = (best_time(fn, args.repeats) for fn in (ours, theirs, copy))

    vs_theirs, vs_copy = t_ours / t_theirs, t_ours / t_copy
    print(f"label maps {args.dtype} {tuple(shape)}, {k} classes, {args.ignored:.0%} at 255, "
          f"{torch.get_num_threads()} threads, best of {args.repeats}"
          + (", fresh pages for every large tensor" if fresh else ", allocator as it is (not glibc)"))
    print(f"seglib.metrics.confusion_matrix     : {t_ours * 1e3:8.1f} ms")
    print(f"torchmetrics (validate_args=False)  : {t_theirs * 1e3:8.1f} ms")
    print(f"copying both label maps             : {t_copy * 1e3:8.1f} ms")
    print(f"seglib / torchmetrics               : {vs_theirs:8.2f}  (goal <= {args.max_vs_torchmetrics})")
    judged = args.dtype == "int64"  # copying uint8 maps is nearly free: no goal relative to it
    print(f"seglib / copy                       : {vs_copy:8.2f}  "
          + (f"(goal <= {args.max_vs_copy})" if judged else "(not judged for uint8 maps)"))
    ok = vs_theirs <= args.max_vs_torchmetrics and (vs_copy <= args.max_vs_copy or not judged)
    print("PASS" if ok else "FAIL")
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
