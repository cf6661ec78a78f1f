"""seglib.ops.conv_cost against independent measurements: PyTorch's FLOP counter, the layer's
own parameters and the shape of its output, plus hand-worked values (chapter 4's cost table)."""

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from seglib import ops

# in, out, kernel, input (H, W), stride, padding, dilation, groups, bias: square and
# non-square kernels and inputs, strides that do not divide the size, dilation, grouped and
# depthwise convolutions, 1×1 convolutions, no bias.
CASES = [
    (3, 16, 3, (32, 32), 1, 1, 1, 1, True),
    (16, 32, 3, (17, 23), 2, 1, 1, 1, True),
    (8, 4, (3, 5), (12, 9), (2, 1), (1, 2), 1, 1, False),
    (4, 6, 3, (15, 15), 1, 2, 2, 2, True),
    (6, 6, 5, (11, 14), 1, 2, 1, 6, True),  # depthwise
    (32, 10, 1, (7, 5), 1, 0, 1, 1, True),  # 1×1, as a class-score layer
    (5, 7, 4, (9, 9), 3, 0, 1, 1, True),
    (2, 3, (1, 3), (4, 10), (1, 2), (0, 1), (1, 3), 1, False),
]


def _measure(layer: nn.Conv2d, input_size: tuple[int, int]) -> tuple[int, int, tuple[int, int], int]:
    """FLOPs as PyTorch counts them, parameters, output size and output values for one image."""
    x = torch.randn(1, layer.in_channels, *input_size)
    with FlopCounterMode(display=False) as counter:
        y = layer(x)
    parameters = sum(p.numel() for p in layer.parameters())
    return counter.get_total_flops(), parameters, tuple(y.shape[-2:]), y[0].numel()


@pytest.mark.parametrize("c_in, c_out, kernel, size, stride, padding, dilation, groups, bias", CASES)
def test_conv_cost_matches_flop_counter_parameters_and_output(
    c_in, c_out, kernel, size, stride, padding, dilation, groups, bias
):
    """MACs = FLOPs / 2 of FlopCounterMode; parameters, output size and values of the real layer."""
    layer = nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, dilation=dilation, groups=groups, bias=bias)
    flops, parameters, output_size, activations = _measure(layer, size)
    cost = ops.conv_cost(
        c_in, c_out, kernel, size, stride=stride, padding=padding, dilation=dilation, groups=groups, bias=bias
    )
    assert 2 * cost.macs == flops
    assert cost.parameters == parameters
    assert cost.output_size == output_size
    assert cost.activations == activations


def test_conv_cost_on_meta_tensors_at_full_resolution():
    """A 512×512 image, measured without computing it: meta tensors carry only shapes."""
    layer = nn.Conv2d(64, 128, 3, padding=1, device="meta")
    with FlopCounterMode(display=False) as counter:
        y = layer(torch.empty(1, 64, 512, 512, device="meta"))
    cost = ops.conv_cost(64, 128, 3, (512, 512), padding=1)
    assert 2 * cost.macs == counter.get_total_flops()
    assert cost.activations == y[0].numel() == 128 * 512 * 512


def test_conv_cost_hand_worked():
    """3×3, 3 -> 16 channels, pad 1 on 512×512: 432 weights + 16 biases; 432 MACs per pixel."""
    cost = ops.conv_cost(3, 16, 3, 512, padding=1)
    assert cost == ops.ConvCost((512, 512), 448, 432 * 512 * 512, 16 * 512 * 512)
    assert cost.macs == 113_246_208
    # Stride 2 computes a quarter of the outputs: a quarter of the multiply-adds, the same weights.
    strided = ops.conv_cost(3, 16, 3, 512, stride=2, padding=1)
    assert strided.output_size == (256, 256)
    assert 4 * strided.macs == cost.macs and strided.parameters == cost.parameters
    # Depthwise 5×5 on 3 channels: 75 weights (chapter 7's separable-convolution count).
    assert ops.conv_cost(3, 3, 5, 32, padding=2, groups=3, bias=False).parameters == 75


def test_conv_cost_scales_with_pixels_not_parameters():
    small, large = ops.conv_cost(32, 64, 3, 32, padding=1), ops.conv_cost(32, 64, 3, 512, padding=1)
    assert large.parameters == small.parameters
    assert large.macs == 256 * small.macs and large.activations == 256 * small.activations


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(in_channels=0), ValueError, "in_channels must be >= 1"),
        (dict(out_channels=2.0), TypeError, "out_channels must be an int"),
        (dict(in_channels=True), TypeError, "in_channels must be an int"),
        (dict(groups=2, in_channels=3), ValueError, "divisible by groups"),
        (dict(bias=1), TypeError, "bias must be True or False"),
        (dict(kernel_size=(3, 3, 3)), ValueError, "kernel_size"),
        (dict(kernel_size="3"), TypeError, "kernel_size"),
        (dict(input_size=(2, 2)), ValueError, "too small"),
        (dict(stride=0), ValueError, "stride must be >= 1"),
        (dict(padding=-1), ValueError, "padding must be >= 0"),
    ],
)
def test_conv_cost_checks_arguments(kwargs, error, message):
    arguments = dict(in_channels=4, out_channels=8, kernel_size=3, input_size=(8, 8)) | kwargs
    with pytest.raises(error, match=message):
        ops.conv_cost(**arguments)


def test_conv_cost_is_exported():
    assert {"conv_cost", "ConvCost"} <= set(ops.__all__)
