"""Figures: small tensors drawn as labelled grids.

Used by the chapters from chapter 5 (Upsampling) on, wherever a few pixels, a kernel or a
matrix are easier to follow as a picture with the numbers written in.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable

import matplotlib.pyplot as plt
import torch
from matplotlib.axes import Axes
from torch import Tensor

__all__ = ["draw_grid", "draw_window"]


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
