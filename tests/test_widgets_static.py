"""seglib.widgets.static_explorer: every view precomputed, switched by jslinks with no kernel.

The oracle is the render function itself, called directly over `itertools.product` of the
options; the structure the browser receives is checked through ipywidgets' own embedding
(`ipywidgets.embed.embed_data`), which is what a saved notebook's widget state holds. The
browser side (the links switching views in Chromium) is tested in tests/test_book_html.py.
"""

import itertools
import json
import re

import pytest

from seglib.widgets import MAX_STATIC_VIEWS, receptive_field_view_html, static_explorer

widgets = pytest.importorskip("ipywidgets")
embed = pytest.importorskip("ipywidgets.embed")

OPTIONS = {"dilation": [1, 2, 3], "num_layers": [1, 2]}


def tag(**settings) -> str:
    """A render function whose output names its arguments."""
    return "<p>" + " ".join(f"{k}={v}" for k, v in sorted(settings.items())) + "</p>"


def leaf(explorer, indices):
    """The HTML widget reached by choosing child `indices[d]` at each depth."""
    node = explorer.stacks[0][0]
    for i in indices:
        node = node.children[i]
    return node


def shown(explorer):
    """The HTML widget the stacks select now, following `selected_index` from the root."""
    node = explorer.stacks[0][0]
    while isinstance(node, widgets.Stack):
        node = node.children[node.selected_index]
    return node


@pytest.fixture
def explorer():
    return static_explorer(receptive_field_view_html, OPTIONS, value={"dilation": 2})


def test_every_view_is_the_render_of_its_setting(explorer):
    names = list(OPTIONS)
    for indices in itertools.product(*(range(len(v)) for v in OPTIONS.values())):
        setting = {name: OPTIONS[name][i] for name, i in zip(names, indices)}
        expected = receptive_field_view_html(**setting)
        assert explorer.views[tuple(setting.values())] == expected
        assert leaf(explorer, indices).value == expected, setting
    assert len(explorer.views) == 6


def test_three_controls_nest_three_levels_of_stacks():
    options = {"a": [1, 2], "b": ["x", "y", "z"], "c": [0.5, 1.5]}
    explorer = static_explorer(tag, options, value={"b": "z", "c": 1.5})
    assert [len(level) for level in explorer.stacks] == [1, 2, 2 * 3]
    assert len(explorer.views) == 2 * 3 * 2
    for (i, a), (j, b), (k, c) in itertools.product(*(list(enumerate(v)) for v in options.values())):
        assert leaf(explorer, (i, j, k)).value == f"<p>a={a} b={b} c={c}</p>"
    assert explorer.settings == {"a": 1, "b": "z", "c": 1.5}
    assert shown(explorer).value == explorer.html == "<p>a=1 b=z c=1.5</p>"


def test_each_control_is_jslinked_to_every_stack_of_its_level(explorer):
    for name, level in zip(OPTIONS, explorer.stacks):
        control = explorer.controls[name]
        linked = [link.target[0] for link in explorer.links if link.source == (control, "index")]
        assert {id(stack) for stack in linked} == {id(stack) for stack in level}
        assert all(link.target[1] == "selected_index" for link in explorer.links)
        assert all(stack.selected_index == control.index for stack in level)
    assert len(explorer.links) == 1 + 3


def test_the_saved_widget_state_holds_the_links_and_views(explorer):
    """What nbclient saves and the page's widget JavaScript reads: link models wiring the
    sliders' `index` to the stacks' `selected_index`, and every view."""
    data = embed.embed_data(views=[explorer.widget])
    state = data["manager_state"]["state"]
    links = [s["state"] for s in state.values() if s["model_name"] == "LinkModel"]
    pairs = {(tuple(link["source"]), tuple(link["target"])) for link in links}
    for name, level in zip(OPTIONS, explorer.stacks):
        source = (f"IPY_MODEL_{explorer.controls[name].model_id}", "index")
        for stack in level:
            assert (source, (f"IPY_MODEL_{stack.model_id}", "selected_index")) in pairs
    html_values = [s["state"].get("value") for s in state.values() if s["model_name"] == "HTMLModel"]
    assert all(view in html_values for view in explorer.views.values())
    assert data["view_specs"][0]["model_id"] == explorer.widget.model_id


def test_moving_a_control_in_python_switches_the_view(explorer):
    explorer.controls["num_layers"].value = 2
    explorer.controls["dilation"].value = 3
    assert explorer.settings == {"dilation": 3, "num_layers": 2}
    assert explorer.html == receptive_field_view_html(dilation=3, num_layers=2)
    assert shown(explorer).value == explorer.html
    assert all(stack.selected_index == 2 for stack in explorer.stacks[0])
    assert all(stack.selected_index == 1 for stack in explorer.stacks[1])


def test_the_html_fallback_shows_the_view_and_names_the_widget(explorer):
    bundle = explorer._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == explorer.widget.model_id
    page = bundle["text/html"]
    assert explorer.html in page
    assert "dilation 2, num_layers 1" in page
    scripts = re.findall(r'<script type="application/vnd.jupyter.widget-view\+json">(.*?)</script>', page)
    assert [json.loads(s)["model_id"] for s in scripts] == [explorer.widget.model_id]
    assert page.index('class="seglib-static-fallback"') < page.index("<script")  # the widget replaces it
    assert bundle["text/plain"] == "StaticExplorer(dilation=2, num_layers=1, views=6)"


def test_an_impossible_setting_shows_why():
    def render(a: int) -> str:
        if a == 2:
            raise ValueError("a = 2 cannot be drawn")
        return tag(a=a)

    explorer = static_explorer(render, {"a": [1, 2]})
    assert explorer.views[(1,)] == "<p>a=1</p>"
    assert 'data-role="message"' in explorer.views[(2,)] and "a = 2 cannot be drawn" in explorer.views[(2,)]


@pytest.mark.parametrize(
    ("render", "options", "kwargs", "error", "match"),
    [
        ("not callable", {"a": [1]}, {}, TypeError, "render must be a callable"),
        (tag, {}, {}, ValueError, "non-empty dict"),
        (tag, [("a", [1])], {}, ValueError, "non-empty dict"),
        (tag, {"a": []}, {}, ValueError, "non-empty sequence of distinct"),
        (tag, {"a": [1, 1]}, {}, ValueError, "non-empty sequence of distinct"),
        (tag, {"a": "abc"}, {}, ValueError, "sequences of values"),
        (tag, {"a": 3}, {}, ValueError, "sequences of values"),
        (tag, {"a": [1, 2]}, {"value": {"b": 1}}, ValueError, r"value names arguments .*\['b'\]"),
        (tag, {"a": [1, 2]}, {"value": {"a": 3}}, ValueError, r"value\['a'\] = 3 is not one of"),
        (tag, {"a": [1, 2]}, {"descriptions": {"c": "C"}}, ValueError, "descriptions names arguments"),
        (tag, {"a": [1, 2]}, {"max_views": 0}, ValueError, "max_views must be a positive int"),
        (tag, {"a": range(9), "b": range(8)}, {}, ValueError, f"9 × 8 = 72 views is more than max_views = {MAX_STATIC_VIEWS}"),
        (lambda a: 3, {"a": [1]}, {}, TypeError, "render must return an HTML str"),
    ],
)
def test_bad_arguments_are_refused(render, options, kwargs, error, match):
    with pytest.raises(error, match=match):
        static_explorer(render, options, **kwargs)


def test_descriptions_label_the_sliders():
    explorer = static_explorer(tag, {"a": [1, 2]}, descriptions={"a": "alpha"})
    assert explorer.controls["a"].description == "alpha"
    assert [label for label, _ in explorer.controls["a"].options] == ["1", "2"]
