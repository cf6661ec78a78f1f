"""The upsampling explorer (chapter 5): five ways from a small input to a larger map, side by side.

Nearest neighbour, bed of nails, max unpooling, bilinear interpolation and a transposed
convolution, every number from `seglib.ops`, with one input pixel followed through each.
"""

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
    _check_choice,
    _check_int,
    _Explorer,
    _figure,
    _fmt2,
    _grid_table,
    _import_ipywidgets,
    _legend,
    _slider,
    _wrap,
    marks_styles,
    static_page_html,
)

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

    def static_html(self) -> str:
        """This explorer on a page with no kernel: every setting precomputed, drawn by `explorers.js`."""
        return static_page_html("upsampling", {**upsampling_static_data(self.seed), "start": self.settings}, self.html)


@functools.cache
def upsampling_static_data(seed: int = 0) -> dict[str, Any]:
    """The numbers of every setting the explorer's controls reach, for `static_page_html`.

    `views["n,s,k,pattern,index"]` holds `padding`, `output_padding` and indices into `grids` of
    every grid of `upsampling_state` (`x`, `nearest`, ..., `transposed`) and of each method's
    footprint (a list of `[row, col]`).
    """
    pool = GridPool()
    views: dict[str, dict[str, Any]] = {}
    low, high = UPSAMPLING_LIMITS["input_size"]
    k_low, k_high = UPSAMPLING_LIMITS["kernel_size"]
    grids = ("x", "nearest", "bed_of_nails", "pool_map", "pooled", "indices", "max_unpool", "zero_inserted",
             "bilinear_kernel", "bilinear", "weight", "transposed")
    for n, s, k in itertools.product(range(low, high + 1), (2, 3), range(k_low, k_high + 1)):
        # Only the impulse input and the footprints depend on the followed pixel.
        impulses = [upsampling_state(n, s, k, "impulse", index, seed=seed) for index in range(n * n)]
        others = {pattern: upsampling_state(n, s, k, pattern, 0, seed=seed) for pattern in PATTERNS if pattern != "impulse"}
        for index, impulse in enumerate(impulses):
            footprints = {name: pool.add([list(cell) for cell in cells]) for name, cells in impulse.footprints.items()}
            for pattern in PATTERNS:
                state = impulse if pattern == "impulse" else others[pattern]
                view: dict[str, Any] = {name: pool.add(getattr(state, name)) for name in grids}
                view.update(footprints=footprints, padding=state.padding, output_padding=state.output_padding)
                views[f"{n},{s},{k},{pattern},{index}"] = view
    return {
        "limits": UPSAMPLING_LIMITS, "patterns": _PATTERN_LABELS, "grids": pool.grids, "views": views,
        "marks": marks_styles(_UP_MARKS), "css": _CSS,
    }


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


