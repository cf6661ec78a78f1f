"""Upsampling and convolution operations, written out so that they can be read.

Taught in chapter 4 (layer costs), chapter 5 (Upsampling) and chapter 7 (Atrous convolution). Every function
here has a PyTorch built-in that computes the same numbers (`F.conv2d`,
`F.conv_transpose2d`, `F.interpolate`, `F.max_unpool2d`); the point is to show *how*
those numbers arise, so the tests compare each one with its built-in.

Tensors are `(N, C, H, W)` unless stated otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import Tensor

from seglib._checks import check_images, check_int

__all__ = [
    "conv_output_size",
    "conv_matrix",
    "conv_transpose_via_matrix",
    "nearest_upsample",
    "bed_of_nails",
    "max_unpool",
    "zero_insert",
    "bilinear_kernel",
    "dilate_kernel",
    "receptive_field",
    "icnr_",
    "overlap_count",
    "checkerboard_spread",
]

IntPair = int | tuple[int, int]


def _pair(value: IntPair, name: str, *, minimum: int) -> tuple[int, int]:
    """Turn an int or a pair of ints into a pair, checking each is >= `minimum`."""
    if isinstance(value, bool) or not isinstance(value, (int, tuple, list)):
        raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in pair):
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    if min(pair) < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return pair  # type: ignore[return-value]


def _check_images(x: Tensor, name: str = "x") -> None:
    check_images(x, name=name, floating=False, min_batch=0)  # any dtype, like the built-ins; H, W >= 1


def _check_scale(scale: int) -> int:
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise ValueError(f"scale must be a positive int, got {scale!r}")
    return scale


def _check_weight(weight: Tensor) -> None:
    if not isinstance(weight, Tensor):
        raise TypeError(f"weight must be a torch.Tensor of shape (C_out, C_in, kH, kW), got {type(weight).__name__}")
    if weight.dim() != 4 or weight.shape[2] == 0 or weight.shape[3] == 0:
        raise ValueError(f"weight must have shape (C_out, C_in, kH, kW) with kH, kW >= 1, got shape {tuple(weight.shape)}")


def conv_output_size(
    input_size: IntPair, kernel_size: IntPair, stride: IntPair = 1, padding: IntPair = 0, dilation: IntPair = 1
) -> tuple[int, int]:
    """Output `(H_out, W_out)` of a 2-D convolution, as `F.conv2d` computes it.

    Each side is `floor((H + 2·padding - dilation·(k - 1) - 1) / stride) + 1`.

    >>> conv_output_size((4, 4), 3, stride=2, padding=1)
    (2, 2)
    """
    size = _pair(input_size, "input_size", minimum=1)
    k = _pair(kernel_size, "kernel_size", minimum=1)
    s = _pair(stride, "stride", minimum=1)
    p = _pair(padding, "padding", minimum=0)
    d = _pair(dilation, "dilation", minimum=1)
    out = tuple((size[i] + 2 * p[i] - d[i] * (k[i] - 1) - 1) // s[i] + 1 for i in range(2))
    if min(out) < 1:
        raise ValueError(
            f"input_size {size} is too small for kernel_size {k} with dilation {d} and padding {p}: "
            f"the output would be {out}; expected each side of H + 2*padding >= dilation*(k - 1) + 1"
        )
    return out  # type: ignore[return-value]


def conv_matrix(
    weight: Tensor, input_size: IntPair, stride: IntPair = 1, padding: IntPair = 0, dilation: IntPair = 1
) -> Tensor:
    """The dense matrix `M` of a 2-D convolution, so that convolving is `M @ x.flatten()`.

    Row `(o, i, j)` of `M` holds the kernel of output channel `o` placed where output pixel
    `(i, j)` reads the input; input pixels that fall into the padding are simply left out.

    Args:
        weight: kernel `(C_out, C_in, kH, kW)`, as `nn.Conv2d.weight`.
        input_size: `(H, W)` of the input the matrix applies to.
        stride, padding, dilation: as in `F.conv2d` (an int or a pair).

    Returns:
        `M` of shape `(C_out·H_out·W_out, C_in·H·W)` with
        `F.conv2d(x, weight, stride=..., padding=..., dilation=...)[0].flatten() == M @ x[0].flatten()`.

    >>> w = torch.tensor([[[[1.0, 2.0, 3.0]]]])       # kernel [x, y, z] = [1, 2, 3], shape (1, 1, 1, 3)
    >>> conv_matrix(w, (1, 3), padding=(0, 1))
    tensor([[2., 3., 0.],
            [1., 2., 3.],
            [0., 1., 2.]])
    """
    _check_weight(weight)
    c_out, c_in, kh, kw = weight.shape
    h, w = _pair(input_size, "input_size", minimum=1)
    s, p, d = _pair(stride, "stride", minimum=1), _pair(padding, "padding", minimum=0), _pair(dilation, "dilation", minimum=1)
    h_out, w_out = conv_output_size((h, w), (kh, kw), s, p, d)

    # One entry per (output channel, output row, output col, input channel, kernel row, kernel col).
    o, i, j, c, u, v = torch.meshgrid(
        *(torch.arange(n) for n in (c_out, h_out, w_out, c_in, kh, kw)), indexing="ij"
    )
    rows_in = i * s[0] - p[0] + u * d[0]  # which input row this tap reads
    cols_in = j * s[1] - p[1] + v * d[1]
    inside = (rows_in >= 0) & (rows_in < h) & (cols_in >= 0) & (cols_in < w)  # taps on padding read zeros

    matrix = weight.new_zeros(c_out * h_out * w_out, c_in * h * w)
    out_index = (o * h_out + i) * w_out + j
    in_index = (c * h + rows_in) * w + cols_in
    matrix[out_index[inside], in_index[inside]] = weight[o[inside], c[inside], u[inside], v[inside]]
    return matrix


def conv_transpose_via_matrix(
    y: Tensor,
    weight: Tensor,
    input_size: IntPair,
    stride: IntPair = 1,
    padding: IntPair = 0,
    dilation: IntPair = 1,
) -> Tensor:
    """Transposed convolution computed literally as `Mᵀ y`, with `M = conv_matrix(...)`.

    The convolution maps `(C_in, H, W)` to `(C_out, H_out, W_out)`; its transpose maps back,
    which is why a transposed convolution upsamples. `input_size` picks which of the
    several `(H, W)` that convolve to `(H_out, W_out)` you want back when the stride does
    not divide evenly (PyTorch's `output_padding`).

    Args:
        y: `(N, C_out, H_out, W_out)`.
        weight: `(C_out, C_in, kH, kW)`, the same tensor `F.conv_transpose2d` takes.
        input_size: `(H, W)` of the result.

    Returns:
        `(N, C_in, H, W)`, equal to `F.conv_transpose2d(y, weight, stride=..., padding=...,
        output_padding=..., dilation=...)` with the `output_padding` that reaches `input_size`.
    """
    _check_images(y, "y")
    _check_weight(weight)
    h, w = _pair(input_size, "input_size", minimum=1)
    c_out, c_in, kh, kw = weight.shape
    h_out, w_out = conv_output_size((h, w), (kh, kw), stride, padding, dilation)
    if tuple(y.shape[1:]) != (c_out, h_out, w_out):
        raise ValueError(
            f"y must have shape (N, {c_out}, {h_out}, {w_out}) for weight {tuple(weight.shape)} and "
            f"input_size {(h, w)}, got {tuple(y.shape)}"
        )
    matrix = conv_matrix(weight, (h, w), stride, padding, dilation)
    # (N, C_out·H_out·W_out) @ (C_out·H_out·W_out, C_in·H·W) is Mᵀ applied to every sample.
    return (y.flatten(1) @ matrix).reshape(y.shape[0], c_in, h, w)


def nearest_upsample(x: Tensor, scale: int) -> Tensor:
    """Nearest-neighbour unpooling: copy each pixel into a `scale×scale` block.

    Shape: `(N, C, H, W) -> (N, C, H·scale, W·scale)`; equals
    `F.interpolate(x, scale_factor=scale, mode="nearest")`.

    >>> nearest_upsample(torch.tensor([[[[1, 2], [3, 4]]]]), 2)[0, 0]
    tensor([[1, 1, 2, 2],
            [1, 1, 2, 2],
            [3, 3, 4, 4],
            [3, 3, 4, 4]])
    """
    _check_images(x)
    scale = _check_scale(scale)
    return x.repeat_interleave(scale, dim=2).repeat_interleave(scale, dim=3)


def bed_of_nails(x: Tensor, scale: int) -> Tensor:
    """"Bed of nails" unpooling: each value at the top-left of its `scale×scale` block, zeros elsewhere.

    Shape: `(N, C, H, W) -> (N, C, H·scale, W·scale)`.

    >>> bed_of_nails(torch.tensor([[[[1, 2], [3, 4]]]]), 2)[0, 0]
    tensor([[1, 0, 2, 0],
            [0, 0, 0, 0],
            [3, 0, 4, 0],
            [0, 0, 0, 0]])
    """
    _check_images(x)
    scale = _check_scale(scale)
    n, c, h, w = x.shape
    out = x.new_zeros(n, c, h * scale, w * scale)
    out[:, :, ::scale, ::scale] = x
    return out


def max_unpool(x: Tensor, indices: Tensor, output_size: IntPair) -> Tensor:
    """Max unpooling: put each value back where the matching max-pool found its maximum.

    Args:
        x: pooled values `(N, C, h, w)`.
        indices: `(N, C, h, w)` int64, positions in each flattened `H·W` plane, as
            `F.max_pool2d(..., return_indices=True)` returns them.
        output_size: `(H, W)` of the map before pooling.

    Returns:
        `(N, C, H, W)`, zero except at the remembered positions; equals `F.max_unpool2d`.
    """
    _check_images(x)
    h, w = _pair(output_size, "output_size", minimum=1)
    if not isinstance(indices, Tensor) or indices.dtype != torch.int64:
        raise TypeError(
            "indices must be an int64 tensor as returned by F.max_pool2d(..., return_indices=True), "
            f"got {getattr(indices, 'dtype', type(indices).__name__)}"
        )
    if indices.shape != x.shape:
        raise ValueError(f"indices must have the shape of x {tuple(x.shape)}, got {tuple(indices.shape)}")
    if indices.numel() and (indices.min() < 0 or indices.max() >= h * w):
        raise ValueError(
            f"indices must lie in [0, H*W) = [0, {h * w}) for output_size {(h, w)}, "
            f"got values in [{indices.min().item()}, {indices.max().item()}]"
        )
    n, c = x.shape[:2]
    out = x.new_zeros(n, c, h * w)
    out.scatter_(2, indices.flatten(2), x.flatten(2))
    return out.reshape(n, c, h, w)


def zero_insert(x: Tensor, scale: int) -> Tensor:
    """Insert `scale - 1` zeros between neighbouring pixels (no zeros after the last one).

    Shape: `(N, C, H, W) -> (N, C, (H-1)·scale + 1, (W-1)·scale + 1)`. Followed by a fixed
    filter this is interpolation (see `bilinear_kernel`); followed by a learned filter it is
    a transposed convolution.

    >>> zero_insert(torch.tensor([[[[1, 2], [3, 4]]]]), 2)[0, 0]
    tensor([[1, 0, 2],
            [0, 0, 0],
            [3, 0, 4]])
    """
    _check_images(x)
    scale = _check_scale(scale)
    n, c, h, w = x.shape
    out = x.new_zeros(n, c, (h - 1) * scale + 1, (w - 1) * scale + 1)
    out[:, :, ::scale, ::scale] = x
    return out


def bilinear_kernel(scale: int, *, dtype: torch.dtype = torch.float32) -> Tensor:
    """The `(2·scale - 1)²` tent filter that turns zero insertion into bilinear interpolation.

    `F.conv2d(zero_insert(x, scale), kernel, padding=scale - 1)` (one channel at a time)
    equals `F.interpolate(x, size=((H-1)·scale + 1, (W-1)·scale + 1), mode="bilinear",
    align_corners=True)`.

    >>> bilinear_kernel(2)
    tensor([[0.2500, 0.5000, 0.2500],
            [0.5000, 1.0000, 0.5000],
            [0.2500, 0.5000, 0.2500]])
    """
    scale = _check_scale(scale)
    offsets = torch.arange(2 * scale - 1, dtype=dtype) - (scale - 1)
    tent = 1 - offsets.abs() / scale  # 1 at the centre, falling linearly to 1/scale at the ends
    return torch.outer(tent, tent)


def dilate_kernel(weight: Tensor, dilation: IntPair) -> Tensor:
    """Spread a kernel out by inserting `dilation - 1` zeros between its taps.

    Shape: `(C_out, C_in, kH, kW) -> (C_out, C_in, d·(kH-1) + 1, d·(kW-1) + 1)`. A plain
    convolution with the result equals the dilated (atrous) convolution with `weight`:
    the same weights see a larger window.
    """
    _check_weight(weight)
    dh, dw = _pair(dilation, "dilation", minimum=1)
    c_out, c_in, kh, kw = weight.shape
    out = weight.new_zeros(c_out, c_in, dh * (kh - 1) + 1, dw * (kw - 1) + 1)
    out[:, :, ::dh, ::dw] = weight
    return out


def receptive_field(layers: Iterable[tuple[int, int, int]]) -> int:
    """Receptive field (in input pixels, per side) of a stack of convolutions or poolings.

    Args:
        layers: `(kernel_size, stride, dilation)` for each layer, input first.

    Each layer widens the field by `dilation·(kernel_size - 1)` steps of the current jump
    (the product of all earlier strides).

    >>> receptive_field([(3, 1, 1), (3, 1, 1), (3, 1, 1)])
    7
    >>> receptive_field([(3, 1, 2)])
    5
    """
    field, jump = 1, 1
    for position, layer in enumerate(layers):
        try:
            kernel_size, stride, dilation = layer
        except (TypeError, ValueError):
            raise ValueError(
                f"layer {position} must be a (kernel_size, stride, dilation) triple, got {layer!r}"
            ) from None
        for name, value in (("kernel_size", kernel_size), ("stride", stride), ("dilation", dilation)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"layer {position}: {name} must be a positive int, got {value!r}")
        field += dilation * (kernel_size - 1) * jump
        jump *= stride
    return field


def icnr_(weight: Tensor, scale: int, initializer: Callable[[Tensor], object] = torch.nn.init.kaiming_normal_) -> Tensor:
    """ICNR initialisation, in place, of a convolution that feeds `nn.PixelShuffle(scale)`.

    The `scale²` sub-kernels that pixel shuffle interleaves into one output channel are made
    equal, so at initialisation the shuffled output is constant on each `scale×scale` block,
    like nearest-neighbour upsampling: no checkerboard to unlearn (Aitken et al. 2017).

    Args:
        weight: `(C·scale², C_in, kH, kW)`.
        initializer: fills one `(C, C_in, kH, kW)` sub-kernel.

    Returns:
        `weight`, modified in place.
    """
    _check_weight(weight)
    scale = _check_scale(scale)
    if weight.shape[0] % (scale * scale):
        raise ValueError(
            f"weight must have a multiple of scale**2 = {scale * scale} output channels for pixel shuffle, "
            f"got {weight.shape[0]}"
        )
    sub = weight.new_empty(weight.shape[0] // (scale * scale), *weight.shape[1:])
    initializer(sub)
    with torch.no_grad():
        # PixelShuffle takes channels c·s² ... c·s² + s² - 1 into output channel c, so repeat each s² times.
        weight.copy_(sub.repeat_interleave(scale * scale, dim=0))
    return weight


def overlap_count(
    input_size: IntPair, kernel_size: IntPair, stride: IntPair, *, padding: IntPair = 0, num_layers: int = 1
) -> Tensor:
    """How many kernel copies of a stack of transposed convolutions land on each output pixel.

    Each of `num_layers` equal layers pastes one copy of its `kernel_size` kernel per input
    pixel, `stride` apart. With all-ones kernels and an all-ones input the output counts the
    paths from the input to each output pixel: even where `kernel_size` is a multiple of
    `stride` (away from the border), a checkerboard where it is not, and the unevenness
    compounds over layers. The same map is the gradient, with respect to its input, of the sum
    of a strided convolution with an all-ones kernel (chapter 5).

    Args:
        input_size: `(H, W)` of the input of the first layer.
        kernel_size, stride, padding: as in `F.conv_transpose2d` (an int or a pair).
        num_layers: how many such layers are stacked, at least 1.

    Returns:
        The counts, float64, shape `(H_L, W_L)` with `H_{l+1} = (H_l - 1)·stride - 2·padding + kernel_size`.

    >>> overlap_count(3, 3, 2)[2]                  # kernel 3, stride 2: covered 1, 2, 1, 2, ... times
    tensor([2., 2., 4., 2., 4., 2., 2.], dtype=torch.float64)
    >>> overlap_count(3, 4, 2, padding=1)[2]       # kernel 4: every inner pixel 4 times
    tensor([2., 4., 4., 4., 4., 2.], dtype=torch.float64)
    """
    size = _pair(input_size, "input_size", minimum=1)
    k = _pair(kernel_size, "kernel_size", minimum=1)
    s = _pair(stride, "stride", minimum=1)
    p = _pair(padding, "padding", minimum=0)
    layers = check_int(num_layers, "num_layers", minimum=1)
    shape = size
    for _ in range(layers):
        shape = tuple((shape[i] - 1) * s[i] - 2 * p[i] + k[i] for i in range(2))
        if min(shape) < 1:
            raise ValueError(
                f"padding {p} crops away the whole output of input_size {size} with kernel_size {k} and stride {s} "
                f"over {layers} layers; expected each side of (H - 1)*stride + kernel_size > 2*padding"
            )
    counts = torch.ones(1, 1, *size, dtype=torch.float64)
    ones = torch.ones(1, 1, *k, dtype=torch.float64)
    for _ in range(layers):
        counts = torch.nn.functional.conv_transpose2d(counts, ones, stride=s, padding=p)
    return counts[0, 0]


def checkerboard_spread(x: Tensor, period: int = 2) -> Tensor:
    """How much the `period×period` phases of an image differ on average: a checkerboard's strength.

    Phase `(i, j)` is the sub-image `x[..., i::period, j::period]`. A smooth image has (nearly)
    equal phase means; the grid of a stride-`period` transposed convolution raises some phases
    above the others everywhere, and the spread (largest minus smallest phase mean) measures it.

    Args:
        x: `(N, C, H, W)` floating point, with `H, W >= period`.
        period: the grid's period in pixels (the stride), at least 1.

    Returns:
        `(N, C)`: the largest minus the smallest of the `period²` phase means.

    >>> checker = torch.tensor([[[[1.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0]]]])   # (1, 1, 2, 4)
    >>> checkerboard_spread(checker)
    tensor([[1.]])
    """
    check_images(x, name="x", floating=True, min_batch=0)
    period = check_int(period, "period", minimum=1)
    if min(x.shape[-2:]) < period:
        raise ValueError(f"x must have H, W >= period = {period}, got shape {tuple(x.shape)}")
    means = torch.stack([x[..., i::period, j::period].mean((-2, -1)) for i in range(period) for j in range(period)], -1)
    return means.amax(-1) - means.amin(-1)


# --------------------------------------------------------------------------- cost of a convolution (chapter 4)

from typing import NamedTuple  # noqa: E402  (kept beside the one function that uses it)


class ConvCost(NamedTuple):
    """What one 2-D convolution costs on one image; `conv_cost` computes it."""

    output_size: tuple[int, int]  # (H_out, W_out)
    parameters: int  # weights plus biases
    macs: int  # multiply-adds for one image (bias additions not counted)
    activations: int  # values in the output for one image: C_out·H_out·W_out


def conv_cost(
    in_channels: int,
    out_channels: int,
    kernel_size: IntPair,
    input_size: IntPair,
    *,
    stride: IntPair = 1,
    padding: IntPair = 0,
    dilation: IntPair = 1,
    groups: int = 1,
    bias: bool = True,
) -> ConvCost:
    """Parameters, multiply-adds and output size of an `nn.Conv2d` applied to one image.

    Each output value is a dot product of length `(C_in / groups)·kH·kW`, so the
    multiply-adds are `C_out·H_out·W_out·(C_in / groups)·kH·kW` (one per weight and output
    pixel); parameters are `C_out·(C_in / groups)·kH·kW`, plus `C_out` biases. Parameters do
    not depend on the image size; multiply-adds and activations grow with `H_out·W_out`.
    `torch.utils.flop_counter.FlopCounterMode` counts `2·macs` FLOPs for the same layer.
    Multiply `activations` by the bytes per value (4 for float32) for the memory the output
    takes, per image.

    Args:
        in_channels, out_channels: `C_in`, `C_out`; both divisible by `groups`.
        kernel_size, stride, padding, dilation: as for `nn.Conv2d` (int or `(h, w)` pair).
        input_size: `(H, W)` of the input (or an int for a square input).
        groups: as for `nn.Conv2d` (`groups == in_channels` is a depthwise convolution).
        bias: whether the layer has a bias.

    Returns:
        `ConvCost(output_size, parameters, macs, activations)`.

    >>> conv_cost(3, 16, 3, (512, 512), padding=1)   # a 3×3 convolution on a 512×512 RGB image
    ConvCost(output_size=(512, 512), parameters=448, macs=113246208, activations=4194304)
    >>> conv_cost(16, 32, 3, 512, stride=2, padding=1).output_size
    (256, 256)
    """
    for name, value in (("in_channels", in_channels), ("out_channels", out_channels), ("groups", groups)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int, got {value!r}")
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    if in_channels % groups or out_channels % groups:
        raise ValueError(
            f"in_channels ({in_channels}) and out_channels ({out_channels}) must both be divisible by groups ({groups})"
        )
    if not isinstance(bias, bool):
        raise TypeError(f"bias must be True or False, got {bias!r}")
    kh, kw = _pair(kernel_size, "kernel_size", minimum=1)
    h_out, w_out = conv_output_size(input_size, (kh, kw), stride, padding, dilation)  # checks the rest
    weights = out_channels * (in_channels // groups) * kh * kw
    return ConvCost(
        output_size=(h_out, w_out),
        parameters=weights + (out_channels if bias else 0),
        macs=weights * h_out * w_out,
        activations=out_channels * h_out * w_out,
    )


__all__ += ["ConvCost", "conv_cost"]
