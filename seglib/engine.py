"""Training and inference: `fit`, `evaluate`, `predict`, overlap-tile prediction and uncertainty.

Every chapter and assignment that trains a model uses these loops. Two chapters teach the
ideas behind the inference functions:

* chapter 6 (U-Net): `predict_tiled`, the overlap-tile strategy with mirrored borders that
  lets a fully convolutional net segment an image of any size, tile by tile, with exactly the
  numbers it would give on the whole image;
* chapter 9 (Segmentation in practice): test-time augmentation by flips (`flip_tta`),
  Monte Carlo dropout uncertainty (`mc_dropout_predict`: mean probability and entropy map),
  checkpoints, seeds, and choosing a device (`get_device`).

Conventions: images `(N, C, H, W)` floating point, masks `(N, H, W)` integer class indices,
models return logits `(N, K, H, W)`; loaders yield `(images, masks)` pairs. Inference
functions return softmax probabilities `(N, K, H, W)`; take `.argmax(dim=1)` for labels.
Options are keyword-only; progress bars (tqdm.auto) switch off with `progress=False`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import random
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from seglib._checks import check_ignore_index, check_images, check_int, check_labels
from seglib.metrics import ConfusionMatrix, dice, iou, mean_iou, pixel_accuracy

__all__ = [
    "get_device",
    "seed_everything",
    "History",
    "fit",
    "evaluate",
    "predict",
    "flip_tta",
    "predict_tiled",
    "mc_dropout_predict",
    "save_checkpoint",
    "load_checkpoint",
]

IntPair = int | tuple[int, int]
Batch = tuple[Tensor, Tensor]
LossFn = Callable[[Tensor, Tensor], Tensor]

# The dropout modules Monte Carlo dropout switches on (dropout written as F.dropout inside a
# custom module follows that module's own `training` flag and cannot be told apart).
DROPOUT_TYPES = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout)


# --------------------------------------------------------------------------- devices and seeds


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return mps is not None and mps.is_available()


def get_device(prefer: str | torch.device | None = None) -> torch.device:
    """The device to compute on: CUDA if there is a GPU, then Apple's MPS, then the CPU.

    Args:
        prefer: a device to use instead of choosing ("cpu", "cuda", "cuda:1", "mps");
            a ValueError if it is not available on this machine.

    >>> get_device("cpu")
    device(type='cpu')
    """
    if prefer is None:
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if not isinstance(prefer, (str, torch.device)):
        raise TypeError(f"prefer must be a device name such as 'cpu', 'cuda' or 'mps', or None; got {prefer!r}")
    try:
        device = torch.device(prefer)
    except RuntimeError:
        raise ValueError(
            f"prefer must be a device name such as 'cpu', 'cuda', 'cuda:0' or 'mps', got {prefer!r}"
        ) from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"prefer={prefer!r} asks for CUDA, but no CUDA GPU is available here; use 'cpu'")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"prefer={prefer!r}: there are only {torch.cuda.device_count()} CUDA devices")
    if device.type == "mps" and not _mps_available():
        raise ValueError(f"prefer={prefer!r} asks for Apple MPS, which is not available here; use 'cpu'")
    return device


def seed_everything(seed: int) -> None:
    """Seed Python's `random`, NumPy (if installed) and PyTorch (CPU and every CUDA device).

    With the same seed, building a model and calling `fit` on the CPU gives bit-identical
    weights. On a GPU some kernels are nondeterministic; add
    `torch.use_deterministic_algorithms(True)` when bitwise repeatability matters there.

    >>> seed_everything(0); a = torch.rand(2)
    >>> seed_everything(0); torch.equal(a, torch.rand(2))
    True
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise ValueError(f"seed must be an int in [0, 2**32), got {seed!r}")
    random.seed(seed)
    try:
        import numpy as np
    except ImportError:  # NumPy is optional for seeding
        pass
    else:
        np.random.seed(seed)
    torch.manual_seed(seed)  # seeds the CPU generator and, lazily, every CUDA device
    torch.cuda.manual_seed_all(seed)


# --------------------------------------------------------------------------- argument checks


def _check_model(model: Any) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module returning logits (N, K, H, W), got {type(model).__name__}")


def _pair(value: IntPair, name: str, *, minimum: int) -> tuple[int, int]:
    """An int or a pair of ints as a pair, each checked to be >= `minimum`."""
    pair = (value, value) if isinstance(value, int) and not isinstance(value, bool) else value
    if (
        not isinstance(pair, (tuple, list))
        or len(pair) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in pair)
    ):
        raise TypeError(f"{name} must be an int or a pair of ints (height, width), got {value!r}")
    if min(pair) < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return int(pair[0]), int(pair[1])


def _check_logits(logits: Any, masks: Tensor | None = None, num_classes: int | None = None) -> None:
    """The model's output must be logits (N, K, H, W) matching the masks (N, H, W)."""
    if not isinstance(logits, Tensor) or logits.dim() != 4 or not logits.is_floating_point():
        got = tuple(logits.shape) if isinstance(logits, Tensor) else type(logits).__name__
        raise ValueError(f"the model must return floating-point logits of shape (N, K, H, W), got {got}")
    if num_classes is not None and logits.shape[1] != num_classes:
        raise ValueError(f"the model returned {logits.shape[1]} channels of logits, expected num_classes={num_classes}")
    if masks is not None and (logits.shape[0] != masks.shape[0] or logits.shape[2:] != masks.shape[1:]):
        raise ValueError(
            f"the model's logits {tuple(logits.shape)} do not match the masks {tuple(masks.shape)}: expected "
            f"(N, K, H, W) with the masks' (N, H, W); for a model whose output is smaller than its input "
            f"(valid padding), crop the masks to the output size"
        )


def _check_finite(logits: Tensor) -> None:
    """NaN or inf logits have no honest score: the argmax of NaN is class 0, the loss NaN."""
    if not bool(torch.isfinite(logits).all()):
        raise ValueError(
            "the model returned NaN or infinite logits; they have no prediction to score (check the "
            "model's weights, e.g. after a diverged training run, and its inputs)"
        )


def _check_input(model: nn.Module, images: Tensor, name: str) -> None:
    """`images` against the model: its `in_channels` (when it has one), its weights' dtype and device."""
    channels = getattr(model, "in_channels", None)
    check_images(images, channels if isinstance(channels, int) else None, name=name, module=model)


def _loss_value(loss: Any) -> float:
    """A loss function's scalar as a float; anything else is the loss function's error, named as such."""
    if not isinstance(loss, Tensor) or loss.numel() != 1:
        got = f"shape {tuple(loss.shape)}" if isinstance(loss, Tensor) else type(loss).__name__
        raise ValueError(f"loss_fn(logits, masks) must return a scalar tensor (e.g. a mean over pixels), got {got}")
    return loss.item()


def _unpack_batch(batch: Any, device: torch.device, model: nn.Module) -> Batch:
    """Check one `(images, masks)` batch and move it to `device` (masks as int64)."""
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        raise ValueError(
            "a loader must yield (images, masks) pairs: images (N, C, H, W) float, masks (N, H, W) integer; "
            f"got a {type(batch).__name__}" + (f" of length {len(batch)}" if isinstance(batch, (tuple, list)) else "")
        )
    images, masks = batch
    check_images(images, name="images in a batch")
    if not isinstance(masks, Tensor) or masks.dim() != 3 or masks.is_floating_point() or masks.is_complex():
        got = f"shape {tuple(masks.shape)} dtype {masks.dtype}" if isinstance(masks, Tensor) else type(masks).__name__
        raise ValueError(f"masks in a batch must be (N, H, W) integer class indices (use .long()), got {got}")
    images = images.to(device, non_blocking=True)
    _check_input(model, images, "images in a batch")  # the model's dtype (e.g. not float64) and channels
    return images, masks.to(device, non_blocking=True).long()


def _model_device(model: nn.Module) -> torch.device:
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


def _resolve_device(model: nn.Module, device: str | torch.device | None) -> torch.device:
    """`device` (checked, and the model moved there), or the device the model already lives on."""
    if device is None:
        return _model_device(model)
    device = get_device(device)
    model.to(device)
    return device


@contextlib.contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    """Put the model in eval mode for the block, then give every submodule its own mode back."""
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, training in modes:
            module.training = training


def _probabilities(logits: Tensor) -> Tensor:
    """Softmax over the class dimension, in at least float32 (mixed-precision logits are upcast)."""
    _check_logits(logits)
    return torch.softmax(logits, dim=1, dtype=torch.promote_types(logits.dtype, torch.float32))


def _loader_length(loader: Iterable) -> int | None:
    try:
        return len(loader)  # type: ignore[arg-type]
    except TypeError:  # an iterable-style loader has no length
        return None


# --------------------------------------------------------------------------- training


@dataclasses.dataclass
class History:
    """What `fit` records, for plots: one entry per epoch (a pass through the loader).

    The last entry may cover a partial pass (when `steps` or `max_time` ends training
    mid-epoch). Lists of per-entry values:

    * `epoch`: 1, 2, ...; `step`: optimizer steps taken so far at the end of the entry;
    * `train_loss`: mean training loss over the entry's steps;
    * `val_loss`, `val_miou`, `val_pixel_accuracy`: on `val_loader` after the entry
      (empty lists when `fit` had no `val_loader`);
    * `lr`: learning rate of the first parameter group at the end of the entry;
    * `seconds`: wall-clock seconds since `fit` started, at the end of the entry.

    Also `step_loss` (the training loss of every optimizer step), and `stop_reason`
    ("completed", "max_time" or "callback"), `device`, `amp` (whether mixed precision was
    used). `as_dict()` gives plain Python values, e.g. for `pandas.DataFrame` or a plot.
    """

    epoch: list[int] = dataclasses.field(default_factory=list)
    step: list[int] = dataclasses.field(default_factory=list)
    train_loss: list[float] = dataclasses.field(default_factory=list)
    val_loss: list[float] = dataclasses.field(default_factory=list)
    val_miou: list[float] = dataclasses.field(default_factory=list)
    val_pixel_accuracy: list[float] = dataclasses.field(default_factory=list)
    lr: list[float] = dataclasses.field(default_factory=list)
    seconds: list[float] = dataclasses.field(default_factory=list)
    step_loss: list[float] = dataclasses.field(default_factory=list)
    stop_reason: str = "completed"
    device: str = "cpu"
    amp: bool = False

    def as_dict(self) -> dict[str, Any]:
        """Every field as plain Python values (lists of numbers, strings, a bool)."""
        return dataclasses.asdict(self)

    def curves(self) -> dict[str, list[float]]:
        """The per-epoch series worth plotting (losses, validation scores, learning rate), non-empty only.

        >>> History(train_loss=[0.9, 0.5], val_miou=[0.4, 0.6]).curves()
        {'train_loss': [0.9, 0.5], 'val_miou': [0.4, 0.6]}
        """
        names = ("train_loss", "val_loss", "val_miou", "val_pixel_accuracy", "lr")
        return {name: list(getattr(self, name)) for name in names if getattr(self, name)}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> History:
        """The inverse of `as_dict` (used by `load_checkpoint`)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - names
        if unknown:
            raise ValueError(f"unknown History fields {sorted(unknown)}; expected some of {sorted(names)}")
        return cls(**{k: list(v) if isinstance(v, (list, tuple)) else v for k, v in values.items()})

    def __len__(self) -> int:
        return len(self.epoch)

    def __repr__(self) -> str:
        last = {name: getattr(self, name)[-1] for name in ("train_loss", "val_loss", "val_miou") if getattr(self, name)}
        shown = ", ".join(f"{k}={v:.4g}" for k, v in last.items())
        steps = self.step[-1] if self.step else 0
        shown = f", {shown}" if shown else ""
        return f"History(epochs={len(self)}, steps={steps}{shown}, stop_reason={self.stop_reason!r})"


def _use_amp(amp: bool | None, device: torch.device) -> bool:
    """Mixed precision: on by default on CUDA only; asking for it elsewhere is an error."""
    if amp is None:
        return device.type == "cuda"
    if not isinstance(amp, bool):
        raise TypeError(f"amp must be True, False or None (= on CUDA only), got {amp!r}")
    if amp and device.type != "cuda":
        raise ValueError(f"amp=True needs a CUDA device (float16 autocast with a gradient scaler), got device {device}")
    return amp


def fit(
    model: nn.Module,
    train_loader: Iterable[Batch],
    *,
    epochs: int | None = None,
    steps: int | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    loss_fn: LossFn | None = None,
    val_loader: Iterable[Batch] | None = None,
    num_classes: int | None = None,
    ignore_index: int | None = None,
    device: str | torch.device | None = None,
    amp: bool | None = None,
    scheduler: Any = None,
    progress: bool = True,
    max_time: float | None = None,
    callback: Callable[[History], bool | None] | None = None,
) -> History:
    """Train `model` on `(images, masks)` batches and return its `History`.

    Args:
        model: returns logits `(N, K, H, W)`; moved to `device`; left in eval mode at the end.
        train_loader: yields `(images (N, C, H, W) float, masks (N, H, W) integer)`.
        epochs: passes through `train_loader` (1 if neither `epochs` nor `steps` is given).
        steps: instead of `epochs`, this many optimizer steps, cycling through the loader.
        optimizer: default `torch.optim.Adam(model.parameters(), lr=1e-3)`.
        loss_fn: `loss_fn(logits, masks) -> scalar`; default cross-entropy with `ignore_index`
            (masks are then checked to hold labels in `[0, K)` or `ignore_index`).
        val_loader: evaluated (see `evaluate`) after every epoch into `history.val_*`.
        num_classes: for validation metrics; default the number of channels the model returns.
        ignore_index: mask label left out of the default loss and of the metrics (e.g. 255).
        device: default `get_device()`.
        amp: mixed precision (float16 autocast and gradient scaling); default on CUDA only.
        scheduler: `scheduler.step()` is called after every optimizer step (size it in steps).
        progress: show a tqdm progress bar.
        max_time: seconds; training stops cleanly after the step that exceeds it (the
            partial epoch is still recorded and validated).
        callback: `callback(history)` after every epoch; returning True stops training.

    Returns:
        The `History` (one entry per epoch, the last possibly partial).

    A batch whose pixels are all `ignore_index` has nothing to learn from: it is skipped (no
    optimizer step, no entry in `step_loss`). A training loss that is NaN or infinite stops
    `fit` with a ValueError before the optimizer step, since every later step would be NaN.

    >>> from torch.utils.data import DataLoader, TensorDataset
    >>> seed_everything(0)
    >>> images = torch.randn(16, 1, 8, 8); masks = (images[:, 0] > 0).long()   # label = sign of the pixel
    >>> loader = DataLoader(TensorDataset(images, masks), batch_size=4)
    >>> model = torch.nn.Conv2d(1, 2, kernel_size=1)
    >>> history = fit(model, loader, epochs=5, optimizer=torch.optim.Adam(model.parameters(), lr=0.1),
    ...               val_loader=loader, device="cpu", progress=False)
    >>> len(history.train_loss), history.step[-1], history.train_loss[-1] < history.train_loss[0]
    (5, 20, True)
    >>> history.val_miou[-1] > 0.9
    True
    """
    _check_model(model)
    if epochs is not None and steps is not None:
        raise ValueError(f"give epochs or steps, not both (got epochs={epochs!r}, steps={steps!r})")
    if steps is not None:
        steps = check_int(steps, "steps")
    else:
        epochs = 1 if epochs is None else check_int(epochs, "epochs")
    if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}")
    for name, value in (("loss_fn", loss_fn), ("callback", callback)):
        if value is not None and not callable(value):
            raise TypeError(f"{name} must be callable or None, got {type(value).__name__}")
    if scheduler is not None and not callable(getattr(scheduler, "step", None)):
        raise TypeError(
            f"scheduler must have a step() method (a torch.optim.lr_scheduler), got {type(scheduler).__name__}"
        )
    if max_time is not None and (isinstance(max_time, bool) or not isinstance(max_time, (int, float)) or max_time <= 0):
        raise ValueError(f"max_time must be a number of seconds > 0, or None; got {max_time!r}")
    if num_classes is not None:
        check_int(num_classes, "num_classes")
    ignore_index = check_ignore_index(ignore_index)

    device = get_device(device)
    use_amp = _use_amp(amp, device)
    model.to(device)
    optimizer = optimizer if optimizer is not None else torch.optim.Adam(model.parameters(), lr=1e-3)
    train_loss_fn = loss_fn if loss_fn is not None else _default_loss(ignore_index)
    scaler = torch.amp.GradScaler("cuda") if use_amp else None
    history = History(device=str(device), amp=use_amp)

    length = _loader_length(train_loader)
    total = steps if steps is not None else (length * epochs if length is not None else None)
    with tqdm(total=total, desc="fit", unit="step", disable=not progress, dynamic_ncols=True) as bar:
        start = time.perf_counter()
        step = epoch = 0
        while True:
            epoch += 1
            model.train()
            losses: list[float] = []
            out_of_time = False
            batches = 0
            for batch in train_loader:
                images, masks = _unpack_batch(batch, device, model)
                batches += 1
                if ignore_index is not None and not bool((masks != ignore_index).any()):
                    continue  # no labelled pixel: no loss to learn from (the default loss would be 0 / 0)
                with torch.autocast("cuda", dtype=torch.float16) if use_amp else contextlib.nullcontext():
                    logits = model(images)  # (N, K, H, W)
                    _check_logits(logits, masks)
                    if loss_fn is None:
                        check_labels(
                            masks, "masks in a batch", num_classes=logits.shape[1], ignore_index=ignore_index,
                            where=" (the number of channels the model returns)",
                        )
                    loss = train_loss_fn(logits, masks)
                if not math.isfinite(_loss_value(loss)):
                    raise ValueError(
                        f"the training loss is {loss.item()} at step {step + 1} (epoch {epoch}); every later step "
                        f"would be NaN. Lower the learning rate, or check the inputs and the loss function"
                    )
                optimizer.zero_grad(set_to_none=True)
                if scaler is not None:  # scale the loss so float16 gradients do not underflow
                    scaler.scale(loss).backward()
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    loss.backward()
                    optimizer.step()
                if scheduler is not None:
                    scheduler.step()
                step += 1
                losses.append(loss.item())
                bar.update(1)
                bar.set_postfix(epoch=epoch, loss=f"{losses[-1]:.4f}")
                out_of_time = max_time is not None and time.perf_counter() - start >= max_time
                if (steps is not None and step >= steps) or out_of_time:
                    break
            if not batches:
                raise ValueError("train_loader yielded no batches")
            if not losses:
                raise ValueError(
                    f"every pixel of every batch of train_loader in epoch {epoch} is ignore_index={ignore_index}: "
                    f"there is nothing to train on"
                )
            num_classes = num_classes if num_classes is not None else logits.shape[1]

            history.epoch.append(epoch)
            history.step.append(step)
            history.train_loss.append(sum(losses) / len(losses))
            history.step_loss.extend(losses)
            history.lr.append(float(optimizer.param_groups[0]["lr"]))
            if val_loader is not None:
                scores = evaluate(
                    model, val_loader, num_classes=num_classes, ignore_index=ignore_index, device=device,
                    loss_fn=loss_fn,
                )
                history.val_loss.append(scores["loss"])
                history.val_miou.append(scores["mean_iou"])
                history.val_pixel_accuracy.append(scores["pixel_accuracy"])
                bar.set_postfix(epoch=epoch, loss=f"{losses[-1]:.4f}", val_miou=f"{scores['mean_iou']:.3f}")
            history.seconds.append(time.perf_counter() - start)

            stop = None
            if (steps is not None and step >= steps) or (steps is None and epoch >= epochs):
                stop = "completed"
            elif out_of_time or (max_time is not None and history.seconds[-1] >= max_time):
                stop = "max_time"
            if callback is not None and callback(history) and stop is None:
                stop = "callback"
            if stop is not None:
                history.stop_reason = stop
                break
    model.eval()
    return history


def _default_loss(ignore_index: int | None) -> LossFn:
    """Per-pixel cross-entropy, averaged over the pixels whose label is not `ignore_index`."""
    ignore_index = check_ignore_index(ignore_index)
    ignore = -100 if ignore_index is None else ignore_index  # -100 is PyTorch's "ignore nothing" default

    def cross_entropy(logits: Tensor, masks: Tensor) -> Tensor:
        return F.cross_entropy(logits, masks, ignore_index=ignore)

    return cross_entropy


def evaluate(
    model: nn.Module,
    loader: Iterable[Batch],
    *,
    num_classes: int,
    ignore_index: int | None = None,
    device: str | torch.device | None = None,
    loss_fn: LossFn | None = None,
    tta: bool = False,
    progress: bool = False,
) -> dict[str, Any]:
    """Loss and every segmentation metric of `model` over a whole loader (eval mode, no gradients).

    All metrics come from one confusion matrix accumulated over the loader (`seglib.metrics`).

    Args:
        model: returns logits `(N, K, H, W)`; its train/eval mode is restored afterwards.
        loader: yields `(images (N, C, H, W), masks (N, H, W))`.
        num_classes: `K`.
        ignore_index: mask label left out of the loss and the metrics.
        device: default the device the model is on (else the model is moved there).
        loss_fn: `loss_fn(logits, masks) -> scalar`, averaged over batches weighted by batch
            size. Default: cross-entropy summed over the whole loader and divided by the number
            of labelled pixels, i.e. exactly the mean over every non-ignored pixel. A batch
            whose pixels are all `ignore_index` has no loss and is left out of the mean.
        tta: predict with horizontal-flip test-time augmentation (`flip_tta`); the loss then
            sees the log of the averaged probabilities as logits.

    Returns:
        `{"loss": float, "pixel_accuracy": float, "mean_iou": float, "iou": (K,) tensor,
        "dice": (K,) tensor, "confusion_matrix": (K, K) int64 tensor}` (tensors on the CPU;
        rows of the confusion matrix are true classes; NaN IoU/Dice for an absent class).
        NaN means "no evidence": the loss, pixel accuracy and mIoU are NaN only when no pixel of
        the whole loader is labelled.

    Raises:
        ValueError: if the model returns NaN or infinite logits (a NaN model is never scored:
            its argmax would be class 0 everywhere), or a mask holds a label outside
            `[0, num_classes)` other than `ignore_index` (the message suggests `ignore_index`
            for 255).

    >>> from torch.utils.data import DataLoader, TensorDataset
    >>> logits = torch.tensor([[[[2.0, 0.0]], [[0.0, 2.0]]]])        # (1, 2, 1, 2): predicts [0, 1]
    >>> loader = DataLoader(TensorDataset(logits, torch.tensor([[[0, 0]]])))
    >>> scores = evaluate(torch.nn.Identity(), loader, num_classes=2)
    >>> scores["pixel_accuracy"], scores["mean_iou"]
    (0.5, 0.25)
    >>> scores["confusion_matrix"]
    tensor([[1, 1],
            [0, 0]])
    """
    _check_model(model)
    num_classes = check_int(num_classes, "num_classes")
    if loss_fn is not None and not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable or None, got {type(loss_fn).__name__}")
    default_loss = _default_loss(ignore_index)  # also checks ignore_index
    device = _resolve_device(model, device)
    matrix = ConfusionMatrix(num_classes, ignore_index)
    total_loss, count, batches = 0.0, 0, 0
    with _eval_mode(model), torch.no_grad():
        for batch in tqdm(loader, desc="evaluate", unit="batch", disable=not progress, leave=False):
            images, masks = _unpack_batch(batch, device, model)
            if tta:
                probabilities = _flip_average(model, images, vertical=False)
                logits = probabilities.clamp_min(torch.finfo(probabilities.dtype).tiny).log()
            else:
                logits = model(images)  # (N, K, H, W)
            _check_logits(logits, masks, num_classes)
            _check_finite(logits)
            matrix.update(logits, masks)  # also checks the labels, before any loss sees them
            batches += 1
            labelled = masks.numel() if ignore_index is None else int((masks != ignore_index).sum())
            if labelled == 0:
                continue  # no labelled pixel: the batch has no loss (0 / 0), so it is left out of the mean
            if loss_fn is None:  # sum here, divide by the labelled pixels at the end: the exact mean
                total_loss += default_loss(logits.float(), masks).item() * labelled
                count += labelled
            else:
                total_loss += _loss_value(loss_fn(logits, masks)) * images.shape[0]
                count += images.shape[0]
    if batches == 0:
        raise ValueError("loader yielded no batches")
    cm = matrix.compute().cpu()
    return {
        "loss": total_loss / count if count else math.nan,
        "pixel_accuracy": float(pixel_accuracy(cm)),
        "mean_iou": float(mean_iou(cm)),
        "iou": iou(cm),
        "dice": dice(cm),
        "confusion_matrix": cm,
    }


# --------------------------------------------------------------------------- inference


def _flip_average(model: nn.Module, images: Tensor, vertical: bool) -> Tensor:
    """Mean softmax over the flipped copies of `images`, each prediction flipped back first."""
    flips: list[tuple[int, ...]] = [(), (3,)] + ([(2,), (2, 3)] if vertical else [])
    total = None
    for dims in flips:
        probabilities = _probabilities(model(images.flip(dims) if dims else images))  # (N, K, H, W)
        probabilities = probabilities.flip(dims) if dims else probabilities  # back to the original orientation
        total = probabilities if total is None else total + probabilities
    return total / len(flips)


def flip_tta(model: nn.Module, images: Tensor, *, vertical: bool = False) -> Tensor:
    """Test-time augmentation by flips: average the softmax over flipped copies of the images.

    Each copy is predicted, its prediction flipped back, and the probabilities averaged:
    identity and horizontal flip, plus (with `vertical=True`) the vertical flip and both
    flips together. A model that is exactly flip-equivariant gains nothing; for others the
    average is usually a little more accurate and smoother. The model runs in eval mode
    without gradients (its mode is restored); `images` must be on the model's device.

    Shape:
        `(N, C, H, W) -> (N, K, H, W)` probabilities (summing to 1 over `K`).

    >>> model = torch.nn.Conv2d(3, 2, kernel_size=3, padding=1)
    >>> flip_tta(model, torch.randn(1, 3, 5, 6), vertical=True).sum(dim=1).allclose(torch.ones(1, 5, 6))
    True
    """
    _check_model(model)
    _check_input(model, images, "images")
    if not isinstance(vertical, bool):
        raise TypeError(f"vertical must be a bool, got {vertical!r}")
    with _eval_mode(model), torch.no_grad():
        return _flip_average(model, images, vertical)


def predict(
    model: nn.Module,
    images: Tensor,
    *,
    device: str | torch.device | None = None,
    tta: bool = False,
    batch_size: int = 8,
    progress: bool = False,
) -> Tensor:
    """Class probabilities for a stack of images, batch by batch (eval mode, no gradients).

    Args:
        model: returns logits `(N, K, H, W)`; its train/eval mode is restored afterwards.
        images: `(N, C, H, W)` floating point, on any device.
        device: where to run; default the model's device (else the model is moved there).
        tta: average over a horizontal flip (`flip_tta`); for vertical flips as well, use
            `torch.cat([flip_tta(model, b, vertical=True) for b in images.split(8)])`.
        batch_size: images per forward pass.

    Returns:
        Softmax probabilities `(N, K, H, W)` on `images`' device; labels are `.argmax(dim=1)`.
        (For a model whose output is smaller than its input, the output's `H, W`.)

    >>> model = torch.nn.Conv2d(3, 4, kernel_size=3, padding=1)
    >>> probabilities = predict(model, torch.randn(5, 3, 8, 6), batch_size=2)
    >>> probabilities.shape, probabilities.argmax(dim=1).shape
    (torch.Size([5, 4, 8, 6]), torch.Size([5, 8, 6]))
    """
    _check_model(model)
    check_images(images, name="images")
    batch_size = check_int(batch_size, "batch_size")
    if not isinstance(tta, bool):
        raise TypeError(f"tta must be a bool, got {tta!r}")
    device = _resolve_device(model, device)
    outputs = []
    with _eval_mode(model), torch.no_grad():
        for start in tqdm(range(0, images.shape[0], batch_size), desc="predict", disable=not progress, leave=False):
            batch = images[start : start + batch_size].to(device, non_blocking=True)
            _check_input(model, batch, "images")  # the model's dtype (e.g. not float64) and channels
            probabilities = _flip_average(model, batch, vertical=False) if tta else _probabilities(model(batch))
            outputs.append(probabilities.to(images.device))
    if not outputs:
        raise ValueError("images must hold at least one image, got N = 0")
    return torch.cat(outputs)


def _reflect_indices(size: int, before: int, after: int, device: torch.device) -> Tensor:
    """Indices that extend `range(size)` by `before`/`after` mirrored positions, reflecting again and again.

    Reflection about the first and last pixel without repeating them (`F.pad(mode="reflect")`,
    NumPy's `np.pad(mode="reflect")`): 0 1 2 3 -> ... 2 1 | 0 1 2 3 | 2 1 0 1 ... The pattern is
    periodic with period `2·(size - 1)`, which handles margins larger than the image.
    """
    index = torch.arange(-before, size + after, device=device)
    if size == 1:
        return torch.zeros_like(index)
    period = 2 * (size - 1)
    index = index.remainder(period)  # in [0, period)
    return torch.where(index >= size, period - index, index)


def _mirror_pad(images: Tensor, top: int, bottom: int, left: int, right: int) -> Tensor:
    rows = _reflect_indices(images.shape[2], top, bottom, images.device)
    cols = _reflect_indices(images.shape[3], left, right, images.device)
    return images.index_select(2, rows).index_select(3, cols)


def predict_tiled(
    model: nn.Module,
    images: Tensor,
    *,
    tile_size: IntPair,
    margin: IntPair,
    border: IntPair = 0,
    batch_size: int = 8,
    device: str | torch.device | None = None,
    tta: bool = False,
    progress: bool = False,
) -> Tensor:
    """Predict images of any size tile by tile: U-Net's overlap-tile strategy with mirrored borders.

    The image is extended by mirroring at its edges, then cut into overlapping tiles of
    `tile_size`. Of each tile's prediction only the centre is kept, `tile_size - 2·margin`
    wide (the *core*); the cores tile the image without overlap and are stitched together.
    The `margin` on every side is context: a pixel's prediction depends on the input within
    the model's receptive-field radius `r`, so with `margin >= r` each kept pixel sees exactly
    what it would see in one forward pass on the whole image. For a padded ("same") fully
    convolutional net the result therefore equals whole-image prediction everywhere at least
    `r` pixels from the image border; nearer the border it equals prediction on the mirrored
    image (zero padding replaced by a reflection, as in Ronneberger et al. 2015).

    Args:
        model: fully convolutional, returns logits; its mode is restored afterwards.
        images: `(N, C, H, W)` floating point, any `H, W` (not necessarily a multiple of the tile).
        tile_size: tile `(h, w)` (or an int) fed to the model; at least `2·margin + 1`.
            Models with pooling may need sizes divisible by their total stride (e.g. a
            valid-padding `seglib.models.UNet`: see its `valid_input_size`); the tiled result
            is then exact only where the core size `tile_size - 2·margin` is a multiple of that
            stride (pooling is equivariant to such shifts only), and close otherwise.
        margin: context discarded on each side of a tile (int or pair); take `>= r`. The
            mirrored extension may be larger than the image (it reflects repeatedly).
        border: for a model whose output is smaller than its input (unpadded "valid"
            convolutions, as in the original U-Net): output = input - 2·border on each side.
            0 for padded nets; `margin >= border` (with `margin == border` the whole output
            of a tile is kept, the paper's scheme; the result then equals the model run on
            the whole image mirror-padded by `border`).
        batch_size: tile positions per forward pass (each holds all `N` images).
        device: where to run; default the model's device.
        tta: horizontal-flip test-time augmentation on every tile (`flip_tta`).

    Returns:
        Softmax probabilities `(N, K, H, W)` on `images`' device.

    >>> conv = lambda c_in, c_out: torch.nn.Conv2d(c_in, c_out, kernel_size=3, padding=1)
    >>> model = torch.nn.Sequential(conv(3, 8), torch.nn.ReLU(), conv(8, 2))   # receptive-field radius 2
    >>> image = torch.randn(1, 3, 20, 30)
    >>> tiled = predict_tiled(model, image, tile_size=12, margin=2)
    >>> tiled.shape
    torch.Size([1, 2, 20, 30])
    >>> (tiled - predict(model, image))[..., 2:-2, 2:-2].abs().max() < 1e-5   # interior: exact
    tensor(True)
    """
    _check_model(model)
    check_images(images, name="images")
    if images.shape[0] == 0 or images.shape[2] == 0 or images.shape[3] == 0:
        raise ValueError(f"images must hold at least one pixel of one image, got shape {tuple(images.shape)}")
    tile_h, tile_w = _pair(tile_size, "tile_size", minimum=1)
    margin_h, margin_w = _pair(margin, "margin", minimum=0)
    border_h, border_w = _pair(border, "border", minimum=0)
    batch_size = check_int(batch_size, "batch_size")
    if margin_h < border_h or margin_w < border_w:
        raise ValueError(
            f"margin {margin!r} must be >= border {border!r}: the kept core must lie inside the model's output"
        )
    if tile_h < 2 * margin_h + 1 or tile_w < 2 * margin_w + 1:
        raise ValueError(
            f"tile_size {tile_size!r} must be >= 2·margin + 1 = {(2 * margin_h + 1, 2 * margin_w + 1)} "
            f"so that each tile keeps a core of at least one pixel"
        )
    if not isinstance(tta, bool):
        raise TypeError(f"tta must be a bool, got {tta!r}")
    device = _resolve_device(model, device)

    n, _, height, width = images.shape
    core_h, core_w = tile_h - 2 * margin_h, tile_w - 2 * margin_w
    rows, cols = math.ceil(height / core_h), math.ceil(width / core_w)
    # Mirror `margin` on the top and left; on the bottom and right also fill up to whole cores.
    bottom, right = rows * core_h - height + margin_h, cols * core_w - width + margin_w
    padded = _mirror_pad(images, margin_h, bottom, margin_w, right)  # (N, C, rows·core_h + 2·margin_h, ...)
    # Tile (i, j) starts at (i·core_h, j·core_w) in `padded`; its core lands there in the output.
    corners = [(i * core_h, j * core_w) for i in range(rows) for j in range(cols)]
    expected = (tile_h - 2 * border_h, tile_w - 2 * border_w)
    output = images.new_empty(0)  # allocated once the first tiles tell the number of classes
    with _eval_mode(model), torch.no_grad():
        for start in tqdm(range(0, len(corners), batch_size), desc="tiles", disable=not progress, leave=False):
            chunk = corners[start : start + batch_size]
            tiles = torch.cat([padded[:, :, y : y + tile_h, x : x + tile_w] for y, x in chunk])  # (len·N, C, th, tw)
            tiles = tiles.to(device, non_blocking=True)
            _check_input(model, tiles, "images")  # the model's dtype (e.g. not float64) and channels
            probabilities = _flip_average(model, tiles, vertical=False) if tta else _probabilities(model(tiles))
            if tuple(probabilities.shape[2:]) != expected:
                raise ValueError(
                    f"for a {(tile_h, tile_w)} tile the model returned {tuple(probabilities.shape[2:])}, expected "
                    f"tile_size - 2·border = {expected}; set border to (input - output) / 2 for a valid-padding model"
                )
            # The output starts `border` pixels into the tile, so the core starts at margin - border.
            top, left = margin_h - border_h, margin_w - border_w
            cores = probabilities[:, :, top : top + core_h, left : left + core_w].to(images.device)
            if output.numel() == 0:
                output = cores.new_empty(n, cores.shape[1], rows * core_h, cols * core_w)
            for k, (y, x) in enumerate(chunk):
                output[:, :, y : y + core_h, x : x + core_w] = cores[k * n : (k + 1) * n]
    return output[:, :, :height, :width]


def mc_dropout_predict(
    model: nn.Module,
    images: Tensor,
    *,
    samples: int = 20,
    batch_size: int = 8,
    device: str | torch.device | None = None,
    progress: bool = False,
) -> tuple[Tensor, Tensor]:
    """Monte Carlo dropout: mean probabilities and their entropy, a per-pixel uncertainty map.

    Runs `samples` stochastic forward passes with the dropout layers active (train mode)
    and every other layer in eval mode (so BatchNorm uses, and does not update, its running
    statistics), averages the softmax probabilities and returns the entropy of that mean,
    `H = -Σ_k p̄_k log p̄_k` in nats: 0 where every sample is certain of one class, at most
    `log K`. High entropy marks pixels the model is unsure of, typically object boundaries
    (Gal and Ghahramani 2016, "Dropout as a Bayesian approximation"). The model's modes are
    restored afterwards. Seed (`seed_everything`) before the call for repeatable samples.

    Args:
        model: must contain at least one `nn.Dropout`/`nn.Dropout2d`/... module.
        images: `(N, C, H, W)` floating point.
        samples: stochastic forward passes, >= 1.
        batch_size: images per forward pass.
        device: where to run; default the model's device.

    Returns:
        `(mean_probabilities (N, K, H, W), entropy (N, H, W))` on `images`' device.

    >>> model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.Dropout2d(0.5),
    ...                             torch.nn.Conv2d(8, 2, 1))
    >>> mean, entropy = mc_dropout_predict(model, torch.randn(2, 3, 6, 6), samples=4)
    >>> mean.shape, entropy.shape, bool(entropy.max() <= math.log(2) + 1e-6)
    (torch.Size([2, 2, 6, 6]), torch.Size([2, 6, 6]), True)
    """
    _check_model(model)
    check_images(images, name="images")
    samples = check_int(samples, "samples")
    batch_size = check_int(batch_size, "batch_size")
    dropouts = [module for module in model.modules() if isinstance(module, DROPOUT_TYPES)]
    if not dropouts:
        raise ValueError(
            "mc_dropout_predict needs a model with dropout modules (nn.Dropout, nn.Dropout2d, ...); "
            f"{type(model).__name__} has none, so every sample would be the same"
        )
    device = _resolve_device(model, device)
    means = []
    with _eval_mode(model), torch.no_grad():
        for module in dropouts:
            module.train()  # only dropout is random; _eval_mode restores every mode afterwards
        for start in tqdm(range(0, images.shape[0], batch_size), desc="mc dropout", disable=not progress, leave=False):
            batch = images[start : start + batch_size].to(device, non_blocking=True)
            _check_input(model, batch, "images")  # the model's dtype (e.g. not float64) and channels
            total = _probabilities(model(batch))
            for _ in range(samples - 1):
                total = total + _probabilities(model(batch))
            means.append((total / samples).to(images.device))
    if not means:
        raise ValueError("images must hold at least one image, got N = 0")
    mean = torch.cat(means)  # (N, K, H, W)
    entropy = torch.special.entr(mean).sum(dim=1)  # -Σ p log p, with 0 log 0 = 0; (N, H, W)
    return mean, entropy


# --------------------------------------------------------------------------- checkpoints


def save_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    history: History | None = None,
    **extra: Any,
) -> None:
    """Save model weights, and optionally optimizer state, history and extra values, to `path`.

    `extra` holds plain values (numbers, strings, lists, dicts, tensors), e.g. `epoch=10` or
    `num_classes=3`, so that `load_checkpoint` can read the file with `weights_only=True`.
    Parent folders are created.
    """
    _check_model(model)
    if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer or None, got {type(optimizer).__name__}")
    if history is not None and not isinstance(history, History):
        raise TypeError(f"history must be a seglib.engine.History or None, got {type(history).__name__}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    checkpoint = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "history": history.as_dict() if history is not None else None,
        "extra": extra,
    }
    torch.save(checkpoint, path)


def load_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    *,
    map_location: str | torch.device | None = "cpu",
    weights_only: bool = True,
) -> dict[str, Any]:
    """Load a `save_checkpoint` file into `model` (and `optimizer`), in place.

    Args:
        map_location: where tensors are loaded first (as in `torch.load`); the weights are
            then copied into the model's parameters, wherever those live.
        weights_only: `torch.load`'s safe mode; set False only for files you trust that
            hold arbitrary Python objects in `extra`.

    Returns:
        `{"history": History or None, **extra}`: the extra values given to `save_checkpoint`.

    >>> import tempfile
    >>> model = torch.nn.Conv2d(1, 2, 1)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     save_checkpoint(f"{folder}/model.pt", model, epoch=3)
    ...     load_checkpoint(f"{folder}/model.pt", torch.nn.Conv2d(1, 2, 1))
    {'history': None, 'epoch': 3}
    """
    _check_model(model)
    if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer or None, got {type(optimizer).__name__}")
    checkpoint = torch.load(path, map_location=map_location, weights_only=weights_only)
    if not isinstance(checkpoint, dict) or "model" not in checkpoint:
        raise ValueError(f"{path} is not a seglib checkpoint (a dict with 'model', 'optimizer', 'history', 'extra')")
    model.load_state_dict(checkpoint["model"])
    if optimizer is not None:
        if checkpoint.get("optimizer") is None:
            raise ValueError(f"{path} holds no optimizer state; call load_checkpoint without optimizer")
        optimizer.load_state_dict(checkpoint["optimizer"])
    history = checkpoint.get("history")
    return {"history": History.from_dict(history) if history is not None else None, **checkpoint.get("extra", {})}
