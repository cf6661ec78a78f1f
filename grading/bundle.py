"""The public student repository: everything students and Colab need, and nothing that grades.

`bundle(course_root, dest)` writes the tree that the public repository (the URL in
`_config.yml`, which the Colab buttons and every notebook's install cell use) should hold:

* the book's sources: `book/`, `_config.yml`, `_toc.yml`;
* the built book, when `_build/html` exists, as `docs/` (with `.nojekyll`, so GitHub Pages can
  serve it from the main branch);
* the release notebooks (`exercises/`);
* `seglib/` with its packaging (`pyproject.toml`, `environment.yml`, a LICENSE when there is one),
  so that `pip install git+<repository>` works, and a README written for students.

Never: the source notebooks with solutions and hidden tests, `tests/`, `grading/`, the gradebook,
submissions, autograded notebooks or feedback. As a last check every file written is searched for
the lines of solutions and hidden tests (`secret_lines`), and the bundle is refused if one is found.
A `.git` folder already in `dest` is kept, so `dest` can be a clone of the public repository.
"""

from __future__ import annotations

import html
import json
import re
import shutil
from pathlib import Path

import nbformat

from grading.course import Course
from grading.feedback import occurs

__all__ = ["bundle", "secret_lines", "find_secrets"]

TOP_FILES = ["_config.yml", "_toc.yml", "pyproject.toml", "environment.yml", "LICENSE", "LICENSE.md", "LICENSE.txt"]
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints", "*.egg-info", ".DS_Store", "_build")
STUDENT_GITIGNORE = ".ipynb_checkpoints/\n__pycache__/\n*.egg-info/\nbuild/\n_build/\n.venv/\n"
_REGION = re.compile(r"BEGIN (SOLUTION|HIDDEN TESTS)")
_END = re.compile(r"END (SOLUTION|HIDDEN TESTS)")


def _regions(source: str) -> dict[str, list[str]]:
    """The lines inside `### BEGIN SOLUTION`/`### BEGIN HIDDEN TESTS` regions, by kind."""
    found: dict[str, list[str]] = {"SOLUTION": [], "HIDDEN TESTS": []}
    kind = None
    for line in source.splitlines():
        if (start := _REGION.search(line)) is not None:
            kind = start.group(1)
        elif _END.search(line):
            kind = None
        elif kind:
            found[kind].append(line.strip())
    return found


def _public_lines(course: Course) -> set[str]:
    """Stripped lines the course publishes on purpose: release notebooks, the book, seglib."""
    lines: set[str] = set()
    for path in sorted(course.release.glob("*/*.ipynb")) + sorted((course.root / "book").rglob("*.ipynb")):
        lines |= {line.strip() for cell in nbformat.read(path, as_version=4).cells for line in cell.source.splitlines()}
    for path in sorted((course.root / "book").rglob("*.md")) + sorted((course.root / "seglib").rglob("*.py")):
        lines |= {line.strip() for line in path.read_text(encoding="utf-8").splitlines()}
    return lines | {line.split("#")[0].strip() for line in lines}  # also without a trailing comment


def secret_lines(course: Course, min_length: int = 20) -> set[str]:
    """Lines of solutions and hidden tests that must not be published.

    The stripped lines of at least `min_length` characters in the solution and hidden-test regions
    of every source notebook, except lines that the course publishes anyway: in a release notebook,
    a chapter, or `seglib/` (the public reference implementation, which graded tests switch off
    rather than hide). What is left can only have come from a source notebook: exactly what a
    leak would carry (`n, c, h, w = x.shape` in a hidden test is no secret).
    """
    secret: set[str] = set()
    for source in sorted(course.source.glob("*/*.ipynb")):
        for cell in nbformat.read(source, as_version=4).cells:
            regions = _regions(cell.source)
            secret |= {line for line in regions["SOLUTION"] + regions["HIDDEN TESTS"] if len(line) >= min_length}
    secret -= _public_lines(course)
    # A line the release states on purpose inside a longer one (a hint in the text, `core = ...`)
    # is public too: the search below finds lines inside longer ones, so this check must as well.
    public_texts = [text for path in sorted(course.release.glob("*/*.ipynb")) for text in _texts(path)]
    return {line for line in secret if not any(occurs(line, text) for text in public_texts)}


def _texts(path: Path) -> list[str]:
    """What a file says, in the forms a line could hide in: raw, JSON strings, HTML text."""
    try:
        raw = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return []
    texts = [raw]
    if path.suffix in (".ipynb", ".json"):
        try:
            data = json.loads(raw)
        except ValueError:
            data = None
        strings: list[str] = []

        def walk(value: object) -> None:
            if isinstance(value, str):
                strings.append(value)
            elif isinstance(value, list):
                if value and all(isinstance(v, str) for v in value):
                    strings.append("".join(value))  # a notebook's multi-line source or output
                for v in value:
                    walk(v)
            elif isinstance(value, dict):
                for v in value.values():
                    walk(v)

        walk(data)
        texts.append("\n".join(strings))
    if path.suffix in (".html", ".htm", ".js", ".txt", ".md"):
        texts.append(html.unescape(re.sub(r"<[^>]+>", "", raw)))
    return texts


def find_secrets(tree: Path, secret: set[str]) -> dict[str, list[str]]:
    """File (relative to `tree`) -> the secret lines it contains."""
    found = {}
    for path in sorted(p for p in tree.rglob("*") if p.is_file() and ".git" not in p.relative_to(tree).parts):
        texts = _texts(path)
        hits = sorted(line for line in secret if any(occurs(line, text) for text in texts))
        if hits:
            found[str(path.relative_to(tree))] = hits
    return found


def _check_destination(root: Path, dest: Path, force: bool) -> None:
    if dest == root or root.is_relative_to(dest):
        raise ValueError(f"the bundle cannot be written to {dest}: it contains the course itself")
    build = root / "_build"
    if dest.is_relative_to(root) and (not dest.is_relative_to(build) or dest == build or dest.relative_to(build).parts[0] in ("html", "jupyter_execute", ".jupyter_cache")):
        raise ValueError(f"inside the course, the bundle must go in a new folder under {build} (git-ignored), not {dest}")
    if dest.exists() and not dest.is_dir():
        raise ValueError(f"{dest} is a file")
    if dest.is_dir() and any(p.name != ".git" for p in dest.iterdir()) and not force:
        raise FileExistsError(f"{dest} is not empty: pass --force to replace its contents (a .git folder is kept)")


def _repository_url(root: Path) -> tuple[str, str]:
    """`repository.url` and `repository.branch` from _config.yml."""
    config = (root / "_config.yml").read_text()
    url = re.search(r"^repository:\s*\n(?:\s+.*\n)*?\s+url:\s*(\S+)", config, flags=re.MULTILINE)
    branch = re.search(r"^repository:\s*\n(?:\s+.*\n)*?\s+branch:\s*(\S+)", config, flags=re.MULTILINE)
    if url is None:
        raise ValueError("_config.yml has no repository.url: the public repository must be named there")
    return url.group(1), branch.group(1) if branch else "main"


def _clear(dest: Path) -> None:
    """Remove everything in `dest` except a `.git` folder."""
    if dest.is_dir():
        for path in dest.iterdir():
            if path.name == ".git":
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()


def bundle(course_root: Path | str, dest: Path | str, force: bool = False) -> list[str]:
    """Write the student repository to `dest`; return warnings (e.g. the book is not built).

    Raises:
        ValueError, FileExistsError: for a destination that is the course, inside it (outside
            `_build/`), or not empty without `force`.
        RuntimeError: when a file of the bundle contains a line of a solution or hidden test.
    """
    course = Course.load(course_root)
    root, dest = course.root, Path(dest).resolve()
    _check_destination(root, dest, force)
    url, branch = _repository_url(root)
    warnings = []
    _clear(dest)
    dest.mkdir(parents=True, exist_ok=True)

    for folder in (root / "book", course.release, root / "seglib"):
        shutil.copytree(folder, dest / folder.relative_to(root), ignore=_IGNORE)
    for name in TOP_FILES:
        if (root / name).is_file():
            shutil.copy2(root / name, dest / name)
    slug = re.sub(r"^https?://github\.com/", "", url).removesuffix(".git")
    template = (Path(__file__).with_name("student_readme.md")).read_text()
    (dest / "README.md").write_text(template.replace("{url}", url).replace("{slug}", slug).replace("{branch}", branch))
    (dest / ".gitignore").write_text(STUDENT_GITIGNORE)
    built = root / "_build" / "html"
    if (built / "index.html").is_file():
        shutil.copytree(built, dest / "docs", ignore=shutil.ignore_patterns(".buildinfo", ".doctrees"))
        (dest / "docs" / ".nojekyll").write_text("")
    else:
        warnings.append("the book is not built (no _build/html/index.html): run `make book` first, or use `make student-bundle`")

    leaks = find_secrets(dest, secret_lines(course))
    if leaks:
        _clear(dest)
        listing = "\n".join(f"  {path}: {lines[0]!r}" + (f" and {len(lines) - 1} more" if len(lines) > 1 else "") for path, lines in leaks.items())
        raise RuntimeError(f"bundle refused and removed from {dest}: these files contain solution or hidden-test lines:\n{listing}")
    return warnings
