"""Helpers for graded test cells: clear failure messages, and the reference answer switched off.

Used by the assignments' test cells (see the instructors' page of the book). Two ideas:

* `check_tensor` fails with a message a student can act on: what was expected and what
  came back (type, shape, dtype, the first wrong value). It accepts only real tensors, so an
  object whose `==` is always true does not pass.
* `unavailable` switches functions off while a student's answer runs, so that an answer
  which merely calls `seglib`'s own implementation (or a built-in that would make the
  exercise trivial) fails instead of passing.
"""

from __future__ import annotations

import contextlib
import gc
import types
from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor

__all__ = ["check_tensor", "check_own_module", "unavailable"]

# Trusted references, taken when the test cells import this module (before any student code runs):
# a student who later rebinds `torch.isclose` does not change what the checks below compute.
_TENSOR, _PARAMETER = Tensor, torch.nn.Parameter
_isclose, _isnan = torch.isclose, torch.isnan
_type, _bool, _int = type, bool, int


def check_tensor(
    got: Any,
    expected: Tensor,
    *,
    name: str = "result",
    atol: float = 1e-5,
    rtol: float = 1e-5,
    check_dtype: bool = True,
) -> None:
    """Raise `AssertionError` with a helpful message unless `got` matches `expected`.

    Checks, in order: `got` is a `torch.Tensor` (not a subclass with its own `==`), the
    shape, the dtype (when `check_dtype`), no NaN, and the values within `atol + rtol·|expected|`.
    """
    # Exact types, by identity: a subclass could override the comparisons the checks below rely on,
    # and `in` would compare types with `==`, which a metaclass can answer as it likes.
    kind = _type(got)
    if kind is not _TENSOR and kind is not _PARAMETER:
        raise AssertionError(f"{name}: expected a torch.Tensor, got {kind.__name__}")
    if got.shape != expected.shape:
        raise AssertionError(
            f"{name}: expected shape {tuple(expected.shape)}, got {tuple(got.shape)}"
        )
    if check_dtype and got.dtype != expected.dtype:
        raise AssertionError(f"{name}: expected dtype {expected.dtype}, got {got.dtype}")
    got_f, expected_f = got.detach().double().cpu(), expected.detach().double().cpu()
    if _isnan(got_f).any() and not _isnan(expected_f).any():
        raise AssertionError(f"{name}: contains NaN at {_first_index(_isnan(got_f))}")
    close = _isclose(got_f, expected_f, atol=atol, rtol=rtol, equal_nan=True)
    if not _bool(close.all()):
        index = _first_index(~close)
        raise AssertionError(
            f"{name}: {int((~close).sum())} of {close.numel()} values differ; first at index {index}: "
            f"expected {expected_f[index].item():.6g}, got {got_f[index].item():.6g}"
        )


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
    try:
        for target in targets:
            if isinstance(target, types.FunctionType):
                if target.__code__.co_freevars:
                    raise TypeError(f"cannot switch off {target.__qualname__}: it is a closure")
                blocked = _blocked.__code__.replace(co_name=target.__name__, co_qualname=target.__qualname__)
                copies = [f for f in gc.get_referrers(target.__code__) if isinstance(f, types.FunctionType)]
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
        for owner, attribute, original in reversed(restore):
            setattr(owner, attribute, original)


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
