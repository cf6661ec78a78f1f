"""Helpers for graded test cells: clear failure messages, and the reference answer switched off.

Used by the assignments' test cells (see the instructors' page of the book). Two ideas:

* `check_tensor` fails with a message a student can act on: what was expected and what
  came back (type, shape, dtype, the first wrong value). It accepts only real tensors, so an
  object whose `==` is always true does not pass.
* `unavailable` switches functions off while a student's answer runs, so that an answer
  which merely calls `seglib`'s own implementation (or a built-in that would make the
  exercise trivial) fails instead of passing.
* `call_student` runs a student's function and turns an exception it raises into the course's
  own message: which function, called with what (shapes and dtypes), what it raised, and where
  in the student's code. `answer` and `check_number` do the same for answers given as variables.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import math
import traceback
import types
from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor

__all__ = ["answer", "call_student", "check_number", "check_own_module", "check_tensor", "describe", "digests", "switched_off", "unavailable"]

# Trusted references, taken when the test cells import this module (before any student code runs):
# a student who later rebinds `torch.isclose` does not change what the checks below compute.
_TENSOR, _PARAMETER = Tensor, torch.nn.Parameter
_isclose, _isnan = torch.isclose, torch.isnan
_type, _bool, _int = type, bool, int
_Module = torch.nn.Module


def check_tensor(
    got: Any,
    expected: Tensor,
    *,
    name: str = "result",
    atol: float = 1e-5,
    rtol: float = 1e-5,
    check_dtype: bool = True,
    hint: str | None = None,
) -> None:
    """Raise `AssertionError` with a helpful message unless `got` matches `expected`.

    Checks, in order: `got` is a `torch.Tensor` (not a subclass with its own `==`), the
    shape, the dtype (when `check_dtype`), no NaN, and the values within `atol + rtol·|expected|`.
    `hint`, when given, is added to every failure: the mistake that usually causes it.

    >>> check_tensor(torch.zeros(2, 3), torch.zeros(2, 3, dtype=torch.float64), name="x", hint="keep the dtype of the input")
    Traceback (most recent call last):
    AssertionError: x: expected dtype torch.float64, got torch.float32. Hint: keep the dtype of the input
    """
    # Exact types, by identity: a subclass could override the comparisons the checks below rely on,
    # and `in` would compare types with `==`, which a metaclass can answer as it likes.
    kind = _type(got)
    if kind is not _TENSOR and kind is not _PARAMETER:
        _fail(f"{name}: expected a torch.Tensor, got {kind.__name__}", hint)
    if got.shape != expected.shape:
        _fail(f"{name}: expected shape {tuple(expected.shape)}, got {tuple(got.shape)}", hint)
    if check_dtype and got.dtype != expected.dtype:
        _fail(f"{name}: expected dtype {expected.dtype}, got {got.dtype}", hint)
    got_f, expected_f = got.detach().double().cpu(), expected.detach().double().cpu()
    if _isnan(got_f).any() and not _isnan(expected_f).any():
        _fail(f"{name}: contains NaN at {_first_index(_isnan(got_f))}", hint)
    close = _isclose(got_f, expected_f, atol=atol, rtol=rtol, equal_nan=True)
    if not _bool(close.all()):
        index = _first_index(~close)
        _fail(
            f"{name}: {int((~close).sum())} of {close.numel()} values differ; first at index {index}: "
            f"expected {expected_f[index].item():.6g}, got {got_f[index].item():.6g}",
            hint,
        )


def _fail(message: str, hint: str | None) -> None:
    raise AssertionError(f"{message}. Hint: {hint}" if hint else message)


def describe(value: Any) -> str:
    """A short description of an argument or result for a message: tensors by shape and dtype.

    >>> describe(torch.zeros(2, 3, 7, 13))
    '(2, 3, 7, 13) float32 tensor'
    >>> describe((4, 4)), describe(torch.nn.Linear(2, 3))
    ('(4, 4)', 'Linear')
    """
    kind = _type(value)
    if kind is _TENSOR or kind is _PARAMETER:
        shape = ", ".join(str(_int(s)) for s in value.shape)
        return f"({shape}{',' if value.dim() == 1 else ''}) {str(value.dtype).removeprefix('torch.')} tensor"
    if isinstance(value, _Module):
        return kind.__name__
    # Types compared by identity, as in check_tensor: `in` would ask a metaclass's `==`.
    if (kind is list or kind is tuple) and len(value) <= 8:
        parts = [describe(v) for v in value]
        return ("[" + ", ".join(parts) + "]") if kind is list else ("(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")")
    if any(kind is plain for plain in (int, float, bool, str, type(None))):
        text = repr(value)
        return text if len(text) <= 60 else text[:57] + "..."
    return kind.__name__


def _where(error: BaseException) -> str:
    """' (at line N of your code: `source`)' for the innermost frame outside torch and seglib."""
    remote = getattr(error, "remote_where", None)  # raised in the kernel, judged outside it (grading/outside.py)
    if type(remote) is str:
        return remote
    try:
        frames = [f for f in traceback.extract_tb(error.__traceback__) if "site-packages" not in f.filename and "/seglib/" not in f.filename]
    except Exception:  # a hostile traceback must not hide the student's error
        return ""
    if not frames:
        return ""
    frame = frames[-1]
    line = (frame.line or "").strip()
    return f" (in `{frame.name}`, line {frame.lineno}{': ' + line if line else ''})"


def call_student(fn: Any, *args: Any, name: str | None = None, hint: str | None = None, **kwargs: Any) -> Any:
    """`fn(*args, **kwargs)`, with anything it raises reported as the course's `AssertionError`.

    The message names the function, the arguments (tensors by shape and dtype), the exception and
    the line of the student's code that raised it, then `hint` if given. An answer still left as
    `raise NotImplementedError()` is reported as not written yet.

    >>> def upsample(x, scale):
    ...     return x.reshape(5)
    >>> call_student(upsample, torch.zeros(2, 3, 7, 13), 2)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    AssertionError: your `upsample` raised RuntimeError for upsample((2, 3, 7, 13) float32 tensor, 2): shape '[5]' is invalid ...
    """
    shown = name if name is not None else str(getattr(fn, "__name__", "function"))
    if not callable(fn):
        _fail(f"`{shown}` should be a function, got {_type(fn).__name__}", hint)
    try:
        return fn(*args, **kwargs)
    except Exception as raised:  # noqa: BLE001: whatever the student's code raises is reported, never hidden
        error = raised
    # Raised outside the `except`, so that the student sees this message rather than torch's traceback.
    try:
        text = str(error)
    except Exception:
        text = ""
    called = f"{shown}({', '.join([describe(a) for a in args] + [f'{k}={describe(v)}' for k, v in kwargs.items()])})"
    if isinstance(error, NotImplementedError):
        message = f"`{shown}` is not written yet: it still raises NotImplementedError (write your answer where it says YOUR CODE HERE)"
    else:
        message = f"your `{shown}` raised {_type(error).__name__} for {called}: {text.splitlines()[0] if text else '(no message)'}{_where(error)}"
    _fail(message, hint)


def answer(namespace: dict[str, Any], name: str) -> Any:
    """The value of the variable `name` that the student sets, or `AssertionError` if it is not set.

    >>> answer({"accuracy": 0.5}, "accuracy")
    0.5
    >>> answer({}, "accuracy")
    Traceback (most recent call last):
    AssertionError: `accuracy` is not set: give it a value in your answer cell and run that cell
    """
    if name not in namespace:
        raise AssertionError(f"`{name}` is not set: give it a value in your answer cell and run that cell")
    return namespace[name]


def digests(name: str, value: float, decimals: int = 3) -> tuple[str, ...]:
    """The fingerprints `check_number` compares: `name` and `value` rounded down and up to `decimals`.

    >>> digests("a", 0.5)
    ('b6aed5b028e0f6eb', 'b6aed5b028e0f6eb')
    """
    scaled = value * 10**decimals
    return tuple(hashlib.sha256(f"{name}:{k}".encode()).hexdigest()[:16] for k in (math.floor(scaled), math.ceil(scaled)))


def check_number(got: Any, expected: tuple[str, ...], *, name: str, decimals: int = 3, hint: str | None = None) -> None:
    """Raise `AssertionError` unless `got` is a number that agrees with the answer to `decimals` decimals.

    The answer is not in the test: `expected` holds its fingerprints (`digests`), so a visible test
    can check a number the student should work out without showing it.

    >>> check_number(39 / 40, digests("a", 0.975), name="a")
    >>> check_number(0.95, digests("a", 0.975), name="a")
    Traceback (most recent call last):
    AssertionError: a = 0.95 is not right to 3 decimals
    """
    if _type(got) is _TENSOR and got.numel() == 1:
        got = got.item()
    if (_type(got) is not int and _type(got) is not float) or not math.isfinite(got):
        _fail(f"{name}: expected a number, got {describe(got)}", hint)
    if not set(digests(name, got, decimals)) & set(expected):
        _fail(f"{name} = {got:.{decimals + 2}g} is not right to {decimals} decimals", hint)


def _first_index(mask: Tensor) -> tuple[int, ...]:
    return tuple(int(i) for i in mask.nonzero()[0])


def _blocked(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError(
        "this reference implementation is switched off while your answer is graded: "
        "write the function yourself instead of calling it"
    )


@contextlib.contextmanager
def unavailable(*targets: Any) -> Iterator[None]:
    """Switch functions off for the duration of a `with` block.

    Each target is either a Python function (its code is swapped, so every name bound to it,
    `from seglib.ops import x as y` included, raises `RuntimeError`; so does every copy made
    with `types.FunctionType(f.__code__, ...)`, which shares the code) or a pair
    `(module, "attribute")` (the attribute is replaced, for built-ins written in C).

    >>> import seglib.ops
    >>> with unavailable(seglib.ops.nearest_upsample):
    ...     seglib.ops.nearest_upsample(torch.zeros(1, 1, 2, 2), 2)
    Traceback (most recent call last):
    RuntimeError: this reference implementation is switched off while your answer is graded: write the function yourself instead of calling it
    """
    restore: list[tuple[Any, str, Any]] = []
    _active.append([_describe_target(t) for t in targets])
    try:
        targets = targets if not _only_record else ()
        # One pass over the heap for every function target: the functions that share its code.
        codes = [t.__code__ for t in targets if isinstance(t, types.FunctionType)]
        sharing = [f for f in gc.get_referrers(*codes) if isinstance(f, types.FunctionType)] if codes else []
        for target in targets:
            if isinstance(target, types.FunctionType):
                if target.__code__.co_freevars:
                    raise TypeError(f"cannot switch off {target.__qualname__}: it is a closure")
                blocked = _blocked.__code__.replace(co_name=target.__name__, co_qualname=target.__qualname__)
                copies = [f for f in sharing if f.__code__ is target.__code__]
                for function in [target, *(f for f in copies if f is not target)]:
                    restore.append((function, "__code__", function.__code__))
                    function.__code__ = blocked
            elif isinstance(target, tuple) and len(target) == 2 and isinstance(target[1], str):
                owner, attribute = target
                restore.append((owner, attribute, getattr(owner, attribute)))
                setattr(owner, attribute, _blocked)
            else:
                raise TypeError(f"expected a Python function or a (module, 'attribute') pair, got {target!r}")
        yield
    finally:
        _active.pop()
        for owner, attribute, original in reversed(restore):
            setattr(owner, attribute, original)


_active: list[list[tuple[str, str, str]]] = []  # what each `unavailable` block now running switched off
# Set in a grader's process that runs no student code (grading/checker.py): there a block only
# records what to switch off in the kernel, where the student's code runs.
_only_record = False


def _describe_target(target: Any) -> tuple[str, str, str]:
    """A target of `unavailable` by name, ("function", "module:qualname", "") or ("attribute", owner, name)."""
    if isinstance(target, types.FunctionType):
        return ("function", f"{target.__module__}:{target.__qualname__}", "")
    if isinstance(target, tuple) and len(target) == 2:
        owner, attribute = target
        path = owner.__name__ if isinstance(owner, types.ModuleType) else f"{getattr(owner, '__module__', '')}:{getattr(owner, '__qualname__', '')}"
        return ("attribute", path, str(attribute))
    return ("unknown", repr(target)[:80], "")


def switched_off() -> list[tuple[str, str, str]]:
    """What the `unavailable` blocks now running switched off, by name: a grader that runs the
    student's code in another process switches the same functions off there (grading/outside.py).

    >>> import seglib.ops
    >>> with unavailable(seglib.ops.nearest_upsample, (torch.nn.functional, "interpolate")):
    ...     switched_off()
    [('function', 'seglib.ops:nearest_upsample', ''), ('attribute', 'torch.nn.functional', 'interpolate')]
    """
    return [t for block in _active for t in block]


def check_own_module(
    module: Any,
    *,
    name: str = "model",
    forbidden: tuple[str, ...] = ("seglib", "torchvision"),
) -> None:
    """Raise `AssertionError` unless `module` is an `nn.Module` built from the student's own classes.

    `unavailable` switches off functions; a class cannot be switched off that way, because a
    student's `class UNet(seglib.models.UNet): pass` or `model = seglib.models.ASPP(...)` keeps a
    reference to it. This check walks `module.modules()` (the module itself and every submodule)
    and fails, naming the class, if any of them is defined in one of the `forbidden` packages
    (by default the course's reference implementation and torchvision's ready-made models).
    PyTorch's building blocks (`nn.Conv2d`, `nn.Sequential`, ...) are allowed.

    Args:
        module: what the student's code returned or built.
        name: how to call it in the message.
        forbidden: top-level package names whose classes must not appear.

    >>> check_own_module(torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.ReLU()))
    >>> import seglib.models
    >>> check_own_module(torch.nn.Sequential(seglib.models.DoubleConv(1, 2)), name="block")
    Traceback (most recent call last):
    AssertionError: block: contains seglib.models.DoubleConv (at block[0]); build it from torch.nn layers and your own classes instead
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    if isinstance(forbidden, str) or not isinstance(forbidden, (tuple, list)) or not all(
        isinstance(package, str) and package for package in forbidden
    ):
        raise TypeError(f"forbidden must be a tuple of package names such as ('seglib',), got {forbidden!r}")
    if not isinstance(module, torch.nn.Module):
        raise AssertionError(f"{name}: expected a torch.nn.Module, got {type(module).__name__}")
    for path, submodule in module.named_modules(remove_duplicate=False):
        cls = type(submodule)
        for klass in cls.__mro__:
            package = klass.__module__.split(".")[0]
            if package in forbidden:
                where = name + "".join(f"[{part}]" if part.isdigit() else f".{part}" for part in path.split(".") if part)
                shown = f"{cls.__module__}.{cls.__qualname__}"
                if klass is not cls:
                    shown += f", a subclass of {klass.__module__}.{klass.__qualname__}"
                raise AssertionError(
                    f"{name}: contains {shown} (at {where}); build it from torch.nn layers and your own classes instead"
                )
