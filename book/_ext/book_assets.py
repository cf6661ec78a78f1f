"""A small Sphinx extension of the book (see `local_extensions` in _config.yml): each page
loads only the scripts it needs, and each once.

- MathJax (2 MB) only on pages with math. Sphinx's own rule, except where an extension sets
  `html_assets_policy = "always"` (jupyter-book does for singlehtml); enforced here whatever is set.
- seglib's explorer script (seglib/widgets/explorers.js, copied into _static) only on pages
  that hold an explorer (`seglib.widgets.static_page_html` output).
- No saved ipywidgets state on a page that shows no widget view (the explorers show HTML).
- Each inline script once. Under Sphinx 7 sphinx-thebe's inline configuration is registered
  twice (once with filename None, once with ""), and the second `const THEBE_JS_URL` is a
  console error on every page (sphinx-doc/sphinx#13402, fixed in Sphinx 8, which jupyter-book
  1.x cannot use).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

EXPLORERS_JS = "seglib-explorers.js"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def trim_scripts(app: Any, pagename: str, templatename: str, context: dict[str, Any], doctree: Any) -> None:
    scripts = context.get("script_files")
    if scripts is None:
        return
    # The page's own math: MathDomain.has_equations also counts the pages in its toctree.
    math = app.env.get_domain("math").data["has_equations"].get(pagename, False)
    mathjax = app.config.mathjax_path
    kept, seen = [], set()
    for script in scripts:
        filename = str(script.filename or "")
        body = script.attributes.get("body", "")
        key = (filename, tuple(sorted(script.attributes.items())))
        if key in seen:
            continue
        if not math and ((mathjax and filename.endswith(mathjax)) or body.startswith("window.MathJax")):
            continue
        if script.attributes.get("type") == WIDGET_STATE and WIDGET_VIEW not in context.get("body", ""):
            continue  # saved widget state that no widget on the page shows
        seen.add(key)
        kept.append(script)
    scripts[:] = kept  # the page's own list (the builder's): Sphinx sorts it after this event
    if 'class="seglib-static"' in context.get("body", ""):
        app.builder.add_js_file(EXPLORERS_JS, defer="defer")  # appends to `scripts`


def copy_explorers_js(app: Any, exception: Exception | None) -> None:
    if exception is None and app.builder.format == "html":
        from seglib.widgets._common import EXPLORERS_JS as source

        shutil.copyfile(source, Path(app.outdir) / "_static" / EXPLORERS_JS)


def setup(app: Any) -> dict[str, Any]:
    app.connect("html-page-context", trim_scripts, priority=900)
    app.connect("build-finished", copy_explorers_js)
    app.add_css_file("book.css")
    return {"parallel_read_safe": True, "parallel_write_safe": True}
