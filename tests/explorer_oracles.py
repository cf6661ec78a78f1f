"""What each explorer's view must show for one setting, from PyTorch and `seglib.ops` /
`seglib.metrics`, never from `seglib.widgets`' own numbers.

Used by tests/test_book_html.py, which reads a view off the built page into a `View`:
`grids[name]` is a table's rows of `(text, data-mark, title)` cells and `roles[name]` is a
`data-role` block's `(text, data-value)`. Each `check_*` returns how many numbers it compared
and raises AssertionError naming the first that differs.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from seglib import metrics, ops


@dataclass
class View:
    settings: dict[str, Any]
    grids: dict[str, list[list[tuple[str, str | None, str]]]]
    roles: dict[str, tuple[str, str | None]]
    disabled: list[str]


def numbers(view: View, grid: str) -> torch.Tensor:
    """A grid's cell texts as a float64 tensor."""
    return torch.tensor([[float(text) for text, _, _ in row] for row in view.grids[grid]], dtype=torch.float64)


def marked(view: View, grid: str, mark: str) -> set[tuple[int, int]]:
    return {(i, j) for i, row in enumerate(view.grids[grid]) for j, (_, m, _) in enumerate(row) if m == mark}


def assert_grid(view: View, grid: str, expected: torch.Tensor, tol: float = 1e-9) -> int:
    """The grid's numbers equal `expected` to `tol` (the view rounds to `tol`); returns their count."""
    shown = numbers(view, grid)
    expected = expected.to(torch.float64)
    assert shown.shape == expected.shape, f"{view.settings}: {grid} is {tuple(shown.shape)}, expected {tuple(expected.shape)}"
    worst = (shown - expected).abs().max().item() if shown.numel() else 0.0
    assert worst <= tol, f"{view.settings}: {grid} differs by {worst}:\n{shown}\nexpected\n{expected}"
    return shown.numel()


def nonzero_cells(t: torch.Tensor) -> set[tuple[int, int]]:
    return {(int(i), int(j)) for i, j in t.nonzero().tolist()}


# ---------------------------------------------------------------------------------------------
# Convolution as a matrix: y = C x, Cᵀ y.
# ---------------------------------------------------------------------------------------------


def check_conv_matrix(view: View) -> int:
    s = view.settings
    h, w, k, st, p = s["height"], s["width"], s["kernel_size"], s["stride"], s["padding"]
    if k > min(h, w) + 2 * p:  # F.conv2d would refuse it: the page says why instead
        assert "message" in view.roles and "does not fit" in view.roles["message"][0], view.settings
        assert "output_index" in view.disabled, view.settings
        return 0
    padded = numbers(view, "x")  # x inside its ring of padding
    x = padded[p : p + h, p : p + w] if p else padded
    assert (padded.sum() - x.sum()).item() == 0, f"{s}: the padding ring is not all zeros"
    weight = numbers(view, "w")
    assert weight.shape == (k, k), s
    x4, w4 = x[None, None], weight[None, None]
    y = F.conv2d(x4, w4, stride=st, padding=p)
    h_out, w_out = y.shape[-2:]
    # C column by column: the convolution of each basis image (independent of ops.conv_matrix).
    basis = torch.eye(h * w, dtype=torch.float64).reshape(h * w, 1, h, w)
    c = F.conv2d(basis, w4, stride=st, padding=p).reshape(h * w, h_out * w_out).T
    torch.testing.assert_close(c, ops.conv_matrix(w4, (h, w), st, p).to(torch.float64))
    op = (h - ((h_out - 1) * st - 2 * p + k), w - ((w_out - 1) * st - 2 * p + k))
    cty = F.conv_transpose2d(y, w4, stride=st, padding=p, output_padding=op)
    count = 2 * x.numel()
    count += assert_grid(view, "w", weight) + assert_grid(view, "y", y[0, 0]) + assert_grid(view, "y2", y[0, 0])
    count += assert_grid(view, "C", c) + assert_grid(view, "Ct", c.T) + assert_grid(view, "Cty", cty[0, 0])
    # The followed output pixel: its row of C marks the input pixels it reads, and Cᵀ spreads back to them.
    index = s["output_index"]
    assert 0 <= index < h_out * w_out, s
    oi, oj = divmod(index, w_out)
    reads = {divmod(q, w) for q in c[index].nonzero().flatten().tolist()}
    assert marked(view, "y", "output") == {(oi, oj)} == marked(view, "y2", "output"), s
    assert {(i - p, j - p) for i, j in marked(view, "x", "feeds")} == reads, s
    assert marked(view, "Cty", "spread") == reads, s
    assert {j for _, j in marked(view, "C", "tap")} == {r * w + cc for r, cc in reads}, s
    total = view.roles["sum"][0].rsplit("=", 1)[-1].strip().rstrip(".")
    assert float(total) == y[0, 0, oi, oj].item(), (s, view.roles["sum"])
    return count + 1


# ---------------------------------------------------------------------------------------------
# Upsampling: nearest, bed of nails, max unpooling, bilinear, transposed convolution.
# ---------------------------------------------------------------------------------------------


def check_upsampling(view: View) -> int:
    s = view.settings
    n, sc, k, index = s["input_size"], s["scale"], s["kernel_size"], s["input_index"]
    assert 0 <= index < n * n, s
    x = numbers(view, "x")
    expected_x = {
        "ramp": torch.arange(1, n * n + 1, dtype=torch.float64).reshape(n, n),
        "ones": torch.ones(n, n, dtype=torch.float64),
        "impulse": F.one_hot(torch.tensor(index), n * n).to(torch.float64).reshape(n, n),
    }.get(s["pattern"])
    if expected_x is not None:
        torch.testing.assert_close(x, expected_x)
    else:  # random: integers 0..9
        assert x.shape == (n, n) and bool(((x >= 0) & (x <= 9) & (x == x.round())).all()), s
    pool_map = numbers(view, "pool_map")
    pooled, indices = F.max_pool2d(pool_map[None, None], sc, return_indices=True)
    big, m = n * sc, (n - 1) * sc + 1
    padding = max(0, -(-(k - sc) // 2))
    output_padding = sc - k + 2 * padding

    def methods(z: torch.Tensor) -> dict[str, torch.Tensor]:
        z4 = z[None, None]
        nails = torch.zeros(1, 1, big, big, dtype=torch.float64)
        nails[..., ::sc, ::sc] = z4
        inserted = torch.zeros(1, 1, m, m, dtype=torch.float64)
        inserted[..., ::sc, ::sc] = z4
        ones = torch.ones(1, 1, k, k, dtype=torch.float64)
        return {
            "nearest": F.interpolate(z4, scale_factor=sc, mode="nearest")[0, 0],
            "bed_of_nails": nails[0, 0],
            "max_unpool": F.max_unpool2d(z4, indices, sc, output_size=(big, big))[0, 0],
            "zero_inserted": inserted[0, 0],
            "bilinear": F.interpolate(z4, size=(m, m), mode="bilinear", align_corners=True)[0, 0],
            "transposed": F.conv_transpose2d(z4, ones, stride=sc, padding=padding, output_padding=output_padding)[0, 0],
        }

    out = methods(x)
    impulse = F.one_hot(torch.tensor(index), n * n).to(torch.float64).reshape(n, n)
    reach = methods(impulse)
    count = x.numel() + assert_grid(view, "pooled", pooled[0, 0]) + pool_map.numel()
    for name, expected in out.items():
        count += assert_grid(view, name, expected, tol=0.005 + 1e-9)  # the view shows two decimals
        if name != "zero_inserted":
            assert marked(view, name, "reach") == nonzero_cells(reach[name]), (s, name)
    count += assert_grid(view, "bilinear_kernel", ops.bilinear_kernel(sc).to(torch.float64), tol=0.005 + 1e-9)
    count += assert_grid(view, "weight", torch.ones(k, k))
    assert out["transposed"].shape == (big, big), s
    return count


# ---------------------------------------------------------------------------------------------
# Receptive field of stacked dilated convolutions.
# ---------------------------------------------------------------------------------------------

PATHS = re.compile(r"input pixel \((\d+), (\d+)\) of the field: (\d+(?:\.\d+)?) path")


def check_receptive_field(view: View) -> int:
    s = view.settings
    k, d, layers, st = s["kernel_size"], s["dilation"], s["num_layers"], s["stride"]
    field = ops.receptive_field([(k, st, d)] * layers)
    assert view.roles["field"][1] == str(field), (s, view.roles["field"])
    kernel = torch.arange(1, k * k + 1, dtype=torch.float64).reshape(1, 1, k, k)
    dilated = F.conv_transpose2d(kernel, torch.ones(1, 1, 1, 1, dtype=torch.float64), stride=d)  # taps d apart
    count = 1 + assert_grid(view, "dilated_kernel", dilated[0, 0])
    if field > 41:
        assert "too-large" in view.roles, s
        return count
    # How many paths lead from each input pixel to the one output: the gradient with all weights 1.
    image = torch.zeros(1, 1, field, field, dtype=torch.float64, requires_grad=True)
    out = image
    for _ in range(layers):
        out = F.conv2d(out, torch.ones(1, 1, k, k, dtype=torch.float64), stride=st, dilation=d)
    assert out.shape[-2:] == (1, 1), s
    (grad,) = torch.autograd.grad(out.sum(), image)
    grad = grad[0, 0]
    shown = torch.zeros(field, field, dtype=torch.float64)
    for row in view.grids["input"]:
        for _, mark, title in row:
            if mark == "read":
                r, c, paths = PATHS.match(title).groups()
                shown[int(r), int(c)] = float(paths)
    torch.testing.assert_close(shown, grad)
    assert view.roles["read"][1] == str(int((grad > 0).sum())), s
    holes = sum(mark == "hole" for row in view.grids["input"] for _, mark, _ in row)
    assert holes == int((grad == 0).sum()), s
    return count + field * field + 1


# ---------------------------------------------------------------------------------------------
# IoU, Dice and pixel accuracy of a moved prediction.
# ---------------------------------------------------------------------------------------------


def shape_mask(shape: str, grid: int, top: int, left: int, side: int) -> torch.Tensor:
    """The explorer's masks, drawn here pixel by pixel: a square, or the pixels whose centres lie in a disc."""
    mask = torch.zeros(grid, grid, dtype=torch.bool)
    for r in range(grid):
        for c in range(grid):
            if shape == "square":
                mask[r, c] = top <= r < top + side and left <= c < left + side
            else:
                cr, cc = top + (side - 1) / 2, left + (side - 1) / 2
                mask[r, c] = side > 0 and (r - cr) ** 2 + (c - cc) ** 2 <= (side / 2) ** 2
    return mask


def check_iou(view: View, grid: int = 28) -> int:
    s = view.settings
    size, scale = s["size"], s["scale"]
    side = math.floor(size * scale + 0.5)
    top = (grid - size) // 2
    offset = (size - side) // 2
    target = shape_mask(s["shape"], grid, top, top, size)
    prediction = shape_mask(s["shape"], grid, top + offset + s["dy"], top + offset + s["dx"], side)
    assert marked(view, "target", "in") == nonzero_cells(target), s
    assert marked(view, "prediction", "in") == nonzero_cells(prediction), s
    cm = metrics.confusion_matrix(prediction.long(), target.long(), num_classes=2)
    tn, fp, fn, tp = cm.flatten().tolist()
    counts = view.roles["counts"][0]
    assert counts.startswith(f"TP = {tp}, FP = {fp}, FN = {fn}, TN = {tn} "), (s, counts, cm)
    iou = metrics.iou(cm)[1].item()
    dice = metrics.dice(cm)[1].item()
    accuracy = metrics.pixel_accuracy(cm).item()
    for role, value in (("iou", iou), ("dice", dice), ("accuracy", accuracy)):
        text, data_value = view.roles[role]
        if math.isnan(value):
            assert "undefined" in text and data_value is None, (s, role, text)
            continue
        shown = float(re.search(r"= (\d+\.\d{3})(?::|$)", text).group(1))
        assert abs(shown - value) <= 0.0005 + 1e-9, (s, role, text, value)
        assert abs(float(data_value) - value) <= 1e-6, (s, role, data_value, value)
    overlay = {m: marked(view, "overlay", m) for m in ("tp", "fp", "fn")}
    assert overlay["tp"] == nonzero_cells(target & prediction), s
    assert overlay["fp"] == nonzero_cells(~target & prediction), s
    assert overlay["fn"] == nonzero_cells(target & ~prediction), s
    return 4 + 3 + 3 * grid * grid
