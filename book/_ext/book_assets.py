"""A small Sphinx extension of the book (see `local_extensions` in _config.yml): each page
loads only the scripts it needs, and each once.

- MathJax only on pages with math. jupyter-book's Sphinx setup asks for every asset on every
  page (`html_assets_policy = "always"`); a page without math does not need MathJax's 2 MB.
- seglib's explorer script (seglib/widgets/explorers.js, copied into _static) only on pages
  that hold an explorer (`seglib.widgets.static_page_html` output).
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


def trim_scripts(app: Any, pagename: str, templatename: str, context: dict[str, Any], doctree: Any) -> None:
    scripts = context.get("script_files")
    if scripts is None:
        return
    math = app.env.get_domain("math").has_equations(pagename)
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
