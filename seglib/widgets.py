"""Interactive demos for the chapters, built on ipywidgets.

Taught in chapter 5 (Upsampling): `conv_matrix_explorer` shows a 2-D convolution as a matrix
product `y = C x` and the transposed convolution as `Cᵀ y`, with one output pixel followed
through both. Sliders choose the input size, kernel size, stride, padding and the output
pixel; the view is an HTML table, so it is saved with the notebook's widget state and shows
on a static book page. `upsampling_explorer` (also chapter 5) puts nearest neighbour, bed of
nails, max unpooling, bilinear interpolation and transposed convolution side by side;
`receptive_field_explorer` (chapter 7, atrous convolution) shows how dilation, depth and
stride widen what one output pixel sees; `iou_explorer` (chapter 8, metrics) moves a predicted
mask over a target and reports IoU, Dice and pixel accuracy.

Each explorer is three layers: `*_state` computes every number (a frozen dataclass),
`render_*_view` / `*_view_html` draw it as HTML, and the widget re-renders that HTML when a
control changes; a setting that is impossible shows a message instead of raising.
ipywidgets is imported only when a widget is built, so `import seglib.widgets` works without
it, and the `*_view_html` functions draw the same views with no widget at all.

Single channel throughout: `x` is `(H, W)`, the kernel `w` is `(k, k)`, `C` is
`(H_out·W_out, H·W)`, and flattening is row-major (pixel `(i, j)` is index `i·W + j`).
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from seglib import ops
from seglib.ops import conv_matrix, conv_output_size, conv_transpose_via_matrix

__all__ = [
    "ConvMatrixState",
    "ConvMatrixExplorer",
    "conv_matrix_state",
    "conv_matrix_view_html",
    "render_conv_matrix_view",
    "conv_matrix_explorer",
    "UpsamplingState",
    "UpsamplingExplorer",
    "upsampling_state",
    "upsampling_view_html",
    "render_upsampling_view",
    "upsampling_explorer",
    "transposed_padding",
    "ReceptiveFieldState",
    "ReceptiveFieldExplorer",
    "receptive_field_state",
    "receptive_field_view_html",
    "render_receptive_field_view",
    "receptive_field_explorer",
    "IoUState",
    "IoUExplorer",
    "iou_state",
    "iou_view_html",
    "render_iou_view",
    "iou_explorer",
]

# Ranges of the explorer's sliders, checked by the functions too: an 8×8 input gives C up to 64×64.
LIMITS: dict[str, tuple[int, int]] = {
    "input_size": (1, 8),
    "kernel_size": (1, 5),
    "stride": (1, 3),
    "padding": (0, 2),
}


# ---------------------------------------------------------------------------------------------
# The numbers: one function computes everything the view shows.
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConvMatrixState:
    """Everything the explorer shows for one setting of its controls.

    Attributes:
        input_size, kernel_size, stride, padding, output_index: the setting.
        x: input `(H, W)`, small integers.
        weight: kernel `w` `(k, k)`, small nonzero integers.
        matrix: `C = conv_matrix(w, (H, W), stride, padding)`, `(H_out·W_out, H·W)`.
        y: `C x` reshaped, `(H_out, W_out)`; equals `F.conv2d`.
        transposed: `Cᵀ y` reshaped, `(H, W)`; equals `F.conv_transpose2d(..., output_padding)`.
        output_padding: the `output_padding` that takes `F.conv_transpose2d` back to `(H, W)`.
        highlighted_inputs: `(row, col)` of the input pixels the chosen output reads, i.e. the
            nonzero entries of row `output_index` of `C` (the pixels it spreads to under `Cᵀ`).
    """

    input_size: tuple[int, int]
    kernel_size: int
    stride: int
    padding: int
    output_index: int
    x: Tensor
    weight: Tensor
    matrix: Tensor
    y: Tensor
    transposed: Tensor
    output_padding: tuple[int, int]
    highlighted_inputs: tuple[tuple[int, int], ...]

    @property
    def output_size(self) -> tuple[int, int]:
        """`(H_out, W_out)`."""
        return tuple(self.y.shape)  # type: ignore[return-value]

    @property
    def output_pixel(self) -> tuple[int, int]:
        """`(i, j)` of the chosen output pixel."""
        return divmod(self.output_index, self.output_size[1])

    def __repr__(self) -> str:
        (h, w), (h_out, w_out) = self.input_size, self.output_size
        return (
            f"ConvMatrixState(input {h}×{w}, kernel {self.kernel_size}, stride {self.stride}, "
            f"padding {self.padding} -> output {h_out}×{w_out}, C {h_out * w_out}×{h * w}, "
            f"output pixel {self.output_pixel})"
        )


def _check_int(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an int in [{low}, {high}], got {value!r}")
    return value


def _check_input_size(input_size: Any) -> tuple[int, int]:
    low, high = LIMITS["input_size"]
    pair = (input_size, input_size) if isinstance(input_size, int) else input_size
    if isinstance(input_size, bool) or not isinstance(pair, (tuple, list)) or len(pair) != 2:
        raise ValueError(f"input_size must be an int or a pair (H, W) of ints in [{low}, {high}], got {input_size!r}")
    return _check_int(pair[0], "input height H", low, high), _check_int(pair[1], "input width W", low, high)


def _output_size(input_size: tuple[int, int], kernel_size: int, stride: int, padding: int) -> tuple[int, int]:
    """`(H_out, W_out)`, or a `ValueError` that says why the kernel does not fit."""
    h, w = input_size
    if kernel_size > min(h, w) + 2 * padding:
        raise ValueError(
            f"The {kernel_size}×{kernel_size} kernel does not fit the padded input: {h}×{w} plus padding "
            f"{padding} on each side is {h + 2 * padding}×{w + 2 * padding}. Choose a smaller kernel, "
            "more padding or a larger input."
        )
    return conv_output_size((h, w), kernel_size, stride, padding)


def _example_tensors(input_size: tuple[int, int], kernel_size: int, seed: int) -> tuple[Tensor, Tensor]:
    """Integer-valued `x` `(H, W)` in 0..4 and `w` `(k, k)` in 1..3, deterministic by `seed`.

    Both are cut from fixed largest grids, so changing a size keeps the values already shown.
    The kernel has no zeros, so the nonzero entries of `C` are exactly the taps that read the input.
    """
    generator = torch.Generator().manual_seed(seed)
    side, k_max = LIMITS["input_size"][1], LIMITS["kernel_size"][1]
    x = torch.randint(0, 5, (side, side), generator=generator, dtype=torch.float32)
    w = torch.randint(1, 4, (k_max, k_max), generator=generator, dtype=torch.float32)
    return x[: input_size[0], : input_size[1]].clone(), w[:kernel_size, :kernel_size].clone()


def conv_matrix_state(
    input_size: int | tuple[int, int] = (4, 4),
    kernel_size: int = 3,
    stride: int = 2,
    padding: int = 1,
    output_index: int = 0,
    *,
    seed: int = 0,
) -> ConvMatrixState:
    """Compute `x`, `w`, `C`, `y = C x` and `Cᵀ y` for one setting, and what to highlight.

    Args:
        input_size: `(H, W)` (or one int for a square), each side in [1, 8].
        kernel_size: side `k` of the square kernel, in [1, 5].
        stride, padding: as in `F.conv2d`, in [1, 3] and [0, 2].
        output_index: the output pixel to follow, as a row of `C`: `i·W_out + j`.
        seed: picks the integer values of `x` and `w`.

    Raises:
        ValueError: an argument is out of range, or the kernel is larger than the padded input.

    >>> state = conv_matrix_state((4, 4), kernel_size=3, stride=2, padding=1, output_index=0)
    >>> state.matrix.shape, state.y.shape, state.transposed.shape
    (torch.Size([4, 16]), torch.Size([2, 2]), torch.Size([4, 4]))
    >>> state.highlighted_inputs  # y[0, 0] reads the top-left 2×2 (the rest of its window is padding)
    ((0, 0), (0, 1), (1, 0), (1, 1))
    """
    h, w = _check_input_size(input_size)
    k = _check_int(kernel_size, "kernel_size", *LIMITS["kernel_size"])
    s = _check_int(stride, "stride", *LIMITS["stride"])
    p = _check_int(padding, "padding", *LIMITS["padding"])
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an int, got {seed!r}")
    h_out, w_out = _output_size((h, w), k, s, p)
    index = _check_int(output_index, "output_index", 0, h_out * w_out - 1)

    x, weight = _example_tensors((h, w), k, seed)
    matrix = conv_matrix(weight[None, None], (h, w), s, p)  # (H_out·W_out, H·W)
    y = (matrix @ x.flatten()).reshape(h_out, w_out)  # the convolution as a matrix product
    transposed = conv_transpose_via_matrix(y[None, None], weight[None, None], (h, w), s, p)[0, 0]  # (H, W)
    # F.conv_transpose2d gives (H_out - 1)·s - 2p + k + output_padding per side; solve for output_padding.
    output_padding = (h - ((h_out - 1) * s - 2 * p + k), w - ((w_out - 1) * s - 2 * p + k))
    reads = matrix[index].nonzero().flatten().tolist()
    return ConvMatrixState(
        input_size=(h, w),
        kernel_size=k,
        stride=s,
        padding=p,
        output_index=index,
        x=x,
        weight=weight,
        matrix=matrix,
        y=y,
        transposed=transposed,
        output_padding=output_padding,
        highlighted_inputs=tuple(divmod(q, w) for q in reads),
    )


# ---------------------------------------------------------------------------------------------
# The view: HTML tables. Layout comes from one scoped <style>; every highlight colour is an
# inline style, so the highlights survive any notebook or book theme.
# ---------------------------------------------------------------------------------------------

_CSS = """<style>
.seglib-cm{font:12px/1.35 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;color:#212529;background:#fff;padding:6px}
.seglib-cm table.sg{border-collapse:collapse;margin:0;background:#fff;font-size:inherit;line-height:inherit}
.seglib-cm table.sg tr{background:none}
.seglib-cm table.sg td{border:1px solid #ced4da;padding:0 3px;min-width:1.6em;height:1.4em;text-align:center;color:#212529;background:#fff}
.seglib-cm table.sg td.z{color:#ced4da}
.seglib-cm table.sg td.pad{border-style:dashed;color:#adb5bd;background:#f8f9fa}
.seglib-cm table.sg th{border:none;padding:0 2px;color:#868e96;font-weight:normal;font-size:85%;text-align:center;background:none}
.seglib-cm table.m{font-size:10px}
.seglib-cm table.m td{min-width:1.3em;height:1.3em;padding:0 2px}
.seglib-cm .fig{display:inline-block;vertical-align:top;margin:0 20px 12px 0;max-width:100%;overflow-x:auto}
.seglib-cm .title{font-weight:bold;font-size:13px;margin-bottom:4px}
.seglib-cm .note{color:#495057;font-size:11px;max-width:30em;margin-top:3px}
.seglib-cm .sec{font-size:14px;font-weight:bold;border-bottom:1px solid #dee2e6;margin:10px 0 6px 0}
</style>"""

# Colour of each highlighted role, and its legend entry. `data-mark` names the role on each cell.
_MARKS: dict[str, tuple[str, str]] = {
    "output": ("background:#ffa94d;font-weight:bold", "the chosen output pixel y[i, j]"),
    "row": ("background:#fff3bf", "its row of C, which is its column of Cᵀ"),
    "col": ("background:#fff3bf", ""),
    "tap": ("background:#74c0fc;font-weight:bold", "the input pixels it reads, and their weights in C"),
    "feeds": ("background:#74c0fc;font-weight:bold", ""),
    "window": ("background:#d0ebff;color:#868e96", "kernel taps that land on the zero padding"),
    "spread": ("background:#8ce99a;font-weight:bold", "where Cᵀ spreads y[i, j]: the same pixels, in reverse"),
}


def _fmt(value: float) -> str:
    return f"{value + 0.0:g}"  # + 0.0 turns -0.0 into 0.0


def _cell(text: str, mark: str | None = None, *, css_class: str = "", title: str = "") -> str:
    """One `<td>`; a `mark` adds its inline colour and a `data-mark` tag."""
    attrs = f' class="{css_class}"' if css_class else ""
    attrs += f' data-mark="{mark}" style="{_MARKS[mark][0]}"' if mark else ""
    attrs += f' title="{html.escape(title)}"' if title else ""
    return f"<td{attrs}>{html.escape(text)}</td>"


def _table(
    grid: str,
    rows: list[list[str]],
    *,
    col_labels: list[str] | None = None,
    row_labels: list[str] | None = None,
    matrix: bool = False,
) -> str:
    """A compact table from rows of `<td>` strings, with optional index labels on top and left."""
    lines = []
    if col_labels is not None:
        corner = "<th></th>" if row_labels is not None else ""
        lines.append("<tr>" + corner + "".join(f"<th>{c}</th>" for c in col_labels) + "</tr>")
    for r, cells in enumerate(rows):
        label = f"<th>{row_labels[r]}</th>" if row_labels is not None else ""
        lines.append("<tr>" + label + "".join(cells) + "</tr>")
    css_class = "sg m" if matrix else "sg"
    return f'<table class="{css_class}" data-grid="{grid}">{"".join(lines)}</table>'


def _figure(title: str, table: str, note: str = "") -> str:
    """A titled block holding one grid."""
    note_html = f'<div class="note">{html.escape(note)}</div>' if note else ""
    return f'<div class="fig"><div class="title">{html.escape(title)}</div>{table}{note_html}</div>'


def _values_table(grid: str, values: Tensor, marks: dict[tuple[int, int], str]) -> str:
    """A small grid of numbers (`w`, `y`, `Cᵀ y`), some cells marked."""
    name = "Cᵀ y" if grid == "Cty" else grid
    rows = [
        [_cell(_fmt(values[i, j].item()), marks.get((i, j)), title=f"{name}[{i}, {j}]") for j in range(values.shape[1])]
        for i in range(values.shape[0])
    ]
    return _table(grid, rows)


def _input_table(state: ConvMatrixState) -> str:
    """`x` inside its ring of zero padding, the chosen output's kernel window marked."""
    (h, w), p, k, s = state.input_size, state.padding, state.kernel_size, state.stride
    oi, oj = state.output_pixel
    window = {(oi * s - p + u, oj * s - p + v) for u in range(k) for v in range(k)}
    feeds = set(state.highlighted_inputs)
    rows = []
    for i in range(-p, h + p):
        cells = []
        for j in range(-p, w + p):
            if 0 <= i < h and 0 <= j < w:
                mark = "feeds" if (i, j) in feeds else None
                cells.append(_cell(_fmt(state.x[i, j].item()), mark, title=f"x[{i}, {j}]: column {i * w + j} of C"))
            else:
                mark = "window" if (i, j) in window else None
                cells.append(_cell("0", mark, css_class="pad", title="zero padding"))
        rows.append(cells)
    return _table("x", rows)


def _matrix_table(state: ConvMatrixState, *, transpose: bool) -> str:
    """`C` with the chosen output's row marked, or `Cᵀ` with its column marked."""
    matrix = state.matrix.T if transpose else state.matrix
    grid, line, hit = ("Ct", "col", "spread") if transpose else ("C", "row", "tap")
    chosen = state.output_index
    rows = []
    for r, values in enumerate(matrix.tolist()):
        cells = []
        for c, value in enumerate(values):
            mark = (hit if value != 0 else line) if (c if transpose else r) == chosen else None
            cells.append(_cell(_fmt(value), mark, css_class="" if value else "z"))
        rows.append(cells)
    out_labels = [f'<b style="color:#e8590c">{o}</b>' if o == chosen else str(o) for o in range(state.matrix.shape[0])]
    in_labels = [str(q) for q in range(state.matrix.shape[1])]
    if transpose:
        return _table(grid, rows, col_labels=out_labels, row_labels=in_labels, matrix=True)
    return _table(grid, rows, col_labels=in_labels, row_labels=out_labels, matrix=True)


def _sum_text(state: ConvMatrixState) -> str:
    """`y[i, j] = 2·3 + 1·0 + ... = 17`: the chosen row of `C` times `x`, written out."""
    i, j = state.output_pixel
    if not state.highlighted_inputs:
        return f"y[{i}, {j}] reads only zero padding: row {state.output_index} of C is all zeros, so y[{i}, {j}] = 0."
    width = state.input_size[1]
    terms = [
        f"{_fmt(state.matrix[state.output_index, r * width + c].item())}·{_fmt(state.x[r, c].item())}"
        for r, c in state.highlighted_inputs
    ]
    return f"y[{i}, {j}] = (row {state.output_index} of C) · x = {' + '.join(terms)} = {_fmt(state.y[i, j].item())}"


def _legend(marks: dict[str, tuple[str, str]] | None = None) -> str:
    """One swatch per role that has a legend text (`_MARKS` unless `marks` is given)."""
    swatch = "display:inline-block;width:1.4em;border:1px solid #ced4da;margin-right:4px;vertical-align:middle"
    items = [
        f'<span style="display:inline-block;margin-right:16px"><span style="{swatch};{style}">&nbsp;</span>'
        f"{html.escape(text)}</span>"
        for style, text in (_MARKS if marks is None else marks).values()
        if text
    ]
    return f'<div style="margin:4px 0 6px 0;font-size:12px">{"".join(items)}</div>'


def _wrap(body: str, name: str = "conv-matrix") -> str:
    return f'{_CSS}<div class="seglib-{name} seglib-cm">{body}</div>'


def _message_box(message: str, role: str = "message") -> str:
    return (
        f'<div data-role="{role}" style="border:1px solid #f08c00;background:#fff4e6;color:#212529;'
        f'padding:8px 12px;font-size:13px;max-width:48em">{html.escape(message)}</div>'
    )


def _message_html(message: str, name: str = "conv-matrix") -> str:
    """The view when the controls describe no valid setting (no convolution, for the matrix explorer)."""
    return _wrap(_message_box(message), name)


def render_conv_matrix_view(state: ConvMatrixState) -> str:
    """The explorer's view of `state` as one HTML string."""
    (h, w), (h_out, w_out) = state.input_size, state.output_size
    n_out, n_in = h_out * w_out, h * w
    i, j = state.output_pixel
    s, p, k = state.stride, state.padding, state.kernel_size
    op = state.output_padding
    op_text = op[0] if op[0] == op[1] else op

    header = (
        f'<div style="font-size:13px">kernel {k}×{k}, stride {s}, padding {p}: input {h}×{w} → output '
        f"{h_out}×{w_out}. Following output pixel y[{i}, {j}], row {state.output_index} of C.</div>"
    )
    convolution = (
        _figure(f"input x ({h}×{w})", _input_table(state), f"zero padding {p} dashed" if p else "")
        + _figure(f"kernel w ({k}×{k})", _values_table("w", state.weight, {}))
        + _figure(
            f"y = C x ({h_out}×{w_out})", _values_table("y", state.y, {(i, j): "output"}), "equals F.conv2d(x, w)"
        )
        + "<br>"
        + _figure(
            f"C ({n_out}×{n_in})",
            _matrix_table(state, transpose=False),
            f"row o is output pixel (o // {w_out}, o % {w_out}); column q is input pixel (q // {w}, q % {w})",
        )
        + f'<div data-role="sum" style="font-size:12px;margin:0 0 4px 0">{html.escape(_sum_text(state))}</div>'
    )
    transposed = (
        _figure(f"Cᵀ ({n_in}×{n_out})", _matrix_table(state, transpose=True))
        + _figure(f"y ({h_out}×{w_out})", _values_table("y2", state.y, {(i, j): "output"}))
        + _figure(
            f"Cᵀ y ({h}×{w})",
            _values_table("Cty", state.transposed, {pixel: "spread" for pixel in state.highlighted_inputs}),
            f"equals F.conv_transpose2d(y, w, stride={s}, padding={p}, output_padding={op_text}); "
            "where several outputs spread to one pixel, their contributions add up",
        )
    )
    return _wrap(
        header
        + _legend()
        + '<div class="sec">Convolution as a matrix: y = C x</div>'
        + convolution
        + '<div class="sec">Transposed convolution: Cᵀ y goes back to the input size</div>'
        + transposed
    )


def conv_matrix_view_html(
    input_size: int | tuple[int, int] = (4, 4),
    kernel_size: int = 3,
    stride: int = 2,
    padding: int = 1,
    output_index: int = 0,
    *,
    seed: int = 0,
) -> str:
    """The explorer's view for one setting, as HTML, without ipywidgets (for static pages).

    Arguments as in `conv_matrix_state`; an impossible setting raises `ValueError`.
    Show it in a notebook with `IPython.display.HTML(conv_matrix_view_html())`.

    >>> "C (4×16)" in conv_matrix_view_html((4, 4), 3, stride=2, padding=1)
    True
    """
    return render_conv_matrix_view(conv_matrix_state(input_size, kernel_size, stride, padding, output_index, seed=seed))


# ---------------------------------------------------------------------------------------------
# The widget: sliders in, the same HTML out.
# ---------------------------------------------------------------------------------------------


def _import_ipywidgets() -> Any:
    try:
        import ipywidgets
    except ImportError as error:
        raise ImportError(
            "seglib.widgets needs ipywidgets for interactive demos: pip install ipywidgets "
            "(or pip install 'seglib[widgets]'); conv_matrix_view_html and the other *_view_html "
            "functions work without it"
        ) from error
    return ipywidgets


class ConvMatrixExplorer:
    """Sliders for a convolution's sizes, and a live HTML view of `C`, `y = C x` and `Cᵀ y`.

    Displays as its `widget` (an `ipywidgets.VBox`) when it is the last expression of a cell.

    Attributes:
        controls: the sliders, by name: `height`, `width`, `kernel_size`, `stride`, `padding`,
            `output_index` (a row of `C`; its range follows the output size).
        view: the `ipywidgets.HTML` that shows the result.
        state: the `ConvMatrixState` shown, or `None` when the setting is impossible.
        error: why the setting is impossible, or `None`.
    """

    def __init__(
        self,
        *,
        input_size: int | tuple[int, int] = (4, 4),
        kernel_size: int = 3,
        stride: int = 2,
        padding: int = 1,
        output_index: int = 0,
        seed: int = 0,
    ) -> None:
        widgets = _import_ipywidgets()
        h, w = _check_input_size(input_size)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed must be an int, got {seed!r}")
        if isinstance(output_index, bool) or not isinstance(output_index, int) or output_index < 0:
            raise ValueError(f"output_index must be a non-negative int, got {output_index!r}")
        self.seed = seed

        def slider(description: str, value: int, limits: tuple[int, int], name: str) -> Any:
            value = _check_int(value, name, *limits)
            return widgets.IntSlider(
                value=value, min=limits[0], max=limits[1], description=description,
                continuous_update=False, style={"description_width": "7em"},
            )

        self.controls: dict[str, Any] = {
            "height": slider("input H", h, LIMITS["input_size"], "input height H"),
            "width": slider("input W", w, LIMITS["input_size"], "input width W"),
            "kernel_size": slider("kernel size", kernel_size, LIMITS["kernel_size"], "kernel_size"),
            "stride": slider("stride", stride, LIMITS["stride"], "stride"),
            "padding": slider("padding", padding, LIMITS["padding"], "padding"),
            # The range is set from the output size in _update; any start value is clamped there.
            "output_index": widgets.IntSlider(
                value=0, min=0, max=max(output_index, 0), description="output pixel",
                continuous_update=False, style={"description_width": "7em"},
            ),
        }
        self.controls["output_index"].value = output_index
        self.view = widgets.HTML()
        names = list(self.controls)
        wrap = widgets.Layout(flex_flow="row wrap")
        self.widget = widgets.VBox([
            widgets.HBox([self.controls[n] for n in names[:3]], layout=wrap),
            widgets.HBox([self.controls[n] for n in names[3:]], layout=wrap),
            self.view,
        ])
        self.state: ConvMatrixState | None = None
        self.error: str | None = None
        self._updating = False
        for control in self.controls.values():
            control.observe(self._update, names="value")
        self._update()

    @property
    def settings(self) -> dict[str, Any]:
        """The controls' current values, as `conv_matrix_state` takes them."""
        c = self.controls
        return {
            "input_size": (c["height"].value, c["width"].value),
            "kernel_size": c["kernel_size"].value,
            "stride": c["stride"].value,
            "padding": c["padding"].value,
            "output_index": c["output_index"].value,
        }

    @property
    def html(self) -> str:
        """The HTML shown now (also stored in the notebook's widget state)."""
        return self.view.value

    def _update(self, change: Any = None) -> None:
        if self._updating:  # setting the output slider's range below fires another change
            return
        self._updating = True
        try:
            settings = self.settings
            index = self.controls["output_index"]
            sizes = (settings["input_size"], settings["kernel_size"], settings["stride"], settings["padding"])
            try:
                h_out, w_out = _output_size(*sizes)
            except ValueError as error:
                self.state, self.error = None, str(error)
                index.disabled = True
                self.view.value = _message_html(self.error)
                return
            index.disabled = False
            index.max = h_out * w_out - 1  # clamps the value when the output shrinks
            settings["output_index"] = index.value
            self.state, self.error = conv_matrix_state(**settings, seed=self.seed), None
            self.view.value = render_conv_matrix_view(self.state)
        finally:
            self._updating = False

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        """The VBox's widget view; plus the current view as HTML for pages without widget JavaScript."""
        bundle = self.widget._repr_mimebundle_(**kwargs)
        return None if bundle is None else {**bundle, "text/html": self.html, "text/plain": repr(self)}

    def __repr__(self) -> str:
        args = ", ".join(f"{name}={value!r}" for name, value in self.settings.items())
        return f"ConvMatrixExplorer({args}, seed={self.seed})"


def conv_matrix_explorer(
    *,
    input_size: int | tuple[int, int] = (4, 4),
    kernel_size: int = 3,
    stride: int = 2,
    padding: int = 1,
    output_index: int = 0,
    seed: int = 0,
) -> ConvMatrixExplorer:
    """An interactive view of a convolution as the matrix `C` and its transpose `Cᵀ`.

    Sliders set the input height and width (1..8), kernel size (1..5), stride (1..3),
    padding (0..2) and which output pixel to follow; the view shows `x`, `w`, `C`,
    `y = C x` and `Cᵀ y` with that pixel, its row of `C` and the input pixels it reads
    highlighted. A setting where the kernel does not fit shows a message instead.

    Raises:
        ImportError: ipywidgets is not installed (`pip install ipywidgets`).
        ValueError: a starting value is outside its slider's range.

    >>> explorer = conv_matrix_explorer(stride=1)
    >>> explorer.state.matrix.shape
    torch.Size([16, 16])
    >>> explorer.controls["kernel_size"].value = 5
    >>> explorer.controls["padding"].value = 0
    >>> explorer.state is None, explorer.error[:31]
    (True, 'The 5×5 kernel does not fit the')
    """
    return ConvMatrixExplorer(
        input_size=input_size,
        kernel_size=kernel_size,
        stride=stride,
        padding=padding,
        output_index=output_index,
        seed=seed,
    )


# =============================================================================================
# Three more explorers, built the same way: a `*_state` function computes the numbers, a
# `render_*_view` function draws them as HTML, and a small widget class re-renders on every
# slider change. They share the CSS and the cell/table helpers above, and this base class.
# =============================================================================================


class _Explorer:
    """Controls in, the same HTML view out: what the explorers below have in common.

    Attributes:
        controls: the ipywidgets controls, by the name of the argument each sets.
        view: the `ipywidgets.HTML` showing the result.
        widget: the `ipywidgets.VBox` of controls and view, shown when the explorer is displayed.
        state: the state shown, or `None` when the setting is invalid.
        error: why the setting is invalid, or `None`.
    """

    _name = "explorer"  # CSS class suffix of the view

    def _build(self, controls: dict[str, Any], rows: list[list[str]]) -> None:
        widgets = _import_ipywidgets()
        self.controls = controls
        self.view = widgets.HTML()
        wrap = widgets.Layout(flex_flow="row wrap")
        self.widget = widgets.VBox(
            [widgets.HBox([controls[name] for name in row], layout=wrap) for row in rows] + [self.view]
        )
        self.state: Any = None
        self.error: str | None = None
        self._updating = False
        for control in controls.values():
            control.observe(self._update, names="value")
        self._update()

    @property
    def settings(self) -> dict[str, Any]:
        """The controls' current values, as the state function takes them."""
        return {name: control.value for name, control in self.controls.items()}

    @property
    def html(self) -> str:
        """The HTML shown now (also stored in the notebook's widget state)."""
        return self.view.value

    def _adjust_controls(self) -> None:
        """Hook: make ranges that depend on other controls follow them."""

    def _compute(self, settings: dict[str, Any]) -> Any:
        raise NotImplementedError

    def _render(self, state: Any) -> str:
        raise NotImplementedError

    def _update(self, change: Any = None) -> None:
        if self._updating:  # changing a range in _adjust_controls fires another change
            return
        self._updating = True
        try:
            self._adjust_controls()
            try:
                state = self._compute(self.settings)
                view = self._render(state)
            except ValueError as error:  # an impossible setting: say why, do not raise in a callback
                self.state, self.error = None, str(error)
                self.view.value = _message_html(self.error, self._name)
                return
            self.state, self.error = state, None
            self.view.value = view
        finally:
            self._updating = False

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        """The VBox's widget view; plus the current view as HTML for pages without widget JavaScript."""
        bundle = self.widget._repr_mimebundle_(**kwargs)
        return None if bundle is None else {**bundle, "text/html": self.html, "text/plain": repr(self)}

    def __repr__(self) -> str:
        args = ", ".join(f"{name}={value!r}" for name, value in self.settings.items())
        return f"{type(self).__name__}({args})"


def _slider(widgets: Any, description: str, value: int, limits: tuple[int, int], name: str) -> Any:
    value = _check_int(value, name, *limits)
    return widgets.IntSlider(
        value=value, min=limits[0], max=limits[1], description=description,
        continuous_update=False, style={"description_width": "7em"},
    )


def _fmt2(value: float) -> str:
    """At most two decimals, no trailing zeros: 1 -> "1", 0.25 -> "0.25", 7/3 -> "2.33"."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _marked_cell(
    text: str, mark: str | None, marks: dict[str, tuple[str, str]], *, title: str = "", style: str = ""
) -> str:
    """A `<td>` with an optional role (`data-mark` and its inline colour) and extra inline style."""
    css = "; ".join(part for part in (marks[mark][0] if mark else "", style) if part)
    attrs = f' data-mark="{mark}"' if mark else ""
    attrs += f' style="{css}"' if css else ""
    attrs += f' title="{html.escape(title)}"' if title else ""
    attrs += ' class="z"' if text == "0" and not mark else ""
    return f"<td{attrs}>{html.escape(text)}</td>"


def _grid_table(
    grid: str,
    values: Tensor,
    marks: dict[tuple[int, int], str],
    legend: dict[str, tuple[str, str]],
    *,
    name: str | None = None,
    fmt: Callable[[float], str] = _fmt2,
) -> str:
    """A grid of numbers with some cells marked; each cell's tooltip names it."""
    name = name or grid
    rows = [
        [
            _marked_cell(fmt(values[i, j].item()), marks.get((i, j)), legend, title=f"{name}[{i}, {j}]")
            for j in range(values.shape[1])
        ]
        for i in range(values.shape[0])
    ]
    return _table(grid, rows)


def _check_choice(value: Any, name: str, choices: tuple[Any, ...]) -> Any:
    if value not in choices or isinstance(value, bool):
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


# ---------------------------------------------------------------------------------------------
# Upsampling explorer (chapter 5): five ways from a small input to a larger map, side by side.
# ---------------------------------------------------------------------------------------------

UPSAMPLING_LIMITS: dict[str, tuple[int, int]] = {"input_size": (2, 4), "scale": (2, 3), "kernel_size": (1, 6)}
PATTERNS: tuple[str, ...] = ("ramp", "ones", "impulse", "random")
_PATTERN_LABELS = {
    "ramp": "1, 2, 3, ... (ramp)",
    "ones": "all ones (shows overlaps)",
    "impulse": "single 1 at the followed pixel",
    "random": "random 0..9",
}
# The chapter's max-pooling example: pooling it gives [[5, 6], [7, 8]].
_COURSE_POOL_MAP = [[1, 2, 6, 3], [3, 5, 2, 1], [1, 2, 2, 1], [7, 3, 4, 8]]

_UP_MARKS: dict[str, tuple[str, str]] = {
    "source": ("background:#ffa94d;font-weight:bold", "the followed input pixel"),
    "reach": ("background:#8ce99a;font-weight:bold", "the outputs it changes (its footprint)"),
    "max": ("background:#74c0fc;font-weight:bold", "maxima the max-pool remembered"),
}


@dataclass(frozen=True)
class UpsamplingState:
    """Everything the upsampling explorer shows for one setting.

    Attributes:
        input_size, scale, kernel_size, pattern, input_index: the setting (`n`, `s`, `k`, ...).
        x: the input `(n, n)`.
        nearest: `ops.nearest_upsample(x, s)`, `(n·s, n·s)`.
        bed_of_nails: `ops.bed_of_nails(x, s)`, `(n·s, n·s)`.
        pool_map: the encoder's map `(n·s, n·s)` that a max-pool (kernel and stride `s`) reduced.
        pooled, indices: `F.max_pool2d(pool_map, s, return_indices=True)`, `(n, n)` each.
        max_unpool: `ops.max_unpool(x, indices, (n·s, n·s))`: `x` put back where the maxima were.
        zero_inserted: `ops.zero_insert(x, s)`, `((n-1)·s + 1, (n-1)·s + 1)`.
        bilinear_kernel: `ops.bilinear_kernel(s)`, `(2s-1, 2s-1)`.
        bilinear: the zero-inserted input filtered with it (padding `s - 1`): bilinear
            interpolation with aligned corners, `((n-1)·s + 1, (n-1)·s + 1)`.
        weight: the transposed convolution's kernel `(k, k)`, all ones.
        padding, output_padding: chosen so the transposed convolution gives `(n·s, n·s)`.
        transposed: `ops.conv_transpose_via_matrix(x, weight, (n·s, n·s), s, padding)`.
        footprints: for each method above, the output cells the followed input pixel changes.
    """

    input_size: int
    scale: int
    kernel_size: int
    pattern: str
    input_index: int
    x: Tensor
    nearest: Tensor
    bed_of_nails: Tensor
    pool_map: Tensor
    pooled: Tensor
    indices: Tensor
    max_unpool: Tensor
    zero_inserted: Tensor
    bilinear_kernel: Tensor
    bilinear: Tensor
    weight: Tensor
    padding: int
    output_padding: int
    transposed: Tensor
    footprints: dict[str, tuple[tuple[int, int], ...]]

    @property
    def input_pixel(self) -> tuple[int, int]:
        """`(row, col)` of the followed input pixel."""
        return divmod(self.input_index, self.input_size)

    def __repr__(self) -> str:
        n, s = self.input_size, self.scale
        return (
            f"UpsamplingState(input {n}×{n} ({self.pattern}), scale {s} -> {n * s}×{n * s}, "
            f"transposed kernel {self.kernel_size} padding {self.padding} output_padding {self.output_padding}, "
            f"following x{self.input_pixel})"
        )


def transposed_padding(kernel_size: int, scale: int) -> tuple[int, int]:
    """`(padding, output_padding)` that make `F.conv_transpose2d` with stride `scale` multiply the size by `scale`.

    The output side is `(n-1)·s - 2·padding + k + output_padding`; this picks the smallest
    padding with `k + output_padding - 2·padding = s` and `0 <= output_padding < s`.

    >>> transposed_padding(3, 2), transposed_padding(4, 2), transposed_padding(1, 3)
    ((1, 1), (1, 0), (0, 2))
    """
    padding = max(0, -(-(kernel_size - scale) // 2))  # ceil((k - s) / 2), at least 0
    return padding, scale - kernel_size + 2 * padding


def _upsampling_input(n: int, pattern: str, index: int, seed: int) -> Tensor:
    if pattern == "ramp":
        return torch.arange(1, n * n + 1, dtype=torch.float32).reshape(n, n)
    if pattern == "ones":
        return torch.ones(n, n)
    if pattern == "impulse":
        x = torch.zeros(n * n)
        x[index] = 1
        return x.reshape(n, n)
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 10, (n, n), generator=generator).float()


def _pool_map(n: int, s: int, seed: int) -> Tensor:
    """The chapter's 4×4 example for n = s = 2, otherwise distinct integers (no ties for the max)."""
    if (n, s) == (2, 2):
        return torch.tensor(_COURSE_POOL_MAP, dtype=torch.float32)
    generator = torch.Generator().manual_seed(seed + 1)
    return (torch.randperm((n * s) ** 2, generator=generator) + 1).float().reshape(n * s, n * s)


def upsampling_state(
    input_size: int = 2,
    scale: int = 2,
    kernel_size: int = 3,
    pattern: str = "ramp",
    input_index: int = 0,
    *,
    seed: int = 0,
) -> UpsamplingState:
    """Upsample a small input five ways with `seglib.ops`, and follow one input pixel through each.

    Nearest neighbour, bed of nails and max unpooling copy values by a fixed rule; bilinear
    interpolation is zero insertion then a fixed tent filter; the transposed convolution
    (here with an all-ones `k×k` kernel, stride `scale`) would learn its filter.

    Args:
        input_size: side `n` of the square input, in [2, 4].
        scale: 2 or 3.
        kernel_size: side `k` of the transposed convolution's kernel, in [1, 6].
        pattern: the input values: "ramp" (1, 2, 3, ...), "ones", "impulse" (a single 1 at
            the followed pixel) or "random" (0..9, fixed by `seed`).
        input_index: the input pixel to follow, `row·n + col`.

    Raises:
        ValueError: an argument is out of range.

    >>> state = upsampling_state(2, 2)          # the chapter's examples
    >>> state.max_unpool
    tensor([[0., 0., 2., 0.],
            [0., 1., 0., 0.],
            [0., 0., 0., 0.],
            [3., 0., 0., 4.]])
    >>> state.transposed.shape, (state.padding, state.output_padding)
    (torch.Size([4, 4]), (1, 1))
    >>> state.footprints["nearest"]             # x[0, 0] is copied into the top-left 2×2 block
    ((0, 0), (0, 1), (1, 0), (1, 1))
    """
    n = _check_int(input_size, "input_size", *UPSAMPLING_LIMITS["input_size"])
    s = _check_int(scale, "scale", *UPSAMPLING_LIMITS["scale"])
    k = _check_int(kernel_size, "kernel_size", *UPSAMPLING_LIMITS["kernel_size"])
    pattern = _check_choice(pattern, "pattern", PATTERNS)
    index = _check_int(input_index, "input_index", 0, n * n - 1)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an int, got {seed!r}")

    x = _upsampling_input(n, pattern, index, seed)
    pool_map = _pool_map(n, s, seed)
    pooled, indices = F.max_pool2d(pool_map[None, None], s, return_indices=True)  # (1, 1, n, n) each
    tent = ops.bilinear_kernel(s)
    weight = torch.ones(k, k)
    padding, output_padding = transposed_padding(k, s)

    def methods(z: Tensor) -> dict[str, Tensor]:
        """Every method applied to `z` `(n, n)`; outputs `(·, ·)`."""
        z4 = z[None, None]  # (1, 1, n, n)
        inserted = ops.zero_insert(z4, s)  # (1, 1, (n-1)s+1, (n-1)s+1)
        return {
            "nearest": ops.nearest_upsample(z4, s)[0, 0],
            "bed_of_nails": ops.bed_of_nails(z4, s)[0, 0],
            "max_unpool": ops.max_unpool(z4, indices, (n * s, n * s))[0, 0],
            "zero_inserted": inserted[0, 0],
            "bilinear": F.conv2d(inserted, tent[None, None], padding=s - 1)[0, 0],
            "transposed": ops.conv_transpose_via_matrix(z4, weight[None, None], (n * s, n * s), s, padding)[0, 0],
        }

    out = methods(x)
    impulse = torch.zeros(n * n)
    impulse[index] = 1
    responses = methods(impulse.reshape(n, n))  # each method is linear: its footprint is where e_p lands
    footprints = {
        name: tuple((r, c) for r, c in response.nonzero().tolist())
        for name, response in responses.items()
        if name != "zero_inserted"
    }
    return UpsamplingState(
        input_size=n, scale=s, kernel_size=k, pattern=pattern, input_index=index, x=x,
        nearest=out["nearest"], bed_of_nails=out["bed_of_nails"],
        pool_map=pool_map, pooled=pooled[0, 0], indices=indices[0, 0], max_unpool=out["max_unpool"],
        zero_inserted=out["zero_inserted"], bilinear_kernel=tent, bilinear=out["bilinear"],
        weight=weight, padding=padding, output_padding=output_padding, transposed=out["transposed"],
        footprints=footprints,
    )


def render_upsampling_view(state: UpsamplingState) -> str:
    """The upsampling explorer's view of `state` as one HTML string."""
    n, s, k = state.input_size, state.scale, state.kernel_size
    r, c = state.input_pixel
    big, m = n * s, (n - 1) * s + 1
    p, op = state.padding, state.output_padding

    def reach(name: str) -> dict[tuple[int, int], str]:
        return {cell: "reach" for cell in state.footprints[name]}

    def fig(title: str, grid: str, values: Tensor, marks: dict[tuple[int, int], str], note: str = "") -> str:
        return _figure(title, _grid_table(grid, values, marks, _UP_MARKS), note)

    maxima = {divmod(int(q), big): "max" for q in state.indices.flatten().tolist()}
    maxima[divmod(int(state.indices[r, c]), big)] = "reach"  # where the followed value will land
    flat = ", ".join(str(int(q)) for q in state.indices.flatten().tolist())
    header = (
        f'<div style="font-size:13px">input {n}×{n}, scale {s}: unpooling gives {big}×{big}. '
        f"Following input pixel x[{r}, {c}] = {_fmt2(state.x[r, c].item())}: the green cells are the outputs "
        f"it changes.</div>"
    )
    unpooling = (
        fig(f"nearest neighbour ({big}×{big})", "nearest", state.nearest, reach("nearest"),
            f"each value copied into its {s}×{s} block; equals F.interpolate(x, scale_factor={s}, mode='nearest')")
        + fig(f"bed of nails ({big}×{big})", "bed_of_nails", state.bed_of_nails, reach("bed_of_nails"),
              f"each value at the top-left of its {s}×{s} block, zeros elsewhere")
        + "<br>"
        + fig(f"encoder map before pooling ({big}×{big})", "pool_map", state.pool_map, maxima,
              f"max-pool {s}×{s}, stride {s} keeps each block's maximum and remembers where it was "
              f"(green: where x[{r}, {c}] goes back)")
        + fig(f"max-pooled ({n}×{n})", "pooled", state.pooled, {},
              f"remembered positions (flat indices): {flat}")
        + fig(f"max unpooling of x ({big}×{big})", "max_unpool", state.max_unpool, reach("max_unpool"),
              "x put back where the maxima were; equals F.max_unpool2d(x, indices)")
    )
    interpolation = (
        fig(f"x with zeros inserted ({m}×{m})", "zero_inserted", state.zero_inserted, {(r * s, c * s): "source"},
            f"{s - 1} zero{'s' if s > 2 else ''} between neighbours, none outside")
        + fig(f"bilinear kernel ({2 * s - 1}×{2 * s - 1})", "bilinear_kernel", state.bilinear_kernel, {},
              "fixed: nothing to learn")
        + fig(f"bilinear interpolation ({m}×{m})", "bilinear", state.bilinear, reach("bilinear"),
              f"the zero-inserted x filtered with the kernel (padding {s - 1}); equals F.interpolate(x, "
              f"size={m}, mode='bilinear', align_corners=True)")
    )
    checker = (
        f"k = {k} is not a multiple of the stride {s}: output pixels are covered by different numbers of "
        "kernel copies, the source of checkerboard artifacts (pick the 'all ones' input to see it)."
        if k % s
        else f"k = {k} is a multiple of the stride {s}: inside the map every output pixel is covered by the same "
        "number of kernel copies."
    )
    transposed = (
        fig(f"kernel w ({k}×{k})", "weight", state.weight, {}, "all ones here; training would learn these weights")
        + fig(f"transposed convolution ({big}×{big})", "transposed", state.transposed, reach("transposed"),
              f"each input pastes x·w at stride {s}; overlaps add up; "
              + (f"padding {p} crops {p} from each side" if p else "nothing cropped")
              + (f", output_padding {op} keeps {op} more at the bottom and right" if op else "")
              + f". Equals F.conv_transpose2d(x, w, stride={s}, padding={p}, output_padding={op}).")
        + f'<div data-role="checkerboard" class="note" style="max-width:48em">{html.escape(checker)}</div>'
    )
    return _wrap(
        header
        + _legend(_UP_MARKS)
        + '<div class="sec">Input</div>'
        + fig(f"input x ({n}×{n})", "x", state.x, {(r, c): "source"}, _PATTERN_LABELS[state.pattern])
        + '<div class="sec">Unpooling: fixed rules, nothing to learn</div>'
        + unpooling
        + '<div class="sec">Interpolation: insert zeros, then apply a fixed filter</div>'
        + interpolation
        + '<div class="sec">Transposed convolution: the filter is learned</div>'
        + transposed,
        "upsampling",
    )


def upsampling_view_html(
    input_size: int = 2,
    scale: int = 2,
    kernel_size: int = 3,
    pattern: str = "ramp",
    input_index: int = 0,
    *,
    seed: int = 0,
) -> str:
    """The upsampling explorer's view for one setting, as HTML, without ipywidgets.

    Arguments as in `upsampling_state`. Show it with `IPython.display.HTML(upsampling_view_html())`.

    >>> "max unpooling of x (4×4)" in upsampling_view_html(2, 2)
    True
    """
    return render_upsampling_view(upsampling_state(input_size, scale, kernel_size, pattern, input_index, seed=seed))


class UpsamplingExplorer(_Explorer):
    """Controls for the input size, scale, kernel size, input pattern and followed pixel;
    a live view of nearest, bed-of-nails, max unpooling, bilinear and transposed convolution.

    Controls: `input_size` (2..4), `scale` (2 or 3), `kernel_size` (1..6), `pattern`,
    `input_index` (its range follows the input size).
    """

    _name = "upsampling"

    def __init__(
        self, *, input_size: int = 2, scale: int = 2, kernel_size: int = 3, pattern: str = "ramp",
        input_index: int = 0, seed: int = 0,
    ) -> None:
        widgets = _import_ipywidgets()
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed must be an int, got {seed!r}")
        self.seed = seed
        n = _check_int(input_size, "input_size", *UPSAMPLING_LIMITS["input_size"])
        controls = {
            "input_size": _slider(widgets, "input size", n, UPSAMPLING_LIMITS["input_size"], "input_size"),
            "scale": widgets.ToggleButtons(
                options=[("×2", 2), ("×3", 3)], value=_check_choice(scale, "scale", (2, 3)), description="scale",
                style={"description_width": "7em", "button_width": "3.5em"},
            ),
            "kernel_size": _slider(widgets, "kernel k", kernel_size, UPSAMPLING_LIMITS["kernel_size"], "kernel_size"),
            "pattern": widgets.Dropdown(
                options=[(label, key) for key, label in _PATTERN_LABELS.items()],
                value=_check_choice(pattern, "pattern", PATTERNS), description="input",
                style={"description_width": "7em"},
            ),
            "input_index": _slider(widgets, "follow pixel", input_index, (0, n * n - 1), "input_index"),
        }
        self._build(controls, [["input_size", "scale", "kernel_size"], ["pattern", "input_index"]])

    def _adjust_controls(self) -> None:
        n = self.controls["input_size"].value
        self.controls["input_index"].max = n * n - 1  # clamps the value when the input shrinks

    def _compute(self, settings: dict[str, Any]) -> UpsamplingState:
        return upsampling_state(**settings, seed=self.seed)

    def _render(self, state: UpsamplingState) -> str:
        return render_upsampling_view(state)


def upsampling_explorer(
    *, input_size: int = 2, scale: int = 2, kernel_size: int = 3, pattern: str = "ramp",
    input_index: int = 0, seed: int = 0,
) -> UpsamplingExplorer:
    """An interactive side-by-side of nearest, bed-of-nails, max unpooling, bilinear and transposed convolution.

    Every number comes from `seglib.ops` (see `upsampling_state`); the followed input pixel
    and the outputs it changes are highlighted in each.

    Raises:
        ImportError: ipywidgets is not installed (`pip install ipywidgets`).
        ValueError: a starting value is outside its control's range.

    >>> explorer = upsampling_explorer()
    >>> explorer.controls["scale"].value = 3
    >>> explorer.state.nearest.shape, explorer.state.bilinear.shape
    (torch.Size([6, 6]), torch.Size([4, 4]))
    """
    return UpsamplingExplorer(
        input_size=input_size, scale=scale, kernel_size=kernel_size, pattern=pattern, input_index=input_index, seed=seed
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


# ---------------------------------------------------------------------------------------------
# Static explorer: every view computed in Python beforehand, switched in the browser. A book
# page has no kernel, so the explorers above (whose sliders call Python) show one fixed view
# there. This one needs no Python after it is built: each slider is `jslink`ed to the
# `ipywidgets.Stack`s that hold the views, so the page's widget JavaScript alone switches them.
# ---------------------------------------------------------------------------------------------

#: Most views one static explorer precomputes: each is stored in the page, so they add up.
MAX_STATIC_VIEWS = 64

# The HTML fallback is shown until the live widget has rendered next to it (`:has`, any
# current browser); the widget JavaScript inserts the widget into `.widget-subarea`.
_STATIC_CSS = (
    "<style>.seglib-static:has(>.widget-subarea .jupyter-widgets)>.seglib-static-fallback"
    "{display:none}</style>"
)


class StaticExplorer:
    """Sliders over a few values per argument, switching between precomputed HTML views.

    Built by `static_explorer`; displays as its `widget` in Jupyter, and on a static page
    (a built book) as the live widget where the widget JavaScript runs, else as the view of
    the starting setting.

    Attributes:
        controls: one `ipywidgets.SelectionSlider` per argument, by argument name.
        options: the values each argument takes, by name, in slider order.
        views: the HTML of every setting, keyed by the tuple of values in `options` order.
        stacks: the `ipywidgets.Stack`s holding the views, by depth: `stacks[d]` are switched
            by the `d`-th control, and the leaves of `stacks[-1]` are `ipywidgets.HTML`s.
        links: the `jslink`s from each control's `index` to its stacks' `selected_index`.
        widget: the `ipywidgets.VBox` of controls and views.
    """

    def __init__(
        self,
        render: Callable[..., str],
        options: dict[str, tuple[Any, ...]],
        value: dict[str, Any],
        descriptions: dict[str, str],
    ) -> None:
        widgets = _import_ipywidgets()
        self.options = options
        names = list(options)
        self.views: dict[tuple[Any, ...], str] = {}
        for combination in _product(list(options.values())):
            settings = dict(zip(names, combination))
            try:
                view = render(**settings)
            except ValueError as error:  # an impossible setting: say why, as the live explorers do
                view = _message_html(str(error), "static")
            if not isinstance(view, str):
                raise TypeError(f"render must return an HTML str, got {type(view).__name__} for {settings}")
            self.views[combination] = view

        self.controls: dict[str, Any] = {
            name: widgets.SelectionSlider(
                options=[(str(v), v) for v in values], value=value[name], description=descriptions[name],
                continuous_update=True, style={"description_width": "7em"},
            )
            for name, values in options.items()
        }
        # Nested stacks: level d has one Stack per choice of the first d values.
        self.stacks: list[list[Any]] = [[] for _ in names]

        def build(depth: int, prefix: tuple[Any, ...]) -> Any:
            values = options[names[depth]]
            if depth == len(names) - 1:
                children = [widgets.HTML(value=self.views[prefix + (v,)]) for v in values]
            else:
                children = [build(depth + 1, prefix + (v,)) for v in values]
            stack = widgets.Stack(children, selected_index=self.controls[names[depth]].index)
            self.stacks[depth].append(stack)
            return stack

        root = build(0, ())
        self.links = [
            widgets.jslink((self.controls[name], "index"), (stack, "selected_index"))
            for name, level in zip(names, self.stacks)
            for stack in level
        ]
        for name, level in zip(names, self.stacks):  # the same switch in Python, with a kernel but no front end
            self.controls[name].observe(lambda change, level=level: _select(level, change["new"]), names="index")
        wrap = widgets.Layout(flex_flow="row wrap")
        self.widget = widgets.VBox([widgets.HBox(list(self.controls.values()), layout=wrap), root])

    @property
    def settings(self) -> dict[str, Any]:
        """The controls' current values, by argument name."""
        return {name: control.value for name, control in self.controls.items()}

    @property
    def html(self) -> str:
        """The view of the current setting."""
        return self.views[tuple(self.settings.values())]

    def fallback_html(self) -> str:
        """The page's view without widget JavaScript: the current view, and which setting it is.

        It ends in the widget's view tag, where the widget JavaScript puts the live widget
        (and then hides this view).
        """
        shown = ", ".join(f"{self.controls[name].description} {value}" for name, value in self.settings.items())
        note = (
            f'<div style="font:12px sans-serif;color:#495057;margin:2px 0 4px 0">Showing {html.escape(shown)}; '
            "the sliders that switch between the precomputed views need JavaScript.</div>"
        )
        import json  # here, not at the top of the module: this part is appended to it

        view_tag = json.dumps({"version_major": 2, "version_minor": 0, "model_id": self.widget.model_id})
        return (
            f'<div class="seglib-static">{_STATIC_CSS}<div class="seglib-static-fallback">{note}{self.html}</div>'
            f'<script type="application/vnd.jupyter.widget-view+json">{view_tag}</script></div>'
        )

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        """The VBox's widget view; plus `fallback_html` for pages that prefer HTML (the book does)."""
        bundle = self.widget._repr_mimebundle_(**kwargs)
        return None if bundle is None else {**bundle, "text/html": self.fallback_html(), "text/plain": repr(self)}

    def __repr__(self) -> str:
        args = ", ".join(f"{name}={value!r}" for name, value in self.settings.items())
        return f"StaticExplorer({args}, views={len(self.views)})"


def _product(pools: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """All combinations, the last pool varying fastest (as `itertools.product`)."""
    combinations: list[tuple[Any, ...]] = [()]
    for pool in pools:
        combinations = [c + (v,) for c in combinations for v in pool]
    return combinations


def _select(stacks: list[Any], index: int) -> None:
    for stack in stacks:
        stack.selected_index = index


def static_explorer(
    render: Callable[..., str],
    options: dict[str, Any],
    *,
    value: dict[str, Any] | None = None,
    descriptions: dict[str, str] | None = None,
    max_views: int = MAX_STATIC_VIEWS,
) -> StaticExplorer:
    """An explorer that works on a static page: `render` is called for every setting beforehand.

    Each argument named in `options` gets a slider over its values; the view for every
    combination of values, `render(**setting)`, is computed now and stored in the widget, and
    the sliders switch views in the browser, with no kernel. So the number of views is the
    product of the numbers of values: keep it small (at most `max_views`). A `render` that
    raises `ValueError` for a setting shows the message there instead.

    Args:
        render: takes the arguments named in `options` as keywords and returns HTML, e.g.
            `receptive_field_view_html`.
        options: argument name -> the values its slider offers (a non-empty sequence of
            distinct values), in slider order.
        value: starting value of some arguments (default: the first value of each).
        descriptions: slider labels by argument name (default: the name).
        max_views: the largest number of views allowed.

    Raises:
        ImportError: ipywidgets is not installed (`pip install ipywidgets`).
        TypeError: `render` is not callable or returns something other than a str.
        ValueError: `options` is empty or has an empty or repeated value list, `value` or
            `descriptions` names an unknown argument, a starting value is not among its
            options, or there are more than `max_views` views.

    >>> explorer = static_explorer(
    ...     receptive_field_view_html, {"dilation": [1, 2, 3], "num_layers": [1, 2]}, value={"dilation": 2}
    ... )
    >>> len(explorer.views), explorer.settings
    (6, {'dilation': 2, 'num_layers': 1})
    >>> explorer.html == receptive_field_view_html(dilation=2, num_layers=1)
    True
    >>> [len(level) for level in explorer.stacks]  # one Stack of dilations, holding one Stack of layers each
    [1, 3]
    """
    if not callable(render):
        raise TypeError(f"render must be a callable returning HTML, got {type(render).__name__}")
    if not isinstance(options, dict) or not options:
        raise ValueError(f"options must be a non-empty dict: argument name -> its values, got {options!r}")
    pools: dict[str, tuple[Any, ...]] = {}
    for name, values in options.items():
        if not isinstance(name, str) or isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
            raise ValueError(f"options must map argument names (str) to sequences of values, got {name!r}: {values!r}")
        pool = tuple(values)
        if not pool or len(set(pool)) != len(pool):
            raise ValueError(f"options[{name!r}] must be a non-empty sequence of distinct values, got {values!r}")
        pools[name] = pool
    value = dict(value or {})
    descriptions = dict(descriptions or {})
    for given, what in ((value, "value"), (descriptions, "descriptions")):
        unknown = sorted(set(given) - set(pools))
        if unknown:
            raise ValueError(f"{what} names arguments that options does not have: {unknown}; options has {list(pools)}")
    for name, start in value.items():
        if start not in pools[name]:
            raise ValueError(f"value[{name!r}] = {start!r} is not one of options[{name!r}] = {list(pools[name])}")
    if isinstance(max_views, bool) or not isinstance(max_views, int) or max_views < 1:
        raise ValueError(f"max_views must be a positive int, got {max_views!r}")
    count = math.prod(len(pool) for pool in pools.values())
    if count > max_views:
        sizes = " × ".join(str(len(pool)) for pool in pools.values())
        raise ValueError(f"{sizes} = {count} views is more than max_views = {max_views}: offer fewer values")
    return StaticExplorer(
        render,
        pools,
        {name: value.get(name, pool[0]) for name, pool in pools.items()},
        {name: descriptions.get(name, name) for name in pools},
    )


__all__ += ["StaticExplorer", "static_explorer"]
