"""What the explorers share: argument checks, the HTML table helpers, the ipywidgets base class
that works under ipywidgets 7.7 (Colab) and 8, and the static page that needs no kernel.

Each explorer module (`conv_matrix`, `upsampling`, `receptive_field`, `iou`) has three layers:
a `*_state` function computes every number (a frozen dataclass), `render_*_view` draws it as
HTML, and a small `_Explorer` subclass re-renders that HTML when a control changes. For a page
with no kernel (the built book), `*_static_data` computes the numbers of every setting in the
controls' whole range with the same `*_state` function, and `static_page_html` embeds them as
JSON; `explorers.js`, which the page loads, draws the chosen setting in the browser.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch import Tensor


def _check_int(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an int in [{low}, {high}], got {value!r}")
    return value




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




def _import_ipywidgets() -> Any:
    try:
        import ipywidgets
    except ImportError as error:
        raise ImportError(
            "seglib.widgets needs ipywidgets (7.7 or 8; Colab and JupyterLab have it) for the live "
            "explorers: pip install ipywidgets. conv_matrix_view_html and the other *_view_html "
            "functions work without it."
        ) from error
    return ipywidgets


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

    def static_html(self) -> str:
        """The explorer for a page with no kernel: every setting's numbers and the script that draws them."""
        raise NotImplementedError

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        """The live widget for notebook front ends; `static_html` for pages without a kernel (the book)."""
        return {**widget_view_bundle(self.widget), "text/html": self.static_html(), "text/plain": repr(self)}

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
# ipywidgets 7 and 8. ipywidgets 8 widgets have `_repr_mimebundle_`; 7.x widgets display
# through `_ipython_display_` instead, and Colab runs 7.7.1. Both front ends draw a widget from
# the same view tag, so the explorers build it themselves.
# ---------------------------------------------------------------------------------------------


def widget_view_bundle(widget: Any) -> dict[str, Any]:
    """The display data that shows `widget` live, under ipywidgets 7 and 8 alike."""
    return {
        "application/vnd.jupyter.widget-view+json": {"version_major": 2, "version_minor": 0, "model_id": widget.model_id}
    }


# ---------------------------------------------------------------------------------------------
# The static page: a book page has no kernel, so a widget's Python callbacks cannot run there.
# The explorer's HTML output carries every setting's numbers instead (computed by the same
# `*_state` functions) and `explorers.js`, which draws the chosen setting in the browser.
# ---------------------------------------------------------------------------------------------


class GridPool:
    """Stores each distinct grid (a nested list of numbers) once; views refer to it by index."""

    def __init__(self) -> None:
        self.grids: list[Any] = []
        self._index: dict[str, int] = {}

    def add(self, grid: Tensor | list[Any] | str) -> int:
        """Index of `grid` (a tensor is stored as nested lists, whole numbers without a decimal point)."""
        value = self.plain(grid.tolist()) if isinstance(grid, Tensor) else grid
        key = json.dumps(value, separators=(",", ":"))
        if key not in self._index:
            self._index[key] = len(self.grids)
            self.grids.append(value)
        return self._index[key]

    @staticmethod
    def plain(value: Any) -> Any:
        """Floats that are whole numbers as ints, so the JSON is shorter and prints like the view."""
        if isinstance(value, list):
            return [GridPool.plain(v) for v in value]
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value


def static_page_html(name: str, data: dict[str, Any], view: str) -> str:
    """An explorer that works on a page with no kernel.

    The page must load `explorers.js` (beside this module; the book adds it to every page that
    holds an explorer, see book/_ext/book_assets.py); where it does not, `view` stays.

    Args:
        name: which explorer `explorers.js` draws ("conv-matrix", "upsampling", ...).
        data: every setting's numbers, and the controls' ranges and starting values.
        view: the HTML of the starting setting, shown until the script runs (and without JavaScript).
    """
    payload = json.dumps(data, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    return (
        f'<div class="seglib-static" data-explorer="{name}">'
        f'<script type="application/json" class="seglib-data">{payload}</script>'
        f'<div class="seglib-static-view">{view}</div></div>'
    )


EXPLORERS_JS = Path(__file__).with_name("explorers.js")


def marks_styles(marks: dict[str, tuple[str, str]]) -> dict[str, list[str]]:
    """`{role: [inline style, legend text]}` for the script, from a module's marks table."""
    return {role: [style, text] for role, (style, text) in marks.items()}
