"""seglib.widgets: the upsampling, receptive-field and IoU explorers, driven through their controls.

Every number the views show is read back out of the HTML and compared with an oracle computed
here: `F.interpolate`, `F.max_pool2d`/`F.max_unpool2d` and `F.conv_transpose2d` for the
upsampling grids, autograd through `F.conv2d(..., dilation=D)` for the pixels a receptive field
covers, and hand-worked pixel counts for IoU and Dice.
"""

import functools
import itertools
import math
import re
from html.parser import HTMLParser

import pytest
import torch
import torch.autograd.forward_ad as fwAD
import torch.nn.functional as F

from seglib.widgets import (
    MAX_DRAWN_FIELD,
    RECEPTIVE_FIELD_LIMITS,
    iou_explorer,
    iou_state,
    iou_view_html,
    receptive_field_explorer,
    receptive_field_state,
    receptive_field_view_html,
    transposed_padding,
    upsampling_explorer,
    upsampling_state,
    upsampling_view_html,
)

# Forward-mode autograd loads PyTorch's jvp decompositions once, through torch.jit.script.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning")

# ---------------------------------------------------------------------------------------------
# Reading a view back: grids of (text, data-mark, inline style), and the data-role blocks.
# ---------------------------------------------------------------------------------------------


class _ViewParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.grids: dict[str, list[list[tuple[str, str | None, str]]]] = {}
        self.roles: dict[str, dict] = {}  # data-role -> {"value": data-value, "text": text inside}
        self.legend: dict[str, str] = {}  # legend text -> swatch style
        self._grid = self._row = self._cell = None
        self._open_roles: list[list] = []  # [role, depth, text]
        self._depth = 0
        self._swatch: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "div":
            self._depth += 1
            if "data-role" in attrs:
                assert attrs["data-role"] not in self.roles, f"role {attrs['data-role']} shown twice"
                self.roles[attrs["data-role"]] = {"value": attrs.get("data-value"), "text": ""}
                self._open_roles.append([attrs["data-role"], self._depth])
        if tag == "table" and "data-grid" in attrs:
            assert attrs["data-grid"] not in self.grids, f"grid {attrs['data-grid']} drawn twice"
            self._grid = self.grids[attrs["data-grid"]] = []
        elif tag == "tr" and self._grid is not None:
            self._row = []
        elif tag == "td" and self._row is not None:
            self._cell = [attrs.get("data-mark"), attrs.get("style") or "", ""]
        elif tag == "span" and "width:1.4em" in (attrs.get("style") or ""):
            self._swatch = attrs["style"]

    def handle_endtag(self, tag):
        if tag == "div":
            if self._open_roles and self._open_roles[-1][1] == self._depth:
                self._open_roles.pop()
            self._depth -= 1
        if tag == "td" and self._cell is not None:
            self._row.append((self._cell[2], self._cell[0], self._cell[1]))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if self._row:
                self._grid.append(self._row)
            self._row = None
        elif tag == "table":
            self._grid = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[2] += data
        for role, _ in self._open_roles:
            self.roles[role]["text"] += data
        if self._swatch is not None and data.strip() and data.strip() != "\xa0":
            self.legend[data.strip()] = self._swatch
            self._swatch = None


def parse(html: str) -> _ViewParser:
    parser = _ViewParser()
    parser.feed(html)
    return parser


def numbers(rows) -> torch.Tensor:
    return torch.tensor([[float(text) for text, _, _ in row] for row in rows], dtype=torch.float64)


def marked(rows, mark: str, offset: int = 0) -> set[tuple[int, int]]:
    return {(i - offset, j - offset) for i, row in enumerate(rows) for j, (_, m, _) in enumerate(row) if m == mark}


def background(style: str) -> str:
    """The last `background:` value of an inline style."""
    found = re.findall(r"background:\s*([^;]+)", style)
    return found[-1].strip() if found else ""


def assert_grid(rows, expected: torch.Tensor, name: str) -> None:
    """The numbers shown equal `expected` to the two decimals the view prints."""
    shown = numbers(rows)
    assert shown.shape == expected.shape, f"{name}: shows {tuple(shown.shape)}, expected {tuple(expected.shape)}"
    assert torch.allclose(shown, expected.double(), atol=0.0051, rtol=0), f"{name}:\n{shown}\nexpected\n{expected}"


def set_controls(explorer, **values) -> None:
    for name, value in values.items():
        explorer.controls[name].value = value


# ---------------------------------------------------------------------------------------------
# Upsampling: oracles from torch.nn.functional, footprints from autograd.
# ---------------------------------------------------------------------------------------------


def oracle_padding(k: int, s: int, n: int) -> tuple[int, int]:
    """Smallest padding (then output_padding < s) with which F.conv_transpose2d gives n·s, found by search."""
    for p, op in itertools.product(range(k + 1), range(s)):
        if (n - 1) * s - 2 * p + k + op == n * s:
            return p, op
    raise AssertionError("no padding reaches n·s")


def upsampling_oracles(x: torch.Tensor, pool_map: torch.Tensor, s: int, k: int):
    """Each method by PyTorch (x `(n, n)`); bed of nails by indexing. Returns functions of x."""
    n = x.shape[0]
    _, indices = F.max_pool2d(pool_map[None, None].double(), s, return_indices=True)
    p, op = oracle_padding(k, s, n)
    ones = torch.ones(1, 1, k, k, dtype=torch.float64)

    def bed(z):
        out = torch.zeros(n * s, n * s, dtype=z.dtype)
        return out.index_put((torch.arange(n).repeat_interleave(n) * s, torch.arange(n).repeat(n) * s), z.flatten())

    return {
        "nearest": lambda z: F.interpolate(z[None, None], scale_factor=s, mode="nearest")[0, 0],
        "bed_of_nails": bed,
        "max_unpool": lambda z: F.max_unpool2d(z[None, None], indices, s, output_size=(n * s, n * s))[0, 0],
        "bilinear": lambda z: F.interpolate(
            z[None, None], size=((n - 1) * s + 1,) * 2, mode="bilinear", align_corners=True
        )[0, 0],
        "transposed": lambda z: F.conv_transpose2d(z[None, None], ones, stride=s, padding=p, output_padding=op)[0, 0],
    }


def derivative(method, n: int, pixel: tuple[int, int]) -> torch.Tensor:
    """d method(x) / d x[pixel] for every output, by forward-mode autograd at a random x `(n, n)`."""
    tangent = torch.zeros(n, n, dtype=torch.float64)
    tangent[pixel] = 1
    with fwAD.dual_level():
        out = method(fwAD.make_dual(torch.rand(n, n, dtype=torch.float64), tangent))
        return fwAD.unpack_dual(out).tangent


def check_upsampling(state, html: str) -> None:
    """The view shows the PyTorch results and marks exactly each method's footprint (from autograd)."""
    n, s, k = state.input_size, state.scale, state.kernel_size
    r, c = state.input_pixel
    grids = parse(html).grids
    x = numbers(grids["x"])
    assert x.shape == (n, n) and torch.equal(x, state.x.double())
    assert marked(grids["x"], "source") == {(r, c)}
    assert state.x[r, c] == (1 if state.pattern in ("ones", "impulse") else state.x[r, c])
    if state.pattern == "impulse":
        assert x.sum() == 1 and x[r, c] == 1

    pool_map = numbers(grids["pool_map"])
    pooled, indices = F.max_pool2d(pool_map[None, None], s, return_indices=True)
    assert_grid(grids["pooled"], pooled[0, 0], "pooled")
    maxima = {divmod(int(q), n * s) for q in indices.flatten().tolist()}
    assert marked(grids["pool_map"], "max") | marked(grids["pool_map"], "reach") == maxima
    assert marked(grids["pool_map"], "reach") == {divmod(int(indices[0, 0, r, c]), n * s)}

    oracles = upsampling_oracles(x, pool_map, s, k)
    assert (state.padding, state.output_padding) == oracle_padding(k, s, n)
    for name, method in oracles.items():
        assert_grid(grids[name], method(x), name)
        # Footprint: the outputs whose derivative with respect to x[r, c] is nonzero (forward-mode AD).
        reach = {tuple(q) for q in derivative(method, n, (r, c)).nonzero().tolist()}
        assert marked(grids[name], "reach") == reach, name
        assert set(state.footprints[name]) == reach, name

    inserted = torch.zeros((n - 1) * s + 1, (n - 1) * s + 1, dtype=torch.float64)
    inserted[::s, ::s] = x
    assert_grid(grids["zero_inserted"], inserted, "zero_inserted")
    assert marked(grids["zero_inserted"], "source") == {(r * s, c * s)}
    assert_grid(grids["weight"], torch.ones(k, k), "weight")
    # The bilinear kernel is the outer product of a tent falling from 1 by 1/s per step.
    tent = torch.tensor([1 - abs(i) / s for i in range(-(s - 1), s)], dtype=torch.float64)
    assert_grid(grids["bilinear_kernel"], torch.outer(tent, tent), "bilinear_kernel")


@pytest.fixture
def upsampling():
    pytest.importorskip("ipywidgets")
    return upsampling_explorer()


def test_upsampling_default_is_the_chapters_example(upsampling):
    """2×2 input [[1, 2], [3, 4]], scale 2: the max-unpooling and 3×3 transposed-convolution examples."""
    state = upsampling.state
    assert state.x.tolist() == [[1, 2], [3, 4]]
    assert state.pool_map.tolist() == [[1, 2, 6, 3], [3, 5, 2, 1], [1, 2, 2, 1], [7, 3, 4, 8]]
    assert state.pooled.tolist() == [[5, 6], [7, 8]]
    assert state.max_unpool.tolist() == [[0, 0, 2, 0], [0, 1, 0, 0], [0, 0, 0, 0], [3, 0, 0, 4]]
    assert state.nearest.tolist() == [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]]
    assert state.bed_of_nails.tolist() == [[1, 0, 2, 0], [0, 0, 0, 0], [3, 0, 4, 0], [0, 0, 0, 0]]
    assert state.bilinear.tolist() == [[1, 1.5, 2], [2, 2.5, 3], [3, 3.5, 4]]
    assert (state.padding, state.output_padding) == (1, 1) and state.transposed.shape == (4, 4)
    check_upsampling(state, upsampling.html)
    assert "checkerboard" in parse(upsampling.html).roles["checkerboard"]["text"]


@pytest.mark.parametrize("scale", [2, 3])
@pytest.mark.parametrize("input_size", [2, 3, 4])
def test_upsampling_every_kernel_and_pixel_matches_pytorch(upsampling, input_size, scale):
    """All kernel sizes 1..6 and every followed pixel: grids equal PyTorch, footprints equal autograd."""
    set_controls(upsampling, pattern="random", input_size=input_size, scale=scale)
    for k in range(1, 7):
        upsampling.controls["kernel_size"].value = k
        for index in (0, input_size * input_size - 1, input_size + 1):
            upsampling.controls["input_index"].value = index
            state = upsampling.state
            setting = (state.input_size, state.scale, state.kernel_size, state.input_index)
            assert setting == (input_size, scale, k, index)
            check_upsampling(state, upsampling.html)


def test_upsampling_patterns_and_checkerboard(upsampling):
    """"ones" shows how many kernel copies cover each output: uneven when k is not a multiple of s."""
    set_controls(upsampling, input_size=4, scale=2, pattern="ones", kernel_size=3)
    interior = upsampling.state.transposed[2:-2, 2:-2]
    assert set(interior.unique().tolist()) == {1, 2, 4}  # the checkerboard of a 3×3 kernel at stride 2
    assert "not a multiple" in parse(upsampling.html).roles["checkerboard"]["text"]
    check_upsampling(upsampling.state, upsampling.html)
    upsampling.controls["kernel_size"].value = 4
    interior = upsampling.state.transposed[2:-2, 2:-2]
    assert interior.unique().tolist() == [4]  # k = 2s: every interior pixel covered 2·2 times
    assert "is a multiple" in parse(upsampling.html).roles["checkerboard"]["text"]

    set_controls(upsampling, pattern="impulse", input_index=6)
    assert upsampling.state.x.flatten().nonzero().flatten().tolist() == [6]
    check_upsampling(upsampling.state, upsampling.html)
    set_controls(upsampling, pattern="ramp")
    assert upsampling.state.x.flatten().tolist() == list(range(1, 17))


def test_upsampling_followed_pixel_range_follows_input_size(upsampling):
    index = upsampling.controls["input_index"]
    assert (index.min, index.max) == (0, 3)
    upsampling.controls["input_size"].value = 4
    assert index.max == 15
    index.value = 15
    assert upsampling.state.input_pixel == (3, 3)
    upsampling.controls["input_size"].value = 2
    assert index.max == 3 and index.value == 3 and upsampling.state.input_pixel == (1, 1)
    check_upsampling(upsampling.state, upsampling.html)


def test_upsampling_view_function_and_display(upsampling):
    set_controls(upsampling, input_size=3, scale=3, kernel_size=5, pattern="random", input_index=4)
    assert upsampling.html == upsampling_view_html(3, 3, 5, "random", 4)
    assert upsampling.html != upsampling_view_html(3, 3, 5, "random", 4, seed=1)
    bundle = upsampling._repr_mimebundle_()
    assert upsampling.html == upsampling.view.value and upsampling.html in bundle["text/html"]
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == upsampling.widget.model_id
    assert "kernel_size=5" in repr(upsampling) and upsampling.error is None


def test_transposed_padding_reaches_n_times_s():
    for k, s, n in itertools.product(range(1, 7), (2, 3), (1, 2, 3, 4)):
        p, op = transposed_padding(k, s)
        assert (p, op) == oracle_padding(k, s, n)
        out = F.conv_transpose2d(torch.ones(1, 1, n, n), torch.ones(1, 1, k, k), stride=s, padding=p, output_padding=op)
        assert out.shape[-1] == n * s


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(input_size=1), r"input_size must be an int in \[2, 4\]"),
        (dict(input_size=5), r"input_size must be an int in \[2, 4\]"),
        (dict(scale=4), r"scale must be an int in \[2, 3\]"),
        (dict(kernel_size=7), r"kernel_size must be an int in \[1, 6\]"),
        (dict(pattern="stripes"), r"pattern must be one of"),
        (dict(input_index=4), r"input_index must be an int in \[0, 3\]"),
        (dict(seed=1.5), r"seed must be an int"),
    ],
)
def test_upsampling_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        upsampling_state(**kwargs)
    with pytest.raises(ValueError, match=message):
        upsampling_view_html(**kwargs)


# ---------------------------------------------------------------------------------------------
# Receptive field: autograd through F.conv2d with the built-in dilation.
# ---------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def dependency(k: int, d: int, layers: int, s: int, *, two_d: bool) -> torch.Tensor:
    """d output[0, 0] / d input for `layers` ones-kernel convolutions (`F.conv2d(dilation=d)`), no padding.

    Output pixel (0, 0) reads a window starting at input (0, 0); its gradient is the number of
    paths from each input pixel. The input grows until there is an output. Returns the gradient
    cropped to the window's bounding box (a row for `two_d=False`).
    """
    # float32 counts are exact here (below 2**24); it is the faster kernel for the long 1-D rows.
    dtype = torch.float64 if two_d else torch.float32
    size = d * (k - 1) + 1  # the first layer's reach: no output below it
    while True:
        shape = (1, 1, size, size) if two_d else (1, 1, 1, size)
        kernel = torch.ones(1, 1, k if two_d else 1, k, dtype=dtype)
        x = torch.zeros(shape, dtype=dtype, requires_grad=True)
        y = x
        try:
            for _ in range(layers):
                y = F.conv2d(y, kernel, stride=s, dilation=d)
        except RuntimeError:  # the input is smaller than the kernel's reach
            size *= 2
            continue
        if min(y.shape[-2:]) < 1:
            size *= 2
            continue
        y[0, 0, 0, 0].backward()
        grad = x.grad[0, 0].double()
        rows, cols = grad.nonzero(as_tuple=True)
        return grad[: rows.max() + 1, : cols.max() + 1]


def test_receptive_field_of_one_3x3_layer_for_dilation_1_2_3():
    """D = 1, 2, 3 on one 3×3 layer: 3, 5, 7, shown in the view and equal to autograd's extent."""
    pytest.importorskip("ipywidgets")
    explorer = receptive_field_explorer(kernel_size=3, num_layers=1, stride=1)
    for d, expected in [(1, 3), (2, 5), (3, 7)]:
        explorer.controls["dilation"].value = d
        assert explorer.state.field == expected
        roles = parse(explorer.html).roles
        assert roles["field"]["value"] == str(expected)
        assert f"receptive field: {expected}×{expected}" in roles["field"]["text"]
        assert dependency(3, d, 1, 1, two_d=True).shape == (expected, expected)
        assert roles["read"]["value"] == "9"  # the same 9 weights, spread out


def check_receptive_field(state, html: str) -> None:
    k, d, layers, s = state.kernel_size, state.dilation, state.num_layers, state.stride
    view = parse(html)
    grad = dependency(k, d, layers, s, two_d=True)
    field = grad.shape[0]
    assert grad.shape == (field, field)
    assert state.field == field and view.roles["field"]["value"] == str(field)
    assert torch.equal(state.paths, grad), "path counts differ from the gradient"
    reads = {tuple(q) for q in grad.nonzero().tolist()}
    rows = view.grids["input"]
    margin = (len(rows) - field) // 2
    assert len(rows) == field + 2 * margin and margin >= 1 and all(len(row) == len(rows) for row in rows)
    assert marked(rows, "read", offset=margin) == reads
    box = set(itertools.product(range(field), range(field)))
    assert marked(rows, "hole", offset=margin) == box - reads
    assert view.roles["read"]["value"] == str(len(reads))
    assert f"{len(reads)} of {field * field}" in view.roles["read"]["text"]
    # Darker where more paths: the shading's opacity grows with the gradient.
    alpha = {
        (i - margin, j - margin): float(re.search(r"rgba\([^)]*,([0-9.]+)\)", style).group(1))
        for i, row in enumerate(rows) for j, (_, m, style) in enumerate(row) if m == "read"
    }
    by_paths = sorted(reads, key=lambda q: (grad[q].item(), alpha[q]))
    assert all(alpha[a] <= alpha[b] for a, b in zip(by_paths, by_paths[1:])), "shading does not follow path counts"
    # The dilated kernel: weights 1..k² at multiples of d, zeros between.
    expected = torch.zeros(d * (k - 1) + 1, d * (k - 1) + 1, dtype=torch.float64)
    expected[::d, ::d] = torch.arange(1, k * k + 1, dtype=torch.float64).reshape(k, k)
    assert torch.equal(numbers(view.grids["dilated_kernel"]), expected)
    assert marked(view.grids["dilated_kernel"], "tap") == {(i * d, j * d) for i in range(k) for j in range(k)}


def test_receptive_field_matches_autograd_for_every_drawable_setting():
    """Every setting the sliders allow: the number equals autograd's extent (1-D, cheap); where the
    field is drawn, the shaded cells are exactly the pixels the output depends on (2-D)."""
    drawn = 0
    limits = RECEPTIVE_FIELD_LIMITS
    for k, d, layers, s in itertools.product(*(range(lo, hi + 1) for lo, hi in limits.values())):
        state = receptive_field_state(k, d, layers, s)
        row = dependency(k, d, layers, s, two_d=False)
        assert state.field == row.shape[-1], (k, d, layers, s)
        assert state.growth == tuple(dependency(k, d, i, s, two_d=False).shape[-1] for i in range(1, layers + 1))
        assert torch.equal(state.paths, torch.outer(row[0], row[0])), "2-D paths are the product of 1-D paths"
        if state.field <= 9 or (k, d, layers, s) in {(3, 2, 3, 2), (5, 1, 4, 1), (3, 4, 2, 1), (5, 4, 2, 1)}:
            check_receptive_field(state, receptive_field_view_html(k, d, layers, s))
            drawn += 1
    assert drawn > 30


def test_receptive_field_stacking_and_stride_through_the_widget():
    pytest.importorskip("ipywidgets")
    explorer = receptive_field_explorer(kernel_size=3, dilation=1)
    set_controls(explorer, num_layers=3)
    assert explorer.state.field == 7 and explorer.state.growth == (3, 5, 7)  # three 3×3 layers see 7×7
    check_receptive_field(explorer.state, explorer.html)
    set_controls(explorer, stride=2)
    assert explorer.state.field == 1 + 2 + 4 + 8  # each layer's step is the product of earlier strides
    check_receptive_field(explorer.state, explorer.html)
    set_controls(explorer, dilation=2, stride=1, num_layers=2)
    state = explorer.state
    assert state.field == 9 and len(state.read_pixels) == 25  # gridding: 25 of 81 pixels read
    check_receptive_field(state, explorer.html)
    assert "gridding" in parse(explorer.html).roles["read"]["text"]
    assert explorer.html == receptive_field_view_html(3, 2, 2, 1) and explorer.html in explorer._repr_mimebundle_()["text/html"]


def test_receptive_field_too_large_to_draw_says_so_and_keeps_the_number():
    pytest.importorskip("ipywidgets")
    explorer = receptive_field_explorer()
    set_controls(explorer, kernel_size=5, dilation=4, num_layers=4, stride=1)  # 1 + 4·4·4 = 65
    assert explorer.state is not None and explorer.state.field == 65 > MAX_DRAWN_FIELD
    view = parse(explorer.html)
    assert view.roles["field"]["value"] == "65"
    assert "too large to draw" in view.roles["too-large"]["text"]
    assert "input" not in view.grids and "dilated_kernel" in view.grids
    explorer.controls["num_layers"].value = 2  # 33: drawn again
    assert "too-large" not in parse(explorer.html).roles
    check_receptive_field(explorer.state, explorer.html)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(kernel_size=0), r"kernel_size must be an int in \[1, 5\]"),
        (dict(dilation=5), r"dilation must be an int in \[1, 4\]"),
        (dict(num_layers=0), r"num_layers must be an int in \[1, 4\]"),
        (dict(stride=4), r"stride must be an int in \[1, 3\]"),
        (dict(dilation=2.0), r"dilation must be an int"),
    ],
)
def test_receptive_field_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        receptive_field_state(**kwargs)
    pytest.importorskip("ipywidgets")
    with pytest.raises(ValueError, match=message):
        receptive_field_explorer(**kwargs)


# ---------------------------------------------------------------------------------------------
# IoU: hand-worked counts.
# ---------------------------------------------------------------------------------------------


def square(top: int, left: int, side: int, grid: int = 28) -> set[tuple[int, int]]:
    return {(i, j) for i in range(top, top + side) for j in range(left, left + side) if 0 <= i < grid and 0 <= j < grid}


def check_iou_view(state, html: str, target: set, prediction: set, grid: int = 28) -> None:
    """Cells marked TP/FP/FN/TN are the set operations on the two masks; one colour per role,
    the colour the legend gives it; the numbers shown are the hand counts."""
    view = parse(html)
    cells = set(itertools.product(range(grid), range(grid)))
    expected = {"tp": target & prediction, "fp": prediction - target, "fn": target - prediction}
    expected["tn"] = cells - target - prediction
    overlay = view.grids["overlay"]
    assert len(overlay) == grid and all(len(row) == grid for row in overlay)
    colours = {}
    for role, where in expected.items():
        assert marked(overlay, role) == where, role
        found = {background(overlay[i][j][2]) for i, j in where}
        assert len(found) <= 1, f"{role} cells in several colours: {found}"
        colours[role] = found.pop() if found else None
    shown = [c for c in colours.values() if c]
    assert len(shown) == len(set(shown)), f"two roles share a colour: {colours}"
    for role, words in (("tp", "true positive"), ("fp", "false positive"), ("fn", "false negative")):
        legend = [style for text, style in view.legend.items() if text.startswith(words)]
        assert len(legend) == 1 and (colours[role] is None or background(legend[0]) == colours[role]), role
    assert marked(view.grids["target"], "in") == target
    assert marked(view.grids["prediction"], "in") == prediction

    tp, fp, fn = len(expected["tp"]), len(expected["fp"]), len(expected["fn"])
    assert (state.tp, state.fp, state.fn, state.tn) == (tp, fp, fn, len(expected["tn"]))
    iou, dice = tp / (tp + fp + fn), 2 * tp / (2 * tp + fp + fn)
    assert math.isclose(float(view.roles["iou"]["value"]), iou) and math.isclose(state.iou, iou)
    assert math.isclose(float(view.roles["dice"]["value"]), dice) and math.isclose(state.dice, dice)
    assert f"= {tp} / {tp + fp + fn} = {iou:.3f}" in view.roles["iou"]["text"]
    assert f"= {2 * tp} / {2 * tp + fp + fn} = {dice:.3f}" in view.roles["dice"]["text"]
    assert "Dice = 2·IoU / (1 + IoU)" in view.roles["relation"]["text"]
    assert math.isclose(float(view.roles["accuracy"]["value"]), (grid * grid - fp - fn) / grid**2)


@pytest.fixture
def iou():
    pytest.importorskip("ipywidgets")
    return iou_explorer()


def test_iou_of_two_squares_offset_by_half_a_side(iou):
    """Default: 10×10 squares 5 px apart in x: overlap 50, union 150: IoU 1/3, Dice 1/2."""
    state = iou.state
    assert (state.tp, state.fp, state.fn) == (50, 50, 50)
    assert math.isclose(state.iou, 1 / 3) and state.dice == 0.5
    target = square(9, 9, 10)  # (28 - 10) // 2 = 9
    check_iou_view(state, iou.html, target, square(9, 14, 10))
    assert "50 / 150 = 0.333" in iou.html and "100 / 200 = 0.500" in iou.html


@pytest.mark.parametrize(
    "settings, pred, iou_value, dice_value",
    [
        (dict(dx=0), square(9, 9, 10), 1.0, 1.0),
        (dict(dx=0, dy=5), square(14, 9, 10), 1 / 3, 0.5),
        (dict(dx=5, dy=5), square(14, 14, 10), 25 / 175, 50 / 200),
        (dict(dx=-3, dy=0), square(9, 6, 10), 70 / 130, 140 / 200),
        (dict(dx=10), square(9, 19, 10), 0.0, 0.0),  # side by side, touching: no overlap
        (dict(dx=0, scale=2.0), square(4, 4, 20), 100 / 400, 200 / 500),  # 20×20 around the target
        (dict(dx=0, scale=0.5), square(11, 11, 5), 25 / 100, 50 / 125),  # 5×5 inside it
        (dict(dx=12, dy=-12, scale=2.0), square(-8, 16, 20), 9 / 235, 18 / 244),  # cut off by the grid's edge
    ],
)
def test_iou_and_dice_for_hand_worked_shifts(iou, settings, pred, iou_value, dice_value):
    set_controls(iou, **settings)
    state = iou.state
    assert math.isclose(state.iou, iou_value, abs_tol=1e-12) and math.isclose(state.dice, dice_value, abs_tol=1e-12)
    check_iou_view(state, iou.html, square(9, 9, 10), pred)


def test_dice_is_2_iou_over_1_plus_iou_everywhere(iou):
    for dx, dy, scale, shape in itertools.product((-7, 3), (-2, 4), (0.6, 1.7), ("square", "disc")):
        set_controls(iou, dx=dx, dy=dy, scale=scale, shape=shape)
        state = iou.state
        assert math.isclose(state.dice, 2 * state.iou / (1 + state.iou), abs_tol=1e-12)
        relation = parse(iou.html).roles["relation"]["text"]
        assert relation.endswith("rank predictions the same way") and f"= {state.dice:.3f}" in relation


def test_iou_discs(iou):
    """A disc of diameter 10 centred between pixels: the pixel centres within radius 5."""
    set_controls(iou, shape="disc", dx=3, dy=-2)

    def disc(ci, cj, diameter):
        return {(i, j) for i in range(28) for j in range(28) if (i - ci) ** 2 + (j - cj) ** 2 <= (diameter / 2) ** 2}

    target, prediction = disc(13.5, 13.5, 10), disc(11.5, 16.5, 10)
    # By hand: per quadrant, offsets 0.5..4.5 give 5 + 5 + 4 + 4 + 2 pixel centres within radius 5.
    assert len(target) == 4 * (5 + 5 + 4 + 4 + 2) == 80
    check_iou_view(iou.state, iou.html, target, prediction)


def test_iou_invalid_setting_shows_a_message_then_recovers():
    pytest.importorskip("ipywidgets")
    explorer = iou_explorer(grid_size=16)
    explorer.controls["size"].value = 18  # larger than the grid: no exception, a message
    assert explorer.state is None and "must fit the 16×16 grid" in explorer.error
    view = parse(explorer.html)
    assert list(view.roles) == ["message"] and view.grids == {}
    explorer.controls["dx"].value = 1  # still invalid, still no exception
    assert explorer.state is None
    explorer.controls["size"].value = 6
    assert explorer.state is not None and explorer.error is None
    top = (16 - 6) // 2
    check_iou_view(explorer.state, explorer.html, square(top, top, 6, 16), square(top, top + 1, 6, 16), grid=16)


def test_iou_view_function_and_display(iou):
    set_controls(iou, dx=-4, dy=2, scale=1.3, shape="disc", size=12)
    assert iou.html == iou_view_html(-4, 2, 1.3, shape="disc", size=12)
    assert iou.html in iou._repr_mimebundle_()["text/html"]
    assert "moved 4 left and 2 down" in iou.html
    assert repr(iou).startswith("IoUExplorer(dx=-4, dy=2, scale=1.3")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(dx=13), r"dx must be an int in \[-12, 12\]"),
        (dict(dy=-13), r"dy must be an int in \[-12, 12\]"),
        (dict(scale=-0.1), r"scale must be a number in \[0, 3\]"),
        (dict(shape="star"), r"shape must be one of 'square', 'disc'"),
        (dict(size=1), r"size must be an int in \[2, 20\]"),
        (dict(grid_size=10, size=12), r"must fit the 10×10 grid"),
    ],
)
def test_iou_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        iou_state(**kwargs)


def test_iou_explorer_rejects_a_start_scale_its_slider_cannot_show():
    pytest.importorskip("ipywidgets")
    with pytest.raises(ValueError, match=r"scale must be a number in \[0.2, 2.0\] to start the slider"):
        iou_explorer(scale=2.5)
    assert iou_state(0, 0, 2.5).prediction.sum() == 25 * 25  # the function itself allows it: 25×25 fits in 28×28


def test_empty_prediction_scores_zero():
    state = iou_state(0, 0, 0.0)
    assert (state.tp, state.fp, state.fn) == (0, 0, 100) and state.iou == 0 and state.dice == 0
