"""The course's model zoo: small checkpoints trained on the real data that ships with seglib.

Each entry is a `Recipe` (architecture, data, training settings) and a checkpoint in
``seglib/_zoo`` holding half-precision weights and a card: how it was made (command, seed,
steps, wall time, device, torch version) and its metrics on the held-out split, computed from
the very weights that were saved. Chapters 4, 6 and 7 show these models on real images.

    >>> from seglib import zoo
    >>> "unet-isbi" in zoo.available()
    True
    >>> model = zoo.load("unet-isbi")                 # eval mode, float32, on the CPU
    >>> zoo.card("unet-isbi")["heldout"]["mean_iou"] >= 0.80     # "cell" everywhere scores 0.39
    True

Retrain every model with ``make zoo`` (or ``python -m seglib.zoo train NAME ...``); check the
stored metrics with ``python -m seglib.zoo evaluate``.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, Subset

from seglib import models
from seglib.data import IGNORE_INDEX, CamVid, ISBIMembrane, train_transforms
from seglib.engine import fit, flip_tta, get_device, seed_everything
from seglib.losses import dice_loss
from seglib.metrics import confusion_matrix, iou, mean_iou, pixel_accuracy

__all__ = [
    "Recipe", "RECIPES", "HeldOut", "available", "recipe", "card", "build", "load", "datasets",
    "predict_held_out", "evaluate", "train",
]  # fmt: skip

ZOO_DIR = Path(__file__).parent / "_zoo"


@dataclass(frozen=True)
class Recipe:
    """How one zoo model is built and trained (every number the card's command needs)."""

    name: str
    dataset: str  # "isbi" (train 0..23, held out 24..29) or "camvid" (train subset, val held out)
    architecture: str  # a class in seglib.models
    model_kwargs: dict[str, Any]
    steps: int
    batch_size: int
    crop: tuple[int, int]  # training crops (H, W); evaluation uses whole held-out images
    crop_scale: tuple[float, float]  # area of the crop as a fraction of the image
    lr: float
    weight_decay: float = 1e-4
    class_weight_power: float = 0.5  # loss weight of class k ∝ frequency_k ** -power (0: plain CE)
    degrees: float = 10.0  # random rotation of the training crops
    color_jitter: float = 0.2  # brightness, contrast and saturation jitter
    dice_weight: float = 0.0  # loss = cross-entropy + dice_weight · Dice loss (chapter 8)
    tta: bool = False  # score with horizontal-flip test-time augmentation, the flip it trained with (`engine.flip_tta`)
    seed: int = 0
    description: str = ""
    notes: dict[str, Any] = field(default_factory=dict)


_CAMVID = dict(dataset="camvid", batch_size=8, crop=(120, 160), crop_scale=(0.3, 0.6))

RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in (
        Recipe(
            "unet-isbi", dataset="isbi", architecture="UNet",
            model_kwargs=dict(in_channels=1, num_classes=2, base_channels=16, depth=3, batch_norm=True),
            # Whole images (a resized crop would change the membranes' width), flips, small rotations.
            steps=800, batch_size=4, crop=(256, 256), crop_scale=(1.0, 1.0), lr=3e-3,
            class_weight_power=0.0, degrees=10.0, color_jitter=0.0, tta=True,
            description="U-Net (3 levels, 16 channels) on ISBI 2012 membranes, 256×256",
        ),
        Recipe(
            "fcn8s-camvid", architecture="FCN",
            model_kwargs=dict(in_channels=3, num_classes=11, variant="8s", base_channels=16,
                              convs_per_stage=(2, 2, 2, 2, 2), head_channels=128, fc_kernel=3,
                              batch_norm=True, dropout=0.1),
            steps=1200, lr=3e-3, description="FCN-8s (VGG-style, 16 channels) on CamVid, 240×180", **_CAMVID,
        ),
        Recipe(
            "segnet-camvid", architecture="SegNet",
            model_kwargs=dict(in_channels=3, num_classes=11, base_channels=16, convs_per_stage=(2, 2, 2, 2)),
            steps=1400, lr=3e-3, description="SegNet (4 stages, 16 channels) on CamVid, 240×180", **_CAMVID,
        ),
        Recipe(
            "unet-camvid", architecture="UNet",
            model_kwargs=dict(in_channels=3, num_classes=11, base_channels=16, depth=4, batch_norm=True),
            steps=700, lr=3e-3, description="U-Net (4 levels, 16 channels) on CamVid, 240×180", **_CAMVID,
        ),
        Recipe(
            "deeplabv3plus-camvid", architecture="DeepLabV3Plus",
            # The paper's rates at output stride 8 (12, 24, 36) suit 65×65 maps of 513-pixel crops;
            # here the maps are 15×20 (training crops) and 23×30 (whole frames): rates shrink to match.
            model_kwargs=dict(in_channels=3, num_classes=11, base_channels=16, output_stride=8, atrous_rates=(3, 6, 9)),
            steps=2000, lr=3e-3, description="DeepLabV3+ (small backbone, output stride 8, rates 3, 6, 9) on CamVid, 240×180",
            **_CAMVID,
        ),
    )
}  # fmt: skip


def recipe(name: str) -> Recipe:
    """The recipe called `name` (one of `RECIPES`)."""
    if not isinstance(name, str) or name not in RECIPES:
        raise ValueError(f"no zoo model called {name!r}; the zoo has {sorted(RECIPES)}")
    return RECIPES[name]


def _path(name: str) -> Path:
    return ZOO_DIR / f"{recipe(name).name}.pt"


def available() -> list[str]:
    """Names of the zoo models whose checkpoint is present, in `RECIPES` order."""
    return [name for name in RECIPES if _path(name).is_file()]


def _checkpoint(name: str) -> dict[str, Any]:
    path = _path(name)
    if not path.is_file():
        raise FileNotFoundError(f"the zoo has no checkpoint for {name!r} at {path}; train it with `make zoo`")
    return torch.load(path, map_location="cpu", weights_only=True)


def card(name: str) -> dict[str, Any]:
    """How `name` was made and what it scored on its held-out split (a plain dict)."""
    return _checkpoint(name)["card"]


def build(name: str) -> nn.Module:
    """A fresh, untrained model of `name`'s architecture."""
    r = recipe(name)
    return getattr(models, r.architecture)(**r.model_kwargs)


def load(name: str, *, device: str | torch.device = "cpu") -> nn.Module:
    """The trained model `name`, in eval mode, with float32 weights on `device`.

    Shape:
        `(N, C, H, W) -> (N, num_classes, H, W)` logits; C and the class names are in `card`.
    """
    model = build(name)
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in _checkpoint(name)["model"].items()})
    return model.to(device).eval()


def datasets(name: str) -> tuple[Dataset, Dataset]:
    """`(train, held_out)` for `name`'s data, from the copy shipped with seglib (no transforms).

    ISBI: images 0..23 train, 24..29 held out (256×256, one channel). CamVid: the 62-image
    training subset and the 101 val images (240×180, RGB), void ignored (label 255).
    """
    r = recipe(name)
    if r.dataset == "isbi":
        return Subset(ISBIMembrane(), range(24)), Subset(ISBIMembrane(), range(24, 30))
    return CamVid(split="train"), CamVid(split="val")


def _class_weights(dataset: Dataset, num_classes: int, power: float) -> Tensor | None:
    if power == 0:
        return None
    counts = torch.zeros(num_classes, dtype=torch.float64)
    for _, mask in dataset:
        counts += torch.bincount(mask[mask != IGNORE_INDEX].flatten(), minlength=num_classes).double()
    weights = (counts / counts.sum()).clamp_min(1e-6) ** -power
    return (weights / (weights * counts / counts.sum()).sum()).float()  # pixel-weighted mean 1


@dataclass
class HeldOut:
    """A zoo model's predictions on its whole held-out split (what chapters draw and score)."""

    images: Tensor  # (N, C, H, W) float32 in [0, 1]
    masks: Tensor  # (N, H, W) int64, void/ignored = 255
    predictions: Tensor  # (N, H, W) int64
    confusion_matrix: Tensor  # (K, K) int64, rows = true class, ignored pixels left out


def predict_held_out(name: str, model: nn.Module | None = None) -> HeldOut:
    """Label every held-out image with `model` (default: the stored one), float32 on the CPU."""
    model = load(name) if model is None else model
    _, held_out = datasets(name)
    images = torch.stack([image for image, _ in held_out])
    masks = torch.stack([mask for _, mask in held_out])
    was_training = model.training
    model.eval()  # BatchNorm's running statistics, no dropout
    with torch.no_grad():
        if recipe(name).tta:  # average over the image and its mirror (training flipped horizontally)
            predictions = torch.cat([flip_tta(model, batch).argmax(1) for batch in images.split(8)])
        else:
            predictions = torch.cat([model(batch).argmax(1) for batch in images.split(8)])
    model.train(was_training)
    cm = confusion_matrix(predictions, masks, recipe(name).model_kwargs["num_classes"], ignore_index=IGNORE_INDEX)
    return HeldOut(images, masks, predictions, cm)


def evaluate(name: str, model: nn.Module | None = None) -> dict[str, Any]:
    """Pixel accuracy, mIoU and per-class IoU of `model` (default: the stored one) on the held-out split.

    Whole images, float32 on the CPU; void/ignored pixels left out (`predict_held_out`).
    """
    result = predict_held_out(name, model)
    cm = result.confusion_matrix
    return {
        "pixel_accuracy": float(pixel_accuracy(cm)),
        "mean_iou": float(mean_iou(cm)),
        "iou": [round(float(v), 6) for v in iou(cm)],
        "images": len(result.images),
    }


def _class_names(name: str) -> list[str]:
    return list(ISBIMembrane.CLASSES if recipe(name).dataset == "isbi" else CamVid.CLASSES)


def train(
    name: str, *, device: str | torch.device | None = None, out_dir: Path | None = None, steps: int | None = None
) -> dict[str, Any]:
    """Train `name` from its recipe, save weights and card to ``out_dir/<name>.pt``, return the card.

    Weights are stored in float16; the held-out metrics on the card are computed after that
    rounding, from exactly the weights a later `load` returns. `steps` overrides the recipe's
    (for a quick check of the pipeline; the card records what was run).
    """
    r = recipe(name)
    if steps is not None:
        r = replace(r, steps=steps)
    device = get_device(device)
    seed_everything(r.seed)
    train_set, _ = datasets(name)
    num_classes = r.model_kwargs["num_classes"]
    weights = _class_weights(train_set, num_classes, r.class_weight_power)
    augment = train_transforms(r.crop, scale=r.crop_scale, degrees=r.degrees, color_jitter=r.color_jitter)
    (train_set.dataset if isinstance(train_set, Subset) else train_set).transforms = augment
    loader = DataLoader(
        train_set, batch_size=r.batch_size, shuffle=True, drop_last=True,
        generator=torch.Generator().manual_seed(r.seed),
    )  # fmt: skip
    model = build(name)
    optimizer = torch.optim.AdamW(model.parameters(), lr=r.lr, weight_decay=r.weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=r.lr, total_steps=r.steps, pct_start=0.15)
    loss_weights = None if weights is None else weights.to(device)

    def loss_fn(logits: Tensor, masks: Tensor) -> Tensor:
        loss = F.cross_entropy(logits, masks, weight=loss_weights, ignore_index=IGNORE_INDEX)
        if r.dice_weight:
            loss = loss + r.dice_weight * dice_loss(logits, masks, ignore_index=IGNORE_INDEX)
        return loss

    start = time.perf_counter()
    history = fit(
        model, loader, steps=r.steps, optimizer=optimizer, loss_fn=loss_fn, scheduler=scheduler,
        ignore_index=IGNORE_INDEX, device=device,
    )  # fmt: skip
    wall = time.perf_counter() - start
    state = {k: v.detach().cpu().half() if v.is_floating_point() else v.detach().cpu() for k, v in model.state_dict().items()}
    rounded = build(name)
    rounded.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    info = {
        "name": r.name,
        "description": r.description,
        "recipe": asdict(r),
        "command": f"python -m seglib.zoo train {r.name}" + (f" (steps={steps})" if steps is not None else ""),
        "seed": r.seed,
        "steps": r.steps,
        "wall_time_s": round(wall, 1),
        "device": str(device) if device.type != "cpu" else f"cpu ({torch.get_num_threads()} threads, {platform.processor() or platform.machine()})",
        "torch": str(torch.__version__),
        "python": platform.python_version(),
        "final_train_loss": round(history.train_loss[-1], 4),
        "classes": _class_names(name),
        "class_weights": None if weights is None else [round(float(w), 4) for w in weights],
        "heldout": evaluate(name, rounded),
        "weights_dtype": "float16",
    }
    out = Path(out_dir) if out_dir is not None else ZOO_DIR
    out.mkdir(parents=True, exist_ok=True)
    torch.save({"model": state, "card": info}, out / f"{r.name}.pt")
    return info


def _summary(name: str, scores: dict[str, Any]) -> str:
    return f"{name:24s} pixel accuracy {scores['pixel_accuracy']:.4f}  mIoU {scores['mean_iou']:.4f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m seglib.zoo", description="Train or check the course's model zoo.")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in ("train", "evaluate"):
        p = sub.add_parser(command)
        p.add_argument("names", nargs="*", help=f"default: all of {list(RECIPES)}")
    sub.add_parser("list")
    args = parser.parse_args(argv)
    if args.command == "list":
        for name in RECIPES:
            print(_summary(name, card(name)["heldout"]) if name in available() else f"{name:24s} (not trained)")
        return 0
    names = args.names or list(RECIPES)
    failed = 0
    for name in names:
        if args.command == "train":
            info = train(name)
            print(_summary(name, info["heldout"]), f" {info['wall_time_s']:.0f} s", flush=True)
        else:
            stored, now = card(name)["heldout"], evaluate(name)
            same = abs(stored["mean_iou"] - now["mean_iou"]) <= 1e-4
            failed += not same
            print(_summary(name, now), "(matches the card)" if same else f"(card says mIoU {stored['mean_iou']:.4f})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
