"""The checker: the process that runs test cells outside the student's kernel (grading/outside.py).

It runs the course's cells and the test cells it is given, one at a time, and reads back from the
kernel only data (`torch.load(weights_only=True)`). Objects that stay in the kernel are `Remote`
references; modules of the student's own classes come back as a `Mirror`, with their weights here
and their forward run in the kernel (`_Bridge` carries gradients back through it).
"""

from __future__ import annotations

import ast
import base64
import builtins
import contextlib
import importlib
import io
import json
import os
import re
import sys
import time
import traceback
import types
from pathlib import Path
from typing import Any

import torch

from grading.forks import leave_network
from seglib import testing


_IDENTIFIER = re.compile(r"[^A-Za-z0-9_]")


class RemoteError(Exception):
    """An exception of a type that is not Python's own, raised by the student's code in the kernel."""


class CellTimeout(BaseException):
    """The cell ran out of time (a BaseException: a test's `except Exception` must not take it)."""


def _error_type(name: str) -> type[BaseException]:
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
        self.classes: dict[Any, type] = {}
        self.holding = False  # the kernel holds functions switched off for this cell

    def request(self, op: str, **fields: Any) -> Any:
        fields["off"] = testing.switched_off()
        self.holding = op in ("call", "forward") and bool(fields["off"])  # the kernel keeps them off (outside.py)
        fields["grad"] = torch.is_grad_enabled()
        fields["device"] = str(torch.get_default_device())
        # The student's code draws from the test's random state, and leaves it as it would in the
        # kernel: a test may seed it, or check that an answer left it alone.
        fields["rng"] = torch.get_rng_state()
        self._syncs: list[tuple] = []
        for key in ("args", "kwargs"):
            if key in fields:
                fields[key] = self._send(fields[key])
        fields["sync"] = self._syncs
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
        rng = answer.get("rng")
        if type(rng) is torch.Tensor and rng.dtype == torch.uint8 and rng.shape == fields["rng"].shape:
            torch.set_rng_state(rng)
        if "error" in answer:
            ename, text, where = (list(answer["error"]) + ["", "", ""])[:3]
            try:
                error = _error_type(str(ename))(str(text))
            except Exception:  # a built-in type that wants other arguments (UnicodeDecodeError)
                error = _error_type("E" + str(ename))(str(text))
            error.remote_where = str(where)[:500]  # read by seglib.testing._where
            raise error
        return self._revive(answer.get("ok"))

    def release(self) -> None:
        """End what the cell's requests switched off in the kernel, before the next answer cell runs there."""
        if self.holding:
            self.deadline = time.monotonic() + 60
            self.request("release")

    def request_names(self, names: list[str]) -> dict[str, Any]:
        """The student's values of `names` (those the kernel has)."""
        answer = self.request("names", names=list(names))
        return {k: v for k, v in answer.items() if type(k) is str and k in names} if type(answer) is dict else {}

    def invoke(self, op: str, ref: int, args: tuple, kwargs: dict, mirror: Any = None) -> Any:
        """Call a function or run a module's forward in the kernel; gradients flow back through it."""
        grad = torch.is_grad_enabled()
        leaves = [a for a in [*args, *kwargs.values()] if type(a) is torch.Tensor and a.requires_grad] if grad else []
        params = dict(mirror.named_parameters()) if mirror is not None and grad else {}
        fields: dict[str, Any] = {"ref": ref, "args": args, "kwargs": kwargs}
        if mirror is not None:
            fields["tensors"], fields["flags"] = mirror._changes()
        reply = self.request(op, **fields)
        if type(reply) is not dict:
            raise RemoteError("the kernel's answer could not be read")
        if mirror is not None:
            mirror._received(reply.get("buffers"))
        for key, attrs in (reply.get("updates") or {}).items() if type(reply.get("updates")) is dict else ():
            target = args[key] if type(key) is int and 0 <= key < len(args) else kwargs.get(key) if type(key) is str else None
            if type(target).__module__ == "__main__" and type(attrs) is dict:
                for k, v in attrs.items():
                    if type(k) is str and not k.startswith("__") and k in vars(target):
                        setattr(target, k, v)
        value = reply.get("value")
        graph = reply.get("graph")
        outs = [value] if type(value) is torch.Tensor else list(value) if type(value) in (tuple, list) and value and all(type(v) is torch.Tensor for v in value) else None
        if graph is None or outs is None or not (leaves or any(p.requires_grad for p in params.values())):
            return value
        names = [n for n in reply.get("parameters", []) if type(n) is str]
        inputs = [*leaves, *(params.get(n, torch.zeros(0)) for n in names)]
        results = _Bridge.apply((self, graph, len(outs)), *outs, *inputs)
        return results[0] if type(value) is torch.Tensor else type(value)(results)

    def mirror_class(self, classes: Any) -> type:
        """A class standing for the student's module class, named as the kernel reports its classes."""
        chain = []
        for entry in classes if type(classes) is list else []:
            module, qualname = (list(entry) + ["", ""])[:2] if type(entry) in (tuple, list) else ("", "")
            if str(module).startswith("torch.nn") or module == "builtins":
                break
            chain.append((str(module)[:200], str(qualname)[:200]))
        key = tuple(chain)
        if key not in self.classes:
            cls = Mirror
            for module, qualname in reversed(chain):
                shown = _IDENTIFIER.sub("_", qualname.rpartition(".")[2]) or "Module"
                cls = type(shown if shown[0].isalpha() or shown[0] == "_" else "M" + shown, (cls,), {"__module__": module, "__qualname__": qualname})
            self.classes[key] = cls
        assert issubclass(self.classes[key], torch.nn.Module)
        return self.classes[key]

    def _execute(self, code: str, expression: str) -> dict:
        """Run `code` in the kernel; its execute_reply, with what it printed kept in `printed`."""
        client = self.client
        msg_id = client.execute(code, silent=False, store_history=False, allow_stdin=False, user_expressions={"r": expression})
        reply = None
        while reply is None:
            left = self.deadline - time.monotonic()
            if left <= 0:
                client.control_channel.send(client.session.msg("interrupt_request", {}))
                raise CellTimeout("the cell ran out of time and was interrupted")
            try:
                msg = client.get_shell_msg(timeout=min(1.0, left))
            except Exception:  # queue.Empty: is the kernel still there?
                if not _alive(self.pid):
                    raise RemoteError("the kernel died (your code ended it, or it ran out of memory)") from None
                continue
            if msg.get("parent_header", {}).get("msg_id") == msg_id:
                reply = msg
        # What the request printed, up to the kernel's "idle" (late output is not waited for long).
        end = time.monotonic() + 5
        while time.monotonic() < end:
            try:
                msg = client.get_iopub_msg(timeout=max(end - time.monotonic(), 0.01))
            except Exception:  # queue.Empty
                break
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            content = msg.get("content", {})
            if msg.get("msg_type") == "stream" and sum(map(len, self.printed)) < 200_000:
                self.printed.append(str(content.get("text", ""))[:100_000])
            elif msg.get("msg_type") == "status" and content.get("execution_state") == "idle":
                break
        return reply

    def _send(self, value: Any) -> Any:
        if isinstance(value, Remote):
            return (self.marker, object.__getattribute__(value, "_ref"))
        if isinstance(value, Mirror):  # the kernel's copy is brought in line before the request runs
            self._syncs.append((value._ref, *value._changes()))
            return (self.marker, value._ref)
        if type(value) is torch.Tensor and value.requires_grad:
            return value.detach().requires_grad_(True)
        if type(value) in (tuple, list):
            return type(value)(self._send(v) for v in value)
        if type(value) is dict:
            return {k: self._send(v) for k, v in value.items()}
        return value

    def _revive(self, value: Any) -> Any:
        if type(value) is tuple and len(value) == 5 and value[0] == self.marker:
            _, ref, kind, is_callable, name = value
            return self._remote_class(str(kind), bool(is_callable))(self, int(ref), name if type(name) is str else None)
        if type(value) in (tuple, list):
            return type(value)(self._revive(v) for v in value)
        if type(value) is dict:
            if self.marker in value:
                return _rebuild(value, self.marker, self)
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


def _rebuild(spec: dict, marker: str, kernel: Any = None) -> Any:
    """A module from what the kernel sent: torch.nn's own classes for real, from their settings and
    tensors; the student's classes as a `Mirror` (never the student's code)."""
    kind = str(spec.get(marker, ""))
    if kind == "mirror" and kernel is not None:
        cls = kernel.mirror_class(spec.get("classes"))
    else:
        module_name, _, qualname = kind.partition(":")
        cls = None
        if module_name.split(".")[:3] == ["torch", "nn", "modules"] and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", qualname):
            cls = getattr(importlib.import_module(module_name), qualname, None)
        if not (isinstance(cls, type) and issubclass(cls, torch.nn.Module)):
            raise RemoteError(f"cannot rebuild {module_name}.{qualname}")
    module = cls.__new__(cls)
    torch.nn.Module.__init__(module)
    for key, value in dict(spec.get("attrs", {})).items():
        if isinstance(key, str) and not key.startswith("__") and not hasattr(cls, key):
            object.__setattr__(module, key, value)
    requires = spec.get("requires_grad") if type(spec.get("requires_grad")) is dict else {}
    for key, value in dict(spec.get("parameters", {})).items():
        floating = value is not None and (value.is_floating_point() or value.is_complex())
        module.register_parameter(key, None if value is None else torch.nn.Parameter(value, requires_grad=bool(requires.get(key, floating)) and floating))
    for key, value in dict(spec.get("buffers", {})).items():
        module.register_buffer(key, value)
    for key, child in dict(spec.get("children", {})).items():
        module.add_module(key, None if child is None else _rebuild(child, marker, kernel))
    object.__setattr__(module, "training", bool(spec.get("training", True)))
    if isinstance(module, Mirror):
        object.__setattr__(module, "_kernel", kernel)
        object.__setattr__(module, "_ref", int(spec.get("ref", 0)))
        module._received(None)
    return module


class Mirror(torch.nn.Module):
    """A module of the student's own class: its weights, settings and children here, where a test
    reads and sets them; its forward runs in the kernel, on the weights as they are here."""

    _kernel: Any
    _ref: int

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self._kernel.invoke("forward", self._ref, args, kwargs, mirror=self)

    def _tensors(self) -> dict[str, Any]:
        found = dict(self.named_parameters(remove_duplicate=False))
        found.update(self.named_buffers(remove_duplicate=False))
        return found

    def _changes(self) -> tuple[dict, dict]:
        """(the weights and buffers changed here since the kernel's copy last matched, every submodule's training flag)."""
        synced = self.__dict__.get("_synced", {})
        changed = {n: t.detach() for n, t in self._tensors().items() if t is not None and synced.get(n) != (id(t), t._version)}
        flags = {n: m.training for n, m in self.named_modules(remove_duplicate=False)}
        self._received(None)
        return changed, flags

    def _received(self, buffers: Any) -> None:
        """Take the buffers the kernel's forward updated (BatchNorm's statistics); note what matches."""
        if type(buffers) is dict:
            own = dict(self.named_buffers(remove_duplicate=False))
            with torch.no_grad():
                for name, value in buffers.items():
                    target = own.get(name)
                    if type(value) is torch.Tensor and target is not None and target.shape == value.shape and not target.is_meta:
                        target.copy_(value)
        object.__setattr__(self, "_synced", {n: (id(t), t._version) for n, t in self._tensors().items() if t is not None})

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name.startswith("_") or "_kernel" not in self.__dict__:
                raise
            reply = self._kernel.request("getattr", ref=self._ref, name=name)
            if type(reply) is not dict:
                raise RemoteError("the kernel's answer could not be read") from None
            return reply.get("value")


def _make_bridge() -> type:
    class _Bridge(torch.autograd.Function):
        """The student's outputs, computed in the kernel, as a node of the checker's graph: its
        backward asks the kernel for the gradients of the inputs and weights that produced them."""

        @staticmethod
        def forward(ctx: Any, info: tuple, *tensors: Any) -> Any:  # type: ignore[override]
            kernel, graph, n_out = info
            ctx.info, ctx.shapes = info, [t.shape for t in tensors[n_out:]]
            return tuple(t.clone() for t in tensors[:n_out])

        @staticmethod
        def backward(ctx: Any, *grads: Any) -> Any:  # type: ignore[override]
            kernel, graph, n_out = ctx.info
            got = kernel.request("backward", graph=graph, grads=[None if g is None else g.detach() for g in grads])
            got = (list(got) if type(got) is list else []) + [None] * len(ctx.shapes)
            needs = ctx.needs_input_grad[1 + n_out :]
            inputs = [g if type(g) is torch.Tensor and need and g.shape == shape else None for g, need, shape in zip(got, needs, ctx.shapes)]
            return (None, *([None] * n_out), *inputs)

    return _Bridge


_Bridge = _make_bridge()


class Remote:
    """An object that stays in the student's kernel: a function, an instance of the student's class."""

    __slots__ = ("_kernel", "_ref", "_name")

    def __init__(self, kernel: _Kernel, ref: int, name: str | None = None) -> None:
        object.__setattr__(self, "_kernel", kernel)
        object.__setattr__(self, "_ref", ref)
        object.__setattr__(self, "_name", name)  # a function's __name__, for messages, without asking again

    def _ask(self, op: str, **fields: Any) -> Any:
        reply = object.__getattribute__(self, "_kernel").request(op, ref=object.__getattribute__(self, "_ref"), **fields)
        if type(reply) is not dict:
            raise RemoteError("the kernel's answer could not be read")
        return reply.get("value")

    def _call(self, *args: Any, **kwargs: Any) -> Any:
        return object.__getattribute__(self, "_kernel").invoke("call", object.__getattribute__(self, "_ref"), args, kwargs)

    def __getattr__(self, name: str) -> Any:
        if name == "__name__" and object.__getattribute__(self, "_name") is not None:
            return object.__getattribute__(self, "_name")
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
    lines = ["-" * 75, f"{type(error).__name__}                         Traceback (most recent call last)"]
    rows = source.split("\n")
    for frame in traceback.extract_tb(error.__traceback__):
        if frame.filename == "<test cell>" and 0 < (frame.lineno or 0) <= len(rows):
            lines.append(f"Cell line {frame.lineno}\n----> {frame.lineno} {rows[frame.lineno - 1]}")
    where = getattr(error, "remote_where", "")
    lines.append(f"{type(error).__name__}: {error}{where if isinstance(error, RemoteError) and where else ''}")
    return lines


def main() -> None:
    """Serve the grader: a JSON line naming the kernel, then a JSON line per cell in and one of its outputs out."""
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    sys.stdout = sys.stderr = io.StringIO()  # nothing a cell prints reaches the protocol
    testing._only_record = True  # no student code runs here: `unavailable` only says what to switch off there
    first = sys.stdin.readline()
    if not first:
        return
    start = json.loads(first)  # the checker starts with the kernel, before the kernel's connection file exists
    if start.get("no_network") and not leave_network():  # it would not decide as the kernel's cells did
        for _ in sys.stdin:
            protocol.write(json.dumps({"status": "crashed", "outputs": [], "why": "the checker could not leave the network, as its sandboxed kernel has none"}) + "\n")
        return
    kernel = _Kernel(str(start["connection_file"]), str(start["name"]), str(start["marker"]), int(start["pid"]))
    # The cells run in a module registered as __main__, as in a kernel: an instance of a class a
    # test defines can then be pickled for the kernel, which is given the same class.
    main_module = types.ModuleType("__main__")
    sys.modules["__main__"] = main_module
    namespace: dict[str, Any] = main_module.__dict__
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
                if request.get("define"):
                    kernel.request("define", classes=[str(c) for c in request["define"]])
                if request.get("fetch"):
                    for n in request["fetch"]:
                        namespace.pop(n, None)  # a name the student's kernel no longer has is not set
                    namespace.update(kernel.request_names(request["fetch"]))
                try:
                    exec(compile(source, "<test cell>", "exec"), namespace)
                finally:
                    kernel.release()
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


