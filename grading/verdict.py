"""Evidence that a test cell really ran, checked by the grader rather than taken from the kernel.

nbgrader scores a test cell by whether its outputs hold an error. A student's code runs in the same
kernel before the tests, and can stop errors from being reported at all: an IPython input
transformer that turns every later cell into `pass`, a replaced `run_cell`, an event callback, or
`check_tensor` rebound to a function that checks nothing. `Evidence` makes the grader ask for
proof instead:

* before the first cell that is not the course's own, a trusted snapshot is taken in the kernel
  (silently, outside the notebook and its history): IPython's hooks, transformers and methods,
  `sys`'s hooks, the builtins, the course's modules (private names included) and torch's, the
  code, defaults and closures of their functions (swapping `f.__code__` keeps `f`'s identity),
  and the names the test cells use. The checker holds its own references to `id`, `vars`, `type`
  and the rest, taken before any student code ran;
* every test cell is run with one more statement at its end, which prints a fresh random nonce,
  whether anything in the snapshot changed since, and a signature of both made with a key that
  only the grader and the checker's closure hold (the prologue that brings the key is removed from
  IPython's source cache);
* after the run, a test cell without an error must show its nonce, signed, with nothing changed.
  One that does not gets an error output (so it earns no points) and a reason, and the submission
  is marked CHECK in the report. A course variable the student reassigned (`classifier = ...`)
  only marks it CHECK: an honest student may do that. The statement and its output are removed
  from the graded notebook.

This is evidence, not proof. Printing a nonce and "ok" is caught (no signature), and so is every
hook or swap that is still in place when the test ends. A student who studies this checker can
still beat it from inside the kernel, where everything is theirs: by taking the key out of the
checker's closure, or by rewriting a test cell so that it undoes its hooks just before the
checker's statement and puts them back after. Only judging outside the kernel closes that, and
grading/outside.py does it for every test cell of the course; this evidence is for tests run in
the kernel all the same (`SandboxedExecute.judge_outside=False`, or a test that hands the
student's code a class from its hidden part). The sandbox bounds what such a student can reach:
their own grade, never anyone else's or the course's.
"""

from __future__ import annotations

import ast
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from typing import Any

from nbformat.notebooknode import NotebookNode, from_dict

__all__ = ["Evidence", "PROLOGUE"]

# Runs in the kernel before any student code (silent, not in the history). Defines the two
# functions the grader calls, reachable only through a name the grader chooses for each notebook.
PROLOGUE = r'''
def __grading_install(_name, _key):
    import builtins, hashlib, linecache, sys, types
    from IPython import get_ipython
    # Trusted references, taken before any student code runs: the checks below call only these, so
    # a student who later rebinds `id`, `vars` or `type` does not change what they compute.
    _id, _vars, _type, _hash, _tuple, _str, _sorted, _callable, _getattr = id, vars, type, hash, tuple, str, sorted, callable, getattr
    _isinstance, _enumerate, _len, _set, _int, _Builtin = isinstance, enumerate, len, set, int, types.BuiltinFunctionType
    _Function, _Module, _blake2b, _sys, _modules = types.FunctionType, types.ModuleType, hashlib.blake2b, sys, sys.modules
    _gettrace, _getprofile = sys.gettrace, sys.getprofile
    shell = get_ipython()
    state = {}

    def names_of(obj, every):
        # IPython's own bookkeeping names (_i1, _oh, _dh) change as cells run; a course module's
        # private names (seglib.testing._isclose) are checked like the others.
        try:
            items = _vars(obj).items()
        except TypeError:
            return {}
        if every:
            return {k: v for k, v in items if not (k.startswith("__") and k.endswith("__"))}
        return {k: v for k, v in items if k.strip("_") and k not in ("input", "raw_input") and not k.startswith(("_i", "_grading_", "_o", "_d"))}

    def code(f, closure):
        # A function keeps its identity when its code, defaults or closure are swapped in place.
        cells = []
        for cell in (f.__closure__ or ()) if closure else ():
            try:
                cells.append(_id(cell.cell_contents))
            except ValueError:
                cells.append(-1)
        return _hash((_id(f.__code__), _id(f.__defaults__), _id(f.__kwdefaults__), _tuple(cells)))

    def torch_own(f):
        return _str(_getattr(_getattr(f, "__code__", None), "co_filename", "")).startswith(state["torch dir"])

    def unwrapped(f):
        # torch wraps some of its functions when a submodule is first imported (torch._dynamo wraps
        # torch.manual_seed): look through a wrapper whose code is torch's own.
        while _type(_getattr(f, "__wrapped__", None)) is _Function and torch_own(f):
            f = f.__wrapped__
        return f

    def codes(owners, closure):
        found = {}
        for label, owner in owners:
            for k, v in names_of(owner, True).items():
                if _type(v) is _Function:
                    found[label + "." + k] = code(unwrapped(v), closure)
                elif _type(v) is _type and _str(_getattr(v, "__module__", "")) == _str(_getattr(owner, "__name__", "")):
                    found.update(codes([(label + "." + k, v)], closure))  # the module's own classes' methods
        return found

    def fingerprint(names):
        manager = shell.input_transformer_manager
        f = {"shell": {k: _id(v) for k, v in _vars(shell).items() if _callable(v)}}
        ipython = [*_type(shell).__mro__, *_type(_getattr(shell, "kernel", None)).__mro__]
        for cls in ipython:
            f["IPython " + cls.__name__] = names_of(cls, False)
        f["code IPython"] = codes([(cls.__name__, cls) for cls in ipython], False)
        hooks = [*shell.input_transformers_cleanup, *manager.cleanup_transforms, *manager.line_transforms,
                 *manager.token_transformers, *shell.input_transformers_post, *shell.ast_transformers]
        f["input transformers"] = {_str(i): _id(t) for i, t in _enumerate(hooks)} | {"n": _len(hooks)}
        f["event callbacks"] = {k: _hash(_tuple(_id(c) for c in v)) for k, v in shell.events.callbacks.items()}
        f["sys hooks"] = {"trace": _id(_gettrace()), "profile": _id(_getprofile()), "displayhook": _id(_sys.displayhook),
                          "meta_path": _hash(_tuple(_id(m) for m in _sys.meta_path)), "stdout": _id(_sys.stdout), "stderr": _id(_sys.stderr)}
        f["builtins"] = names_of(builtins, False)
        course = [m for m in state["modules"] if m.startswith("seglib")]
        torch = [m for m in state["modules"] if not m.startswith("seglib")]
        for module in state["modules"]:
            if module in _modules:
                f["module " + module] = names_of(_modules[module], module in course)
        f["code seglib"] = codes([(m, _modules[m]) for m in course if m in _modules], True)
        f["code torch"] = codes([(m, _modules[m]) for m in torch if m in _modules], False)
        if "torch" in _modules:
            f["torch.Tensor"] = names_of(_modules["torch"].Tensor, False)
            f["code torch"].update(codes([("torch.Tensor", _modules["torch"].Tensor), ("torch.nn.Module", _modules["torch"].nn.Module)], False))
        # The course's tools (modules, torch's and seglib's functions and classes) must stay as they
        # were; a course variable (`classifier`) that the student reassigns is only worth a look.
        def tool(obj):
            if _isinstance(obj, _Module):
                return True
            return _isinstance(obj, (_type, _Function, _Builtin)) and _str(_getattr(obj, "__module__", "")).startswith(("torch", "seglib"))

        tools = {n for n in names if tool(state["objects"].get(n))}
        f["names"] = {n: shell.user_ns.get(n) for n in names if n in tools}
        f["code of names"] = {n: code(state["objects"][n], True) for n in names if _type(state["objects"].get(n)) is _Function}
        f["course variables"] = {n: shell.user_ns.get(n) for n in names if n not in tools}
        return f

    missing = object()

    def same(was, now):
        if was is now or (_type(was) is _int and _type(now) is _int and was == now):
            return True
        # A wrapper whose code is torch's own, around the same function (see `unwrapped`).
        return _getattr(now, "__wrapped__", None) is was and torch_own(now)

    def capture(names):
        state["names"] = [n for n in names if n in shell.user_ns]
        state["objects"] = {n: shell.user_ns[n] for n in state["names"]}
        torch_file = _getattr(_modules.get("torch"), "__file__", None)
        state["torch dir"] = torch_file.rpartition("/")[0] + "/" if torch_file else "\0"
        listed = ["torch", "torch.nn", "torch.nn.functional", "torch.testing", "torch.testing._comparison"]
        state["modules"] = [m for m in listed if m in _modules] + _sorted(m for m in _modules if m == "seglib" or m.startswith("seglib."))
        state["before"] = fingerprint(state["names"])

    def probe(nonce):
        before = state.get("before")
        if before is None:
            verdict = "no snapshot"
        else:
            after = fingerprint(state["names"])
            changed = []
            for part, was in before.items():
                now = after.get(part, {})
                strict = part in ("shell", "input transformers", "event callbacks", "sys hooks", "names", "code of names", "course variables")
                keys = _set(was) | _set(now) if strict else _set(was)
                changed += [f"{part}: {k}" for k in _sorted(keys) if not same(was.get(k, missing), now.get(k, missing))]
            verdict = "ok" if not changed else "changed " + "; ".join(changed[:8])
        # Signed with a key only this closure holds: printing a nonce and "ok" is not evidence.
        mac = _blake2b((nonce + " " + verdict).encode(), key=_key, digest_size=16).hexdigest()
        _sys.stdout.write("\n" + nonce + " " + verdict + " " + mac + "\n")  # one write: one piece
        _sys.stdout.flush()

    setattr(builtins, _name, (capture, probe))
    # IPython keeps every cell's source for tracebacks, this one's too: take the key out of reach.
    for entry, cached in list(linecache.cache.items()):
        if len(cached) > 2 and any(_key.hex() in line for line in cached[2]):
            del linecache.cache[entry]

__grading_install(%r, bytes.fromhex(%r))
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

    def __init__(self, nb: NotebookNode, judged_outside: Iterable[int] = ()) -> None:
        self.name = "_grading_" + secrets.token_hex(8)
        self.key = secrets.token_bytes(32)  # signs the probe's verdicts; never written to the notebook
        # Test cells that grading/outside.py judges outside the kernel need no evidence from it.
        skip = set(judged_outside)
        self.tests = {i: secrets.token_hex(16) for i in _code_cells(nb) if _meta(nb.cells[i]).get("grade") and not _meta(nb.cells[i]).get("solution") and i not in skip}
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
        if not self.tests:  # every test is judged outside the kernel (grading/outside.py): nothing to prove
            return code
        if index == self.first_code:
            code.append(PROLOGUE % (self.name, self.key.hex()))
        if index == self.capture_at:
            code.append(f"__import__('builtins').{self.name}[0]({self.names!r})")
        return code

    def _verified(self, nonce: str, signed: str) -> str:
        """The verdict the probe signed, or what is wrong with one it did not sign."""
        verdict, _, mac = signed.rpartition(" ")
        expected = hashlib.blake2b(f"{nonce} {verdict}".encode(), key=self.key, digest_size=16).hexdigest()
        if not verdict or not hmac.compare_digest(mac, expected):
            return "forged: a line with the test's nonce but not the grader's signature"
        return verdict

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
                        verdicts.append(self._verified(nonce, line.split(nonce, 1)[1].strip()))
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
            elif any(v.startswith("forged") for v in verdicts):
                why = "printed its evidence line without the grader's signature: the student's code forged it"
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

