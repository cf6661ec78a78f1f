"""seglib.widgets on every front end: the live widget under the installed ipywidgets (8 in .venv,
7.7.1 in .venv-colab: `make test-colab`), and the numbers a static page gets.

Oracles: IPython's own display formatter (what a notebook front end receives), PyTorch's
`F.conv2d` / `F.conv_transpose2d` / `F.interpolate` for the precomputed numbers, and the
chapters' own explorer cells, run as they are.
"""

from __future__ import annotations

import ast
import json
import math
import random
import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import seglib.widgets as W
from seglib import ops

ipywidgets = pytest.importorskip("ipywidgets")
ROOT = Path(__file__).resolve().parents[1]
EXPLORERS = {
    "conv-matrix": W.conv_matrix_explorer,
    "upsampling": W.upsampling_explorer,
    "receptive-field": W.receptive_field_explorer,
    "iou": W.iou_explorer,
}


def page_data(html: str) -> dict:
    """The JSON a static page gets, parsed back out of an explorer's HTML."""
    match = re.search(r'<script type="application/json" class="seglib-data">(.*?)</script>', html, re.S)
    assert match, html[:200]
    return json.loads(match.group(1).replace("<\\/", "</"))


@pytest.mark.parametrize("name", list(EXPLORERS))
def test_a_notebook_front_end_gets_the_live_widget(name: str) -> None:
    """What IPython sends the front end: the widget view (drawn by ipywidgets 7 and 8 alike),
    the static page for pages without a kernel, and the repr."""
    from IPython.core.formatters import DisplayFormatter

    explorer = EXPLORERS[name]()
    data, _ = DisplayFormatter().format(explorer)
    view = data["application/vnd.jupyter.widget-view+json"]
    assert view == {"version_major": 2, "version_minor": 0, "model_id": explorer.widget.model_id}
    assert explorer.widget.model_id and isinstance(explorer.widget, ipywidgets.VBox)
    assert f'data-explorer="{name}"' in data["text/html"] and explorer.html in data["text/html"]
    assert data["text/plain"] == repr(explorer)
    start = page_data(data["text/html"])["start"]
    assert start == {name: control.value for name, control in explorer.controls.items()}

    def kinds(widget) -> set[str]:
        return {type(widget).__name__}.union(*(kinds(child) for child in getattr(widget, "children", ())))

    assert kinds(explorer.widget) <= {"VBox", "HBox", "HTML", "IntSlider", "FloatSlider", "Dropdown", "ToggleButtons"}


def test_the_live_widget_still_follows_its_controls() -> None:
    explorer = W.conv_matrix_explorer()
    explorer.controls["stride"].value = 1
    assert explorer.state.matrix.shape == (16, 16)
    assert page_data(explorer._repr_mimebundle_()["text/html"])["start"]["stride"] == 1


def test_conv_matrix_data_holds_every_setting_as_pytorch_computes_it() -> None:
    data = W.conv_matrix_static_data()
    grid = data["grids"].__getitem__
    assert len(data["views"]) == 8 * 8 * 5 * 3 * 3
    rng = random.Random(0)
    for key in rng.sample(sorted(data["views"]), 60):
        h, w, k, s, p = map(int, key.split(","))
        view = data["views"][key]
        if k > min(h, w) + 2 * p:
            assert "does not fit" in grid(view["error"])
            continue
        x, weight = torch.tensor(grid(view["x"]), dtype=torch.float64), torch.tensor(grid(view["w"]), dtype=torch.float64)
        y = F.conv2d(x[None, None], weight[None, None], stride=s, padding=p)
        assert torch.equal(torch.tensor(grid(view["y"]), dtype=torch.float64), y[0, 0]), key
        c = torch.zeros(y.numel(), h * w, dtype=torch.float64)
        for row, pairs in enumerate(grid(view["C"])):
            for q, value in zip(pairs[::2], pairs[1::2]):
                c[row, q] = value
        basis = torch.eye(h * w, dtype=torch.float64).reshape(h * w, 1, h, w)
        torch.testing.assert_close(c, F.conv2d(basis, weight[None, None], stride=s, padding=p).reshape(h * w, -1).T)
        cty = F.conv_transpose2d(y, weight[None, None], stride=s, padding=p, output_padding=tuple(view["output_padding"]))
        assert torch.equal(torch.tensor(grid(view["Cty"]), dtype=torch.float64), cty[0, 0]), key


def test_upsampling_data_holds_every_setting_as_pytorch_computes_it() -> None:
    data = W.upsampling_static_data()
    grid = data["grids"].__getitem__
    assert len(data["views"]) == sum(n * n for n in (2, 3, 4)) * 2 * 6 * 4
    for key in random.Random(0).sample(sorted(data["views"]), 40):
        n, s, k, pattern, index = key.split(",")
        n, s, k, index = int(n), int(s), int(k), int(index)
        view = data["views"][key]
        x = torch.tensor(grid(view["x"]), dtype=torch.float64)[None, None]
        nearest = F.interpolate(x, scale_factor=s, mode="nearest")[0, 0]
        assert torch.equal(torch.tensor(grid(view["nearest"]), dtype=torch.float64), nearest), key
        m = (n - 1) * s + 1
        bilinear = F.interpolate(x, size=(m, m), mode="bilinear", align_corners=True)[0, 0]
        # seglib computes in float32: compared at float32's tolerance
        torch.testing.assert_close(torch.tensor(grid(view["bilinear"]), dtype=torch.float32), bilinear.float())
        ones = torch.ones(1, 1, k, k, dtype=torch.float64)
        transposed = F.conv_transpose2d(x, ones, stride=s, padding=view["padding"], output_padding=view["output_padding"])
        assert torch.equal(torch.tensor(grid(view["transposed"]), dtype=torch.float64), transposed[0, 0]), key
        impulse = torch.zeros(n * n, dtype=torch.float64)
        impulse[index] = 1
        reach = F.interpolate(impulse.reshape(1, 1, n, n), scale_factor=s, mode="nearest")[0, 0]
        assert sorted(map(tuple, grid(view["footprints"]["nearest"]))) == sorted(map(tuple, reach.nonzero().tolist()))


def test_receptive_field_data_matches_ops() -> None:
    data = W.receptive_field_static_data()
    assert len(data["views"]) == 5 * 4 * 4 * 3
    for key, view in data["views"].items():
        k, d, layers, s = map(int, key.split(","))
        assert view["field"] == ops.receptive_field([(k, s, d)] * layers), key
        assert (view["paths"] is None) == (view["field"] > W.MAX_DRAWN_FIELD), key


def test_iou_data_holds_the_masks_iou_state_places() -> None:
    data = W.iou_static_data()
    assert data["scales"][0] == 0.2 and data["scales"][-1] == 2.0 and len(data["scales"]) == 19
    for shape in W.SHAPES:
        for size in (2, 7, 10, 20):
            stencil = torch.tensor([[c == "1" for c in row] for row in data["stencils"][shape][size]])
            state = W.iou_state(0, 0, 1.0, shape=shape, size=size)
            top = (28 - size) // 2
            assert torch.equal(state.target[top : top + size, top : top + size], stencil), (shape, size)
            assert int(stencil.sum()) == int(state.target.sum())
    largest = math.floor(20 * 2.0 + 0.5)
    assert len(data["stencils"]["disc"]) == largest + 1


def test_the_page_json_cannot_close_its_script_tag() -> None:
    html = W.static_page_html("iou", {"text": "</script><b>"}, "<p>view</p>")
    assert html.count("</script>") == 1 and page_data(html) == {"text": "</script><b>"}


def test_the_import_error_names_no_upgrade_for_colab(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without ipywidgets the message says to install ipywidgets itself, never an extra that pins 8."""
    import builtins

    real_import = builtins.__import__

    def no_ipywidgets(name, *args, **kwargs):
        if name == "ipywidgets":
            raise ImportError("no ipywidgets")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ipywidgets)
    with pytest.raises(ImportError, match="pip install ipywidgets") as error:
        W.iou_explorer()
    assert "seglib[" not in str(error.value)


# ---------------------------------------------------------------------------------------------
# The chapters' explorer cells, run as they are (under ipywidgets 7.7.1 in `make test-colab`).
# ---------------------------------------------------------------------------------------------


def explorer_cells() -> list[tuple[str, int, str]]:
    cells = []
    for path in sorted((ROOT / "book").glob("*.ipynb")):
        notebook = json.loads(path.read_text(encoding="utf-8"))
        for number, cell in enumerate(notebook["cells"]):
            source = "".join(cell["source"])
            if cell["cell_type"] == "code" and "from seglib.widgets import" in source:
                cells.append((path.name, number, source))
    return cells


@pytest.mark.parametrize(("chapter", "number", "source"), explorer_cells(), ids=lambda v: str(v)[:24])
def test_chapter_explorer_cell_runs_and_displays(chapter: str, number: int, source: str) -> None:
    from IPython.core.formatters import DisplayFormatter

    tree = ast.parse(source)
    last = tree.body.pop() if isinstance(tree.body[-1], ast.Expr) else None
    namespace = {"torch": torch, "F": F, "ops": ops, "math": math}
    exec(compile(tree, f"{chapter} cell {number}", "exec"), namespace)  # the cell's own asserts run here
    assert last is not None, f"{chapter} cell {number} does not end by showing an explorer"
    shown = eval(compile(ast.Expression(last.value), chapter, "eval"), namespace)
    data, _ = DisplayFormatter().format(shown)
    assert "application/vnd.jupyter.widget-view+json" in data and 'class="seglib-static"' in data["text/html"]


def test_chapters_show_every_explorer() -> None:
    sources = "\n".join(source for _, _, source in explorer_cells())
    for factory in ("conv_matrix_explorer", "upsampling_explorer", "receptive_field_explorer", "iou_explorer"):
        assert f"{factory}(" in sources, factory
