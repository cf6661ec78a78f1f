"""Benchmark: the sliding window (a patch classifier run at every pixel) against its fully
convolutional conversion, on the same image with the same weights (chapter 3).

    python benchmarks/sliding_window.py                       # CPU-sized default, well under a minute
    python benchmarks/sliding_window.py --size 128 160 --patch-size 48

Prints both times, the speed-up, and checks that the two give the same scores (to 1e-5) at
every pixel. Times are the best of `--repeats` runs after one warm-up run on a small image.
"""

from __future__ import annotations

import argparse

import torch

from seglib.models import PatchClassifier, SlidingWindowSegmenter
from _timing import best_time  # benchmarks/_timing.py: the best of several runs



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, nargs=2, default=(64, 96), metavar=("H", "W"), help="image size")
    parser.add_argument("--patch-size", type=int, default=32, help="side of the window around each pixel")
    parser.add_argument("--channels", type=int, nargs="+", default=(16, 32), help="conv + pool stage widths")
    parser.add_argument("--hidden", type=int, default=64, help="hidden fully connected width")
    parser.add_argument("--num-classes", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each method; the best is reported")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: PyTorch's)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    classifier = PatchClassifier(
        3, args.num_classes, args.patch_size, channels=args.channels, hidden_features=args.hidden
    ).eval()
    sliding = SlidingWindowSegmenter(classifier).eval()
    convolutional = sliding.to_fully_convolutional().eval()
    image = torch.randn(1, 3, *args.size)

    with torch.inference_mode():
        warm = torch.randn(1, 3, 8, 8)
        sliding(warm), convolutional(warm)
        slow = sliding(image)
        fast = convolutional(image)
        t_sliding = best_time(lambda: sliding(image), args.repeats)
        t_convolutional = best_time(lambda: convolutional(image), args.repeats)

    h, w = args.size
    difference = (slow - fast).abs().max().item()
    print(f"image 1x3x{h}x{w}, patch {args.patch_size}x{args.patch_size}, {h * w} windows, "
          f"{torch.get_num_threads()} threads, best of {args.repeats}")
    print(f"sliding window      : {t_sliding * 1e3:10.1f} ms")
    print(f"fully convolutional : {t_convolutional * 1e3:10.1f} ms")
    print(f"speed-up            : {t_sliding / t_convolutional:10.1f}x")
    print(f"max |difference|    : {difference:10.2e} (scores of shape {tuple(fast.shape)})")
    if fast.shape != slow.shape or difference > 1e-5:
        raise SystemExit(f"FAILED: the two methods differ by {difference:.2e} (> 1e-5)")
    print("scores equal to 1e-5 at every pixel: OK")


if __name__ == "__main__":
    main()
