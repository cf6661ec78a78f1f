"""Evidence that a test cell really ran, checked by the grader rather than taken from the kernel.

nbgrader scores a test cell by whether its outputs hold an error. A student's code runs in the same
kernel before the tests, and can stop errors from being reported at all: an IPython input
transformer that turns every later cell into `pass`, a replaced `run_cell`, an event callback, or
`check_tensor` rebound to a function that checks nothing. `Evidence` makes the grader ask for
proof instead:

* before the first cell that is not the course's own, a trusted snapshot is taken in the kernel
  (silently, outside the notebook and its history): IPython's hooks and transformers, `sys`'s
  hooks, the builtins, the course's modules and torch, and the names the test cells use;
* every test cell is run with one more statement at its end, which prints a fresh random nonce
  and whether anything in the snapshot changed since;
* after the run, a test cell without an error must show its nonce, with nothing changed. One that
  does not gets an error output (so it earns no points) and a reason, and the submission is marked
  CHECK in the report. A course variable the student reassigned (`classifier = ...`) only marks it
  CHECK: an honest student may do that. The statement and its output are removed from the
  graded notebook.

This is evidence, not proof: a student who studies this checker can still forge it from inside the
kernel (everything there is theirs). The sandbox bounds what such a student can reach: their own
grade, never anyone else's or the course's.
"""

from __future__ import annotations

import ast
import secrets
from typing import Any

from nbformat.notebooknode import NotebookNode, from_dict

__all__ = ["Evidence", "PROLOGUE"]

# Runs in the kernel before any student code (silent, not in the history). Defines the two
# functions the grader calls, reachable only through a name the grader chooses for each notebook.
PROLOGUE = r'''
def __grading_install(_name):
    import builtins, sys, types
    from IPython import get_ipython
    shell = get_ipython()
    state = {}

    def ids(obj):
        try:
            return {k: v for k, v in vars(obj).items() if k.strip("_") and k not in ("input", "raw_input") and not k.startswith(("_i", "_grading_", "_o", "_d"))}
        except TypeError:
            return {}

    def fingerprint(names):
        manager = shell.input_transformer_manager
        f = {"shell": {k: id(v) for k, v in vars(shell).items() if callable(v)}}
        for cls in type(shell).__mro__:
            f["IPython " + cls.__name__] = ids(cls)
        hooks = [*shell.input_transformers_cleanup, *manager.cleanup_transforms, *manager.line_transforms,
                 *manager.token_transformers, *shell.input_transformers_post, *shell.ast_transformers]
        f["input transformers"] = {str(i): id(t) for i, t in enumerate(hooks)} | {"n": len(hooks)}
        f["event callbacks"] = {k: hash(tuple(map(id, v))) for k, v in shell.events.callbacks.items()}
        f["sys hooks"] = {"trace": id(sys.gettrace()), "profile": id(sys.getprofile()), "displayhook": id(sys.displayhook), "meta_path": hash(tuple(map(id, sys.meta_path))),
                          "stdout": id(sys.stdout), "stderr": id(sys.stderr)}
        f["builtins"] = ids(builtins)
        for module in ("torch", "torch.nn", "torch.nn.functional", "seglib", "seglib.ops", "seglib.testing", "seglib.models", "seglib.losses", "seglib.metrics"):
            if module in sys.modules:
                f["module " + module] = ids(sys.modules[module])
        if "torch" in sys.modules:
            f["torch.Tensor"] = ids(sys.modules["torch"].Tensor)
        # The course's tools (modules, torch's and seglib's functions and classes) must stay as they
        # were; a course variable (`classifier`) that the student reassigns is only worth a look.
        def tool(obj):
            if isinstance(obj, types.ModuleType):
                return True
            return isinstance(obj, (type, types.FunctionType, types.BuiltinFunctionType)) and str(getattr(obj, "__module__", "")).startswith(("torch", "seglib"))

        tools = {n for n in names if tool(state["objects"].get(n))}
        f["names"] = {n: shell.user_ns.get(n) for n in names if n in tools}
        f["course variables"] = {n: shell.user_ns.get(n) for n in names if n not in tools}
        return f

    missing = object()

    def same(was, now):
        if was is now or (type(was) is int and type(now) is int and was == now):
            return True
        # torch wraps some of its functions when a submodule is first imported (torch._dynamo wraps
        # torch.manual_seed): the wrapper is torch's own, around the same function.
        return getattr(now, "__wrapped__", None) is was and str(getattr(now, "__module__", "")).startswith("torch")

    def capture(names):
        state["names"] = [n for n in names if n in shell.user_ns]
        state["objects"] = {n: shell.user_ns[n] for n in state["names"]}
        state["before"] = fingerprint(state["names"])

    def probe(nonce):
        before = state.get("before")
        if before is None:
            print(nonce, "no snapshot")
            return
        after = fingerprint(state["names"])
        changed = []
        for part, was in before.items():
            now = after.get(part, {})
            strict = part in ("shell", "input transformers", "event callbacks", "sys hooks", "names", "course variables")
            keys = set(was) | set(now) if strict else set(was)
            changed += [f"{part}: {k}" for k in sorted(keys) if not same(was.get(k, missing), now.get(k, missing))]
        sys.stdout.write("\n" + nonce + " " + ("ok" if not changed else "changed " + "; ".join(changed[:8])) + "\n")  # one write: one piece
        sys.stdout.flush()

    setattr(builtins, _name, (capture, probe))

__grading_install(%r)
del __grading_install
'''


def _code_cells(nb: NotebookNode) -> list[int]:
    return [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]


def _meta(cell: NotebookNode) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


def _loaded_names(source: str) -> set[str]:
    """Names a cell reads without assigning them itself (what it needs from earlier cells)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    loaded = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    stored = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    return loaded - stored


def _coalesced(outputs: list[NotebookNode]) -> list[NotebookNode]:
    """Outputs with consecutive pieces of the same stream joined (the kernel sends text in pieces)."""
    joined: list[NotebookNode] = []
    for output in outputs:
        if output.get("output_type") == "stream" and joined and joined[-1].get("output_type") == "stream" and joined[-1].get("name") == output.get("name"):
            joined[-1].text = str(joined[-1].text) + str(output.get("text", ""))
        else:
            joined.append(output)
    return joined


class Evidence:
    """Instrument a notebook's test cells before execution, and judge their evidence after."""

    def __init__(self, nb: NotebookNode) -> None:
        self.name = "_grading_" + secrets.token_hex(8)
        self.tests = {i: secrets.token_hex(16) for i in _code_cells(nb) if _meta(nb.cells[i]).get("grade") and not _meta(nb.cells[i]).get("solution")}
        # The course's own cells (locked, not answers) run before the snapshot; nbgrader restored their source.
        trusted = lambda c: _meta(c).get("locked") and not _meta(c).get("solution")  # noqa: E731
        code = _code_cells(nb)
        self.capture_at = next((i for i in code if not trusted(nb.cells[i])), None)
        self.first_code = code[0] if code else None
        names = set().union(*(_loaded_names(nb.cells[i].source) for i in self.tests)) if self.tests else set()
        self.names = sorted(names)
        self.sources: dict[int, str] = {}

    def instrument(self, nb: NotebookNode) -> None:
        for i, nonce in self.tests.items():
            self.sources[i] = nb.cells[i].source
            nb.cells[i].source = nb.cells[i].source.rstrip() + f"\n__import__('builtins').{self.name}[1]({nonce!r})\n"

    def code_before(self, index: int) -> list[str]:
        """Trusted code the grader runs silently before the code cell at `index`."""
        code = []
        if index == self.first_code:
            code.append(PROLOGUE % self.name)
        if index == self.capture_at:
            code.append(f"__import__('builtins').{self.name}[0]({self.names!r})")
        return code

    def judge(self, nb: NotebookNode) -> list[str]:
        """Restore the test cells' sources, remove the evidence, and fail each cell without it."""
        problems = []
        for i, nonce in self.tests.items():
            cell = nb.cells[i]
            cell.source = self.sources.get(i, cell.source)
            verdicts, outputs = [], []
            for output in _coalesced(cell.get("outputs", [])):
                if output.get("output_type") == "stream" and nonce in output.text:
                    for line in [line for line in output.text.split("\n") if nonce in line]:
                        verdicts.append(line.split(nonce, 1)[1].strip())
                        # The probe wrote "\n<nonce> <verdict>\n": take that out, and nothing else.
                        text = output.text.replace("\n" + line + "\n", "", 1)
                        output.text = text if text != output.text else output.text.replace(line, "", 1)
                    if not output.text.strip():
                        continue
                outputs.append(output)
            cell.outputs = outputs
            if any(o.get("output_type") == "error" for o in outputs):
                continue  # it failed: it earns nothing whatever the evidence
            grade_id = _meta(cell).get("grade_id", f"cell {i + 1}")
            if not verdicts:
                why = "left no evidence of running to its end: something suppressed it (an input transformer, a replaced run_cell, redirected output)"
            elif verdicts != ["ok"]:
                changes = "; ".join(v for v in verdicts if v != "ok")
                why = "ran after the student's code " + changes[:400]
                if all(c.strip().startswith("course variables") for c in changes.removeprefix("changed").split(";")):
                    problems.append(f"test cell {grade_id} {why} (scored as nbgrader found it; look at the notebook)")
                    continue
            else:
                continue
            problems.append(f"test cell {grade_id} {why}")
            cell.outputs.append(from_dict({"output_type": "error", "ename": "GradingEvidenceError", "evalue": f"no points: this test {why}", "traceback": [f"GradingEvidenceError: this test {why}"]}))
        return problems

