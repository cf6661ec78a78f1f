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
- every seglib explorer has drawn its controls (no output shows a widget's plain-text repr);
- no page loads the ipywidgets html-manager; MathJax only where there is math, seglib's
  explorer script only where there is an explorer;
- on a 390-px phone, no figure is scaled down so far that 6-pt text is under 9 px, no table is
  cut off, and the page does not scroll sideways;
- each chapter weighs at most 2 MB, compressed, beyond the theme's shared files.

Then each explorer is driven through at least 50 settings spread over its whole range, and
every number it shows is compared with PyTorch and `seglib.ops` / `seglib.metrics` for that
setting (tests/_explorer_oracles.py).
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
    requests: list[str] = field(default_factory=list)  # every file the page loaded


_WAIT_FOR_MATHJAX = """() => window.MathJax && MathJax.startup && MathJax.startup.promise
    ? MathJax.startup.promise.then(() => true) : false"""

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
        tex_errors: math.filter(e => e.querySelector('[data-mjx-error], mjx-merror, mjx-mtext[style*="red"]'))
            .map(e => e.textContent.slice(0, 80)),
        dollars: dollars,
        images: Array.from(document.images).map(i => [i.getAttribute('src'), i.naturalWidth]),
        links: Array.from(document.querySelectorAll('a[href], link[href]'))
            .map(a => [a.getAttribute('href'), a.href]),
        ids: Array.from(document.querySelectorAll('[id], a[name]')).map(e => e.id || e.getAttribute('name')),
        widget_views: document.querySelectorAll('%(view)s').length,
        explorers: Array.from(document.querySelectorAll('.seglib-static')).map(e => ({
            name: e.dataset.explorer, controls: e.querySelectorAll('[data-control]').length,
            drawn: !!e.dataset.settings })),
        explorer_outputs: outputs.filter(o => o.querySelector('.seglib-cm')).length,
        explorer_outputs_shown: outputs.filter(o => Array.from(o.querySelectorAll('.seglib-cm')).some(visible)).length,
        plain_reprs: Array.from(document.querySelectorAll('.cell_output .output.text_plain'))
            .map(e => e.textContent.trim())
            .filter(t => /^(\\w*Explorer|VBox|HBox|Stack|\\w*Slider|Dropdown|ToggleButtons|HTML)\\(/.test(t))
            .map(t => t.slice(0, 80)),
        scripts: Array.from(document.scripts).map(s => s.getAttribute('src')).filter(Boolean),
    };
}""".replace("%(view)s", WIDGET_VIEW.replace("'", "\\'"))

def visit(browser: Any, url: str) -> Visit:
    """Open `url` offline and read it; a failure to get that far is recorded as an error."""
    result = Visit(url)
    context = browser.new_context(viewport={"width": 1280, "height": 900})

    def route(route: Any) -> None:
        result.requests.append(route.request.url)
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
        page.wait_for_function("() => document.querySelectorAll('.seglib-static:not([data-settings])').length === 0",
                               timeout=TIMEOUT_MS)
        page.evaluate(_LOAD_IMAGES)
        result.dom = page.evaluate(_READ_PAGE)
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
    assert not seen.blocked, f"{page} needs the network for: {seen.blocked}"
    assert not seen.errors, f"{page}: {seen.errors}"


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
def test_explorers_are_drawn(page: str, seen: Visit) -> None:
    dom = seen.dom
    assert dom, f"{page} could not be read: {seen.errors}"
    assert not dom["widget_views"], f"{page}: {dom['widget_views']} ipywidgets views, which need the html-manager"
    assert all(e["drawn"] and e["controls"] >= 4 for e in dom["explorers"]), f"{page}: {dom['explorers']}"
    assert dom["explorer_outputs_shown"] == dom["explorer_outputs"], (
        f"{page}: {dom['explorer_outputs'] - dom['explorer_outputs_shown']} explorer outputs show nothing"
    )
    assert not dom["plain_reprs"], f"{page}: outputs show a widget's text instead of its view: {dom['plain_reprs']}"


@pytest.mark.parametrize("page", PAGES)
def test_each_page_loads_only_the_scripts_it_needs(page: str, seen: Visit) -> None:
    dom = seen.dom
    assert dom, f"{page} could not be read: {seen.errors}"
    scripts = dom["scripts"]
    assert not [s for s in scripts if "ipywidgets" in s or "embed-amd" in s], f"{page}: widget JavaScript {scripts}"
    mathjax = [s for s in scripts if "mathjax" in s.lower()]
    assert bool(mathjax) == bool(dom["math"]), f"{page}: {dom['math']} math elements, MathJax scripts {mathjax}"
    explorer_js = [s for s in scripts if re.search(r"seglib-explorers\.js(\?|$)", s)]
    assert len(explorer_js) == (1 if dom["explorers"] else 0), f"{page}: {len(dom['explorers'])} explorers, {explorer_js}"


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
# Each explorer driven on its built page, with no kernel: at least 50 settings over its whole
# range, every number shown compared with PyTorch and seglib.ops / seglib.metrics.
# ---------------------------------------------------------------------------------------------

SETTINGS_PER_EXPLORER = 60

# Each control's positions: a range input's value, or a select's JSON value. IoU's scale is a
# slider over a list (its position is an index).
CONTROLS: dict[str, dict[str, list[Any]]] = {
    "conv-matrix": {
        "height": list(range(1, 9)), "width": list(range(1, 9)), "kernel_size": list(range(1, 6)),
        "stride": [1, 2, 3], "padding": [0, 1, 2], "output_index": list(range(64)),
    },
    "upsampling": {
        "input_size": [2, 3, 4], "scale": [2, 3], "kernel_size": list(range(1, 7)),
        "pattern": ["ramp", "ones", "impulse", "random"], "input_index": list(range(16)),
    },
    "receptive-field": {"kernel_size": list(range(1, 6)), "dilation": [1, 2, 3, 4], "num_layers": [1, 2, 3, 4], "stride": [1, 2, 3]},
    "iou": {
        "dx": list(range(-12, 13)), "dy": list(range(-12, 13)), "scale": list(range(19)),
        "shape": ["square", "disc"], "size": list(range(2, 21)),
    },
}

_SET_CONTROLS = """(root, values) => {
    for (const [name, value] of values) {
        const input = root.querySelector(`[data-control="${name}"]`);
        if (input.tagName === 'SELECT') { input.value = JSON.stringify(value); input.dispatchEvent(new Event('change')); }
        else { input.value = String(value); input.dispatchEvent(new Event('input')); }
    }
}"""

_READ_VIEW = """root => ({
    settings: JSON.parse(root.dataset.settings),
    grids: Object.fromEntries(Array.from(root.querySelectorAll('.seglib-static-view table[data-grid]')).map(t => [
        t.dataset.grid,
        Array.from(t.rows).map(r => Array.from(r.cells).filter(c => c.tagName === 'TD')
            .map(c => [c.textContent, c.dataset.mark || null, c.title || ''])).filter(r => r.length)])),
    roles: Object.fromEntries(Array.from(root.querySelectorAll('.seglib-static-view [data-role]'))
        .map(e => [e.dataset.role, [e.textContent, e.dataset.value === undefined ? null : e.dataset.value]])),
    disabled: Array.from(root.querySelectorAll('[data-control]')).filter(i => i.disabled).map(i => i.dataset.control),
})"""


def explorer_settings(name: str, count: int) -> list[list[tuple[str, Any]]]:
    """`count` distinct settings: each control at its lowest and highest, then random ones (seeded)."""
    import random

    controls = CONTROLS[name]
    rng = random.Random(0)
    settings = [[(control, controls[control][extreme])] for extreme in (0, -1) for control in controls]
    seen: set[tuple[Any, ...]] = set()
    while len(settings) < count:
        setting = tuple(rng.choice(values) for values in controls.values())
        if setting not in seen:
            seen.add(setting)
            settings.append(list(zip(controls, setting)))
    return settings


def explorer_pages() -> dict[str, str]:
    """Which page holds each explorer."""
    found: dict[str, str] = {}
    for page in book_pages():
        text = (BUILD / page).read_text(encoding="utf-8")
        for name in re.findall(r'class="seglib-static" data-explorer="([\w-]+)"', text):
            found.setdefault(name, page)
    return found


@pytest.mark.parametrize("name", list(CONTROLS))
def test_explorer_numbers_match_seglib(name: str, browser: Any) -> None:
    import explorer_oracles as oracles

    check = {
        "conv-matrix": oracles.check_conv_matrix, "upsampling": oracles.check_upsampling,
        "receptive-field": oracles.check_receptive_field, "iou": oracles.check_iou,
    }[name]
    page_name = explorer_pages().get(name)
    assert page_name, f"no page of {BUILD} shows the {name} explorer"
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page = context.new_page()
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto((BUILD / page_name).as_uri(), wait_until="load", timeout=TIMEOUT_MS)
    root = page.locator(f'.seglib-static[data-explorer="{name}"]').first
    root.wait_for(timeout=TIMEOUT_MS)
    page.wait_for_function(f"() => document.querySelector('.seglib-static[data-explorer=\"{name}\"]').dataset.settings")
    seen, compared = set(), 0
    for values in explorer_settings(name, SETTINGS_PER_EXPLORER):
        root.evaluate(_SET_CONTROLS, values)
        read = root.evaluate(_READ_VIEW)
        view = oracles.View(read["settings"], read["grids"], read["roles"], read["disabled"])
        for control, value in values:  # the page took each value (a range that follows another may clamp it)
            shown = view.settings[control]
            if control == "scale" and name == "iou":
                value = [round(0.2 + 0.1 * i, 1) for i in range(19)][value]
            if control not in ("output_index", "input_index"):
                assert shown == value, (name, control, value, view.settings)
        compared += check(view)
        seen.add(json.dumps(view.settings, sort_keys=True))
    context.close()
    assert not errors, errors
    assert len(seen) >= 50, f"{name}: only {len(seen)} distinct settings"
    print(f"{name} on {page_name}: {len(seen)} settings, {compared} numbers and marks compared")


# ---------------------------------------------------------------------------------------------
# Phones and page weight.
# ---------------------------------------------------------------------------------------------

PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 3, "is_mobile": True, "has_touch": True}
SMALLEST_FONT_PT = 6  # the smallest font size a chapter or seglib.viz sets (test_figure_fonts_are_at_least_6pt)
MAX_PAGE_BYTES = 2_000_000

_PHONE_LAYOUT = """() => {
    const width = document.documentElement.clientWidth;
    const scrolls = e => { for (let a = e; a && a !== document.body; a = a.parentElement) {
        const style = getComputedStyle(a);
        if (/(auto|scroll)/.test(style.overflowX) && a.getBoundingClientRect().right <= width + 1) return true; }
        return false; };
    return {
        width: width,
        page_width: document.documentElement.scrollWidth,
        images: Array.from(document.querySelectorAll('article img')).filter(i => i.naturalWidth)
            .map(i => [i.getAttribute('src'), i.getBoundingClientRect().width / i.naturalWidth]),
        cut_tables: Array.from(document.querySelectorAll('article table'))
            .filter(t => t.getBoundingClientRect().right > width + 1 && !scrolls(t))
            .map(t => t.innerText.slice(0, 60)),
    };
}"""


def png_dpi(path: Path) -> float | None:
    """The dots per inch a PNG records (its pHYs chunk), or None."""
    import struct

    data = path.read_bytes()
    at = data.find(b"pHYs")
    if not data.startswith(b"\x89PNG") or at < 0:
        return None
    x, _, unit = struct.unpack(">IIB", data[at + 4 : at + 13])
    return x * 0.0254 if unit == 1 else None


@pytest.mark.parametrize("page", PAGES)
def test_phone_layout(page: str, browser: Any) -> None:
    if page == "(no build)":
        pytest.fail(f"no book in {BUILD}: run `make book` first")
    context = browser.new_context(**PHONE)
    tab = context.new_page()
    tab.goto((BUILD / page).as_uri(), wait_until="load", timeout=TIMEOUT_MS)
    if _redirects((BUILD / page).as_uri()):
        context.close()
        return
    tab.evaluate(_LOAD_IMAGES)
    layout = tab.evaluate(_PHONE_LAYOUT)
    context.close()
    small = []
    for src, scale in layout["images"]:
        dpi = png_dpi((BUILD / page).parent / urllib.parse.unquote(src))
        if dpi is None:
            small.append(f"{src}: records no dpi, so its text size is unknown")
        elif SMALLEST_FONT_PT / 72 * dpi * scale < 9:
            small.append(f"{src}: {SMALLEST_FONT_PT}-pt text {SMALLEST_FONT_PT / 72 * dpi * scale:.1f} px")
    assert not small, f"{page} at 390 px: {small}"
    assert not layout["cut_tables"], f"{page} at 390 px: tables cut off: {layout['cut_tables']}"
    assert layout["page_width"] <= layout["width"] + 1, f"{page} at 390 px scrolls sideways: {layout}"


def test_figure_fonts_are_at_least_6pt() -> None:
    """The phone test assumes no figure text below SMALLEST_FONT_PT: every font size the chapters and seglib.viz set."""
    sources = [*sorted((ROOT / "book").glob("*.ipynb")), ROOT / "seglib" / "viz.py"]
    sizes = {
        (path.name, float(size))
        for path in sources
        for size in re.findall(r"(?:fontsize|titlesize|labelsize|font\.size)\W{1,4}(\d+(?:\.\d+)?)", path.read_text(encoding="utf-8"))
    }
    assert sizes and min(size for _, size in sizes) >= SMALLEST_FONT_PT, sorted(sizes, key=lambda s: s[1])[:5]


def page_bytes(seen: Visit) -> dict[str, int]:
    """What a page loads beyond the theme's shared files, each file gzip-compressed (as a server sends it)."""
    import gzip

    sizes = {}
    for url in dict.fromkeys(seen.requests):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "file":
            continue
        path = Path(urllib.parse.unquote(parts.path))
        relative = path.relative_to(BUILD).as_posix() if path.is_relative_to(BUILD) else path.as_posix()
        shared = relative.startswith("_static/") and not relative.startswith(("_static/mathjax/", "_static/seglib-"))
        if path.is_file() and not shared:
            sizes[relative] = len(gzip.compress(path.read_bytes(), compresslevel=6))
    return sizes


@pytest.mark.parametrize("page", PAGES)
def test_page_weight(page: str, seen: Visit) -> None:
    sizes = page_bytes(seen)
    total = sum(sizes.values())
    print(f"{page}: {total / 1e6:.2f} MB compressed beyond the theme ({len(sizes)} files)")
    assert total <= MAX_PAGE_BYTES, f"{page}: {total / 1e6:.2f} MB: {sorted(sizes.items(), key=lambda kv: -kv[1])[:5]}"


def dropdowns_on(path: Path) -> tuple[int, int]:
    """(sphinx-design dropdowns, closed ones) in an HTML page: the `<details>` that `:::{dropdown}` becomes."""

    class Dropdowns(html.parser.HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.count = self.closed = 0

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag == "details" and "sd-dropdown" in (dict(attrs).get("class") or "").split():
                self.count += 1
                self.closed += "open" not in dict(attrs)

    parser = Dropdowns()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser.count, parser.closed


@pytest.mark.parametrize("notebook", sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb")), ids=lambda p: p.stem)
def test_exercise_answers_render_as_closed_dropdowns(notebook: Path) -> None:
    """Issue 12: every `:::{dropdown}` of a chapter is a closed dropdown on its page, and no `:::` shows as text."""
    page = BUILD / "book" / f"{notebook.stem}.html"
    if not page.is_file():
        pytest.skip(f"{page} is not built")
    written = sum("".join(c["source"]).count(":::{dropdown}") for c in json.loads(notebook.read_text())["cells"]
                  if c["cell_type"] == "markdown")
    assert dropdowns_on(page) == (written, written)
    assert not re.search(r"(^|>)\s*:::", page.read_text(encoding="utf-8"), re.MULTILINE), f"{page.name} shows a raw ':::'"
