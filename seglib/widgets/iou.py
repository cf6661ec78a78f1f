"""The IoU explorer (chapter 8, metrics): move and resize a predicted mask over a target and
watch IoU, Dice and pixel accuracy."""

from __future__ import annotations

import functools
import html
import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from seglib.widgets._common import (
    _CSS,
    _check_choice,
    _check_int,
    _Explorer,
    _figure,
    _import_ipywidgets,
    _legend,
    _marked_cell,
    _slider,
    _table,
    _wrap,
    marks_styles,
    static_page_html,
)
from seglib.widgets.receptive_field import _RF_CSS

# ---------------------------------------------------------------------------------------------
# IoU explorer (chapter 8): move and resize a predicted mask over a target and watch IoU and Dice.
# ---------------------------------------------------------------------------------------------

SHAPES: tuple[str, ...] = ("square", "disc")
IOU_LIMITS: dict[str, tuple[float, float]] = {"shift": (-12, 12), "scale": (0.2, 2.0), "size": (2, 20)}

# Colour of each cell of the overlay; `_IOU_MARKS[mark][0]` is the inline style of such a cell.
IOU_COLORS: dict[str, str] = {"tp": "#2b8a3e", "fp": "#fd7e14", "fn": "#4dabf7", "tn": "#f8f9fa"}
_IOU_MARKS: dict[str, tuple[str, str]] = {
    "tp": (f"background:{IOU_COLORS['tp']}", "true positive: in both (the overlap)"),
    "fp": (f"background:{IOU_COLORS['fp']}", "false positive: predicted, not in the target"),
    "fn": (f"background:{IOU_COLORS['fn']}", "false negative: in the target, missed"),
    "tn": (f"background:{IOU_COLORS['tn']}", ""),
    "in": ("background:#495057", ""),
}


@dataclass(frozen=True)
class IoUState:
    """What the IoU explorer shows for one setting.

    Attributes:
        shape, size, dx, dy, scale, grid_size: the setting. The target is a `size`-pixel square
            or disc in the middle of a `grid_size²` grid; the prediction is the same shape,
            `round(size·scale)` pixels across, its centre moved by `(dx, dy)` (x to the right,
            y down). Whatever leaves the grid is cut off.
        target, prediction: bool masks `(grid_size, grid_size)`.
        tp, fp, fn, tn: pixel counts: in both, predicted only, target only, in neither.
        iou: `tp / (tp + fp + fn)`; `dice`: `2·tp / (2·tp + fp + fn)` (NaN if both masks are empty).
        pixel_accuracy: `(tp + tn) / grid_size²`.
    """

    shape: str
    size: int
    dx: int
    dy: int
    scale: float
    grid_size: int
    target: Tensor
    prediction: Tensor
    tp: int
    fp: int
    fn: int
    tn: int
    iou: float
    dice: float
    pixel_accuracy: float

    def __repr__(self) -> str:
        return (
            f"IoUState({self.shape} {self.size}, prediction ×{self.scale:g} moved ({self.dx}, {self.dy}): "
            f"TP {self.tp}, FP {self.fp}, FN {self.fn}, IoU {self.iou:.3f}, Dice {self.dice:.3f})"
        )


def _shape_mask(shape: str, grid_size: int, top: int, left: int, side: int) -> Tensor:
    """A `side`-pixel square or disc with its bounding box at `(top, left)`, cut to the grid."""
    rows = torch.arange(grid_size, dtype=torch.float64)[:, None]
    cols = torch.arange(grid_size, dtype=torch.float64)[None, :]
    if side == 0:
        return torch.zeros(grid_size, grid_size, dtype=torch.bool)
    if shape == "square":
        return (rows >= top) & (rows < top + side) & (cols >= left) & (cols < left + side)
    centre_r, centre_c = top + (side - 1) / 2, left + (side - 1) / 2
    return (rows - centre_r) ** 2 + (cols - centre_c) ** 2 <= (side / 2) ** 2


def iou_state(
    dx: int = 5,
    dy: int = 0,
    scale: float = 1.0,
    *,
    shape: str = "square",
    size: int = 10,
    grid_size: int = 28,
) -> IoUState:
    """Target and moved prediction masks, their TP/FP/FN/TN counts, IoU, Dice and pixel accuracy.

    Computed with plain tensor operations: `IoU = TP / (TP + FP + FN)` and
    `Dice = 2·TP / (2·TP + FP + FN)`, which always satisfy `Dice = 2·IoU / (1 + IoU)`.

    Args:
        dx, dy: shift of the prediction in pixels (right and down), each in [-12, 12].
        scale: size of the prediction relative to the target, in [0, 3] (the slider: 0.2 to 2).
        shape: "square" or "disc".
        size: side (or diameter) of the target in pixels, in [2, 20].
        grid_size: side of the square grid, in [8, 64].

    Raises:
        ValueError: an argument is out of range.

    >>> state = iou_state(dx=5)          # two 10×10 squares, half a side apart
    >>> state.tp, state.fp, state.fn, round(state.iou, 4), state.dice
    (50, 50, 50, 0.3333, 0.5)
    """
    lo, hi = IOU_LIMITS["shift"]
    dx = _check_int(dx, "dx", int(lo), int(hi))
    dy = _check_int(dy, "dy", int(lo), int(hi))
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not 0 <= scale <= 3:
        raise ValueError(f"scale must be a number in [0, 3], got {scale!r}")
    shape = _check_choice(shape, "shape", SHAPES)
    size = _check_int(size, "size", *(int(v) for v in IOU_LIMITS["size"]))
    grid_size = _check_int(grid_size, "grid_size", 8, 64)
    if size > grid_size:
        raise ValueError(f"size {size} must fit the {grid_size}×{grid_size} grid")
    scale = round(float(scale), 6)  # slider steps like 0.30000000000000004
    side = int(size * scale + 0.5)  # round half up
    top = (grid_size - size) // 2
    target = _shape_mask(shape, grid_size, top, top, size)
    offset = (size - side) // 2  # keeps the prediction centred on the target before the shift
    prediction = _shape_mask(shape, grid_size, top + offset + dy, top + offset + dx, side)

    tp = int((target & prediction).sum())
    fp = int((~target & prediction).sum())
    fn = int((target & ~prediction).sum())
    tn = int((~target & ~prediction).sum())
    union = tp + fp + fn
    iou = tp / union if union else float("nan")
    dice = 2 * tp / (2 * tp + fp + fn) if union else float("nan")
    return IoUState(
        shape=shape, size=size, dx=dx, dy=dy, scale=scale, grid_size=grid_size, target=target, prediction=prediction,
        tp=tp, fp=fp, fn=fn, tn=tn, iou=iou, dice=dice, pixel_accuracy=(tp + tn) / grid_size**2,
    )


def _mask_table(grid: str, mask: Tensor, roles: Tensor | None = None) -> str:
    """A grid of empty cells: the overlay's TP/FP/FN/TN roles, or a single mask's inside cells."""
    names = ("tn", "fn", "fp", "tp")  # index = 2·prediction + target
    rows = []
    for i in range(mask.shape[0]):
        cells = []
        for j in range(mask.shape[1]):
            if roles is not None:
                mark = names[int(roles[i, j])]
            else:
                mark = "in" if mask[i, j] else None
            cells.append(_marked_cell("", mark, _IOU_MARKS, title=f"({i}, {j})"))
        rows.append(cells)
    return _table(grid, rows).replace('class="sg"', 'class="sg px iou"', 1)


def _quality_bar(iou: float) -> str:
    """A 0..1 scale with the chapter's reference points and this IoU marked."""
    ticks = "".join(
        f'<div style="position:absolute;left:{100 * v:.0f}%;top:0;height:14px;border-left:1px solid #495057"></div>'
        f'<div style="position:absolute;left:{100 * v:.0f}%;top:15px;transform:translateX(-50%);font-size:10px;'
        f'line-height:1.2;text-align:center;color:#495057">{v:.2f}<br>{word}</div>'
        for v, word in ((0.40, "poor"), (0.73, "good"), (0.93, "excellent"))
    )
    marker = (
        f'<div style="position:absolute;left:{100 * iou:.1f}%;top:-3px;width:4px;height:20px;margin-left:-2px;'
        f'background:#c92a2a"></div>'
        if math.isfinite(iou)
        else ""
    )
    return (
        '<div style="font-size:11px;color:#495057;margin-top:8px">how an IoU looks (red: this one)</div>'
        '<div style="position:relative;width:360px;height:14px;margin:3px 8px 34px 0;'
        'background:linear-gradient(to right,#ffe3e3,#fff3bf,#d3f9d8);border:1px solid #ced4da">'
        f"{ticks}{marker}</div>"
    )


def _shift_text(dx: int, dy: int) -> str:
    """"moved 2 right and 3 up", "not moved"."""
    parts = [f"{abs(dx)} {'right' if dx > 0 else 'left'}"] if dx else []
    parts += [f"{abs(dy)} {'down' if dy > 0 else 'up'}"] if dy else []
    return "moved " + " and ".join(parts) if parts else "not moved"


def render_iou_view(state: IoUState) -> str:
    """The IoU explorer's view of `state` as one HTML string."""
    tp, fp, fn, tn = state.tp, state.fp, state.fn, state.tn
    g = state.grid_size
    roles = 2 * state.prediction.long() + state.target.long()

    def number(value: float) -> str:
        return f"{value:.3f}" if math.isfinite(value) else "undefined (both masks are empty)"

    iou, dice = state.iou, state.dice
    relation = (
        f"Dice = 2·IoU / (1 + IoU) = 2·{iou:.3f} / {1 + iou:.3f} = {2 * iou / (1 + iou):.3f}"
        if math.isfinite(iou) else "Dice = 2·IoU / (1 + IoU)"
    )
    lines = [
        ("counts", f"TP = {tp}, FP = {fp}, FN = {fn}, TN = {tn} (of {g * g} pixels)"),
        ("iou", f"IoU = TP / (TP + FP + FN) = {tp} / {tp + fp + fn} = {number(iou)}"),
        ("dice", f"Dice = 2·TP / (2·TP + FP + FN) = {2 * tp} / {2 * tp + fp + fn} = {number(dice)}"),
        ("relation", relation + "; the two always agree, so they rank predictions the same way"),
        ("accuracy", f"pixel accuracy = (TP + TN) / all = {tp + tn} / {g * g} = {state.pixel_accuracy:.3f}"
         + (": high although the overlap is poor, because the background dominates"
            if math.isfinite(iou) and state.pixel_accuracy - iou > 0.3 else "")),
    ]
    values = {"iou": iou, "dice": dice, "accuracy": state.pixel_accuracy}
    numbers = "".join(
        f'<div data-role="{role}"'
        + (f' data-value="{values[role]!r}"' if role in values else "")
        + (' style="' + ("font-size:15px;font-weight:bold;" if role in ("iou", "dice") else "") + 'margin:2px 0"')
        + f">{html.escape(text)}</div>"
        for role, text in lines
    )
    side = int(state.size * state.scale + 0.5)
    header = (
        f'<div style="font-size:13px">target: a {state.size}-pixel {state.shape}; prediction: {side} pixels across '
        f"(×{state.scale:g}), {_shift_text(state.dx, state.dy)}.</div>"
    )
    masks = (
        _figure(f"target ({g}×{g})", _mask_table("target", state.target))
        + _figure(f"prediction ({g}×{g})", _mask_table("prediction", state.prediction))
        + _figure("both, overlaid", _mask_table("overlay", state.target, roles))
    )
    return _wrap(
        _RF_CSS + _IOU_CSS + header + _legend({k: v for k, v in _IOU_MARKS.items() if k in ("tp", "fp", "fn")})
        + masks + f'<div class="metrics">{numbers}</div>' + _quality_bar(iou),
        "iou",
    )


_IOU_CSS = """<style>
.seglib-cm table.iou td{width:9px;height:10px;border:1px solid #f1f3f5}
.seglib-cm .metrics{font-size:13px;margin-top:4px}
</style>"""


def iou_view_html(
    dx: int = 5, dy: int = 0, scale: float = 1.0, *, shape: str = "square", size: int = 10, grid_size: int = 28
) -> str:
    """The IoU explorer's view for one setting, as HTML, without ipywidgets.

    >>> "= 50 / 150 = 0.333" in iou_view_html(dx=5)
    True
    """
    return render_iou_view(iou_state(dx, dy, scale, shape=shape, size=size, grid_size=grid_size))


class IoUExplorer(_Explorer):
    """Sliders that move (`dx`, `dy`) and resize (`scale`) a predicted mask over a target
    (`shape`, `size`); a live view of the overlap and of IoU, Dice and pixel accuracy."""

    _name = "iou"

    def __init__(
        self,
        *,
        dx: int = 5,
        dy: int = 0,
        scale: float = 1.0,
        shape: str = "square",
        size: int = 10,
        grid_size: int = 28,
    ) -> None:
        widgets = _import_ipywidgets()
        iou_state(dx, dy, scale, shape=shape, size=size, grid_size=grid_size)  # checks the start values
        low, high = IOU_LIMITS["scale"]
        if not low <= scale <= high:
            raise ValueError(f"scale must be a number in [{low}, {high}] to start the slider, got {scale!r}")
        self.grid_size = grid_size
        lo, hi = (int(v) for v in IOU_LIMITS["shift"])
        style = {"description_width": "7em"}
        controls = {
            "dx": _slider(widgets, "move right", dx, (lo, hi), "dx"),
            "dy": _slider(widgets, "move down", dy, (lo, hi), "dy"),
            "scale": widgets.FloatSlider(
                value=min(max(scale, IOU_LIMITS["scale"][0]), IOU_LIMITS["scale"][1]),
                min=IOU_LIMITS["scale"][0], max=IOU_LIMITS["scale"][1], step=0.1,
                description="scale", readout_format=".1f", continuous_update=False, style=style,
            ),
            "shape": widgets.Dropdown(options=list(SHAPES), value=shape, description="shape", style=style),
            "size": _slider(widgets, "target size", size, tuple(int(v) for v in IOU_LIMITS["size"]), "size"),
        }
        self._build(controls, [["dx", "dy", "scale"], ["shape", "size"]])

    def _compute(self, settings: dict[str, Any]) -> IoUState:
        return iou_state(**settings, grid_size=self.grid_size)

    def _render(self, state: IoUState) -> str:
        return render_iou_view(state)

    def static_html(self) -> str:
        """This explorer on a page with no kernel, drawn by `explorers.js` from `iou_static_data`."""
        return static_page_html("iou", {**iou_static_data(self.grid_size), "start": self.settings}, self.html)


@functools.cache
def iou_static_data(grid_size: int = 28) -> dict[str, Any]:
    """What the page needs to draw every setting, for `static_page_html`.

    There are too many settings (25 · 25 · 19 · 2 · 19) to store each, so the page gets every
    mask that `iou_state` places (`stencils[shape][side]`: rows of "0"/"1", a `side`-pixel
    square or disc) and places them as it does; it counts TP, FP, FN and TN itself (the
    browser test checks them against `seglib.metrics`).
    """
    low, high = IOU_LIMITS["scale"]
    scales = [round(low + 0.1 * i, 1) for i in range(round((high - low) / 0.1) + 1)]
    largest = int(IOU_LIMITS["size"][1] * high + 0.5)
    stencils = {
        shape: [
            ["".join("1" if v else "0" for v in row) for row in _shape_mask(shape, side, 0, 0, side).tolist()]
            for side in range(largest + 1)
        ]
        for shape in SHAPES
    }
    return {
        "limits": IOU_LIMITS, "scales": scales, "grid_size": grid_size, "stencils": stencils,
        "marks": marks_styles(_IOU_MARKS), "colors": IOU_COLORS, "css": _CSS + _RF_CSS + _IOU_CSS,
    }


def iou_explorer(
    *, dx: int = 5, dy: int = 0, scale: float = 1.0, shape: str = "square", size: int = 10, grid_size: int = 28
) -> IoUExplorer:
    """An interactive target/prediction overlap with its IoU, Dice and pixel accuracy.

    Starts at the worked example: two 10×10 squares 5 pixels apart, IoU 50/150 = 1/3, Dice 1/2.

    Raises:
        ImportError: ipywidgets is not installed (`pip install ipywidgets`).
        ValueError: a starting value is out of range.

    >>> explorer = iou_explorer()
    >>> explorer.controls["dx"].value = 0
    >>> explorer.state.iou, explorer.state.dice
    (1.0, 1.0)
    """
    return IoUExplorer(dx=dx, dy=dy, scale=scale, shape=shape, size=size, grid_size=grid_size)


