"""Figures: small tensors drawn as labelled grids, masks in colour, training curves.

`draw_grid` and `draw_window` are used from chapter 5 (Upsampling) on, wherever a few pixels,
a kernel or a matrix are easier to follow as a picture with the numbers written in.
`colorize_mask`, `overlay`, `show_predictions`, `plot_history` and `plot_confusion_matrix`
draw masks, predictions, training curves and confusion matrices for chapters 6 to 9
(U-Net, atrous convolution, losses and metrics, segmentation in practice).

Masks are integer class labels `(H, W)`; images are RGB `(3, H, W)` in [0, 1]. Every
function returns a `Figure` or an array for `plt.imshow`, and draws nothing on screen itself.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import torch
from matplotlib.axes import Axes
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator
from torch import Tensor

__all__ = [
    "draw_grid",
    "draw_window",
    "DEFAULT_PALETTE",
    "colorize_mask",
    "overlay",
    "show_predictions",
    "plot_history",
    "plot_confusion_matrix",
    "iou_table",
]


def draw_grid(
    ax: Axes,
    values: Tensor,
    title: str = "",
    *,
    fmt: Callable[[float], str] | None = None,
    cmap: str = "Blues",
    boxes: Iterable[tuple[int, int]] = (),
    fontsize: int = 9,
    vmin: float | None = None,
    vmax: float | None = None,
) -> Axes:
    """Draw a 2-D tensor `(H, W)` as coloured cells labelled with their values.

    Args:
        boxes: `(row, col)` cells to outline in red.
        fmt: turns a value into its label (default: `f"{v:g}"`).

    >>> fig, ax = plt.subplots()
    >>> _ = draw_grid(ax, torch.tensor([[1, 2], [3, 4]]), "x", boxes=[(0, 1)])
    >>> [t.get_text() for t in ax.texts]
    ['1', '2', '3', '4']
    >>> plt.close(fig)
    """
    values = torch.as_tensor(values, dtype=torch.float32).detach().cpu()
    if values.dim() != 2:
        raise ValueError(f"values must be a 2-D tensor (H, W), got shape {tuple(values.shape)}")
    fmt = fmt or (lambda v: f"{v:g}")
    lo = values.min().item() if vmin is None else vmin
    hi = values.max().item() if vmax is None else vmax
    ax.imshow(values.numpy(), cmap=cmap, vmin=lo, vmax=hi)
    cells = itertools.product(range(values.shape[0]), range(values.shape[1]))
    for (i, j), v in zip(cells, values.flatten().tolist()):
        dark = hi > lo and (v - lo) / (hi - lo) > 0.6  # white text on dark cells
        ax.text(j, i, fmt(v), ha="center", va="center", fontsize=fontsize, color="white" if dark else "black")
    for i, j in boxes:
        ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="tab:red", linewidth=2.5))
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title)
    return ax


def draw_window(ax: Axes, top: int, left: int, height: int, width: int, color: str = "tab:orange") -> None:
    """Outline the block of cells in rows `top .. top+height-1`, columns `left .. left+width-1`."""
    ax.add_patch(
        plt.Rectangle((left - 0.5, top - 0.5), width, height, fill=False, edgecolor=color, linewidth=2.5, linestyle="--")
    )


# ---------------------------------------------------------------------------------------------
# Masks as colours. Chapters 8 (losses and metrics) and 9 (practice) draw masks, predictions,
# training curves and confusion matrices with the functions below.
# ---------------------------------------------------------------------------------------------

#: 21 colours, enough for Pascal VOC (background + 20 classes): class 0 (usually the background)
#: is grey, classes 1..9 the strong tab10 colours, 10..18 their light versions, then two dark ones.
#: Black is left out so that the default `ignore_color` stands apart from every class.
DEFAULT_PALETTE: Tensor = torch.tensor(
    [
        (150, 150, 150),
        (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
        (140, 86, 75), (227, 119, 194), (188, 189, 34), (23, 190, 207),
        (174, 199, 232), (255, 187, 120), (152, 223, 138), (255, 152, 150), (197, 176, 213),
        (196, 156, 148), (247, 182, 210), (219, 219, 141), (158, 218, 229),
        (16, 78, 139), (128, 0, 0),
    ],
    dtype=torch.uint8,
)

Color = str | Sequence[float]


def _as_color(color: Color, name: str) -> tuple[int, int, int]:
    """One colour as 0..255 ints: a matplotlib name (`"tab:red"`), ints in 0..255, or floats in [0, 1]."""
    if isinstance(color, str):
        try:
            rgb = to_rgb(color)
        except ValueError:
            raise ValueError(f"{name}: {color!r} is not a colour matplotlib knows") from None
        return tuple(int(round(255 * v)) for v in rgb)  # type: ignore[return-value]
    values = torch.as_tensor(color)
    if values.shape != (3,) or values.dtype == torch.bool or values.is_complex():
        raise ValueError(f"{name} must be an (r, g, b) triple or a colour name, got {color!r}")
    if values.is_floating_point():
        if not (0 <= values.min() and values.max() <= 1):
            raise ValueError(f"{name}: float colours must lie in [0, 1] (ints in 0..255), got {color!r}")
        values = (values * 255).round()
    elif not (0 <= values.min() and values.max() <= 255):
        raise ValueError(f"{name}: int colours must lie in 0..255, got {color!r}")
    return tuple(int(v) for v in values.tolist())  # type: ignore[return-value]


def _as_palette(palette: Tensor | Sequence[Color] | None) -> Tensor:
    """`(K, 3)` uint8 from a palette argument (`None` gives `DEFAULT_PALETTE`)."""
    if palette is None:
        return DEFAULT_PALETTE
    if isinstance(palette, Tensor) or (hasattr(palette, "shape") and hasattr(palette, "dtype")):
        palette = torch.as_tensor(palette)
        if palette.dim() != 2 or palette.shape[1] != 3 or palette.shape[0] == 0:
            raise ValueError(f"palette must have shape (K, 3), one (r, g, b) per class, got {tuple(palette.shape)}")
        palette = list(palette)
    if isinstance(palette, str) or len(palette) == 0:
        raise ValueError("palette must be a non-empty sequence of colours, one per class")
    return torch.tensor([_as_color(c, f"palette[{k}]") for k, c in enumerate(palette)], dtype=torch.uint8)


def _as_labels(mask: Tensor, name: str = "mask") -> Tensor:
    """Integer labels as an int64 CPU tensor (bool masks become 0/1)."""
    mask = torch.as_tensor(mask).detach().cpu()
    if mask.is_floating_point() or mask.is_complex():
        raise TypeError(f"{name} must hold integer class labels, got dtype {mask.dtype}; use .argmax(1) on logits")
    return mask.long()


def colorize_mask(
    mask: Tensor,
    palette: Tensor | Sequence[Color] | None = None,
    *,
    ignore_index: int | None = None,
    ignore_color: Color = (0, 0, 0),
) -> Tensor:
    """Turn a mask of class labels into an RGB image, one palette colour per class.

    Args:
        mask: integer labels in `0 .. K-1` (a bool mask counts as labels 0 and 1).
        palette: `K` colours, as a `(K, 3)` tensor of 0..255 ints, or a list of `(r, g, b)`
            triples (ints in 0..255 or floats in [0, 1]) or matplotlib colour names;
            default `DEFAULT_PALETTE` (21 colours).
        ignore_index: label of pixels without a class (e.g. 255 in Pascal VOC); they get
            `ignore_color` and may lie outside the palette.
        ignore_color: colour of the ignored pixels, black by default.

    Returns:
        uint8 RGB values, ready for `plt.imshow`.

    Raises:
        ValueError: a label has no colour in the palette (the message names it).

    Shape:
        `mask` `(H, W)` (or any shape `(*)`) → `(H, W, 3)` (`(*, 3)`).

    >>> rgb = colorize_mask(torch.tensor([[0, 1], [2, 255]]), ignore_index=255)
    >>> rgb.shape, rgb.dtype
    (torch.Size([2, 2, 3]), torch.uint8)
    >>> rgb[0, 1].tolist(), rgb[1, 1].tolist()   # class 1, and an ignored pixel
    ([31, 119, 180], [0, 0, 0])
    >>> colorize_mask(torch.tensor([[0, 3]]), ["black", "white"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    ValueError: mask has labels outside 0..1 (the palette has 2 colours): [3]; pass a palette with more colours, ...
    """
    labels = _as_labels(mask)
    colours = _as_palette(palette)
    k = colours.shape[0]
    ignored = labels == ignore_index if ignore_index is not None else torch.zeros_like(labels, dtype=torch.bool)
    bad = ~ignored & ((labels < 0) | (labels >= k))
    if bad.any():
        values = labels[bad].unique().tolist()
        shown = values[:5] + (["..."] if len(values) > 5 else [])
        raise ValueError(
            f"mask has labels outside 0..{k - 1} (the palette has {k} colours): "
            f"[{', '.join(str(v) for v in shown)}]; pass a palette with more colours, or set ignore_index"
        )
    rgb = colours[labels.clamp(0, k - 1)]  # (*, 3)
    rgb[ignored] = torch.tensor(_as_color(ignore_color, "ignore_color"), dtype=torch.uint8)
    return rgb


def _as_image(image: Tensor, name: str = "image") -> Tensor:
    """`(3, H, W)` or `(1, H, W)` or `(H, W)` in [0, 1] (or uint8 in 0..255) → float32 `(H, W, 3)`."""
    image = torch.as_tensor(image).detach().cpu()
    if image.dim() == 2:
        image = image[None]
    if image.dim() != 3 or image.shape[0] not in (1, 3):
        raise ValueError(f"{name} must have shape (3, H, W) (or (1, H, W) for grey), got {tuple(image.shape)}")
    if image.dtype == torch.uint8:
        image = image.float() / 255
    elif not image.is_floating_point():
        raise TypeError(f"{name} must be a float tensor in [0, 1] or uint8 in 0..255, got dtype {image.dtype}")
    image = image.float()
    if image.numel() and not (image.min() >= 0 and image.max() <= 1):
        raise ValueError(
            f"{name} values must lie in [0, 1], got [{image.min().item():.3g}, {image.max().item():.3g}]; "
            "undo the normalisation (x * std + mean) before drawing"
        )
    return image.expand(3, -1, -1).permute(1, 2, 0)


def overlay(
    image: Tensor,
    mask: Tensor,
    *,
    alpha: float = 0.5,
    palette: Tensor | Sequence[Color] | None = None,
    ignore_index: int | None = None,
) -> Tensor:
    """Blend a mask's class colours over an image: `(1 - alpha)·image + alpha·colour`.

    Ignored pixels (`mask == ignore_index`) keep the image as it is.

    Args:
        image: RGB in [0, 1] (uint8 in 0..255 is divided by 255; one channel is grey).
        mask: integer class labels, drawn with `colorize_mask(mask, palette)`.
        alpha: weight of the mask colours, in [0, 1].

    Returns:
        float32 RGB in [0, 1], ready for `plt.imshow`.

    Shape:
        `image` `(3, H, W)`, `mask` `(H, W)` → `(H, W, 3)`.

    >>> image = torch.ones(3, 2, 2)                       # white
    >>> out = overlay(image, torch.tensor([[1, 1], [1, 0]]), alpha=0.5, palette=[(0, 0, 0), (255, 0, 0)])
    >>> out[0, 0].tolist(), out[1, 1].tolist()            # half red, half black
    ([1.0, 0.5, 0.5], [0.5, 0.5, 0.5])
    """
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be a number in [0, 1], got {alpha!r}")
    picture = _as_image(image)
    labels = _as_labels(mask)
    if labels.shape != picture.shape[:2]:
        raise ValueError(
            f"mask must have shape (H, W) = {tuple(picture.shape[:2])} like the image, got {tuple(labels.shape)}"
        )
    colours = colorize_mask(labels, palette, ignore_index=ignore_index).float() / 255
    blended = (1 - alpha) * picture + alpha * colours
    if ignore_index is not None:
        keep = labels == ignore_index
        blended[keep] = picture[keep]
    return blended


def _class_label(k: int, class_names: Sequence[str] | None) -> str:
    return str(class_names[k]) if class_names is not None and k < len(class_names) else f"class {k}"


def show_predictions(
    images: Tensor,
    targets: Tensor,
    predictions: Tensor | None = None,
    *,
    palette: Tensor | Sequence[Color] | None = None,
    class_names: Sequence[str] | None = None,
    ignore_index: int | None = None,
    max_items: int = 4,
    errors: bool = False,
) -> Figure:
    """A grid with one row per image: the image, its target mask and (optionally) the prediction.

    Predictions may be labels or logits (then the class with the highest score is drawn).
    Each prediction's title gives the share of (non-ignored) pixels it gets right (pixel accuracy); a legend
    below names the colour of each class that appears (all classes when `class_names` is given).

    Args:
        images: RGB in [0, 1] (as `overlay` takes them).
        targets: integer labels.
        predictions: integer labels `(N, H, W)` or logits `(N, K, H, W)`; `None` draws two columns.
        class_names: a name per class for the legend.
        ignore_index: label of unlabelled target pixels, drawn in black and not scored.
        max_items: draw at most this many rows.
        errors: add a fourth column, the error map: wrong pixels red, right ones white,
            ignored ones grey.

    Returns:
        The figure, `min(N, max_items)` rows by 2, 3 or 4 (`errors`) columns of axes.

    Shape:
        `images` `(N, 3, H, W)`, `targets` `(N, H, W)`, `predictions` `(N, H, W)` or `(N, K, H, W)`.

    >>> images = torch.full((2, 3, 8, 8), 0.5)
    >>> targets = torch.zeros(2, 8, 8, dtype=torch.long)
    >>> targets[:, 2:6, 2:6] = 1                          # a 4×4 square of class 1
    >>> predictions = targets.clone()
    >>> predictions[:, :, :3] = 0                         # misses the square's first column
    >>> fig = show_predictions(images, targets, predictions, class_names=["background", "square"])
    >>> [ax.get_title() for ax in fig.axes[:3]]
    ['image 0', 'target', 'prediction: 94% correct']
    >>> plt.close(fig)
    >>> fig = show_predictions(images, targets, predictions, errors=True)
    >>> fig.axes[3].get_title(), int((fig.axes[3].images[0].get_array()[..., 1] == 0).sum())   # red: G = 0
    ('errors: 4 pixels', 4)
    >>> plt.close(fig)
    """
    if isinstance(max_items, bool) or not isinstance(max_items, int) or max_items < 1:
        raise ValueError(f"max_items must be a positive int, got {max_items!r}")
    images = torch.as_tensor(images).detach().cpu()
    if images.dim() != 4:
        raise ValueError(f"images must have shape (N, 3, H, W), got {tuple(images.shape)}")
    n, _, h, w = images.shape
    targets = _as_labels(targets, "targets")
    if targets.shape != (n, h, w):
        raise ValueError(f"targets must have shape (N, H, W) = {(n, h, w)}, got {tuple(targets.shape)}")
    if predictions is not None:
        predictions = torch.as_tensor(predictions).detach().cpu()
        if predictions.dim() == 4:  # logits (N, K, H, W)
            predictions = predictions.argmax(1)
        predictions = _as_labels(predictions, "predictions")
        if predictions.shape != (n, h, w):
            raise ValueError(
                f"predictions must have shape (N, H, W) = {(n, h, w)} (or logits (N, K, H, W)), "
                f"got {tuple(predictions.shape)}"
            )
    if not isinstance(errors, bool):
        raise TypeError(f"errors must be a bool, got {errors!r}")
    if errors and predictions is None:
        raise ValueError("errors=True needs predictions to compare with the targets")
    rows = min(n, max_items)
    cols = 2 if predictions is None else 4 if errors else 3
    fig, axes = plt.subplots(rows, cols, figsize=(2.4 * cols, 2.4 * rows + 0.6), squeeze=False, layout="constrained")

    shown_classes: set[int] = set()
    any_ignored = False
    for i in range(rows):
        target = targets[i]
        ignored = target == ignore_index if ignore_index is not None else torch.zeros_like(target, dtype=torch.bool)
        any_ignored = any_ignored or bool(ignored.any())
        shown_classes.update(target[~ignored].unique().tolist())
        axes[i, 0].imshow(_as_image(images[i], f"images[{i}]").numpy())
        axes[i, 0].set_title(f"image {i}")
        axes[i, 1].imshow(colorize_mask(target, palette, ignore_index=ignore_index).numpy(), interpolation="nearest")
        axes[i, 1].set_title("target")
        if predictions is not None:
            prediction = predictions[i]
            shown_classes.update(prediction.unique().tolist())
            axes[i, 2].imshow(colorize_mask(prediction, palette).numpy(), interpolation="nearest")
            scored = ~ignored
            right = (prediction[scored] == target[scored]).float().mean().item() if scored.any() else float("nan")
            axes[i, 2].set_title(f"prediction: {right:.0%} correct")
            if errors:
                wrong = (prediction != target) & scored
                error_map = torch.ones(h, w, 3)
                error_map[wrong] = torch.tensor([0.85, 0.0, 0.0])
                error_map[ignored] = 0.6
                axes[i, 3].imshow(error_map.numpy(), interpolation="nearest")
                axes[i, 3].set_title(f"errors: {int(wrong.sum())} pixels")
        for ax in axes[i]:
            ax.set_xticks([])
            ax.set_yticks([])

    colours = _as_palette(palette).float() / 255
    classes = range(len(class_names)) if class_names is not None else sorted(shown_classes)
    handles = [
        Patch(
            facecolor=colours[k].tolist() if k < len(colours) else "white",
            edgecolor="0.6",
            label=_class_label(k, class_names),
        )
        for k in classes
    ]
    if any_ignored:
        handles.append(Patch(facecolor="black", edgecolor="0.6", label=f"ignored ({ignore_index})"))
    if handles:
        fig.legend(
            handles=handles, loc="outside lower center", ncol=min(len(handles), 2 * cols), frameon=False, fontsize=9
        )
    return fig


def _history_dict(history: Any) -> dict[str, list[float]]:
    """`{name: [value per epoch]}` from a dict of lists, a list of per-epoch dicts, or `.as_dict()`."""
    if callable(getattr(history, "curves", None)):  # seglib.engine.History
        history = history.curves()
    elif callable(getattr(history, "as_dict", None)):
        history = history.as_dict()
    is_epochs = isinstance(history, Sequence) and not isinstance(history, str) and len(history) > 0
    if is_epochs and all(isinstance(epoch, Mapping) for epoch in history):
        names = list(dict.fromkeys(k for epoch in history for k in epoch))
        history = {k: [epoch.get(k, float("nan")) for epoch in history] for k in names}
    if not isinstance(history, Mapping) or not history:
        raise TypeError(
            "history must be a non-empty dict of lists such as {'train_loss': [...], 'val_miou': [...]}, "
            f"a list of per-epoch dicts, or an object with as_dict(); got {type(history).__name__}"
        )
    curves = {}
    for name, values in history.items():
        try:
            curves[str(name)] = [float(v) for v in values]
        except (TypeError, ValueError):
            raise TypeError(f"history[{name!r}] must be a sequence of numbers, got {values!r}") from None
    return curves


def plot_history(history: Any) -> Figure:
    """Training curves against the epoch: losses on one axes, metrics on another, learning rate on a third.

    A name containing `loss` is a loss; `lr` or `learning_rate` (or ending in `_lr`) is a
    learning rate, drawn on a log scale; everything else (`val_miou`, `val_pixel_accuracy`,
    ...) is a metric. Only the groups present get an axes. A metric with `val` in its name
    has its best epoch marked (the highest, or the lowest for a loss).

    Args:
        history: `{"train_loss": [...], "val_loss": [...], "val_miou": [...]}` (one value
            per epoch, epochs counted from 1; NaN where there is none), a list of per-epoch
            dicts, or an object with `as_dict()` returning such a dict.

    Returns:
        The figure, one axes per group.

    >>> fig = plot_history({"train_loss": [1.0, 0.6, 0.5], "val_loss": [1.1, 0.8, 0.7], "val_miou": [0.2, 0.4, 0.5]})
    >>> [ax.get_title() for ax in fig.axes]
    ['loss', 'metrics']
    >>> plt.close(fig)
    """
    curves = _history_dict(history)
    groups: dict[str, list[str]] = {"loss": [], "metrics": [], "learning rate": []}
    for name in curves:
        lowered = name.lower()
        if "loss" in lowered:
            groups["loss"].append(name)
        elif lowered in ("lr", "learning_rate") or lowered.endswith(("_lr", "_learning_rate")):
            groups["learning rate"].append(name)
        else:
            groups["metrics"].append(name)
    groups = {title: names for title, names in groups.items() if names}
    fig, axes = plt.subplots(1, len(groups), figsize=(4.2 * len(groups), 3.2), squeeze=False, layout="constrained")
    for ax, (title, names) in zip(axes[0], groups.items()):
        for name in names:
            values = curves[name]
            epochs = list(range(1, len(values) + 1))
            marker = "o" if len(values) <= 30 else None
            (line,) = ax.plot(epochs, values, marker=marker, markersize=3, label=name)
            finite = [(v, e) for e, v in zip(epochs, values) if math.isfinite(v)]
            if "val" in name.lower() and finite and title != "learning rate":
                best_value, best_epoch = (min if title == "loss" else max)(finite)
                ax.plot([best_epoch], [best_value], marker="*", markersize=11, color=line.get_color(), linestyle="none")
                ax.annotate(
                    f"{best_value:.3g}", (best_epoch, best_value), textcoords="offset points", xytext=(4, 4), fontsize=8
                )
        if title == "learning rate":
            ax.set_yscale("log")
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return fig


_NORMALIZE = {"true": 1, "pred": 0, "all": None}


def _count_text(value: float) -> str:
    if not math.isfinite(value):
        return "–"
    if value < 10_000:
        return f"{value:.0f}" if float(value).is_integer() else f"{value:.3g}"
    return f"{value / 1e3:.0f}k" if value < 1e6 else f"{value / 1e6:.1f}M"


def plot_confusion_matrix(
    cm: Tensor,
    *,
    class_names: Sequence[str] | None = None,
    normalize: str | None = "true",
) -> Figure:
    """Draw a confusion matrix (rows = true class, columns = predicted class) with its numbers.

    Args:
        cm: pixel counts, as `seglib.metrics.confusion_matrix` returns them.
        class_names: a name per class for the axes (default `0 .. K-1`).
        normalize: `"true"` divides each row by its sum (the diagonal is then each class's
            recall), `"pred"` each column (precision), `"all"` by the total; `None` shows
            counts. A row or column with no pixels shows "–".

    Returns:
        The figure: the matrix axes and its colour bar. Cells are annotated for `K <= 30`.

    Shape:
        `cm` `(K, K)`.

    >>> fig = plot_confusion_matrix(torch.tensor([[8, 2], [1, 9]]), class_names=["bg", "cat"])
    >>> [t.get_text() for t in fig.axes[0].texts]
    ['0.80', '0.20', '0.10', '0.90']
    >>> plt.close(fig)
    """
    matrix = torch.as_tensor(cm).detach().cpu().double()
    if matrix.dim() != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] == 0:
        raise ValueError(f"cm must be a square (K, K) matrix, got shape {tuple(matrix.shape)}")
    if matrix.isnan().any() or (matrix < 0).any():
        raise ValueError("cm must hold non-negative counts")
    if normalize is not None and normalize not in _NORMALIZE:
        raise ValueError(f'normalize must be "true", "pred", "all" or None, got {normalize!r}')
    k = matrix.shape[0]
    if class_names is not None and len(class_names) != k:
        raise ValueError(f"class_names must have one name per class ({k}), got {len(class_names)}")
    names = [str(c) for c in class_names] if class_names is not None else [str(c) for c in range(k)]

    if normalize is None:
        shown = matrix
    elif normalize == "all":
        shown = matrix / matrix.sum() if matrix.sum() > 0 else torch.full_like(matrix, float("nan"))
    else:
        totals = matrix.sum(dim=_NORMALIZE[normalize], keepdim=True)
        shown = torch.where(totals > 0, matrix / totals.clamp(min=1e-300), torch.full_like(matrix, float("nan")))

    side = max(3.6, 0.42 * k + 2.2)
    fig, ax = plt.subplots(figsize=(side + 0.8, side), layout="constrained")
    finite = shown[shown.isfinite()]
    vmax = 1.0 if normalize is not None else (finite.max().item() if finite.numel() else 1.0)
    image = ax.imshow(shown.numpy(), cmap="Blues", vmin=0, vmax=max(vmax, 1e-12))
    fig.colorbar(image, ax=ax, shrink=0.8, label="share" if normalize else "pixels")
    if k <= 30:
        fontsize = max(5, min(10, 110 / k))
        for (i, j), value in zip(itertools.product(range(k), range(k)), shown.flatten().tolist()):
            text = ("–" if not math.isfinite(value) else f"{value:.2f}") if normalize else _count_text(value)
            dark = math.isfinite(value) and value / max(vmax, 1e-12) > 0.6
            ax.text(j, i, text, ha="center", va="center", fontsize=fontsize, color="white" if dark else "black")
    long_names = max(map(len, names)) > 3
    ax.set_xticks(range(k), names, rotation=45 if long_names else 0, ha="right" if long_names else "center")
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    what = {None: "pixel counts", "true": "rows sum to 1 (diagonal: recall)",
            "pred": "columns sum to 1 (diagonal: precision)", "all": "share of all pixels"}[normalize]
    ax.set_title(f"confusion matrix\n{what}", fontsize=10)
    return fig


def iou_table(matrices: Mapping[str, Tensor], class_names: Sequence[str]) -> str:
    """A Markdown table of per-class IoU, one column per model, with mIoU and pixel accuracy below.

    Args:
        matrices: model name → its `(K, K)` confusion matrix (rows = true class).
        class_names: the K class names, in index order.

    >>> cm = torch.tensor([[3, 1], [0, 4]])
    >>> print(iou_table({"model": cm}, ["bg", "fg"]))
    | class | model |
    |---|---:|
    | bg | 0.75 |
    | fg | 0.80 |
    | **mIoU** | **0.775** |
    | pixel accuracy | 0.875 |
    """
    from seglib.metrics import iou, mean_iou, pixel_accuracy  # viz draws; metrics computes

    if not isinstance(matrices, Mapping) or not matrices:
        raise TypeError(f"matrices must be a non-empty mapping of name -> confusion matrix, got {matrices!r}")
    scores = {name: iou(cm) for name, cm in matrices.items()}
    for name, per_class in scores.items():
        if len(per_class) != len(class_names):
            raise ValueError(f"{name}'s confusion matrix has {len(per_class)} classes, class_names {len(class_names)}")
    rows = ["| class | " + " | ".join(matrices) + " |", "|---|" + "---:|" * len(matrices)]
    for k, name in enumerate(class_names):
        rows.append(f"| {name} | " + " | ".join(f"{float(v[k]):.2f}" for v in scores.values()) + " |")
    rows.append("| **mIoU** | " + " | ".join(f"**{float(mean_iou(cm)):.3f}**" for cm in matrices.values()) + " |")
    rows.append("| pixel accuracy | " + " | ".join(f"{float(pixel_accuracy(cm)):.3f}" for cm in matrices.values()) + " |")
    return "\n".join(rows)
