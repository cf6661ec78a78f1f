"""The built book in a browser: every page of `_build/html` in headless Chromium, offline.

Run after `make book`, with `make test-browser` (that is `pytest -m browser
tests/test_book_html.py`); unless `-m browser` selects them these tests skip, so the unit
test run does not depend on a build. Playwright drives the system's Chromium (`make
chromium` installs Debian's package; `CHROMIUM=/path/to/chrome` names another), and
`BOOK_HTML=/some/_build/html` tests a build elsewhere.

Each page is opened from disk (`file://`, as a student reading a downloaded copy would) with
every request to another site refused, and checked once; the tests below report on it:
- it loads with no console error, failed request or request that needs the network;
- every math element is typeset by MathJax (served from the book), without TeX errors or
  undefined macros, and no `$...$` is left untypeset in the text;
- every image loads (`naturalWidth > 0`);
- every internal link (`<a href>`, `<link href>`) names a file of the book, and its
  `#anchor`, if any, an id on that page;
- every widget output shows: a widget view tag has become a live widget, a seglib explorer's
  HTML view is visible, no output shows a widget's plain-text repr instead, and a static
  explorer's slider switches its view with no kernel.
"""

from __future__ import annotations

import html.parser
import json
import os
import re
import shutil
import urllib.parse
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
BUILD = Path(os.environ.get("BOOK_HTML", ROOT / "_build" / "html")).resolve()
STATIC = ROOT / "book" / "_static"

# Console errors that come from upstream bugs, not from the book; each says where it is fixed.
KNOWN_ERRORS: dict[str, str] = {
    # Sphinx 7 writes an inline script that an extension registers after the builder started
    # twice (its filename is None once and "" once); sphinx-thebe's `const` is then declared
    # twice. Harmless: the first declaration holds. Fixed in Sphinx 8 (sphinx-doc/sphinx#13402),
    # which jupyter-book 1.x cannot use.
    "Identifier 'THEBE_JS_URL' has already been declared": "sphinx-doc/sphinx#13402",
}
ALLOWED_SCHEMES = ("file:", "data:", "blob:", "about:")
WIDGET_VIEW = 'script[type="application/vnd.jupyter.widget-view+json"]'
TIMEOUT_MS = 30_000


def book_pages() -> list[str]:
    """Every HTML page of the build, relative to it; not the assets in `_static/` and the like."""
    if not BUILD.is_dir():
        return []
    return sorted(
        path.relative_to(BUILD).as_posix()
        for path in BUILD.rglob("*.html")
        if not path.relative_to(BUILD).parts[0].startswith("_")
    )


PAGES = book_pages() or ["(no build)"]


@pytest.fixture(scope="module", autouse=True)
def _only_when_selected(request: pytest.FixtureRequest) -> None:
    if "browser" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("a browser test of the built book: run `make test-browser` after `make book`")


def chromium_path() -> str:
    for candidate in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        found = candidate and shutil.which(candidate)
        if found:
            return found
    pytest.fail("no Chromium found: run `make chromium`, or set CHROMIUM to a Chromium or Chrome")


@pytest.fixture(scope="module")
def browser() -> Any:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_path(), headless=True)
        yield chromium
        chromium.close()


# ---------------------------------------------------------------------------------------------
# One visit per page: load it offline, wait for MathJax and the widgets, read what the tests need.
# ---------------------------------------------------------------------------------------------


@dataclass
class Visit:
    """What one page showed."""

    url: str
    errors: list[str] = field(default_factory=list)  # console errors, page errors, failed requests
    blocked: list[str] = field(default_factory=list)  # requests that would need the network
    dom: dict[str, Any] = field(default_factory=dict)  # see _READ_PAGE
    switches: list[tuple[str, str]] = field(default_factory=list)  # static explorers: view before, after


_WAIT_FOR_MATHJAX = """() => window.MathJax && MathJax.startup && MathJax.startup.promise
    ? MathJax.startup.promise.then(() => true) : false"""

_WIDGETS_RENDERED = f"""() => Array.from(document.querySelectorAll('{WIDGET_VIEW}')).every(tag => {{
    const area = tag.previousElementSibling;
    return area && area.classList.contains('widget-subarea') && area.querySelector('.jupyter-widgets');
}})"""

_LOAD_IMAGES = """async () => {
    const images = Array.from(document.images);
    images.forEach(image => { image.loading = 'eager'; });
    const loaded = image => image.complete ? null : new Promise(done => {
        image.addEventListener('load', done); image.addEventListener('error', done); });
    await Promise.race([Promise.all(images.map(loaded)), new Promise(done => setTimeout(done, 15000))]);
}"""

_READ_PAGE = """() => {
    const visible = e => e.getClientRects().length > 0 && e.offsetWidth > 0 && e.offsetHeight > 0;
    document.querySelectorAll('details').forEach(d => { d.open = true; });  // hidden outputs too
    const math = Array.from(document.querySelectorAll('.math'));
    const skip = 'script, style, pre, code, .math, mjx-container, textarea';
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    const dollars = [];
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        if (!node.parentElement.closest(skip) && /\\$[^$\\s][^$]*\\$/.test(node.textContent)) {
            dollars.push(node.textContent.trim().slice(0, 80));
        }
    }
    const outputs = Array.from(document.querySelectorAll('.cell_output'));
    return {
        math: math.length,
        untypeset: math.filter(e => !e.querySelector('mjx-container')).map(e => e.textContent.slice(0, 80)),
        // A TeX error; or an undefined macro, which MathJax's noundefined extension draws as red text.
        tex_errors: math.filter(e => e.querySelector('[data-mjx-error], [data-mml-node="mtext"][fill="red"]'))
            .map(e => e.textContent.slice(0, 80)),
        dollars: dollars,
        images: Array.from(document.images).map(i => [i.getAttribute('src'), i.naturalWidth]),
        links: Array.from(document.querySelectorAll('a[href], link[href]'))
            .map(a => [a.getAttribute('href'), a.href]),
        ids: Array.from(document.querySelectorAll('[id], a[name]')).map(e => e.id || e.getAttribute('name')),
        widget_views: document.querySelectorAll('%(view)s').length,
        live_widgets: Array.from(document.querySelectorAll('.widget-subarea > .jupyter-widgets')).filter(visible).length,
        widget_errors: Array.from(document.querySelectorAll('.widget-subarea'))
            .filter(e => /Error displaying widget|Could not create a view/.test(e.textContent)).length,
        explorer_outputs: outputs.filter(o => o.querySelector('.seglib-cm')).length,
        explorer_outputs_shown: outputs.filter(o => Array.from(o.querySelectorAll('.seglib-cm')).some(visible)).length,
        plain_reprs: Array.from(document.querySelectorAll('.cell_output .output.text_plain'))
            .map(e => e.textContent.trim())
            .filter(t => /^(\\w*Explorer|VBox|HBox|Stack|\\w*Slider|Dropdown|ToggleButtons|HTML)\\(/.test(t))
            .map(t => t.slice(0, 80)),
        static_explorers: Array.from(document.querySelectorAll('.seglib-static')).map(e => ({
            live: !!e.querySelector('.widget-subarea .jupyter-widgets'),
            fallback_shown: visible(e.querySelector('.seglib-static-fallback')),
            views_shown: Array.from(e.querySelectorAll('.widget-html')).filter(visible).length,
        })),
    };
}""".replace("%(view)s", WIDGET_VIEW.replace("'", "\\'"))

_SHOWN_VIEW = """e => Array.from(e.querySelectorAll('.widget-html-content'))
    .filter(v => v.getClientRects().length > 0 && v.offsetHeight > 0).map(v => v.innerText).join('|')"""


def visit(browser: Any, url: str) -> Visit:
    """Open `url` offline and read it; a failure to get that far is recorded as an error."""
    result = Visit(url)
    context = browser.new_context(viewport={"width": 1280, "height": 900})

    def route(route: Any) -> None:
        if route.request.url.startswith(ALLOWED_SCHEMES):
            route.continue_()
        else:
            result.blocked.append(route.request.url)
            route.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("console", lambda message: message.type == "error" and result.errors.append(message.text))
    page.on("pageerror", lambda error: result.errors.append(f"uncaught: {error}"))
    page.on("requestfailed", lambda request: result.errors.append(f"failed: {request.url} ({request.failure})"))
    try:
        page.goto(url, wait_until="commit", timeout=TIMEOUT_MS)
        if _redirects(url):  # index.html: <meta http-equiv="refresh">, to the first page
            page.wait_for_url(lambda now: now != url, timeout=TIMEOUT_MS)
        page.wait_for_load_state("load", timeout=TIMEOUT_MS)
        page.evaluate(_WAIT_FOR_MATHJAX)
        if page.locator(WIDGET_VIEW).count():
            try:
                page.wait_for_function(_WIDGETS_RENDERED, timeout=TIMEOUT_MS)
            except Exception:  # the widget test reports which did not render
                pass
        page.evaluate(_LOAD_IMAGES)
        result.dom = page.evaluate(_READ_PAGE)
        for explorer in page.locator(".seglib-static").all():
            handles = explorer.locator(".noUi-handle")
            if handles.count():
                before = explorer.evaluate(_SHOWN_VIEW)
                handles.first.focus()
                for key in ("End", "Home"):  # to the last value, or the first if it was there
                    page.keyboard.press(key)
                    page.wait_for_timeout(300)
                    after = explorer.evaluate(_SHOWN_VIEW)
                    if after != before:
                        break
                result.switches.append((before, after))
    except Exception as error:  # noqa: BLE001 - reported by the tests
        result.errors.append(f"could not read the page: {error}")
    finally:
        context.close()
    return result


def _redirects(url: str) -> bool:
    path = Path(urllib.parse.unquote(urllib.parse.urlsplit(url).path))
    return bool(re.search(r'<meta[^>]+http-equiv="refresh"', path.read_text(encoding="utf-8"), re.IGNORECASE))


@pytest.fixture(scope="module")
def visits() -> dict[str, Visit]:
    """Each page is visited once; its tests share what was seen."""
    return {}


@pytest.fixture
def seen(request: pytest.FixtureRequest, browser: Any, visits: dict[str, Visit]) -> Visit:
    page = request.node.callspec.params["page"]
    if page == "(no build)":
        pytest.fail(f"no book in {BUILD}: run `make book` first (or set BOOK_HTML)")
    if page not in visits:
        visits[page] = visit(browser, (BUILD / page).as_uri())
    return visits[page]


# ---------------------------------------------------------------------------------------------
# The checks, one test each per page.
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES)
def test_page_loads_offline_without_errors(page: str, seen: Visit) -> None:
    errors = [e for e in seen.errors if not any(known in e for known in KNOWN_ERRORS)]
    assert not seen.blocked, f"{page} needs the network for: {seen.blocked}"
    assert not errors, f"{page}: {errors}"


@pytest.mark.parametrize("page", PAGES)
def test_math_is_typeset(page: str, seen: Visit) -> None:
    dom = seen.dom
    assert dom, f"{page} could not be read: {seen.errors}"
    assert not dom["untypeset"], f"{page}: {len(dom['untypeset'])} of {dom['math']} math elements untypeset, e.g. {dom['untypeset'][:3]}"
    assert not dom["tex_errors"], f"{page}: TeX errors in {dom['tex_errors'][:5]}"
    assert not dom["dollars"], f"{page}: $...$ left as text: {dom['dollars'][:5]}"


@pytest.mark.parametrize("page", PAGES)
def test_images_load(page: str, seen: Visit) -> None:
    assert seen.dom, f"{page} could not be read: {seen.errors}"
    broken = [src for src, width in seen.dom["images"] if not width]
    assert not broken, f"{page}: images that did not load: {broken}"


@pytest.mark.parametrize("page", PAGES)
def test_internal_links_resolve(page: str, seen: Visit) -> None:
    assert seen.dom, f"{page} could not be read: {seen.errors}"
    here = Path(urllib.parse.unquote(urllib.parse.urlsplit(seen.url).path))
    problems = []
    for href, url in seen.dom["links"]:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "file":
            continue  # another site: not checked offline
        target = Path(urllib.parse.unquote(parts.path))
        if target.is_dir():
            target = target / "index.html"
        if not target.resolve().is_relative_to(BUILD):
            problems.append(f"{href}: outside the book")
        elif not target.is_file():
            problems.append(f"{href}: no such file")
        elif parts.fragment and target.suffix == ".html":
            anchor = urllib.parse.unquote(parts.fragment)
            ids = set(seen.dom["ids"]) if target == here else html_ids(target)
            if anchor not in ids:
                problems.append(f"{href}: no id {anchor!r} on {target.relative_to(BUILD)}")
    assert not problems, f"{page}: {sorted(set(problems))}"


@pytest.mark.parametrize("page", PAGES)
def test_widget_outputs_render(page: str, seen: Visit) -> None:
    dom = seen.dom
    assert dom, f"{page} could not be read: {seen.errors}"
    assert dom["live_widgets"] >= dom["widget_views"], (
        f"{page}: {dom['widget_views']} widget views, {dom['live_widgets']} rendered by the widget JavaScript"
    )
    assert not dom["widget_errors"], f"{page}: {dom['widget_errors']} widgets show an error"
    assert dom["explorer_outputs_shown"] == dom["explorer_outputs"], (
        f"{page}: {dom['explorer_outputs'] - dom['explorer_outputs_shown']} explorer outputs show nothing"
    )
    assert not dom["plain_reprs"], f"{page}: outputs show a widget's text instead of its view: {dom['plain_reprs']}"
    for explorer in dom["static_explorers"]:
        assert explorer["live"] and not explorer["fallback_shown"] and explorer["views_shown"] == 1, (
            f"{page}: a static explorer did not become a live widget showing one view: {explorer}"
        )
    for before, after in seen.switches:
        assert before and after and before != after, f"{page}: moving a static explorer's slider did not switch its view"


@cache
def html_ids(path: Path) -> frozenset[str]:
    """The ids (and `<a name>`s) in an HTML file, as written by the build."""

    class Ids(html.parser.HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.ids: set[str] = set()

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            for name, value in attrs:
                if value and (name == "id" or (tag == "a" and name == "name")):
                    self.ids.add(value)

    parser = Ids()
    parser.feed(path.read_text(encoding="utf-8"))
    return frozenset(parser.ids)


# ---------------------------------------------------------------------------------------------
# The static explorer on its own page, with the book's vendored widget JavaScript: its sliders
# switch views in the browser, with no kernel; without JavaScript it shows its fallback.
# ---------------------------------------------------------------------------------------------


def test_static_explorer_switches_views_without_a_kernel(browser: Any, tmp_path: Path) -> None:
    widgets = pytest.importorskip("ipywidgets")
    from ipywidgets.embed import embed_data

    from seglib.widgets import static_explorer

    def render(a: int, b: str) -> str:
        return f'<div class="view">a={a} b={b}</div>'

    explorer = static_explorer(render, {"a": [1, 2, 3], "b": ["x", "y", "z"]}, value={"b": "y"})
    # Every trait, as nbclient saves it in an executed notebook (with defaults dropped, the
    # html-manager cannot draw a Stack).
    state = embed_data(views=[explorer.widget], drop_defaults=False)["manager_state"]
    state = json.dumps(state).replace("</", "<\\/")
    scripts = "".join(
        f'<script src="{(STATIC / "ipywidgets" / name).as_uri()}"></script>'
        for name in ("require.js", "setup.js", "embed-amd.js")
    )
    page_file = tmp_path / "static_explorer.html"
    page_file.write_text(
        f'<!DOCTYPE html><html><head><meta charset="utf-8">{scripts}'
        f'<script type="application/vnd.jupyter.widget-state+json">{state}</script></head>'
        f"<body>{explorer.fallback_html()}</body></html>",
        encoding="utf-8",
    )
    assert isinstance(explorer.widget, widgets.VBox)

    seen = visit(browser, page_file.as_uri())
    assert not seen.errors and not seen.blocked, (seen.errors, seen.blocked)
    assert seen.dom["static_explorers"] == [{"live": True, "fallback_shown": False, "views_shown": 1}]

    context = browser.new_context()
    page = context.new_page()
    page.goto(page_file.as_uri(), wait_until="load")
    page.wait_for_function(_WIDGETS_RENDERED, timeout=TIMEOUT_MS)
    shown = lambda: page.locator(".seglib-static").evaluate(_SHOWN_VIEW)  # noqa: E731
    a, b = page.locator(".seglib-static .noUi-handle").all()
    assert shown() == "a=1 b=y"
    for handle, key, expected in [(a, "ArrowRight", "a=2 b=y"), (b, "End", "a=2 b=z"), (a, "End", "a=3 b=z"), (b, "Home", "a=3 b=x")]:
        handle.focus()
        page.keyboard.press(key)
        page.wait_for_function(f"() => ({_SHOWN_VIEW})(document.querySelector('.seglib-static')) === {expected!r}", timeout=5000)
    context.close()

    context = browser.new_context(java_script_enabled=False)  # a reader without JavaScript
    page = context.new_page()
    page.goto(page_file.as_uri(), wait_until="load")
    assert page.locator(".seglib-static-fallback").is_visible()
    assert page.locator(".seglib-static-fallback .view").inner_text() == "a=1 b=y"
    context.close()
