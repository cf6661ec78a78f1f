"""Test cells judged outside the student's kernel: a verdict the student's code cannot forge.

grading/verdict.py asks the kernel for evidence that a test cell ran; the kernel is the student's,
and a student who studies that checker can forge its evidence. For the test cells that allow it,
`OutsideChecker` does not ask the kernel at all. The cell runs in a *checker*, a Python process of
the grader's that never runs a line of the student's code:

* the checker runs the course's own cells (locked, not answers; nbgrader restored their source)
  that need nothing of the student's, and then each such test cell, in its own namespace. The
  names a test cell takes from the student (`nearest_upsample`, `accuracy`) are fetched from the
  kernel when the cell starts;
* what the kernel sends back is data only: tensors (exactly `torch.Tensor`), numbers, strings,
  tuples, lists and dicts of them, read with `torch.load(weights_only=True)`, and modules built
  only from `torch.nn`'s own classes, rebuilt here from their weights and settings. Anything else
  (a function, the student's own class, a tensor look-alike) stays in the kernel and is handled
  through a `Remote` reference: calling it, or reading an attribute, asks the kernel again;
* `unavailable(...)` in a test cell switches the same functions off in the kernel for every call
  made inside it; an exception the student's code raises comes back as the same built-in type
  (any other type as a `RemoteError` of its name), with the line of the student's code;
* the comparisons (`check_tensor`, `assert`) run in the checker, so no hook, rebound name or
  replaced probe in the kernel can change their outcome, and hidden tests never enter the kernel.

A test cell runs outside when `outside_cells` allows it: it must not look inside a module the
student's own class built (`check_own_module`, `.modules()`, `.parameters()`, gradients with
`.backward()`), because such a module stays in the kernel. Those cells, and cells that share names
with them, still run in the kernel under grading/verdict.py's evidence.
"""

from __future__ import annotations

import ast
import base64
import io
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from nbformat.notebooknode import NotebookNode

__all__ = ["outside_cells", "OutsideChecker", "SERVER", "UNSUPPORTED"]

# What a cell run outside cannot do with an object that stays in the kernel.
UNSUPPORTED = ("check_own_module", "count_parameters", ".modules()", ".parameters()", "backward(", ".grad", 'torch.device("meta")', "requires_grad")


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


def _supported(source: str) -> bool:
    """Whether a test cell can run outside: nothing of `UNSUPPORTED`, and no class of its own (an
    instance handed to the student's code would have to be rebuilt in the kernel, which lacks it)."""
    if any(marker in source for marker in UNSUPPORTED):
        return False
    return not any(isinstance(node, ast.ClassDef) for node in ast.walk(ast.parse(source)))


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
    outside = {i for i, kind, names in cells if kind == "test" and names is not None and _supported(nb.cells[i].source)}
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
                fetch[i] = sorted(n for n in read if not own(n))
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
    import base64, builtins, importlib, io, sys, types
    import torch
    from IPython import get_ipython
    import seglib.testing as _testing
    _ns, refs, state = get_ipython().user_ns, {}, {}
    base = set(vars(torch.nn.Module()))
    plain = (type(None), bool, int, float, complex, str, bytes, torch.dtype, torch.device, torch.Size)

    def ref(value):
        refs[id(value)] = value
        kind = type(value)
        return (_marker, id(value), str(getattr(kind, "__name__", "object"))[:60], callable(value))

    def module_spec(m, depth):
        if depth > 30 or type(m).__module__.split(".")[:2] != ["torch", "nn"]:
            return None
        attrs = {}
        for k, v in vars(m).items():
            if k in base:  # nn.Module's own bookkeeping (hooks, the parameter dicts): rebuilt there
                continue
            try:
                attrs[k] = export(v, depth + 1, modules=False)
            except ValueError:
                return None
        children = {}
        for k, child in m._modules.items():
            children[k] = None if child is None else module_spec(child, depth + 1)
            if child is not None and children[k] is None:
                return None
        tensors = lambda d: {k: (None if v is None else v.detach().cpu()) for k, v in d.items()}
        return {_marker: type(m).__module__ + ":" + type(m).__qualname__, "attrs": attrs, "training": bool(m.training),
                "parameters": tensors(m._parameters), "buffers": tensors(m._buffers), "children": children}

    def export(value, depth=0, modules=True):
        if depth > 30:
            raise ValueError("nested too deeply")
        kind = type(value)
        if kind in plain:
            return value
        if kind is torch.Tensor or kind is torch.nn.Parameter:
            return value.detach().cpu().clone()
        if kind is tuple or kind is list:
            return kind(export(v, depth + 1, modules) for v in value)
        if kind is dict and all(type(k) in (str, int) for k in value):
            return {k: export(v, depth + 1, modules) for k, v in value.items()}
        if modules and isinstance(value, torch.nn.Module):
            spec = module_spec(value, depth)
            if spec is not None:
                return spec
        if not modules:
            raise ValueError("not plain data")
        return ref(value)

    def revive(value):
        if type(value) is tuple and len(value) == 2 and value[0] == _marker:
            return refs[value[1]]
        if type(value) in (tuple, list):
            return type(value)(revive(v) for v in value)
        if type(value) is dict:
            return {k: revive(v) for k, v in value.items()}
        return value

    def resolve(path):
        owner, _, qualname = path.partition(":")
        obj = importlib.import_module(owner)
        for part in qualname.split(".") if qualname else ():
            obj = getattr(obj, part)
        return obj

    def handle(request):
        state.pop("reply", None)
        try:
            req = torch.load(io.BytesIO(base64.b64decode(request)), weights_only=False)
            op = req["op"]
            if op == "names":
                out = {n: export(_ns[n]) for n in req["names"] if n in _ns}
            else:
                target = refs[req["ref"]]
                args, kwargs = revive(req.get("args", ())), revive(req.get("kwargs", {}))
                off = []
                for kind, path, attribute in req.get("off", ()):
                    try:
                        off.append(resolve(path) if kind == "function" else (resolve(path), attribute))
                    except Exception:
                        pass
                with _testing.unavailable(*off), torch.set_grad_enabled(req.get("grad", True)):
                    if op == "call":
                        out = export(target(*args, **kwargs))
                    elif op == "getattr":
                        out = export(getattr(target, req["name"]))
                    elif op == "len":
                        out = len(target)
                    elif op == "getitem":
                        out = export(target[args[0]])
                    elif op == "list":
                        out = export(list(target))
                    elif op == "repr":
                        out = repr(target)[:200]
                    else:
                        raise ValueError(f"unknown request {op!r}")
            reply = {"ok": out}
        except BaseException as error:  # noqa: BLE001: whatever the student's code raised goes back
            try:
                text = str(error)
            except Exception:
                text = ""
            reply = {"error": [type(error).__name__, text[:4000], _testing._where(error)]}
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
    """The grader's end: the checker process, started once per notebook (see the module docstring)."""

    def __init__(self, connection_file: str, name: str, marker: str, pid: int, cwd: str | None = None) -> None:
        # No network, like the kernel: the course's cells then decide as they did there (ps6 picks
        # its data set by whether it can download one).
        isolate = [shutil.which("unshare") or "unshare", "--net", "--"] if os.geteuid() == 0 else [shutil.which("unshare") or "unshare", "--user", "--net", "--"]
        try:
            if subprocess.run([*isolate, "true"], capture_output=True, timeout=30).returncode != 0:
                isolate = []
        except (OSError, subprocess.SubprocessError):
            isolate = []
        # `-I` and an empty folder of its own: nothing in the student's folder (a `seglib/` or
        # `torch.py` of theirs) can come before the course's code on sys.path.
        here = str(Path(__file__).resolve().parent.parent)
        start = f"import sys; sys.path.insert(0, {here!r}); from grading.outside import _main; _main(*sys.argv[1:])"
        self.folder = tempfile.mkdtemp(prefix="grading-checker-")
        self.process = subprocess.Popen(
            [*isolate, sys.executable, "-I", "-c", start, connection_file, name, marker, str(pid)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=self.folder,
            env={**os.environ, "MPLBACKEND": "Agg"}, text=True, bufsize=1,
        )

    def run(self, source: str, *, timeout: float, fetch: list[str], quiet: bool = False) -> dict:
        """Run one cell in the checker: {"outputs": [...], "status": "ok" | "error" | "timeout" | "crashed"}."""
        try:
            assert self.process.stdin is not None and self.process.stdout is not None
            self.process.stdin.write(json.dumps({"source": source, "timeout": timeout, "fetch": fetch, "quiet": quiet}) + "\n")
            self.process.stdin.flush()
            line = self.process.stdout.readline()
            result = json.loads(line)
            if not isinstance(result, dict):
                raise ValueError(f"unexpected reply {line[:200]!r}")
            return result
        except Exception as error:  # the checker is the grader's own code: a failure here is a bug to report
            return {"status": "crashed", "outputs": [], "why": f"the checker failed: {error}"[:500]}

    def close(self) -> None:
        try:
            self.process.kill()
            self.process.wait(timeout=10)
        except Exception:
            pass
        shutil.rmtree(self.folder, ignore_errors=True)


# ---- the checker process ---------------------------------------------------------------------

_IDENTIFIER = re.compile(r"[^A-Za-z0-9_]")


class RemoteError(Exception):
    """An exception of a type that is not Python's own, raised by the student's code in the kernel."""


class CellTimeout(BaseException):
    """The cell ran out of time (a BaseException: a test's `except Exception` must not take it)."""


def _error_type(name: str) -> type[BaseException]:
    import builtins

    found = getattr(builtins, name, None)
    if isinstance(found, type) and issubclass(found, Exception) and found.__module__ == "builtins":
        return found
    shown = _IDENTIFIER.sub("_", name)[:60] or "RemoteError"
    return type(shown if shown[0].isalpha() else "E" + shown, (RemoteError,), {})


class _Kernel:
    """Requests to the student's kernel, and what comes back read as data only."""

    def __init__(self, connection_file: str, name: str, marker: str, pid: int) -> None:
        from jupyter_client import BlockingKernelClient

        self.client = BlockingKernelClient(connection_file=connection_file)
        self.client.load_connection_file()
        self.client.start_channels()
        self.name, self.marker, self.pid = name, marker, pid
        self.deadline = float("inf")
        self.printed: list[str] = []  # what the student's code printed during requests
        self.classes: dict[tuple[str, bool], type] = {}

    def request(self, op: str, **fields: Any) -> Any:
        import torch

        from seglib import testing

        fields["off"] = testing.switched_off()
        fields["grad"] = torch.is_grad_enabled()
        for key in ("args", "kwargs"):
            if key in fields:
                fields[key] = self._send(fields[key])
        buffer = io.BytesIO()
        torch.save({"op": op, **fields}, buffer)
        code = f"__import__('builtins').{self.name}[0]({base64.b64encode(buffer.getvalue()).decode()!r})"
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise CellTimeout("the cell ran out of time and was interrupted")

        reply = self._execute(code, f"__import__('builtins').{self.name}[1]()")
        try:
            text = reply["content"]["user_expressions"]["r"]["data"]["text/plain"]
            if not isinstance(text, str) or len(text) > (1 << 28):
                raise ValueError("too long")
            payload = base64.b64decode(ast.literal_eval(text))
            answer = torch.load(io.BytesIO(payload), weights_only=True)
        except Exception:
            raise RemoteError("the kernel's answer could not be read (did your code replace the grader's functions?)") from None
        if not isinstance(answer, dict):
            raise RemoteError("the kernel's answer could not be read")
        if "error" in answer:
            ename, text, where = (list(answer["error"]) + ["", "", ""])[:3]
            try:
                error = _error_type(str(ename))(str(text))
            except Exception:  # a built-in type that wants other arguments (UnicodeDecodeError)
                error = _error_type("E" + str(ename))(str(text))
            error.remote_where = str(where)[:500]  # read by seglib.testing._where
            raise error
        return self._revive(answer.get("ok"))

    def request_names(self, names: list[str]) -> dict[str, Any]:
        """The student's values of `names` (those the kernel has)."""
        answer = self.request("names", names=list(names))
        return {k: v for k, v in answer.items() if type(k) is str and k in names} if type(answer) is dict else {}

    def _execute(self, code: str, expression: str) -> dict:
        """Run `code` in the kernel; its execute_reply, with what it printed kept in `printed`."""
        client = self.client
        msg_id = client.execute(code, silent=False, store_history=False, allow_stdin=False, user_expressions={"r": expression})
        reply, idle = None, False
        while reply is None or not idle:
            if time.monotonic() > self.deadline:
                client.control_channel.send(client.session.msg("interrupt_request", {}))
                raise CellTimeout("the cell ran out of time and was interrupted")
            if reply is not None and time.monotonic() > waited + 5:
                break  # the reply came and the last output is late: do not wait for it forever
            if not _alive(self.pid):
                raise RemoteError("the kernel died (your code ended it, or it ran out of memory)")
            for msg in _drain(client.get_iopub_msg):
                if msg.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                content = msg.get("content", {})
                if msg.get("msg_type") == "stream" and sum(map(len, self.printed)) < 200_000:
                    self.printed.append(str(content.get("text", ""))[:100_000])
                elif msg.get("msg_type") == "status" and content.get("execution_state") == "idle":
                    idle = True
            if reply is None:
                try:
                    msg = client.get_shell_msg(timeout=0.1)
                except Exception:  # queue.Empty
                    continue
                if msg.get("parent_header", {}).get("msg_id") == msg_id:
                    reply, waited = msg, time.monotonic()
        return reply

    def _send(self, value: Any) -> Any:
        if isinstance(value, Remote):
            return (self.marker, object.__getattribute__(value, "_ref"))
        if type(value) in (tuple, list):
            return type(value)(self._send(v) for v in value)
        if type(value) is dict:
            return {k: self._send(v) for k, v in value.items()}
        return value

    def _revive(self, value: Any) -> Any:
        if type(value) is tuple and len(value) == 4 and value[0] == self.marker:
            _, ref, kind, is_callable = value
            return self._remote_class(str(kind), bool(is_callable))(self, int(ref))
        if type(value) in (tuple, list):
            return type(value)(self._revive(v) for v in value)
        if type(value) is dict:
            if self.marker in value:
                return _rebuild(value, self.marker)
            return {k: self._revive(v) for k, v in value.items()}
        return value

    def _remote_class(self, kind: str, is_callable: bool) -> type:
        key = (kind, is_callable)
        if key not in self.classes:
            shown = _IDENTIFIER.sub("_", kind)[:60] or "object"
            namespace = {"__call__": Remote._call} if is_callable else {}
            self.classes[key] = type(shown if shown[0].isalpha() or shown[0] == "_" else "R" + shown, (Remote,), namespace)
        return self.classes[key]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie: ended, not yet reaped by the grader
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][:1] != "Z"
    except OSError:
        return True


def _drain(get: Any) -> list[dict]:
    found = []
    while True:
        try:
            found.append(get(timeout=0.01))
        except Exception:  # queue.Empty
            return found


def _rebuild(spec: dict, marker: str) -> Any:
    """A module of torch.nn's own classes from its settings and tensors (never the student's code)."""
    import importlib

    import torch

    module_name, _, qualname = str(spec.get(marker, "")).partition(":")
    if module_name.split(".")[:3] != ["torch", "nn", "modules"] or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", qualname):
        raise RemoteError(f"cannot rebuild {module_name}.{qualname}")
    cls = getattr(importlib.import_module(module_name), qualname, None)
    if not (isinstance(cls, type) and issubclass(cls, torch.nn.Module)):
        raise RemoteError(f"cannot rebuild {module_name}.{qualname}")
    module = cls.__new__(cls)
    torch.nn.Module.__init__(module)
    for key, value in dict(spec.get("attrs", {})).items():
        if isinstance(key, str) and not key.startswith("__"):
            object.__setattr__(module, key, value)
    for key, value in dict(spec.get("parameters", {})).items():
        module.register_parameter(key, None if value is None else torch.nn.Parameter(value, requires_grad=value.is_floating_point()))
    for key, value in dict(spec.get("buffers", {})).items():
        module.register_buffer(key, value)
    for key, child in dict(spec.get("children", {})).items():
        module.add_module(key, None if child is None else _rebuild(child, marker))
    module.train(bool(spec.get("training", True)))
    for key, child in dict(spec.get("children", {})).items():  # train() set every child: restore each one's own flag
        if child is not None:
            _set_training(module._modules[key], child, marker)
    return module


def _set_training(module: Any, spec: dict, marker: str) -> None:
    module.training = bool(spec.get("training", True))
    for key, child in dict(spec.get("children", {})).items():
        if child is not None:
            _set_training(module._modules[key], child, marker)


class Remote:
    """An object that stays in the student's kernel: a function, an instance of the student's class."""

    __slots__ = ("_kernel", "_ref")

    def __init__(self, kernel: _Kernel, ref: int) -> None:
        object.__setattr__(self, "_kernel", kernel)
        object.__setattr__(self, "_ref", ref)

    def _ask(self, op: str, **fields: Any) -> Any:
        return object.__getattribute__(self, "_kernel").request(op, ref=object.__getattribute__(self, "_ref"), **fields)

    def _call(self, *args: Any, **kwargs: Any) -> Any:
        return self._ask("call", args=args, kwargs=kwargs)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__") and name not in ("__name__", "__qualname__", "__doc__"):
            raise AttributeError(name)
        return self._ask("getattr", name=name)

    def __setattr__(self, name: str, value: Any) -> None:
        raise TypeError(f"cannot set {name} on an object of your code from a test")

    def __len__(self) -> int:
        n = self._ask("len")
        if type(n) is not int:
            raise TypeError("len() of your object is not an int")
        return n

    def __getitem__(self, key: Any) -> Any:
        return self._ask("getitem", args=(key,))

    def __iter__(self) -> Any:
        items = self._ask("list")
        if type(items) is not list:
            raise TypeError("your object cannot be iterated")
        return iter(items)

    def __repr__(self) -> str:
        try:
            shown = self._ask("repr")
        except Exception:
            shown = None
        return shown if type(shown) is str else f"<{type(self).__name__}>"


def _traceback(error: BaseException, source: str) -> list[str]:
    """IPython-like lines for an error in a cell run by the checker: the cell's lines only."""
    import traceback

    lines = ["-" * 75, f"{type(error).__name__}                         Traceback (most recent call last)"]
    rows = source.split("\n")
    for frame in traceback.extract_tb(error.__traceback__):
        if frame.filename == "<test cell>" and 0 < (frame.lineno or 0) <= len(rows):
            lines.append(f"Cell line {frame.lineno}\n----> {frame.lineno} {rows[frame.lineno - 1]}")
    where = getattr(error, "remote_where", "")
    lines.append(f"{type(error).__name__}: {error}{where if isinstance(error, RemoteError) and where else ''}")
    return lines


def _main(connection_file: str, name: str, marker: str, pid: str) -> None:
    import contextlib

    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    sys.stdout = sys.stderr = io.StringIO()  # nothing a cell prints reaches the protocol
    kernel = _Kernel(connection_file, name, marker, int(pid))
    namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": __builtins__}
    for line in sys.stdin:
        request = json.loads(line)
        source, quiet = str(request["source"]), bool(request.get("quiet"))
        kernel.deadline = time.monotonic() + float(request.get("timeout") or 300)
        kernel.printed = []
        printed = io.StringIO()
        outputs, status = [], "ok"

        class Both(io.StringIO):  # the student's prints go in where they happened
            def write(self, text: str) -> int:
                if kernel.printed:
                    printed.write("".join(kernel.printed))
                    kernel.printed.clear()
                return printed.write(text)

        out = Both()
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
                if request.get("fetch"):
                    for n in request["fetch"]:
                        namespace.pop(n, None)  # a name the student's kernel no longer has is not set
                    namespace.update(kernel.request_names(request["fetch"]))
                exec(compile(source, "<test cell>", "exec"), namespace)
        except CellTimeout as error:
            status = "timeout"
            outputs.append({"output_type": "error", "ename": "CellTimeoutError", "evalue": str(error), "traceback": [f"CellTimeoutError: {error}"]})
        except BaseException as error:  # noqa: BLE001: the cell's failure is its result
            status = "error"
            outputs.append({"output_type": "error", "ename": type(error).__name__, "evalue": str(error)[:20_000], "traceback": _traceback(error, source)})
        if kernel.printed:
            printed.write("".join(kernel.printed))
        text = printed.getvalue()
        if text and not quiet:
            outputs.insert(0, {"output_type": "stream", "name": "stdout", "text": text[:200_000]})
        protocol.write(json.dumps({"status": status, "outputs": outputs}) + "\n")


def new_names() -> tuple[str, str]:
    """A fresh name for the kernel's server and a fresh marker for references, per notebook."""
    return "_grading_" + secrets.token_hex(8), "ref:" + secrets.token_hex(16)


