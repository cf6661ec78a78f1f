"""U-Net on SyntheticShapes: held-out mIoU after at most two minutes of CPU training.

    python benchmarks/unet_synthetic.py            # default: 120 s budget, threshold 0.90
    python benchmarks/unet_synthetic.py --budget 60 --threshold 0.8

Training stops at the time budget (data generation is done before the clock starts and is
reported separately). The held-out split is `SyntheticShapes(seed=1)`, never seen in training.
The threshold applies to the held-out mIoU with flip test-time augmentation (the softmax
averaged over the four horizontal/vertical flips, `seglib.engine.flip_tta(..., vertical=True)`:
inference only, it does not touch training); the mIoU without it is printed too. Exits with status 1 when the mIoU is below the threshold.
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from seglib.data import SyntheticShapes
from seglib.engine import evaluate, fit, flip_tta, seed_everything
from seglib.losses import dice_loss
from seglib.metrics import ConfusionMatrix, iou, mean_iou, pixel_accuracy
from seglib.models import UNet


def materialise(dataset: SyntheticShapes) -> TensorDataset:
    """Draw every item once, so the training clock measures training, not drawing."""
    images, masks = zip(*(dataset[i] for i in range(len(dataset))))
    return TensorDataset(torch.stack(images), torch.stack(masks))


def one_cycle_over_time(optimizer: torch.optim.Optimizer, budget: float, warmup: float = 0.25) -> torch.optim.lr_scheduler.LambdaLR:
    """A one-cycle learning rate driven by the clock, not the step count: it rises for the first
    `warmup` of the budget and anneals (cosine) to zero exactly when the budget runs out."""
    start = time.perf_counter()

    def factor(_step: int) -> float:
        t = min(1.0, (time.perf_counter() - start) / budget)
        if t < warmup:
            return 0.04 + 0.96 * t / warmup
        return 0.5 * (1 + math.cos(math.pi * (t - warmup) / (1 - warmup)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def evaluate_flips(model: torch.nn.Module, dataset: TensorDataset, num_classes: int) -> dict[str, float | torch.Tensor]:
    """Held-out scores of the softmax averaged over the four flips of each image."""
    matrix = ConfusionMatrix(num_classes)
    for images, masks in DataLoader(dataset, batch_size=50):
        matrix.update(flip_tta(model, images, vertical=True), masks)
    cm = matrix.compute()
    return {"pixel_accuracy": float(pixel_accuracy(cm)), "mean_iou": float(mean_iou(cm)), "iou": iou(cm)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=120.0, help="training seconds (default 120)")
    parser.add_argument("--threshold", type=float, default=0.90, help="required held-out mIoU")
    parser.add_argument("--size", type=int, default=48)
    parser.add_argument("--train", type=int, default=16000, help="training images (each is seen about once)")
    parser.add_argument("--val", type=int, default=200, help="held-out images")
    parser.add_argument("--max-shapes", type=int, default=4)
    parser.add_argument("--lr", type=float, default=2e-2, help="peak learning rate of the one-cycle schedule")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--base-channels", type=int, default=16)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=True,
                        help="NHWC memory format (default on; faster on CPU)")
    parser.add_argument("--tta", action=argparse.BooleanOptionalAction, default=True,
                        help="judge the threshold on flip test-time augmentation (default on)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    seed_everything(0)
    start = time.perf_counter()
    shapes = dict(size=args.size, max_shapes=args.max_shapes)
    train = materialise(SyntheticShapes(args.train, seed=SyntheticShapes.SPLIT_SEEDS["train"], **shapes))
    val = materialise(SyntheticShapes(args.val, seed=SyntheticShapes.SPLIT_SEEDS["val"], **shapes))
    drawing = time.perf_counter() - start

    model = UNet(3, len(SyntheticShapes.CLASSES), base_channels=args.base_channels, depth=args.depth, batch_norm=True)
    if args.channels_last:
        # oneDNN's CPU convolutions run about a quarter faster on NHWC tensors; the outputs follow the weights.
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    loader = DataLoader(train, batch_size=args.batch_size, shuffle=True, drop_last=True)
    scheduler = one_cycle_over_time(optimizer, args.budget)

    def loss_fn(logits: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, masks) + dice_loss(logits, masks)

    start = time.perf_counter()
    history = fit(
        model, loader, epochs=10_000, optimizer=optimizer, scheduler=scheduler, loss_fn=loss_fn,
        max_time=args.budget, progress=False,
    )
    training = time.perf_counter() - start

    plain = evaluate(model, DataLoader(val, batch_size=50), num_classes=len(SyntheticShapes.CLASSES))
    scores = evaluate_flips(model, val, len(SyntheticShapes.CLASSES)) if args.tta else plain
    seen = evaluate(model, DataLoader(torch.utils.data.Subset(train, range(args.val)), batch_size=50), num_classes=len(SyntheticShapes.CLASSES))
    print(f"mIoU on {args.val} training images: {seen['mean_iou']:.4f}")
    print(f"device: cpu, torch threads: {torch.get_num_threads()}, channels_last: {args.channels_last}")
    print(f"data: {args.train} training / {args.val} held-out images of {args.size}x{args.size}, drawn in {drawing:.1f} s")
    print(f"model: UNet(base_channels={args.base_channels}, depth={args.depth}), {sum(p.numel() for p in model.parameters()):,} parameters")
    print(f"training: {history.step[-1]} steps in {training:.1f} s (budget {args.budget:.0f} s), "
          f"final training loss {history.train_loss[-1]:.4f}")
    print("held-out IoU per class: " + ", ".join(f"{n} {v:.3f}" for n, v in zip(SyntheticShapes.CLASSES, scores["iou"].tolist())))
    print(f"held-out mIoU without test-time augmentation {plain['mean_iou']:.4f}")
    judged = "with flip test-time augmentation" if args.tta else "without test-time augmentation"
    print(f"held-out pixel accuracy {scores['pixel_accuracy']:.4f}, mIoU {scores['mean_iou']:.4f} {judged} (threshold {args.threshold})")
    if scores["mean_iou"] < args.threshold:
        print("FAIL: mIoU below the threshold")
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
