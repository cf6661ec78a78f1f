"""seglib.ops against torch.nn.functional, over a grid of shapes, and against hand-worked examples."""

import itertools

import pytest
import torch
import torch.nn.functional as F

from seglib import ops



@pytest.fixture(autouse=True)
def _float64():
    """Compare in float64: a difference here is a bug, not rounding."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


# (input H, W), kernel (kH, kW), stride, padding, dilation: square and non-square, strides that
# do not divide the size, padding larger than half the kernel, dilation > 1.
CONV_CASES = [
    ((5, 5), (3, 3), 1, 0, 1),
    ((5, 5), (3, 3), 1, 1, 1),
    ((4, 4), (3, 3), 2, 1, 1),
    ((5, 7), (3, 3), 2, 1, 1),
    ((6, 5), (2, 3), (2, 1), (0, 1), 1),
    ((7, 6), (3, 3), 3, 1, 1),
    ((9, 8), (3, 3), 1, 2, 2),
    ((9, 10), (3, 2), 2, (1, 0), (2, 3)),
    ((3, 8), (1, 4), (1, 2), (0, 2), 1),
    ((1, 5), (1, 3), 1, (0, 1), 1),
    ((8, 8), (4, 4), 2, 1, 1),
    ((11, 5), (5, 3), (3, 2), 2, 1),
]
CHANNELS = [(1, 1), (2, 3), (3, 1)]


@pytest.mark.parametrize("channels", CHANNELS)
@pytest.mark.parametrize("size, kernel, stride, padding, dilation", CONV_CASES)
def test_conv_matrix_equals_conv2d(size, kernel, stride, padding, dilation, channels):
    c_in, c_out = channels
    weight = torch.randn(c_out, c_in, *kernel)
    x = torch.randn(2, c_in, *size)
    matrix = ops.conv_matrix(weight, size, stride, padding, dilation)
    expected = F.conv2d(x, weight, stride=stride, padding=padding, dilation=dilation)
    assert matrix.shape == (expected[0].numel(), x[0].numel())
    for n in range(2):
        torch.testing.assert_close(matrix @ x[n].flatten(), expected[n].flatten())


@pytest.mark.parametrize("channels", CHANNELS)
@pytest.mark.parametrize("size, kernel, stride, padding, dilation", CONV_CASES)
def test_conv_transpose_via_matrix_equals_conv_transpose2d(size, kernel, stride, padding, dilation, channels):
    c_in, c_out = channels
    weight = torch.randn(c_out, c_in, *kernel)
    h_out, w_out = ops.conv_output_size(size, kernel, stride, padding, dilation)
    y = torch.randn(2, c_out, h_out, w_out)
    # output_padding: how far input_size lies beyond the smallest size that convolves to (h_out, w_out)
    s, p, d = (torch.nn.modules.utils._pair(v) for v in (stride, padding, dilation))
    smallest = [(o - 1) * s[i] - 2 * p[i] + d[i] * (kernel[i] - 1) + 1 for i, o in enumerate((h_out, w_out))]
    output_padding = tuple(size[i] - smallest[i] for i in range(2))
    expected = F.conv_transpose2d(
        y, weight, stride=stride, padding=padding, output_padding=output_padding, dilation=dilation
    )
    got = ops.conv_transpose_via_matrix(y, weight, size, stride, padding, dilation)
    assert got.shape == (2, c_in, *size)
    torch.testing.assert_close(got, expected)


def test_transpose_is_the_adjoint_of_the_convolution():
    """<conv(x), y> == <x, conv_transpose(y)>: the defining property of a transpose."""
    weight = torch.randn(3, 2, 3, 3)
    x = torch.randn(1, 2, 7, 6)
    y = torch.randn(1, 3, 4, 3)
    conv = F.conv2d(x, weight, stride=2, padding=1)
    back = ops.conv_transpose_via_matrix(y, weight, (7, 6), stride=2, padding=1)
    torch.testing.assert_close((conv * y).sum(), (x * back).sum())


def test_conv_matrix_1d_example_from_the_notes():
    """The notes' kernel [x, y, z] on [0, a, b, c, 0], stride 1 and 2, and the transposes.

    The notes write true convolution (kernel flipped); PyTorch cross-correlates, so the
    PyTorch weight is [z, y, x]. Padding 1 on the 5-long input gives the notes' 5x5 matrix.
    """
    x, y, z = 2.0, 3.0, 5.0
    a, b, c = 7.0, 11.0, 13.0
    weight = torch.tensor([[[[z, y, x]]]])
    signal = torch.tensor([0.0, a, b, c, 0.0])

    stride1 = ops.conv_matrix(weight, (1, 5), padding=(0, 1))
    assert stride1.tolist() == [[y, x, 0, 0, 0], [z, y, x, 0, 0], [0, z, y, x, 0], [0, 0, z, y, x], [0, 0, 0, z, y]]
    assert (stride1 @ signal).tolist() == [a * x, a * y + b * x, a * z + b * y + c * x, b * z + c * y, c * z]
    # The transpose "convolves with the reversed coefficients": it is the matrix of kernel [x, y, z].
    assert stride1.T.tolist() == ops.conv_matrix(weight.flip(-1), (1, 5), padding=(0, 1)).tolist()
    assert (stride1.T @ signal).tolist() == [a * z, a * y + b * z, a * x + b * y + c * z, b * x + c * y, c * x]

    stride2 = ops.conv_matrix(weight, (1, 5), stride=(1, 2), padding=(0, 1))
    assert stride2.tolist() == [[y, x, 0, 0, 0], [0, z, y, x, 0], [0, 0, 0, z, y]]
    assert (stride2 @ signal).tolist() == [a * x, a * z + b * y + c * x, c * z]
    up = ops.conv_transpose_via_matrix(torch.tensor([[[[a, b, c]]]]), weight, (1, 5), stride=(1, 2), padding=(0, 1))
    assert up[0, 0, 0].tolist() == [a * y, a * x + b * z, b * y, b * x + c * z, c * y]


def test_transposed_conv_3x3_stride2_pad1_takes_2x2_to_4x4_summing_overlaps():
    """Each input scales a copy of the kernel, placed 2 pixels apart; overlapping copies add up."""
    kernel = torch.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    y = torch.tensor([[[[1.0, 10.0], [100.0, 1000.0]]]])
    got = ops.conv_transpose_via_matrix(y, kernel, (4, 4), stride=2, padding=1)
    # By hand: paste value * kernel with top-left at (2i - 1, 2j - 1) on a 5x5 canvas, crop to 4x4.
    canvas = torch.zeros(6, 6)
    for i, j in itertools.product(range(2), range(2)):
        canvas[2 * i : 2 * i + 3, 2 * j : 2 * j + 3] += y[0, 0, i, j] * kernel[0, 0]
    expected = canvas[1:5, 1:5]
    torch.testing.assert_close(got[0, 0], expected)
    # Output (1, 1) is where all four copies overlap: kernel taps (2,2), (2,0), (0,2), (0,0) of the four inputs.
    assert got[0, 0, 1, 1] == 9 * 1 + 7 * 10 + 3 * 100 + 1 * 1000


@pytest.mark.parametrize("scale", [1, 2, 3])
@pytest.mark.parametrize("shape", [(1, 1, 2, 2), (2, 3, 3, 5), (1, 2, 1, 4)])
def test_nearest_upsample_equals_interpolate(shape, scale):
    x = torch.randn(shape)
    torch.testing.assert_close(ops.nearest_upsample(x, scale), F.interpolate(x, scale_factor=scale, mode="nearest"))


@pytest.mark.parametrize("scale", [2, 3])
@pytest.mark.parametrize("shape", [(1, 1, 2, 2), (2, 3, 3, 5)])
def test_bed_of_nails(shape, scale):
    x = torch.randn(shape)
    got = ops.bed_of_nails(x, scale)
    assert got.shape == (*shape[:2], shape[2] * scale, shape[3] * scale)
    torch.testing.assert_close(got[:, :, ::scale, ::scale], x)
    assert got.abs().sum() == pytest.approx(x.abs().sum().item())  # everything else is zero
    # A transposed convolution with a one-hot kernel at the top-left and stride = scale is the same thing.
    one_hot = torch.zeros(shape[1], 1, scale, scale)
    one_hot[:, :, 0, 0] = 1
    torch.testing.assert_close(got, F.conv_transpose2d(x, one_hot, stride=scale, groups=shape[1]))


def test_unpooling_examples_from_the_notes():
    small = torch.tensor([[[[1, 2], [3, 4]]]])
    assert ops.nearest_upsample(small, 2)[0, 0].tolist() == [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]]
    assert ops.bed_of_nails(small, 2)[0, 0].tolist() == [[1, 0, 2, 0], [0, 0, 0, 0], [3, 0, 4, 0], [0, 0, 0, 0]]
    x = torch.tensor([[[[1.0, 2, 6, 3], [3, 5, 2, 1], [1, 2, 2, 1], [7, 3, 4, 8]]]])
    pooled, indices = F.max_pool2d(x, 2, return_indices=True)
    assert pooled[0, 0].tolist() == [[5, 6], [7, 8]]
    got = ops.max_unpool(torch.tensor([[[[1.0, 2], [3, 4]]]]), indices, (4, 4))
    assert got[0, 0].tolist() == [[0, 0, 2, 0], [0, 1, 0, 0], [0, 0, 0, 0], [3, 0, 0, 4]]


@pytest.mark.parametrize(
    "shape, kernel, stride", [((1, 1, 4, 4), 2, 2), ((2, 3, 6, 9), 3, 3), ((1, 2, 5, 7), 2, 2), ((1, 1, 7, 5), 3, 2)]
)
def test_max_unpool_equals_max_unpool2d(shape, kernel, stride):
    x = torch.randn(shape)
    pooled, indices = F.max_pool2d(x, kernel, stride, return_indices=True)
    # Overlapping windows (kernel > stride) can share a maximum, so an index may repeat; unpooling
    # the pooled values keeps that well defined (the repeated positions receive the same value).
    values = pooled if kernel > stride else torch.randn_like(pooled)
    expected = F.max_unpool2d(values, indices, kernel, stride, output_size=shape[2:])
    torch.testing.assert_close(ops.max_unpool(values, indices, shape[2:]), expected)


@pytest.mark.parametrize("scale", [1, 2, 3, 4])
@pytest.mark.parametrize("shape", [(1, 1, 2, 2), (2, 3, 4, 5), (1, 1, 1, 3)])
def test_zero_insertion_then_bilinear_kernel_is_bilinear_interpolation(shape, scale):
    x = torch.randn(shape)
    inserted = ops.zero_insert(x, scale)
    out_size = ((shape[2] - 1) * scale + 1, (shape[3] - 1) * scale + 1)
    assert inserted.shape[2:] == out_size
    kernel = ops.bilinear_kernel(scale, dtype=x.dtype).expand(shape[1], 1, -1, -1)
    got = F.conv2d(inserted, kernel, padding=scale - 1, groups=shape[1])
    expected = F.interpolate(x, size=out_size, mode="bilinear", align_corners=True)
    torch.testing.assert_close(got, expected)


def test_zero_insertion_example_from_the_notes():
    x = torch.arange(1.0, 17.0).reshape(1, 1, 4, 4)
    inserted = ops.zero_insert(x, 2)
    assert inserted.shape == (1, 1, 7, 7)
    assert inserted[0, 0, ::2, ::2].tolist() == x[0, 0].tolist()
    assert inserted[0, 0, 1::2].abs().sum() == 0 and inserted[0, 0, :, 1::2].abs().sum() == 0
    assert ops.bilinear_kernel(2).tolist() == [[0.25, 0.5, 0.25], [0.5, 1.0, 0.5], [0.25, 0.5, 0.25]]
    up = F.conv2d(inserted, ops.bilinear_kernel(2, dtype=x.dtype)[None, None], padding=1)
    assert up[0, 0, 0, :3].tolist() == [1.0, 1.5, 2.0]  # halfway between 1 and 2
    assert up[0, 0, 1, 1].item() == pytest.approx((1 + 2 + 5 + 6) / 4)  # centre of four pixels


@pytest.mark.parametrize("dilation", [1, 2, 3, (2, 1), (1, 3)])
@pytest.mark.parametrize("kernel", [(3, 3), (2, 3), (1, 1)])
def test_dilate_kernel_equals_dilated_conv2d(kernel, dilation):
    weight = torch.randn(3, 2, *kernel)
    x = torch.randn(2, 2, 11, 10)
    expected = F.conv2d(x, weight, dilation=dilation, padding=1)
    torch.testing.assert_close(F.conv2d(x, ops.dilate_kernel(weight, dilation), padding=1), expected)
    d = torch.nn.modules.utils._pair(dilation)
    assert ops.dilate_kernel(weight, dilation).shape[2:] == tuple(d[i] * (kernel[i] - 1) + 1 for i in range(2))


def _measured_receptive_field(layers):
    """Receptive field found by autograd: how many input pixels one central output pixel depends on."""
    size = 1 + 2 * sum(d * (k - 1) * 4**i for i, (k, _, d) in enumerate(layers)) + 64
    x = torch.zeros(1, 1, 1, size, requires_grad=True)
    out = x
    for k, s, d in layers:
        out = F.conv2d(out, torch.ones(1, 1, 1, k), stride=(1, s), dilation=(1, d))
    out[0, 0, 0, out.shape[-1] // 2].backward()
    touched = x.grad[0, 0, 0].nonzero()
    return int(touched.max() - touched.min() + 1)


@pytest.mark.parametrize(
    "layers",
    [
        [(3, 1, 1)],
        [(3, 1, 2)],
        [(3, 1, 3)],
        [(3, 1, 1)] * 3,
        [(3, 1, 1), (3, 1, 2), (3, 1, 4)],
        [(3, 2, 1), (3, 2, 1), (3, 1, 1)],
        [(7, 2, 1), (3, 2, 1), (3, 1, 2), (3, 1, 2)],
        [(2, 2, 1), (3, 1, 1), (2, 2, 1), (3, 1, 3)],
    ],
)
def test_receptive_field_matches_autograd(layers):
    assert ops.receptive_field(layers) == _measured_receptive_field(layers)


def test_receptive_field_hand_worked():
    assert ops.receptive_field([(3, 1, 1)]) == 3
    assert ops.receptive_field([(3, 1, 2)]) == 5
    assert ops.receptive_field([(3, 1, 3)]) == 7
    assert ops.receptive_field([]) == 1


@pytest.mark.parametrize("scale, c_out, c_in, k", [(2, 3, 4, 3), (3, 2, 1, 1), (4, 1, 2, 3)])
def test_icnr_makes_pixel_shuffle_output_blockwise_constant(scale, c_out, c_in, k):
    conv = torch.nn.Conv2d(c_in, c_out * scale * scale, k, padding=k // 2, bias=False)
    returned = ops.icnr_(conv.weight, scale)
    assert returned is conv.weight
    out = F.pixel_shuffle(conv(torch.randn(2, c_in, 5, 6)), scale)  # (2, c_out, 5·s, 6·s)
    blocks = out.unfold(2, scale, scale).unfold(3, scale, scale)  # (2, c_out, 5, 6, s, s)
    torch.testing.assert_close(blocks, blocks[..., :1, :1].expand_as(blocks))
    # ...and it equals one sub-kernel's low-resolution output, upsampled by nearest neighbour.
    x = torch.randn(2, c_in, 5, 6)
    low = F.conv2d(x, conv.weight[:: scale * scale], padding=k // 2)
    torch.testing.assert_close(F.pixel_shuffle(conv(x), scale), ops.nearest_upsample(low, scale))


def _paste_counts(size, kernel, stride, padding, num_layers):
    """Oracle for overlap_count: paste all-ones kernels by hand, layer by layer, then crop the padding."""
    counts = torch.ones(size)
    for _ in range(num_layers):
        h, w = counts.shape
        canvas = torch.zeros((h - 1) * stride[0] + kernel[0], (w - 1) * stride[1] + kernel[1])
        for i, j in itertools.product(range(h), range(w)):
            canvas[i * stride[0] : i * stride[0] + kernel[0], j * stride[1] : j * stride[1] + kernel[1]] += counts[i, j]
        counts = canvas[padding[0] : canvas.shape[0] - padding[0], padding[1] : canvas.shape[1] - padding[1]]
    return counts


@pytest.mark.parametrize(
    "size, kernel, stride, padding, num_layers",
    [((4, 4), (3, 3), (2, 2), (0, 0), 1), ((3, 5), (3, 4), (2, 2), (1, 1), 2), ((4, 4), (4, 4), (2, 2), (1, 1), 3),
     ((2, 3), (3, 3), (2, 2), (0, 0), 3), ((5, 4), (5, 2), (3, 1), (2, 0), 2), ((3, 3), (3, 3), (1, 1), (0, 0), 1)],
)
def test_overlap_count_equals_pasting_by_hand(size, kernel, stride, padding, num_layers):
    counts = ops.overlap_count(size, kernel, stride, padding=padding, num_layers=num_layers)
    torch.testing.assert_close(counts, _paste_counts(size, kernel, stride, padding, num_layers))


@pytest.mark.parametrize("kernel, stride", [(3, 2), (4, 2), (3, 1), (5, 3)])
def test_overlap_count_is_the_gradient_of_a_strided_convolution(kernel, stride):
    """The backward pass of sum(conv2d(x, ones, stride)) pastes the kernel once per output: overlap_count."""
    x = torch.randn(1, 1, 11, 11, requires_grad=True)
    F.conv2d(x, torch.ones(1, 1, kernel, kernel), stride=stride).sum().backward()
    out = ops.conv_output_size((11, 11), kernel, stride)
    counts = ops.overlap_count(out, kernel, stride)
    h, w = counts.shape                                   # the rows and columns the convolution reads
    assert torch.all(x.grad[0, 0, h:, :] == 0) and torch.all(x.grad[0, 0, :, w:] == 0)
    torch.testing.assert_close(x.grad[0, 0, :h, :w], counts)


def test_overlap_count_hand_worked():
    # Kernel 3, stride 2: inner pixels covered 1, 2 or 4 times; two layers: (1..3)², three: (1..5)².
    for layers, largest in ((1, 4), (2, 9), (3, 25)):
        counts = ops.overlap_count(8, 3, 2, num_layers=layers)
        margin = 2 ** (layers + 1)
        inner = counts[margin:-margin, margin:-margin]
        assert inner.min() == 1 and inner.max() == largest
    # Kernel 4, stride 2, padding 1: every inner pixel 4**layers times.
    for layers in (1, 2, 3):
        counts = ops.overlap_count(8, 4, 2, padding=1, num_layers=layers)
        margin = 2 ** layers
        assert set(counts[margin:-margin, margin:-margin].unique().tolist()) == {4.0**layers}


def test_checkerboard_spread_equals_block_reshape():
    """Phase means computed the other way round: reshape into (period × period) blocks and average over blocks."""
    x = torch.randn(3, 2, 12, 18)
    for period in (1, 2, 3):
        blocks = x.reshape(3, 2, 12 // period, period, 18 // period, period)
        means = blocks.mean((2, 4)).flatten(-2)          # (N, C, period²)
        torch.testing.assert_close(ops.checkerboard_spread(x, period), means.max(-1).values - means.min(-1).values)
    smooth = torch.linspace(0, 1, 16).expand(1, 1, 16, 16)
    checker = torch.tensor([[1.0, 0.0], [0.0, 0.0]]).repeat(8, 8)[None, None]
    assert ops.checkerboard_spread(x, 1).abs().max() == 0
    # A ramp rising 1/15 per column: odd columns average 1/15 more than even ones, on every row.
    assert ops.checkerboard_spread(smooth).item() == pytest.approx(1 / 15, abs=1e-12)
    # Plus 0.5 at every (even, even) pixel: that phase is 0.5 above the (odd row, even column) phase, the lowest.
    assert ops.checkerboard_spread(smooth + 0.5 * checker).item() == pytest.approx(0.5, abs=1e-12)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: ops.conv_matrix(torch.randn(1, 1, 3), (4, 4)), "(C_out, C_in, kH, kW)"),
        (lambda: ops.conv_matrix(torch.randn(1, 1, 3, 3), (2, 2)), "too small"),
        (lambda: ops.conv_matrix(torch.randn(1, 1, 3, 3), (4, 4), stride=0), "stride must be >= 1"),
        (lambda: ops.conv_matrix(torch.randn(1, 1, 3, 3), (4, 4), padding=-1), "padding must be >= 0"),
        (lambda: ops.conv_matrix(torch.randn(1, 1, 3, 3), (4, 4, 4)), "pair of ints"),
        (lambda: ops.conv_transpose_via_matrix(torch.randn(1, 1, 3, 3), torch.randn(1, 1, 3, 3), (4, 4), 2, 1), "(N, 1, 2, 2)"),
        (lambda: ops.nearest_upsample(torch.randn(2, 2), 2), "(N, C, H, W)"),
        (lambda: ops.nearest_upsample(torch.randn(1, 1, 2, 2), 0), "positive int"),
        (lambda: ops.bed_of_nails(torch.randn(1, 1, 2, 2), 1.5), "positive int"),
        (lambda: ops.max_unpool(torch.randn(1, 1, 2, 2), torch.zeros(1, 1, 2, 2), (4, 4)), "int64"),
        (lambda: ops.max_unpool(torch.randn(1, 1, 2, 2), torch.zeros(1, 1, 2, 1, dtype=torch.long), (4, 4)), "shape of x"),
        (lambda: ops.max_unpool(torch.randn(1, 1, 2, 2), torch.full((1, 1, 2, 2), 16), (4, 4)), "[0, 16)"),
        (lambda: ops.dilate_kernel(torch.randn(1, 1, 3, 3), 0), "dilation must be >= 1"),
        (lambda: ops.receptive_field([(3, 1)]), "(kernel_size, stride, dilation)"),
        (lambda: ops.receptive_field([(3, 0, 1)]), "stride must be a positive int"),
        (lambda: ops.icnr_(torch.randn(6, 1, 3, 3), 2), "multiple of scale**2 = 4"),
        (lambda: ops.overlap_count(4, 3, 2, num_layers=0), "num_layers must be an int >= 1"),
        (lambda: ops.overlap_count(1, 2, 2, padding=1), "crops away the whole output"),
        (lambda: ops.overlap_count(4, 0, 2), "kernel_size must be >= 1"),
        (lambda: ops.checkerboard_spread(torch.ones(1, 1, 1, 4)), "H, W >= period = 2"),
        (lambda: ops.checkerboard_spread(torch.ones(1, 1, 4, 4, dtype=torch.long)), "floating-point"),
        (lambda: ops.checkerboard_spread(torch.ones(4, 4)), "(N, C, H, W)"),
    ],
)
def test_bad_arguments_say_what_was_expected(call, message):
    with pytest.raises((ValueError, TypeError)) as error:
        call()
    assert message in str(error.value)
