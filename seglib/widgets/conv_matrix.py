"""The convolution-matrix explorer (chapter 5, Upsampling).

`conv_matrix_explorer` shows a 2-D convolution as a matrix product `y = C x` and the
transposed convolution as `Cᵀ y`, with one output pixel followed through both. Sliders choose
the input size, kernel size, stride, padding and the output pixel.

Single channel throughout: `x` is `(H, W)`, the kernel `w` is `(k, k)`, `C` is
`(H_out·W_out, H·W)`, and flattening is row-major (pixel `(i, j)` is index `i·W + j`).
"""

from __future__ import annotations

import functools
import html
import itertools
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from seglib.ops import conv_matrix, conv_output_size, conv_transpose_via_matrix
from seglib.widgets._common import (
    _CSS,
    _MARKS,
    GridPool,
    _cell,
    _check_int,
    _Explorer,
    _figure,
    _fmt,
    _import_ipywidgets,
    _legend,
    _message_html,
    _table,
    _wrap,
    marks_styles,
    static_page_html,
)

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




@functools.cache
def conv_matrix_static_data(seed: int = 0) -> dict[str, Any]:
    """The numbers of every setting the explorer's sliders reach, for `static_page_html`.

    `views["H,W,k,s,p"]` holds indices into `grids`: `x` `(H, W)`, `w` `(k, k)`, `y` `(H_out, W_out)`,
    `Cty` (`Cᵀ y`, `(H, W)`) and `C`, stored by rows as `[column, value, column, value, ...]` of
    its nonzero entries; and `output_padding`. A setting where the kernel does not fit holds
    `error`, the index of its message. All from `conv_matrix_state`.
    """
    pool = GridPool()
    views: dict[str, dict[str, Any]] = {}
    sides = range(LIMITS["input_size"][0], LIMITS["input_size"][1] + 1)
    for h, w, k, s, p in itertools.product(
        sides, sides, *(range(low, high + 1) for low, high in (LIMITS[n] for n in ("kernel_size", "stride", "padding")))
    ):
        key = f"{h},{w},{k},{s},{p}"
        try:
            _output_size((h, w), k, s, p)
        except ValueError as error:
            views[key] = {"error": pool.add(str(error))}
            continue
        state = conv_matrix_state((h, w), k, s, p, 0, seed=seed)
        rows = [[v for q in row.nonzero().flatten().tolist() for v in (q, row[q].item())] for row in state.matrix]
        views[key] = {
            "x": pool.add(state.x), "w": pool.add(state.weight), "y": pool.add(state.y),
            "Cty": pool.add(state.transposed), "C": pool.add(GridPool.plain(rows)),
            "output_padding": list(state.output_padding),
        }
    return {"limits": LIMITS, "grids": pool.grids, "views": views, "marks": marks_styles(_MARKS), "css": _CSS}


# ---------------------------------------------------------------------------------------------
# The widget: sliders in, the same HTML out.
# ---------------------------------------------------------------------------------------------


class ConvMatrixExplorer(_Explorer):
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

    def static_html(self) -> str:
        """This explorer on a page with no kernel: every setting precomputed, drawn by `explorers.js`."""
        settings = self.settings
        start = {
            "height": settings["input_size"][0], "width": settings["input_size"][1],
            **{name: settings[name] for name in ("kernel_size", "stride", "padding", "output_index")},
        }
        return static_page_html("conv-matrix", {**conv_matrix_static_data(self.seed), "start": start}, self.html)

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


