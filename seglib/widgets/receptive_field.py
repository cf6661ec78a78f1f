"""The receptive-field explorer (chapter 7, atrous convolution): dilation and stacking widen
what one output pixel sees, and dilation leaves holes it never reads."""

from __future__ import annotations

import functools
import html
import itertools
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from seglib import ops
from seglib.widgets._common import (
    _CSS,
    GridPool,
    _check_int,
    _Explorer,
    _figure,
    _grid_table,
    _import_ipywidgets,
    _legend,
    _marked_cell,
    _message_box,
    _slider,
    _table,
    _wrap,
    marks_styles,
    static_page_html,
)

# ---------------------------------------------------------------------------------------------
# Receptive-field explorer (chapter 7): dilation and stacking widen what one output pixel sees.
# ---------------------------------------------------------------------------------------------

RECEPTIVE_FIELD_LIMITS: dict[str, tuple[int, int]] = {
    "kernel_size": (1, 5),
    "dilation": (1, 4),
    "num_layers": (1, 4),
    "stride": (1, 3),
}
#: Largest receptive field drawn pixel by pixel; beyond it the view gives the numbers only.
MAX_DRAWN_FIELD = 41
_FIELD_MARGIN = 2  # input pixels drawn around the field on each side

_RF_MARKS: dict[str, tuple[str, str]] = {
    "tap": ("background:#74c0fc;font-weight:bold", "a kernel weight (the same k×k weights at every dilation)"),
    "read": ("background:#1c7ed6", "an input pixel the centre output reads (darker: reached along more paths)"),
    "hole": ("background:#fff3bf", "inside the receptive field but never read (dilation leaves holes)"),
}


@dataclass(frozen=True)
class ReceptiveFieldState:
    """What the receptive-field explorer shows for one setting.

    Attributes:
        kernel_size, dilation, num_layers, stride: the setting; every layer is the same
            `kernel_size×kernel_size` convolution with this stride and dilation, no padding.
        kernel: the weights `1 .. k²` as a `(k, k)` grid.
        dilated_kernel: `ops.dilate_kernel(kernel, dilation)`, `(D·(k-1)+1, D·(k-1)+1)`.
        field: `ops.receptive_field([(k, stride, D)] * num_layers)`, the side in input pixels.
        growth: the receptive field after each layer, first layer first.
        paths: `(field, field)`: for each input pixel in the field, along how many paths through
            the layers the centre output reads it (0: not read). It is the gradient of that output
            with all weights 1, computed here by running the layers backwards (transposed
            convolutions with the dilated all-ones kernel).
    """

    kernel_size: int
    dilation: int
    num_layers: int
    stride: int
    kernel: Tensor
    dilated_kernel: Tensor
    field: int
    growth: tuple[int, ...]
    paths: Tensor

    @property
    def read_pixels(self) -> tuple[tuple[int, int], ...]:
        """`(row, col)` within the field of the input pixels the output reads."""
        return tuple((r, c) for r, c in self.paths.nonzero().tolist())

    @property
    def drawable(self) -> bool:
        """Whether the view draws the input grid (the field is at most `MAX_DRAWN_FIELD` wide)."""
        return self.field <= MAX_DRAWN_FIELD

    def __repr__(self) -> str:
        return (
            f"ReceptiveFieldState({self.num_layers} × (kernel {self.kernel_size}, dilation {self.dilation}, "
            f"stride {self.stride}) -> receptive field {self.field}×{self.field}, "
            f"{len(self.read_pixels)} pixels read)"
        )


def receptive_field_state(
    kernel_size: int = 3, dilation: int = 2, num_layers: int = 1, stride: int = 1
) -> ReceptiveFieldState:
    """The dilated kernel, the receptive field and the input pixels one output pixel reads.

    Args:
        kernel_size: side `k` of each layer's kernel, in [1, 5].
        dilation: `D`, in [1, 4]; the kernel's taps are `D` pixels apart.
        num_layers: how many such convolutions are stacked, in [1, 4].
        stride: of every layer, in [1, 3].

    Raises:
        ValueError: an argument is out of range.

    >>> [receptive_field_state(3, d).field for d in (1, 2, 3)]   # one 3×3 layer, D = 1, 2, 3
    [3, 5, 7]
    >>> state = receptive_field_state(3, 2, num_layers=2)
    >>> state.field, state.growth, len(state.read_pixels)        # 9×9, yet only 25 pixels are read
    (9, (5, 9), 25)
    """
    k = _check_int(kernel_size, "kernel_size", *RECEPTIVE_FIELD_LIMITS["kernel_size"])
    d = _check_int(dilation, "dilation", *RECEPTIVE_FIELD_LIMITS["dilation"])
    layers = _check_int(num_layers, "num_layers", *RECEPTIVE_FIELD_LIMITS["num_layers"])
    s = _check_int(stride, "stride", *RECEPTIVE_FIELD_LIMITS["stride"])
    kernel = torch.arange(1, k * k + 1, dtype=torch.float32).reshape(k, k)
    dilated = ops.dilate_kernel(kernel[None, None], d)[0, 0]
    growth = tuple(ops.receptive_field([(k, s, d)] * (i + 1)) for i in range(layers))
    # Back from the one output pixel: each layer (last first) spreads every count over the taps
    # of the dilated kernel, s pixels apart: a transposed convolution with all-ones weights.
    ones = ops.dilate_kernel(torch.ones(1, 1, k, k, dtype=torch.float64), d)
    paths = torch.ones(1, 1, 1, 1, dtype=torch.float64)
    for _ in range(layers):
        paths = F.conv_transpose2d(paths, ones, stride=s)
    paths = paths[0, 0]
    if paths.shape != (growth[-1], growth[-1]):  # cannot happen: the two computations agree
        raise RuntimeError(f"paths {tuple(paths.shape)} disagree with the receptive field {growth[-1]}")
    return ReceptiveFieldState(
        kernel_size=k, dilation=d, num_layers=layers, stride=s, kernel=kernel, dilated_kernel=dilated,
        field=growth[-1], growth=growth, paths=paths,
    )


def _formula(state: ReceptiveFieldState) -> str:
    """`1 + 2·(3-1)·1 + 2·(3-1)·2 = 13`: the receptive field summed layer by layer."""
    k, d, s = state.kernel_size, state.dilation, state.stride
    terms = [f"{d}·({k}-1)·{s ** i}" for i in range(state.num_layers)]
    return f"1 + {' + '.join(terms)} = {state.field}"


def render_receptive_field_view(state: ReceptiveFieldState) -> str:
    """The receptive-field explorer's view of `state` as one HTML string."""
    k, d, layers, s, field = state.kernel_size, state.dilation, state.num_layers, state.stride, state.field
    side = d * (k - 1) + 1
    taps = {(i * d, j * d): "tap" for i in range(k) for j in range(k)}
    kernel_grid = _grid_table("dilated_kernel", state.dilated_kernel, taps, _RF_MARKS, fmt=lambda v: f"{v:g}")
    n_read = len(state.read_pixels)
    stack = f"{layers} stacked {k}×{k} convolutions" if layers > 1 else f"one {k}×{k} convolution"
    header = (
        f'<div style="font-size:13px">{stack}, dilation {d}, stride {s}, no padding. '
        f"The centre output pixel reads the input pixels shaded below.</div>"
    )
    number = (
        f'<div data-role="field" data-value="{field}" style="font-size:16px;font-weight:bold;margin:6px 0">'
        f"receptive field: {field}×{field} input pixels</div>"
        f'<div data-role="formula" style="font-size:12px">'
        f"{html.escape(f'R = 1 + Σ over layers of D·(k-1)·(product of the earlier strides) = {_formula(state)}')}"
        "</div>"
        f'<div data-role="growth" style="font-size:12px">'
        f"{html.escape(', '.join(f'after layer {i + 1}: {r}' for i, r in enumerate(state.growth)))}</div>"
        f'<div data-role="read" data-value="{n_read}" style="font-size:12px">pixels actually read: {n_read} of '
        f"{field * field}"
        + (" (the holes between dilated taps are never read: the gridding effect)" if n_read < field * field else "")
        + "</div>"
    )
    if k > 1 and d > 1 and layers == 1:
        number += (
            f'<div class="note" style="max-width:48em">The same {k * k} weights as with dilation 1 cover '
            f"{side}×{side} pixels instead of {k}×{k}: a larger view at no extra cost.</div>"
        )
    kernel_fig = _figure(
        f"dilated kernel ({side}×{side})", kernel_grid,
        f"ops.dilate_kernel: the {k}×{k} weights 1..{k * k} with {d - 1} zero{'s' if d != 2 else ''} between taps",
    )
    if state.drawable:
        n = field + 2 * _FIELD_MARGIN
        biggest = state.paths.max().item()
        cell = max(11, min(24, 300 // n))  # pixels per cell: small fields drawn larger
        size = f"width:{cell}px;height:{cell + 1}px"
        centre = (field // 2, field // 2) if field % 2 else None  # the input pixel under the output pixel
        rows = []
        for i in range(n):
            cells = []
            for j in range(n):
                r, c = i - _FIELD_MARGIN, j - _FIELD_MARGIN
                inside = 0 <= r < field and 0 <= c < field
                count = state.paths[r, c].item() if inside else 0.0
                style = size + (";outline:2px solid #e8590c;outline-offset:-2px" if (r, c) == centre else "")
                if count:
                    strength = 0.3 + 0.7 * count / biggest
                    cells.append(
                        _marked_cell(
                            "", "read", _RF_MARKS, title=f"input pixel ({r}, {c}) of the field: {count:g} path(s)",
                            style=f"{style};background:rgba(28,126,214,{strength:.2f})",
                        )
                    )
                elif inside:
                    cells.append(
                        _marked_cell(
                            "", "hole", _RF_MARKS, title=f"input pixel ({r}, {c}) of the field: not read", style=style
                        )
                    )
                else:
                    cells.append(f'<td style="{size}"></td>')
            rows.append(cells)
        grid = _table("input", rows).replace('class="sg"', 'class="sg px"', 1)
        input_fig = _figure(
            f"input around the field ({n}×{n})", grid,
            f"the {field}×{field} field with a {_FIELD_MARGIN}-pixel border"
            + ("; outlined: the input pixel right under the output pixel" if centre else "")
            + "; hover a cell for its path count",
        )
    else:
        input_fig = _message_box(
            f"The receptive field is {field}×{field} input pixels, too large to draw (at most "
            f"{MAX_DRAWN_FIELD}×{MAX_DRAWN_FIELD}). Use fewer layers, a smaller dilation, kernel or stride.",
            "too-large",
        )
    return _wrap(
        _RF_CSS + header + _legend(_RF_MARKS) + number + '<div class="sec">Kernel and receptive field</div>'
        + kernel_fig + input_fig,
        "receptive-field",
    )


_RF_CSS = """<style>
.seglib-cm table.px td{min-width:0;width:11px;height:12px;padding:0;border:1px solid #e9ecef;line-height:0}
</style>"""


def receptive_field_view_html(
    kernel_size: int = 3, dilation: int = 2, num_layers: int = 1, stride: int = 1
) -> str:
    """The receptive-field explorer's view for one setting, as HTML, without ipywidgets.

    >>> "receptive field: 5×5" in receptive_field_view_html(3, dilation=2)
    True
    """
    return render_receptive_field_view(receptive_field_state(kernel_size, dilation, num_layers, stride))


class ReceptiveFieldExplorer(_Explorer):
    """Sliders for kernel size, dilation, number of layers and stride; a live view of the dilated
    kernel, the receptive field of the centre output pixel and the input pixels it reads."""

    _name = "receptive-field"

    def __init__(self, *, kernel_size: int = 3, dilation: int = 2, num_layers: int = 1, stride: int = 1) -> None:
        widgets = _import_ipywidgets()
        limits = RECEPTIVE_FIELD_LIMITS
        controls = {
            "kernel_size": _slider(widgets, "kernel k", kernel_size, limits["kernel_size"], "kernel_size"),
            "dilation": _slider(widgets, "dilation D", dilation, limits["dilation"], "dilation"),
            "num_layers": _slider(widgets, "layers", num_layers, limits["num_layers"], "num_layers"),
            "stride": _slider(widgets, "stride", stride, limits["stride"], "stride"),
        }
        self._build(controls, [["kernel_size", "dilation"], ["num_layers", "stride"]])

    def _compute(self, settings: dict[str, Any]) -> ReceptiveFieldState:
        return receptive_field_state(**settings)

    def _render(self, state: ReceptiveFieldState) -> str:
        return render_receptive_field_view(state)

    def static_html(self) -> str:
        """This explorer on a page with no kernel: every setting precomputed, drawn by `explorers.js`."""
        return static_page_html("receptive-field", {**receptive_field_static_data(), "start": self.settings}, self.html)


@functools.cache
def receptive_field_static_data() -> dict[str, Any]:
    """The numbers of every setting the explorer's sliders reach, for `static_page_html`.

    `views["k,D,layers,stride"]` holds `field`, `growth` and indices into `grids` of `kernel`,
    `dilated_kernel` and `paths` (`paths` is `None` where the field is too large to draw).
    """
    pool = GridPool()
    views: dict[str, dict[str, Any]] = {}
    limits = RECEPTIVE_FIELD_LIMITS
    ranges = (range(limits[n][0], limits[n][1] + 1) for n in ("kernel_size", "dilation", "num_layers", "stride"))
    for k, d, layers, s in itertools.product(*ranges):
        state = receptive_field_state(k, d, layers, s)
        views[f"{k},{d},{layers},{s}"] = {
            "kernel": pool.add(state.kernel), "dilated_kernel": pool.add(state.dilated_kernel),
            "field": state.field, "growth": list(state.growth),
            "paths": pool.add(state.paths) if state.drawable else None,
        }
    return {
        "limits": limits, "max_drawn": MAX_DRAWN_FIELD, "margin": _FIELD_MARGIN, "grids": pool.grids,
        "views": views, "marks": marks_styles(_RF_MARKS), "css": _CSS + _RF_CSS,
    }


def receptive_field_explorer(
    *, kernel_size: int = 3, dilation: int = 2, num_layers: int = 1, stride: int = 1
) -> ReceptiveFieldExplorer:
    """An interactive view of how dilation, depth and stride widen the receptive field.

    Raises:
        ImportError: ipywidgets is not installed (`pip install ipywidgets`).
        ValueError: a starting value is outside its slider's range.

    >>> explorer = receptive_field_explorer(dilation=1)
    >>> explorer.state.field
    3
    >>> explorer.controls["dilation"].value = 3
    >>> explorer.state.field
    7
    """
    return ReceptiveFieldExplorer(kernel_size=kernel_size, dilation=dilation, num_layers=num_layers, stride=stride)


