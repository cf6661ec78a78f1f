"""Test cells judged outside the student's kernel: a verdict the student's code cannot forge.

grading/verdict.py asks the kernel for evidence that a test cell ran; the kernel is the student's,
and a student who studies that checker can forge its evidence. `SandboxedExecute` does not ask
the kernel at all. Each test cell runs in a *checker* (grading/checker.py), a Python process of
the grader's, with no network (as the sandboxed kernel), that never runs a line of the student's
code; each notebook gets a fresh one (grading/forks.py):

* the checker runs the course's own cells (locked, not answers; nbgrader restored their source)
  that need nothing of the student's, and then each test cell. The names a test cell takes from
  the student (`nearest_upsample`, `model`, and any it asks for with `answer(globals(), ...)`)
  are fetched from the kernel when the cell starts; every other name is the course's;
* what the kernel sends back is data: tensors (exactly `torch.Tensor`), numbers, strings,
  tuples, lists and dicts of them, read with `torch.load(weights_only=True)`. A module of
  `torch.nn`'s own classes is rebuilt from its settings and weights. A module of the student's
  own class comes back as a `Mirror`: its weights, buffers, settings and children in the checker,
  where the test reads and changes them, and its forward run in the kernel on those weights, with
  gradients carried back to the checker's weights and inputs. Anything else (a function, a
  dataset, a tensor look-alike) stays in the kernel as a `Remote`: calling it, or reading an
  attribute, asks the kernel again;
* each request carries what the test set up around it: the functions `unavailable(...)`
  switches off, `torch.no_grad()`, the default device, and the random state (the student's code
  draws from the test's seed and leaves the state as it would in the kernel). An exception the
  student's code raises comes back as the same built-in type (any other as a `RemoteError` of its
  name), with the line of the student's code. A class a visible test defines and hands to the
  student's code (a recorder of the calls it gets) is defined in the kernel too, and what the
  student's code did to the instance comes back;
* the comparisons (`check_tensor`, `assert`) run in the checker, so no hook, rebound name or
  replaced function in the kernel can change a verdict, and hidden tests never enter the kernel.

`outside_cells` decides which cells run where from the course's cells alone. A test cell that
hands the student's code an instance of a class defined in its hidden part would have to send
that hidden code to the kernel, so it would run in the kernel instead, under grading/verdict.py's
evidence (no assignment has one); so would a cell that shares names with it.
"""

from __future__ import annotations

import ast
import json
import os
import secrets
import shutil
import signal
from collections.abc import Iterable
from pathlib import Path

from nbformat.notebooknode import NotebookNode

from grading import forks

__all__ = ["outside_cells", "shared_classes", "imported_modules", "OutsideChecker", "SERVER", "new_names"]

def _meta(cell: NotebookNode) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


def _names(source: str) -> tuple[set[str], set[str]] | None:
    """(global names the cell reads, names it binds), or None when it is not plain Python (magics)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    loaded, stored = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else stored).add(node.id)
        elif isinstance(node, ast.arg):
            stored.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            stored.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            stored |= {(a.asname or a.name).split(".")[0] for a in node.names if a.name != "*"}
        elif isinstance(node, ast.ExceptHandler) and node.name:
            stored.add(node.name)
    return loaded - stored, stored


def _answer_names(source: str) -> set[str]:
    """Names a test cell asks for with `answer(globals(), "name")`: the student's, always taken
    from the kernel (an earlier test may have used the same name for its own object)."""
    tree = ast.parse(source)
    asked = lambda call: isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "answer" and len(call.args) == 2  # noqa: E731
    names = {c.args[1].value for c in ast.walk(tree) if asked(c) and isinstance(c.args[1], ast.Constant)}
    for loop in (n for n in ast.walk(tree) if isinstance(n, ast.For) and isinstance(n.target, ast.Name) and isinstance(n.iter, (ast.Tuple, ast.List))):
        if any(asked(c) and isinstance(c.args[1], ast.Name) and c.args[1].id == loop.target.id for c in ast.walk(loop)):
            names |= {e.value for e in loop.iter.elts if isinstance(e, ast.Constant)}
    return {n for n in names if isinstance(n, str) and n.isidentifier()}


def shared_classes(source: str) -> list[str] | None:
    """The source of each class a test cell defines and hands to a function it does not define
    (the student's code then gets an instance in the kernel, which must have the class too), or
    None when such a class lies in hidden tests, which must not reach the kernel."""
    tree = ast.parse(source)
    classes = {n.name: n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)}
    own = {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    made = lambda node: isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in classes  # noqa: E731
    instances = {t.id: v.func.id for n in ast.walk(tree) if isinstance(n, ast.Assign) for v in ast.walk(n.value) if made(v) for t in n.targets if isinstance(t, ast.Name)}
    shared = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name) and node.func.id in own | set(classes)):
            for arg in [*node.args, *(k.value for k in node.keywords)]:
                if made(arg):
                    shared.add(arg.func.id)
                elif isinstance(arg, ast.Name) and arg.id in instances:
                    shared.add(instances[arg.id])
                elif isinstance(arg, ast.Name) and arg.id in classes:
                    shared.add(arg.id)
    lines = source.split("\n")
    hidden = [i for i, line in enumerate(lines, 1) if "BEGIN HIDDEN TESTS" in line]
    found = []
    for name in sorted(shared, key=lambda n: classes[n].lineno):
        node = classes[name]
        if any(start < node.lineno for start in hidden):
            return None
        found.append(ast.get_source_segment(source, node) or "")
    return found


def imported_modules(sources: Iterable[str]) -> list[str]:
    """The modules the cells import (`import a.b`, `from a.b import c`: "a.b"), for the fork server to load once."""
    found: set[str] = set()
    for source in sources:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add(node.module)
    return sorted(found)


def outside_cells(nb: NotebookNode) -> tuple[set[int], dict[int, list[str]]]:
    """(the course's cells the checker runs too, {test cell it judges alone: names it takes from the kernel}).

    Decided from the course's cells only (nbgrader restored their source from the gradebook),
    never from an answer: what an answer cell binds is the kernel's, and a test that reads a name
    the course bound gets the course's value.
    """
    import builtins

    cells = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        meta = _meta(cell)
        kind = "answer" if meta.get("solution") or not meta.get("locked") and not meta.get("grade") else "test" if meta.get("grade") else "course"
        cells.append((i, kind, _names(cell.source) if kind != "answer" else None))
    outside = {i for i, kind, names in cells if kind == "test" and names is not None and shared_classes(nb.cells[i].source) is not None}
    while True:
        bound: dict[str, tuple[str, int]] = {}  # name -> (where its value lives: trusted, outside, kernel; the cell)
        trusted, fetch, demote = set(), {}, set()
        own = lambda n: bound.get(n, ("",))[0] in ("trusted", "outside") or (n not in bound and hasattr(builtins, n))  # noqa: E731
        for i, kind, names in cells:
            if kind == "answer":
                continue
            read, binds = names if names is not None else (set(), set())
            if kind == "course" and names is not None and all(bound.get(n, ("",))[0] == "trusted" or (n not in bound and hasattr(builtins, n)) for n in read):
                trusted.add(i)
                where = "trusted"
            elif i in outside:
                fetch[i] = sorted({n for n in read if not own(n)} | _answer_names(nb.cells[i].source))
                demote |= {i} if any(bound.get(n, ("",))[0] == "kernel" for n in read) else set()
                where = "outside"
            else:  # runs in the kernel only: what it reads must be there
                demote |= {bound[n][1] for n in read if bound.get(n, ("",))[0] == "outside"}
                where = "kernel"
            for n in binds:
                bound[n] = (where, i)
        if not demote & outside:
            return trusted, fetch
        outside -= demote


# Runs in the kernel (silently, before any student code): answers the checker's requests. It trusts
# nothing it is sent beyond what the student's own code could do, and the checker trusts nothing it
# answers beyond data.
SERVER = r'''
def __grading_serve(_name, _marker):
    import base64, builtins, importlib, io
    import torch
    from IPython import get_ipython
    import seglib.testing as _testing
    _ns, refs, graphs, state, held = get_ipython().user_ns, {}, {}, {}, {}
    base = set(vars(torch.nn.Module()))
    plain = (type(None), bool, int, float, complex, str, bytes, torch.dtype, torch.device, torch.Size)

    def ref(value):
        refs[id(value)] = value
        name = getattr(value, "__name__", None) if callable(value) else None
        return (_marker, id(value), str(getattr(type(value), "__name__", "object"))[:60], callable(value), name if type(name) is str else None)

    def tensor(t):
        t = t.detach()
        return t if t.is_meta else t.cpu().clone()

    def module_spec(m, depth):
        # torch.nn's own classes are rebuilt there for real; any other class is mirrored: its
        # weights, settings and children there, its forward here (a request that runs it).
        if depth > 40:
            raise ValueError("nested too deeply")
        own = type(m).__module__.split(".")[:2] == ["torch", "nn"]
        attrs = {}
        for k, v in vars(m).items():
            if k in base:
                continue
            try:
                attrs[k] = export(v, depth + 1, modules=False)
            except ValueError:
                if own:
                    own = False  # a torch.nn class holding something that is not data: mirror it
        spec = {"attrs": attrs, "training": bool(m.training),
                "parameters": {k: None if v is None else tensor(v) for k, v in m._parameters.items()},
                "requires_grad": {k: bool(v.requires_grad) for k, v in m._parameters.items() if v is not None},
                "buffers": {k: None if v is None else tensor(v) for k, v in m._buffers.items()},
                "children": {k: None if c is None else module_spec(c, depth + 1) for k, c in m._modules.items()}}
        if own:
            spec[_marker] = type(m).__module__ + ":" + type(m).__qualname__
        else:
            refs[id(m)] = m
            spec[_marker] = "mirror"
            spec["ref"] = id(m)
            spec["classes"] = [(str(k.__module__), str(k.__qualname__)) for k in type(m).__mro__]
        return spec

    def export(value, depth=0, modules=True):
        if depth > 40:
            raise ValueError("nested too deeply")
        kind = type(value)
        if kind in plain:
            return value
        if kind is torch.Tensor or kind is torch.nn.Parameter:
            return tensor(value)
        if kind is tuple or kind is list:
            return kind(export(v, depth + 1, modules) for v in value)
        if kind is dict and all(type(k) in (str, int) for k in value):
            return {k: export(v, depth + 1, modules) for k, v in value.items()}
        if not modules:
            raise ValueError("not plain data")
        if isinstance(value, torch.nn.Module):
            return module_spec(value, depth)
        return ref(value)

    def revive(value, device=None):
        if type(value) is tuple and len(value) == 2 and value[0] == _marker:
            return refs[value[1]]
        if type(value) in (tuple, list):
            return type(value)(revive(v, device) for v in value)
        if type(value) is dict:
            return {k: revive(v, device) for k, v in value.items()}
        if device is not None and type(value) is torch.Tensor and value.device != device and not value.is_meta:
            return value.detach().to(device).requires_grad_(value.requires_grad)
        return value

    def resolve(path):
        owner, _, qualname = path.partition(":")
        obj = importlib.import_module(owner)
        for part in qualname.split(".") if qualname else ():
            obj = getattr(obj, part)
        return obj

    def sync(module, tensors, flags):
        # The checker's copy of a module may have changed (weights set by a test, eval()): bring
        # the kernel's copy in line before it runs.
        with torch.no_grad():
            for name, t in tensors.items():
                owner, _, leaf = name.rpartition(".")
                holder = module.get_submodule(owner)
                target = holder._parameters.get(leaf) if leaf in holder._parameters else holder._buffers.get(leaf)
                if target is None or target.is_meta or t is None:
                    continue
                if target.shape == t.shape:
                    target.copy_(t)
                else:
                    target.data = t.to(target.device)
        for name, flag in flags.items():
            module.get_submodule(name).training = bool(flag)

    def flat(out):
        return [out] if type(out) is torch.Tensor else list(out) if type(out) in (tuple, list) and all(type(o) is torch.Tensor for o in out) else None

    def switch_off(off):
        # What the test switched off stays off across its requests (finding every copy of a
        # function takes a pass over the heap, about 30 ms); "release" ends it when the cell ends,
        # before any answer cell runs here again.
        key = tuple(tuple(t) for t in off)
        if held.get("key") == key:
            return
        release()
        functions = []
        for kind, path, attribute in key:
            try:
                functions.append(resolve(path) if kind == "function" else (resolve(path), attribute))
            except Exception:
                pass
        block = _testing.unavailable(*functions)
        block.__enter__()
        held.update(key=key, block=block)

    def release():
        block = held.pop("block", None)
        held.pop("key", None)
        if block is not None:
            block.__exit__(None, None, None)

    def run(req):
        op = req["op"]
        if op not in ("call", "forward"):
            release()  # only a call or a forward runs with the test's functions switched off
        if op == "release":
            return None
        if op == "names":
            return {n: export(_ns[n]) for n in req["names"] if n in _ns}
        if op == "define":  # a class a visible test cell defines and hands to the student's code
            for source in req["classes"]:
                exec(source, _ns)
            return None
        if op == "backward":
            outs, inputs = graphs.pop(req["graph"])
            grads = torch.autograd.grad(outs, inputs, [g.to(o.device) if g is not None else None for o, g in zip(outs, req["grads"])], allow_unused=True)
            return [None if g is None else tensor(g) for g in grads]
        for r, tensors, flags in req.get("sync", ()):
            sync(refs[r], tensors, flags)
        target = refs[req["ref"]]
        device = None
        if op == "forward":
            sync(target, req.get("tensors", {}), req.get("flags", {}))
            first = next(iter(target.parameters()), None)
            device = first.device if first is not None and not first.is_meta else None
        args, kwargs = revive(req.get("args", ()), device), revive(req.get("kwargs", {}), device)
        if op in ("call", "forward"):
            switch_off(req.get("off", ()))
        with torch.set_grad_enabled(req.get("grad", True)), torch.device(req.get("device", "cpu")):
            if op in ("call", "forward"):
                out = target(*args, **kwargs)
                reply = {"value": export(out)}
                outs = flat(out)
                if req.get("grad") and outs is not None and any(o.requires_grad for o in outs):
                    leaves = [a for a in list(args) + list(kwargs.values()) if type(a) is torch.Tensor and a.requires_grad]
                    params = [p for p in target.parameters()] if op == "forward" else []
                    if len(graphs) > 8:
                        graphs.pop(next(iter(graphs)))
                    graphs[id(outs[0])] = (outs, leaves + params)
                    reply["graph"] = id(outs[0])
                    reply["parameters"] = [n for n, _ in target.named_parameters()] if op == "forward" else []
                if op == "forward":
                    reply["buffers"] = {n: tensor(b) for n, b in target.named_buffers()}
                # What the student's code did to an object of a test's own class (a recorder of
                # the calls it is given) goes back to the test's copy.
                reply["updates"] = {}
                for key, arg in [*enumerate(args), *kwargs.items()]:
                    if type(arg).__module__ == "__main__" and hasattr(arg, "__dict__"):
                        attrs = {}
                        for k, v in vars(arg).items():
                            try:
                                attrs[k] = export(v, modules=False)
                            except ValueError:
                                pass
                        reply["updates"][key] = attrs
                return reply
            if op == "getattr":
                return {"value": export(getattr(target, req["name"]))}
            if op == "len":
                return {"value": len(target)}
            if op == "getitem":
                return {"value": export(target[args[0]])}
            if op == "list":
                return {"value": export(list(target))}
            if op == "repr":
                return {"value": repr(target)[:200]}
        raise ValueError(f"unknown request {op!r}")

    def handle(request):
        state.pop("reply", None)
        try:
            req = torch.load(io.BytesIO(base64.b64decode(request)), weights_only=False)
            if req.get("rng") is not None:  # the test's random state, as if its code ran here
                torch.set_rng_state(req["rng"])
            reply = {"ok": run(req)}
        except BaseException as error:  # noqa: BLE001: whatever the student's code raised goes back
            try:
                text = str(error)
            except Exception:
                text = ""
            reply = {"error": [type(error).__name__, text[:4000], _testing._where(error)]}
        try:
            reply["rng"] = torch.get_rng_state()
        except Exception:
            pass
        buffer = io.BytesIO()
        try:
            torch.save(reply, buffer)
        except Exception as error:
            buffer = io.BytesIO()
            torch.save({"error": ["TypeError", f"the result cannot be sent: {error}"[:4000], ""]}, buffer)
        state["reply"] = base64.b64encode(buffer.getvalue()).decode()

    def reply():
        return state.pop("reply", "")

    setattr(builtins, _name, (handle, reply))

__grading_serve(%r, %r)
del __grading_serve
'''


class OutsideChecker:
    """The grader's end of one notebook's checker, forked from the fork server (grading/forks.py)."""

    def __init__(self, preload: list[str]) -> None:
        """Get a fresh checker (before the kernel starts), with the modules `preload` imported; not yet connected."""
        self.connected = False
        address = os.environ.get(forks.FORKS_ENV)
        try:
            self._socket, pid, self.folder = forks.connect(address or forks.fork_server(), preload)
        except (OSError, ValueError, KeyError):
            if not address:
                raise
            # autograde's server is gone (its grader was stopped): this process starts its own
            self._socket, pid, self.folder = forks.connect(forks.fork_server(), preload)
        try:  # a handle on the process itself: the kill in close() cannot reach a later one with its pid
            self._pidfd: int | None = os.pidfd_open(pid)
        except (AttributeError, OSError):
            self._pidfd = None
        self._pid = pid
        self._to = self._socket.makefile("w", encoding="utf-8")
        self._from = self._socket.makefile("r", encoding="utf-8")

    def _send(self, request: dict) -> None:
        self._to.write(json.dumps(request) + "\n")
        self._to.flush()

    def connect(self, connection_file: str, name: str, marker: str, pid: int, no_network: bool) -> None:
        """Tell the checker which kernel to ask, under which names (once the kernel runs), and
        whether to leave the network first (it then reaches the kernel only through Unix sockets)."""
        self._send({"connection_file": connection_file, "name": name, "marker": marker, "pid": pid, "no_network": no_network})
        self.connected = True

    def run(self, source: str, *, timeout: float, fetch: list[str], quiet: bool = False, define: list[str] | None = None) -> dict:
        """Run one cell in the checker: {"outputs": [...], "status": "ok" | "error" | "timeout" | "crashed"}."""
        try:
            self._send({"source": source, "timeout": timeout, "fetch": fetch, "quiet": quiet, "define": define or []})
            line = self._from.readline()
            result = json.loads(line)
            if not isinstance(result, dict):
                raise ValueError(f"unexpected reply {line[:200]!r}")
            return result
        except Exception as error:  # the checker is the grader's own code: a failure here is a bug to report
            return {"status": "crashed", "outputs": [], "why": f"the checker failed: {error}"[:500]}

    def close(self) -> None:
        try:
            if self._pidfd is not None:
                signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)
                os.close(self._pidfd)
            else:
                os.kill(self._pid, signal.SIGKILL)
        except OSError:  # it has ended already
            pass
        for f in (self._to, self._from, self._socket):
            try:
                f.close()
            except OSError:
                pass
        if Path(self.folder).name.startswith("grading-checker-"):
            shutil.rmtree(self.folder, ignore_errors=True)


def new_names() -> tuple[str, str]:
    """A fresh name for the kernel's server and a fresh marker for references, per notebook."""
    return "_grading_" + secrets.token_hex(8), "ref:" + secrets.token_hex(16)


