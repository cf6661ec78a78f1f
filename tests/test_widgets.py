"""seglib.widgets: the convolution-matrix explorer, driven from Python through its sliders.

Oracles are independent of the widget: `F.conv2d` and `F.conv_transpose2d` for the numbers,
autograd through `F.conv2d` with a ones kernel for which input pixels an output reads, and
the cells the HTML view actually marks (parsed back out of the HTML).
"""

import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from seglib import ops
from seglib.widgets import LIMITS, conv_matrix_explorer, conv_matrix_state, conv_matrix_view_html

# ---------------------------------------------------------------------------------------------
# Helpers: read the view back, and the oracles.
# ---------------------------------------------------------------------------------------------


class _GridParser(HTMLParser):
    """Collect each `<table data-grid=...>` as rows of `(text, data-mark)` for its `<td>` cells."""

    def __init__(self) -> None:
        super().__init__()
        self.grids: dict[str, list[list[tuple[str, str | None]]]] = {}
        self.roles: list[str] = []
        self._grid = self._row = self._cell = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "data-role" in attrs:
            self.roles.append(attrs["data-role"])
        if tag == "table" and "data-grid" in attrs:
            assert attrs["data-grid"] not in self.grids, f"grid {attrs['data-grid']} drawn twice"
            self._grid = self.grids[attrs["data-grid"]] = []
        elif tag == "tr" and self._grid is not None:
            self._row = []
        elif tag == "td" and self._row is not None:
            self._cell = [attrs.get("data-mark"), ""]

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self._row.append((self._cell[1], self._cell[0]))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if self._row:  # a row of index labels (<th> only) has no cells
                self._grid.append(self._row)
            self._row = None
        elif tag == "table":
            self._grid = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[1] += data


def parse(html: str) -> _GridParser:
    parser = _GridParser()
    parser.feed(html)
    return parser


def marked(rows, mark: str, offset: int = 0) -> set[tuple[int, int]]:
    """Positions of the cells carrying `mark`; `offset` undoes a ring of padding cells."""
    return {(i - offset, j - offset) for i, row in enumerate(rows) for j, (_, m) in enumerate(row) if m == mark}


def numbers(rows) -> torch.Tensor:
    return torch.tensor([[float(text) for text, _ in row] for row in rows])


def inputs_read_by(input_size, kernel_size, stride, padding, pixel) -> set[tuple[int, int]]:
    """Input pixels that output `pixel` depends on: autograd through F.conv2d with a ones kernel.

    With every weight 1, d y[i, j] / d x[r, c] is the number of taps on (r, c), so it is nonzero
    exactly where the output reads; zeros in the real x or w cannot hide a dependency.
    """
    x = torch.zeros(1, 1, *input_size, dtype=torch.float64, requires_grad=True)
    ones = torch.ones(1, 1, kernel_size, kernel_size, dtype=torch.float64)
    F.conv2d(x, ones, stride=stride, padding=padding)[0, 0][pixel].backward()
    return {tuple(rc) for rc in x.grad[0, 0].nonzero().tolist()}


def check_state_against_pytorch(state) -> None:
    """Every number in `state` against torch.nn.functional and seglib.ops."""
    (h, w), k, s, p = state.input_size, state.kernel_size, state.stride, state.padding
    x, weight = state.x[None, None], state.weight[None, None]
    expected_c = ops.conv_matrix(weight, (h, w), s, p)
    assert torch.equal(state.matrix, expected_c), "C differs from seglib.ops.conv_matrix"
    expected_y = F.conv2d(x, weight, stride=s, padding=p)[0, 0]
    assert state.y.shape == expected_y.shape, f"y is {tuple(state.y.shape)}, F.conv2d gives {tuple(expected_y.shape)}"
    assert torch.equal(state.y, expected_y), "y = C x differs from F.conv2d"
    h_out, w_out = expected_y.shape
    output_padding = (h - ((h_out - 1) * s - 2 * p + k), w - ((w_out - 1) * s - 2 * p + k))
    assert state.output_padding == output_padding
    y = state.y[None, None]
    expected_t = F.conv_transpose2d(y, weight, stride=s, padding=p, output_padding=output_padding)[0, 0]
    assert expected_t.shape == (h, w)
    assert torch.equal(state.transposed, expected_t), "Cᵀ y differs from F.conv_transpose2d"
    assert torch.equal(state.transposed, (state.matrix.T @ state.y.flatten()).reshape(h, w))


def check_view(state, html: str) -> None:
    """The HTML shows the state's numbers and marks exactly the cells the oracle says."""
    (h, w), k, p = state.input_size, state.kernel_size, state.padding
    i, j = state.output_pixel
    o = state.output_index
    reads = inputs_read_by((h, w), k, state.stride, p, (i, j))
    grids = parse(html).grids

    x_rows = grids["x"]  # x inside its padding ring
    assert len(x_rows) == h + 2 * p and all(len(row) == w + 2 * p for row in x_rows)
    assert torch.equal(numbers([row[p : p + w] for row in x_rows[p : p + h]]), state.x)
    assert marked(x_rows, "feeds", offset=p) == reads
    window = marked(x_rows, "window", offset=p)
    assert all(not (0 <= r < h and 0 <= c < w) for r, c in window), "a real pixel is marked as padding"
    assert len(window) + len(reads) == k * k, "every kernel tap lands on a pixel or on the padding"

    assert torch.equal(numbers(grids["w"]), state.weight)
    for name in ("y", "y2"):
        assert torch.equal(numbers(grids[name]), state.y)
        assert marked(grids[name], "output") == {(i, j)}

    c_rows = grids["C"]
    assert torch.equal(numbers(c_rows), state.matrix)
    assert marked(c_rows, "tap") == {(o, r * w + c) for r, c in reads}
    assert marked(c_rows, "row") | marked(c_rows, "tap") == {(o, q) for q in range(h * w)}

    ct_rows = grids["Ct"]
    assert torch.equal(numbers(ct_rows), state.matrix.T)
    assert marked(ct_rows, "spread") == {(r * w + c, o) for r, c in reads}
    assert marked(ct_rows, "col") | marked(ct_rows, "spread") == {(q, o) for q in range(h * w)}

    assert torch.equal(numbers(grids["Cty"]), state.transposed)
    assert marked(grids["Cty"], "spread") == reads


@pytest.fixture
def explorer():
    pytest.importorskip("ipywidgets")
    return conv_matrix_explorer()


def set_controls(explorer, **values) -> None:
    for name, value in values.items():
        explorer.controls[name].value = value


# ---------------------------------------------------------------------------------------------
# The widget, driven through its controls.
# ---------------------------------------------------------------------------------------------


def test_default_view_matches_pytorch(explorer):
    """Default: 4×4 input, 3×3 kernel, stride 2, padding 1: C is 4×16, y 2×2, Cᵀ y 4×4."""
    state = explorer.state
    assert state.input_size == (4, 4) and state.matrix.shape == (4, 16)
    assert state.y.shape == (2, 2) and state.transposed.shape == (4, 4)
    check_state_against_pytorch(state)
    via_matrix = ops.conv_transpose_via_matrix(state.y[None, None], state.weight[None, None], (4, 4), 2, 1)
    assert torch.equal(state.transposed, via_matrix[0, 0])
    check_view(state, explorer.html)
    # y[0, 0] with padding 1 reads the top-left 2×2 only; worked out by hand.
    assert set(state.highlighted_inputs) == {(0, 0), (0, 1), (1, 0), (1, 1)}


def test_controls_expose_the_required_ranges(explorer):
    """Sliders for H, W (1..8), kernel (1..5), stride (1..3), padding (0..2) and the output pixel."""
    c = explorer.controls
    assert (c["height"].min, c["height"].max, c["width"].min, c["width"].max) == (1, 8, 1, 8)
    assert (c["kernel_size"].min, c["kernel_size"].max) == (1, 5)
    assert (c["stride"].min, c["stride"].max) == (1, 3)
    assert (c["padding"].min, c["padding"].max) == (0, 2)
    assert (c["output_index"].min, c["output_index"].max) == (0, 3)


@pytest.mark.parametrize(
    "settings",
    [
        dict(height=4, width=4, kernel_size=3, stride=2, padding=1),
        dict(height=5, width=3, kernel_size=2, stride=1, padding=0),
        dict(height=7, width=6, kernel_size=3, stride=3, padding=2),
        dict(height=2, width=8, kernel_size=1, stride=1, padding=1),  # corners read only padding
        dict(height=8, width=8, kernel_size=5, stride=2, padding=2),
    ],
)
def test_every_output_pixel_highlights_what_it_reads(explorer, settings):
    """For each output pixel: highlighted inputs, row of C, column of Cᵀ, spread = autograd's answer."""
    set_controls(explorer, **settings)
    check_state_against_pytorch(explorer.state)
    n_out = explorer.state.y.numel()
    assert explorer.controls["output_index"].max == n_out - 1
    for index in range(n_out):
        explorer.controls["output_index"].value = index
        state = explorer.state
        assert state.output_index == index
        reads = inputs_read_by(state.input_size, state.kernel_size, state.stride, state.padding, state.output_pixel)
        assert set(state.highlighted_inputs) == reads
        check_view(state, explorer.html)


def test_changing_stride_padding_and_size_updates_everything(explorer):
    """Each control change gives new shapes, new numbers, and a view that follows."""
    before = explorer.html
    explorer.controls["stride"].value = 1
    assert explorer.state.matrix.shape == (16, 16) and explorer.state.y.shape == (4, 4)
    assert explorer.html != before
    check_state_against_pytorch(explorer.state)
    check_view(explorer.state, explorer.html)

    explorer.controls["padding"].value = 0
    assert explorer.state.y.shape == (2, 2) and explorer.state.output_padding == (0, 0)
    check_view(explorer.state, explorer.html)

    set_controls(explorer, height=6, width=3, stride=2)
    state = explorer.state
    assert state.x.shape == (6, 3) and state.y.shape == (2, 1) and state.matrix.shape == (2, 18)
    assert state.output_padding == (1, 0)
    check_state_against_pytorch(state)
    check_view(state, explorer.html)
    assert "C (2×18)" in explorer.html and "input x (6×3)" in explorer.html

    explorer.controls["kernel_size"].value = 2
    assert explorer.state.weight.shape == (2, 2)
    check_state_against_pytorch(explorer.state)


def test_output_index_range_follows_output_size(explorer):
    """The output slider spans the output pixels; shrinking the output clamps the chosen one."""
    index = explorer.controls["output_index"]
    explorer.controls["stride"].value = 1  # 4×4 output
    assert index.max == 15
    index.value = 15
    assert explorer.state.output_pixel == (3, 3)
    explorer.controls["stride"].value = 3  # (4 + 2 - 3) // 3 + 1 = 2 per side
    assert explorer.state.y.shape == (2, 2) and index.max == 3
    assert index.value == 3 and explorer.state.output_index == 3 and explorer.state.output_pixel == (1, 1)
    check_view(explorer.state, explorer.html)
    set_controls(explorer, height=8, width=5, stride=1, padding=0, kernel_size=4)  # 5×2 output
    assert index.max == 9


def test_invalid_combination_shows_a_message(explorer):
    """A kernel larger than the padded input: a message in the view, no exception; then recovery."""
    set_controls(explorer, padding=0, height=2, width=8)
    explorer.controls["kernel_size"].value = 3  # 2 + 0 < 3 in height
    assert explorer.state is None
    assert "kernel" in explorer.error and "padded input" in explorer.error
    view = parse(explorer.html)
    assert view.roles == ["message"] and view.grids == {}
    assert "does not fit" in explorer.html
    assert explorer.controls["output_index"].disabled

    explorer.controls["kernel_size"].value = 5  # still invalid: must not raise either
    assert explorer.state is None and "5×5" in explorer.error

    explorer.controls["padding"].value = 2  # 2 + 4 >= 5: valid again
    assert explorer.state is not None and explorer.error is None
    assert not explorer.controls["output_index"].disabled
    assert explorer.controls["output_index"].max == explorer.state.y.numel() - 1 == 1 * 4 - 1  # stride 2: 1×4 output
    check_state_against_pytorch(explorer.state)
    check_view(explorer.state, explorer.html)


def test_explorer_starting_in_an_invalid_setting_shows_the_message():
    pytest.importorskip("ipywidgets")
    explorer = conv_matrix_explorer(input_size=(1, 1), kernel_size=4, padding=1)
    assert explorer.state is None and "does not fit" in explorer.html


def test_explorer_displays_as_its_widget(explorer):
    """As the last expression of a cell it shows the VBox holding the controls and the HTML view."""
    import ipywidgets

    bundle = explorer._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == explorer.widget.model_id
    # For a page with no kernel: every setting's numbers, and the current view until the script draws.
    assert explorer.html in bundle["text/html"] and 'data-explorer="conv-matrix"' in bundle["text/html"]
    assert isinstance(explorer.widget, ipywidgets.VBox)
    assert isinstance(explorer.view, ipywidgets.HTML) and explorer.view in explorer.widget.children
    assert explorer.html == explorer.view.value
    assert "kernel_size=3" in repr(explorer) and bundle["text/plain"] == repr(explorer)


def test_view_function_and_widget_share_one_rendering(explorer):
    """conv_matrix_view_html gives the widget's HTML for the same setting and seed."""
    set_controls(explorer, height=5, width=6, kernel_size=2, stride=2, padding=0, output_index=4)
    assert explorer.html == conv_matrix_view_html((5, 6), 2, 2, 0, 4)
    assert explorer.html != conv_matrix_view_html((5, 6), 2, 2, 0, 5)
    other = conv_matrix_explorer(seed=1)
    assert other.html == conv_matrix_view_html(seed=1) != conv_matrix_view_html(seed=0)


# ---------------------------------------------------------------------------------------------
# The functions, without a widget.
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kernel_size", range(1, 6))
@pytest.mark.parametrize("stride", range(1, 4))
@pytest.mark.parametrize("padding", range(0, 3))
def test_state_matches_pytorch_over_all_settings(kernel_size, stride, padding):
    """Every kernel, stride and padding on square and non-square inputs, every output pixel."""
    for size in [(1, 1), (2, 3), (4, 4), (5, 7), (8, 3)]:
        if kernel_size > min(size) + 2 * padding:
            with pytest.raises(ValueError, match="does not fit"):
                conv_matrix_state(size, kernel_size, stride, padding)
            continue
        state = conv_matrix_state(size, kernel_size, stride, padding)
        check_state_against_pytorch(state)
        n_out = state.y.numel()
        for index in range(n_out):
            state = conv_matrix_state(size, kernel_size, stride, padding, index)
            reads = inputs_read_by(size, kernel_size, stride, padding, state.output_pixel)
            assert set(state.highlighted_inputs) == reads, (size, index)
        for index in {n_out // 2, n_out - 1}:  # an inner pixel and the bottom-right corner
            args = (size, kernel_size, stride, padding, index)
            check_view(conv_matrix_state(*args), conv_matrix_view_html(*args))


def test_example_values_are_small_integers_fixed_by_the_seed():
    """x in 0..4, w in 1..3 (no zero weights), equal for equal seeds, kept when a size grows."""
    a, b, c = conv_matrix_state(seed=0), conv_matrix_state(seed=0), conv_matrix_state(seed=1)
    assert torch.equal(a.x, b.x) and torch.equal(a.weight, b.weight)
    assert not torch.equal(a.x, c.x)
    for state in (a, c):
        assert torch.equal(state.x, state.x.round()) and 0 <= state.x.min() and state.x.max() <= 4
        assert torch.equal(state.weight, state.weight.round()) and 1 <= state.weight.min() and state.weight.max() <= 3
    bigger = conv_matrix_state((6, 5), 5, 1, 2)
    assert torch.equal(bigger.x[:4, :4], a.x) and torch.equal(bigger.weight[:3, :3], a.weight)


def test_output_that_reads_only_padding():
    """1×1 kernel, padding 1: the corner outputs read nothing, their row of C is zero."""
    state = conv_matrix_state((3, 3), 1, 1, 1, output_index=0)
    assert state.highlighted_inputs == () and state.y[0, 0] == 0
    html = conv_matrix_view_html((3, 3), 1, 1, 1, 0)
    assert "reads only zero padding" in html
    assert marked(parse(html).grids["x"], "window", offset=1) == {(-1, -1)}
    check_view(state, html)


def test_sum_line_writes_out_the_chosen_row_times_x():
    state = conv_matrix_state((4, 4), 3, 2, 1, output_index=3)
    html = conv_matrix_view_html((4, 4), 3, 2, 1, 3)
    assert f"= {int(state.y[1, 1])}</div>" in html
    assert "y[1, 1] = (row 3 of C) · x = " in html


def test_titles_over_each_grid():
    html = conv_matrix_view_html()
    for title in ["input x (4×4)", "kernel w (3×3)", "y = C x (2×2)", "C (4×16)", "Cᵀ (16×4)", "Cᵀ y (4×4)"]:
        assert title in html, title


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(kernel_size=0), r"kernel_size must be an int in \[1, 5\]"),
        (dict(kernel_size=6), r"kernel_size must be an int in \[1, 5\]"),
        (dict(kernel_size=2.0), r"kernel_size must be an int"),
        (dict(stride=0), r"stride must be an int in \[1, 3\]"),
        (dict(stride=4), r"stride must be an int in \[1, 3\]"),
        (dict(padding=-1), r"padding must be an int in \[0, 2\]"),
        (dict(padding=3), r"padding must be an int in \[0, 2\]"),
        (dict(input_size=(0, 4)), r"input height H must be an int in \[1, 8\]"),
        (dict(input_size=(4, 9)), r"input width W must be an int in \[1, 8\]"),
        (dict(input_size=(4, 4, 4)), r"input_size must be an int or a pair"),
        (dict(input_size="4"), r"input_size must be an int or a pair"),
        (dict(output_index=4), r"output_index must be an int in \[0, 3\]"),
        (dict(output_index=-1), r"output_index must be an int in \[0, 3\]"),
        (dict(input_size=(1, 1), kernel_size=4, padding=1), r"does not fit the padded input"),
        (dict(seed="0"), r"seed must be an int"),
    ],
)
def test_bad_arguments_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        conv_matrix_state(**kwargs)
    with pytest.raises(ValueError, match=message):
        conv_matrix_view_html(**kwargs)


def test_explorer_rejects_out_of_range_start_values():
    pytest.importorskip("ipywidgets")
    with pytest.raises(ValueError, match=r"stride must be an int in \[1, 3\]"):
        conv_matrix_explorer(stride=5)
    with pytest.raises(ValueError, match=r"input width W must be an int in \[1, 8\]"):
        conv_matrix_explorer(input_size=(4, 12))
    assert LIMITS["kernel_size"] == (1, 5)


def test_square_int_input_size():
    assert conv_matrix_state(5, 3, 1, 0).x.shape == (5, 5)


# ---------------------------------------------------------------------------------------------
# ipywidgets stays optional.
# ---------------------------------------------------------------------------------------------


def test_ipywidgets_is_imported_only_to_build_a_widget():
    """`import seglib.widgets` leaves ipywidgets out; without it the view still renders and the
    widget raises an ImportError that says what to install (one subprocess: importing torch is slow)."""
    result = subprocess.run(
        [sys.executable, "-c", _WITHOUT_IPYWIDGETS], capture_output=True, text=True, timeout=300,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "not imported", "import seglib.widgets imported ipywidgets"
    assert lines[1] == "view ok"
    assert "pip install ipywidgets" in lines[2], lines[2]


_WITHOUT_IPYWIDGETS = """
import sys
import seglib.widgets
print("imported" if "ipywidgets" in sys.modules else "not imported")
sys.modules["ipywidgets"] = None  # from here on, `import ipywidgets` fails
from seglib.widgets import conv_matrix_explorer, conv_matrix_view_html
print("view ok" if "C (4×16)" in conv_matrix_view_html() else "view broken")
try:
    conv_matrix_explorer()
    print("no error")
except ImportError as error:
    print(str(error).replace("\\n", " "))
"""
