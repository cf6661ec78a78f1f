"""Argument checks shared by every seglib module: one implementation of each, one wording.

Every public function checks what it is given before any torch kernel sees it, so that bad
input fails with an error naming the argument, what was expected and what was given
(TypeError for a wrong kind of object or dtype, ValueError for a wrong value or shape),
never with a torch-internal message or, worse, a silent wrong answer. The checks on tensors
read only shapes and dtypes, except `check_labels`, whose one extra pass over the labels
(`torch.aminmax`) is a small fraction of a forward pass.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn


def check_int(value: Any, name: str, *, minimum: int | None = 1, maximum: int | None = None) -> int:
    """`value` as an int in `[minimum, maximum]` (bools are not ints here)."""
    bounds = (f" >= {minimum}" if minimum is not None else "") + (f" <= {maximum}" if maximum is not None else "")
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int{bounds}, got {value!r}")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be an int{bounds}, got {value!r}")
    return value


def check_ints(values: Any, name: str, *, minimum: int = 1, allow_empty: bool = False) -> tuple[int, ...]:
    """A sequence of ints, each `>= minimum`, as a tuple."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise TypeError(f"{name} must be a sequence of ints, got {values!r}")
    if not values and not allow_empty:
        raise ValueError(f"{name} must not be empty")
    return tuple(check_int(v, f"each entry of {name}", minimum=minimum) for v in values)


def check_number(
    value: Any, name: str, *, minimum: float | None = None, maximum: float | None = None, strict: bool = False
) -> float:
    """A finite real number in `[minimum, maximum]` (`(minimum, maximum]` if `strict`); NaN and inf are refused."""
    if minimum is not None and maximum is not None and not strict:
        bounds = f" in [{minimum:g}, {maximum:g}]"
    else:
        bounds = ("" if minimum is None else f" {'>' if strict else '>='} {minimum:g}") + (
            "" if maximum is None else f" <= {maximum:g}"
        )
    expected = f"{name} must be a number{bounds} (finite)"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{expected}, got {value!r}")
    if (
        not math.isfinite(value)
        or (minimum is not None and (value <= minimum if strict else value < minimum))
        or (maximum is not None and value > maximum)
    ):
        raise ValueError(f"{expected}, got {value!r}")
    return float(value)


def check_ignore_index(ignore_index: Any) -> int | None:
    if ignore_index is not None and (isinstance(ignore_index, bool) or not isinstance(ignore_index, int)):
        raise ValueError(f"ignore_index must be an int or None, got {ignore_index!r}")
    return ignore_index


def check_tensor(x: Any, name: str, expected: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape {expected}, got {type(x).__name__}")
    return x


def is_integer_dtype(dtype: torch.dtype) -> bool:
    return not (dtype == torch.bool or dtype.is_floating_point or dtype.is_complex)


def module_dtype(module: nn.Module) -> torch.dtype | None:
    """The floating dtype of the module's first floating parameter, or None if it has none."""
    for p in module.parameters():
        if p.is_floating_point():
            return p.dtype
    return None


def check_images(
    x: Any,
    channels: int | None = None,
    *,
    name: str = "x",
    module: nn.Module | None = None,
    batch: str = "N",
    floating: bool = True,
    min_batch: int = 1,
) -> None:
    """`x` must be a floating-point `(N, channels, H, W)` tensor with `N >= min_batch` and `H, W >= 1`.

    With `module`, the dtype must also be the module's weights' dtype (unless autocast is on),
    and the device the weights' device: torch would fail later with an internal message.
    """
    expected = f"({batch}, {channels if channels is not None else 'C'}, H, W)"
    check_tensor(x, name, expected)
    if x.dim() != 4 or (channels is not None and x.shape[1] != channels):
        raise ValueError(f"{name} must have shape {expected}, got shape {tuple(x.shape)}")
    if floating and not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor (e.g. torch.float32), got dtype {x.dtype}")
    if x.shape[0] < min_batch or x.shape[2] == 0 or x.shape[3] == 0:
        raise ValueError(f"{name} must hold at least one pixel of one image, got shape {tuple(x.shape)}")
    if module is not None:
        for p in module.parameters():  # the first parameter stands for all of them
            if p.device != x.device:
                raise ValueError(
                    f"{name} is on {x.device} but the model's weights are on {p.device}; move one with .to(...)"
                )
            if p.is_floating_point() and p.dtype != x.dtype and not torch.is_autocast_enabled(x.device.type):
                raise TypeError(
                    f"{name} has dtype {x.dtype} but the model's weights are {p.dtype}; convert the input "
                    f"(x.to({p.dtype})) or the model (model.to({p.dtype}))"
                )
            break


def check_labels(labels: Tensor, name: str, *, num_classes: int, ignore_index: int | None, where: str = "") -> None:
    """Every label must lie in `[0, num_classes)` or equal `ignore_index`; the error names both.

    One `aminmax` pass decides in the usual case; when some label lies outside `[0, num_classes)`
    (e.g. the ignore label itself), a second one over the labels with ignored pixels set to 0.
    """
    if labels.numel() == 0:
        return
    low, high = (int(v) for v in torch.aminmax(labels))
    if low >= 0 and high < num_classes:
        return
    if ignore_index is not None:  # ignored pixels become a valid label, then one more aminmax decides
        labels = labels.masked_fill(labels == ignore_index, 0)
        low, high = (int(v) for v in torch.aminmax(labels))
        if low >= 0 and high < num_classes:
            return
    value = int(labels[(labels < 0) | (labels >= num_classes)][0])
    allowed = f"[0, {num_classes})" + (f" or ignore_index={ignore_index}" if ignore_index is not None else "")
    hint = ""
    if ignore_index is None and value in (255, -1, -100):
        hint = f"; if {value} marks unlabelled pixels, pass ignore_index={value}"
    raise ValueError(
        f"{name} contains label {value}, outside the allowed range {allowed} for num_classes={num_classes}"
        f"{where}{hint}"
    )
