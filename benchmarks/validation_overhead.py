"""Benchmark: what seglib's input checks cost, next to the work they guard (goal: at most 5 %).

    python benchmarks/validation_overhead.py                 # course-sized models, a 1024×2048 label map
    python benchmarks/validation_overhead.py --size 32 --label-size 64 128 --repeats 2   # a quick run

Two measurements, each in one run:

* the forward pass of the course's models (`UNet(3, K, base_channels=16, depth=3, batch_norm=True)`
  as in chapters 6 and 9, and `DeepLabV3Plus(3, K)` as in chapter 7) on a batch of images, with
  the checks as shipped against the same modules with `check_images` replaced by a no-op;
* one metric update on a label map (`ConfusionMatrix.update`, `--label-size`, 19 classes, 5 %
  of pixels at 255) against the pass its check of the predicted labels makes (an `aminmax`;
  the target's `aminmax` is printed apart: it lays out the bins as well as checking), one
  update from logits against its NaN check, and `check_labels`, which `fit` runs on the masks
  before the default loss.

The forward-pass overhead is also computed directly (checks per forward × the time of one
check / the time of the forward pass), which does not drown in the noise of a shared machine;
that number and the metric's are judged against `--max-overhead` (exit status 1 above it).
"""

from __future__ import annotations

import argparse
from unittest import mock

import torch

import seglib._checks
import seglib.models
from seglib.metrics import ConfusionMatrix
from seglib.models import DeepLabV3Plus, UNet
from _timing import best_time  # benchmarks/_timing.py: the best of several runs



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=128, help="side of the square images")
    parser.add_argument("--batch", type=int, default=4, help="images per forward pass")
    parser.add_argument("--num-classes", type=int, default=19)
    parser.add_argument("--label-size", type=int, nargs=2, default=(1024, 2048), metavar=("H", "W"))
    parser.add_argument("--repeats", type=int, default=7, help="runs of each; the best is reported")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: PyTorch's)")
    parser.add_argument("--max-overhead", type=float, default=0.05, help="goal: checks / guarded work")
    args = parser.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    k = args.num_classes
    images = torch.randn(args.batch, 3, args.size, args.size)
    worst = 0.0
    print(f"{torch.get_num_threads()} threads, best of {args.repeats}; images {tuple(images.shape)}")
    for name, model in (
        ("UNet(3, K, base_channels=16, depth=3, batch_norm=True)", UNet(3, k, base_channels=16, depth=3, batch_norm=True)),
        ("DeepLabV3Plus(3, K)", DeepLabV3Plus(3, k)),
    ):
        model.eval()
        calls = []
        real_check = seglib._checks.check_images

        def counting(*a, **kw):
            calls.append((a, kw))
            return real_check(*a, **kw)

        with torch.inference_mode():
            with mock.patch.object(seglib.models, "check_images", counting):
                model(images)
            checked = best_time(lambda: model(images), args.repeats)
            with mock.patch.object(seglib.models, "check_images", lambda *a, **kw: None):
                bare = best_time(lambda: model(images), args.repeats)
            one_round = best_time(lambda: [real_check(*a, **kw) for a, kw in calls], args.repeats, number=200)
        direct = one_round / checked
        worst = max(worst, direct)
        print(f"{name}")
        print(f"  forward with checks {checked * 1e3:8.2f} ms, without {bare * 1e3:8.2f} ms "
              f"(A/B difference {100 * (checked - bare) / bare:+.2f} %: noisy on a shared machine)")
        print(f"  {len(calls)} checks per forward take {one_round * 1e6:.1f} µs: {100 * direct:.3f} % of the forward pass")

    generator = torch.Generator().manual_seed(0)
    shape = (1, *args.label_size)
    target = torch.randint(0, k, shape, generator=generator)
    target[torch.rand(shape, generator=generator) < 0.05] = 255
    pred = torch.randint(0, k, shape, generator=generator)
    logits = torch.randn(1, k, *args.label_size, generator=generator)
    metric = ConfusionMatrix(k, ignore_index=255)
    update = best_time(lambda: metric.update(pred, target), args.repeats)

    # The update reads the target's range once (it lays out the bins and checks the labels at
    # once) and the prediction's range once, for the check alone.
    checks = best_time(lambda: torch.aminmax(pred), args.repeats)
    layout = best_time(lambda: torch.aminmax(target), args.repeats)
    from_logits = best_time(lambda: metric.update(logits, target), args.repeats)
    best = logits.max(dim=1).values
    maximum = best_time(lambda: logits.max(dim=1), args.repeats)
    argmax = best_time(lambda: logits.argmax(dim=1), args.repeats)
    nan_check = max(maximum - argmax, 0) + best_time(lambda: bool(best.isnan().any()), args.repeats)
    labels = best_time(
        lambda: seglib._checks.check_labels(target, "masks", num_classes=k, ignore_index=255), args.repeats
    )
    print(f"metric update on {tuple(shape)} int64 labels, {k} classes, 5 % at 255: {update * 1e3:.2f} ms")
    print(f"  the check of the predicted labels (one aminmax): {checks * 1e3:.2f} ms = {100 * checks / update:.2f} %")
    print(f"  the target's aminmax (checks the labels and lays out the bins): {layout * 1e3:.2f} ms")
    print(f"metric update from logits {(1, k, *args.label_size)}: {from_logits * 1e3:.2f} ms, of which the NaN check "
          f"(max instead of argmax, then isnan) {nan_check * 1e3:.2f} ms = {100 * nan_check / from_logits:.2f} %")
    print(f"  (max over classes {maximum * 1e3:.2f} ms, argmax {argmax * 1e3:.2f} ms)")
    print(f"  check_labels on the same masks (as fit does before the loss): {labels * 1e3:.2f} ms")
    worst = max(worst, checks / update, nan_check / from_logits)
    ok = worst <= args.max_overhead
    print(f"largest overhead {100 * worst:.2f} % (goal <= {100 * args.max_overhead:g} %): {'PASS' if ok else 'FAIL'}")
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
