"""A ps2_upsampling class for the similarity report: independent honest solutions and known copies.

The five honest students (h1..h5) were written by hand, each its own way (loops, `torch.kron`,
index arithmetic, transposed convolutions, autograd), as students who did not talk to each other
would. The copies are the disguises instructors meet:

    c1_renamed      h1 with every local name changed
    c2_reordered    h2 with its functions in another order and a helper function of its own
    c3_commented    h3 with comments on most lines and blank lines added
    c4_reference    the reference solution (solutions/), with a few names changed
    c5_disguised    h5 renamed, reordered and commented at once

Each answer is the body of one release cell (its signature and docstring stay as released). The
module's name starts with "_" so that tests/test_grading.py does not take it for a graded class.
"""

from __future__ import annotations

# grade_id -> bodies, one per function of the release cell, in the cell's order.
Answers = dict[str, list[str]]

H1: Answers = {
    "ps2_nearest_upsample": ["""
    n, c, h, w = x.shape
    out = x[:, :, :, None, :, None].expand(n, c, h, scale, w, scale)
    return out.reshape(n, c, h * scale, w * scale)
"""],
    "ps2_bed_of_nails": ["""
    result = torch.zeros(x.shape[0], x.shape[1], x.shape[2] * scale, x.shape[3] * scale, dtype=x.dtype)
    for i in range(x.shape[2]):
        for j in range(x.shape[3]):
            result[:, :, i * scale, j * scale] = x[:, :, i, j]
    return result
"""],
    "ps2_max_unpool": ["""
    N, C = x.shape[0], x.shape[1]
    H, W = output_size
    flat = torch.zeros(N * C, H * W, dtype=x.dtype)
    src = x.reshape(N * C, -1)
    idx = indices.reshape(N * C, -1)
    for k in range(N * C):
        flat[k, idx[k]] = src[k]
    return flat.view(N, C, H, W)
"""],
    "ps2_zero_insert": ["""
    N, C, H, W = x.shape
    big = torch.zeros(N, C, scale * (H - 1) + 1, scale * (W - 1) + 1, dtype=x.dtype)
    big[..., 0::scale, 0::scale] = x
    return big
""", """
    ramp = [1 - abs(d) / scale for d in range(-(scale - 1), scale)]
    k1 = torch.tensor(ramp, dtype=x.dtype)
    k2 = k1[:, None] * k1[None, :]
    C = x.shape[1]
    weight = k2.repeat(C, 1, 1, 1)
    return F.conv2d(zero_insert(x, scale), weight, padding=scale - 1, groups=C)
"""],
    "ps2_conv_matrix": ["""
    C_out, C_in, KH, KW = weight.shape
    H, W = input_size
    Ho = 1 + (H + 2 * padding - KH) // stride
    Wo = 1 + (W + 2 * padding - KW) // stride
    M = torch.zeros(C_out, Ho, Wo, C_in, H, W, dtype=weight.dtype)
    for y in range(Ho):
        for x in range(Wo):
            for ky in range(KH):
                for kx in range(KW):
                    iy = y * stride + ky - padding
                    ix = x * stride + kx - padding
                    if iy < 0 or iy >= H or ix < 0 or ix >= W:
                        continue
                    M[:, y, x, :, iy, ix] = weight[:, :, ky, kx]
    return M.reshape(C_out * Ho * Wo, C_in * H * W)
"""],
    "ps2_conv_transpose": ["""
    C = conv_matrix(weight, input_size, stride, padding)
    flat = y.reshape(y.shape[0], -1)
    x = (C.T @ flat.T).T
    return x.reshape(y.shape[0], weight.shape[1], input_size[0], input_size[1])
"""],
}

H2: Answers = {
    "ps2_nearest_upsample": ["""
    return F.interpolate(x, scale_factor=scale, mode="nearest")
"""],
    "ps2_bed_of_nails": ["""
    mask = torch.zeros(scale, scale, dtype=x.dtype)
    mask[0, 0] = 1
    return torch.kron(x, mask)
"""],
    "ps2_max_unpool": ["""
    n, c, _, _ = x.shape
    out = torch.zeros((n, c, output_size[0] * output_size[1]), dtype=x.dtype, device=x.device)
    out = out.scatter(-1, indices.view(n, c, -1), x.view(n, c, -1))
    return out.view(n, c, *output_size)
"""],
    "ps2_zero_insert": ["""
    mask = torch.zeros(scale, scale, dtype=x.dtype)
    mask[0, 0] = 1.0
    spread = torch.kron(x, mask)
    return spread[:, :, : (x.shape[2] - 1) * scale + 1, : (x.shape[3] - 1) * scale + 1]
""", """
    channels = x.shape[1]
    t = torch.linspace(-(scale - 1), scale - 1, 2 * scale - 1, dtype=x.dtype)
    tent = (1 - t.abs() / scale).clamp(min=0)
    z = zero_insert(x, scale)
    rows = F.conv2d(z, tent.view(1, 1, -1, 1).repeat(channels, 1, 1, 1), padding=(scale - 1, 0), groups=channels)
    return F.conv2d(rows, tent.view(1, 1, 1, -1).repeat(channels, 1, 1, 1), padding=(0, scale - 1), groups=channels)
"""],
    "ps2_conv_matrix": ["""
    c_in = weight.shape[1]
    h, w = input_size
    basis = torch.eye(c_in * h * w, dtype=weight.dtype).reshape(-1, c_in, h, w)
    columns = F.conv2d(basis, weight, stride=stride, padding=padding)
    return columns.flatten(1).T
"""],
    "ps2_conv_transpose": ["""
    batch = y.shape[0]
    M = conv_matrix(weight, input_size, stride=stride, padding=padding)
    return torch.einsum("nk,kj->nj", y.reshape(batch, -1), M).reshape(batch, weight.shape[1], *input_size)
"""],
}

H3: Answers = {
    "ps2_nearest_upsample": ["""
    rows = torch.arange(x.shape[2] * scale) // scale
    cols = torch.arange(x.shape[3] * scale) // scale
    return x[:, :, rows][:, :, :, cols]
"""],
    "ps2_bed_of_nails": ["""
    N, C, H, W = x.shape
    up = torch.zeros(N, C, H, scale, W, scale, dtype=x.dtype)
    up[:, :, :, 0, :, 0] = x
    return up.reshape(N, C, H * scale, W * scale)
"""],
    "ps2_max_unpool": ["""
    batch, chans, _, _ = x.shape
    height, width = output_size
    canvas = torch.zeros(batch, chans, height, width, dtype=x.dtype)
    rows = indices // width
    cols = indices % width
    b = torch.arange(batch).view(-1, 1, 1, 1).expand_as(indices)
    ch = torch.arange(chans).view(1, -1, 1, 1).expand_as(indices)
    canvas[b, ch, rows, cols] = x
    return canvas
"""],
    "ps2_zero_insert": ["""
    out = bed_of_nails(x, scale)
    keep_h = out.shape[2] - scale + 1
    keep_w = out.shape[3] - scale + 1
    return out[:, :, :keep_h, :keep_w].contiguous()
""", """
    C = x.shape[1]
    d = torch.arange(1 - scale, scale, dtype=x.dtype).abs()
    w1 = 1.0 - d / scale
    kernel = (w1.unsqueeze(1) @ w1.unsqueeze(0)).unsqueeze(0).unsqueeze(0).repeat(C, 1, 1, 1)
    padded = zero_insert(x, scale)
    return F.conv2d(padded, kernel, padding=scale - 1, groups=C)
"""],
    "ps2_conv_matrix": ["""
    c_out = weight.shape[0]
    h, w = input_size
    eye = torch.eye(weight.shape[1] * h * w, dtype=weight.dtype).view(-1, weight.shape[1], h, w)
    patches = F.unfold(eye, weight.shape[2:], padding=padding, stride=stride)
    out = torch.einsum("ok,dkl->old", weight.reshape(c_out, -1), patches)
    return out.reshape(-1, eye.shape[0])
"""],
    "ps2_conv_transpose": ["""
    A = conv_matrix(weight, input_size, stride, padding)
    out = torch.stack([A.t() @ sample.flatten() for sample in y])
    return out.view(len(y), weight.shape[1], input_size[0], input_size[1])
"""],
}

H4: Answers = {
    "ps2_nearest_upsample": ["""
    output = torch.empty(x.shape[0], x.shape[1], x.shape[2] * scale, x.shape[3] * scale, dtype=x.dtype)
    for dy in range(scale):
        for dx in range(scale):
            output[:, :, dy::scale, dx::scale] = x
    return output
"""],
    "ps2_bed_of_nails": ["""
    batch, channels, height, width = x.size()
    upsampled = torch.zeros((batch, channels, height * scale, width * scale), dtype=x.dtype)
    positions = torch.arange(height) * scale, torch.arange(width) * scale
    upsampled[:, :, positions[0][:, None], positions[1][None, :]] = x
    return upsampled
"""],
    "ps2_max_unpool": ["""
    batch, channels = x.shape[0], x.shape[1]
    height, width = output_size
    result = torch.zeros(batch, channels, height * width, dtype=x.dtype)
    for b in range(batch):
        for ch in range(channels):
            result[b, ch].index_copy_(0, indices[b, ch].reshape(-1), x[b, ch].reshape(-1))
    return result.reshape(batch, channels, height, width)
"""],
    "ps2_zero_insert": ["""
    batch, channels, height, width = x.size()
    new_h = scale * height - scale + 1
    new_w = scale * width - scale + 1
    result = torch.zeros((batch, channels, new_h, new_w), dtype=x.dtype)
    for i in range(height):
        for j in range(width):
            result[:, :, scale * i, scale * j] = x[:, :, i, j]
    return result
""", """
    channels = x.shape[1]
    taps = torch.tensor([1.0 - abs(k - scale + 1) / scale for k in range(2 * scale - 1)], dtype=x.dtype)
    kernel = torch.outer(taps, taps)[None, None].repeat(channels, 1, 1, 1)
    return F.conv_transpose2d(x, kernel, stride=scale, padding=scale - 1, groups=channels)
"""],
    "ps2_conv_matrix": ["""
    out_channels, in_channels, kernel_h, kernel_w = weight.shape
    height, width = input_size
    out_h = (height + 2 * padding - kernel_h) // stride + 1
    out_w = (width + 2 * padding - kernel_w) // stride + 1
    rows = []
    for oc in range(out_channels):
        for oy in range(out_h):
            for ox in range(out_w):
                canvas = torch.zeros(in_channels, height + 2 * padding, width + 2 * padding, dtype=weight.dtype)
                canvas[:, oy * stride:oy * stride + kernel_h, ox * stride:ox * stride + kernel_w] = weight[oc]
                rows.append(canvas[:, padding:padding + height, padding:padding + width].reshape(-1))
    return torch.stack(rows)
"""],
    "ps2_conv_transpose": ["""
    matrix = conv_matrix(weight, input_size, stride=stride, padding=padding)
    batch = y.shape[0]
    result = torch.matmul(matrix.transpose(0, 1), y.reshape(batch, -1).transpose(0, 1))
    return result.transpose(0, 1).reshape(batch, weight.shape[1], *input_size)
"""],
}

H5: Answers = {
    "ps2_nearest_upsample": ["""
    return torch.kron(x, torch.ones(scale, scale, dtype=x.dtype))
"""],
    "ps2_bed_of_nails": ["""
    n, c, h, w = x.shape
    kernel = torch.zeros(c, 1, scale, scale, dtype=x.dtype)
    kernel[:, :, 0, 0] = 1
    return F.conv_transpose2d(x, kernel, stride=scale, groups=c)
"""],
    "ps2_max_unpool": ["""
    flat_x = x.flatten(start_dim=2)
    flat_i = indices.flatten(start_dim=2)
    grid = torch.zeros(*x.shape[:2], output_size[0] * output_size[1], dtype=x.dtype)
    grid.scatter_add_(dim=2, index=flat_i, src=flat_x)
    return grid.unflatten(2, output_size)
"""],
    "ps2_zero_insert": ["""
    c = x.shape[1]
    ones = torch.ones(c, 1, 1, 1, dtype=x.dtype)
    return F.conv_transpose2d(x, ones, stride=scale, groups=c)
""", """
    c = x.shape[1]
    half = scale - 1
    pos = torch.arange(-half, half + 1, dtype=x.dtype)
    hat = torch.clamp(1 - pos.abs() / scale, min=0)
    filt = (hat.view(-1, 1) * hat.view(1, -1)).expand(c, 1, 2 * half + 1, 2 * half + 1)
    z = F.pad(zero_insert(x, scale), (half, half, half, half))
    return F.conv2d(z, filt, groups=c)
"""],
    "ps2_conv_matrix": ["""
    shape = (1, weight.shape[1], *input_size)

    def conv(flat):
        return F.conv2d(flat.reshape(shape), weight, stride=stride, padding=padding).reshape(-1)

    start = torch.zeros(shape[1] * input_size[0] * input_size[1], dtype=weight.dtype)
    return torch.autograd.functional.jacobian(conv, start)
"""],
    "ps2_conv_transpose": ["""
    C = conv_matrix(weight, input_size, stride, padding)
    n = y.size(0)
    return (y.view(n, -1) @ C).view(n, weight.size(1), input_size[0], input_size[1])
"""],
}

HONEST = {"h1_loops": H1, "h2_kron": H2, "h3_indexing": H3, "h4_explicit": H4, "h5_transposed": H5}


def renamed(answers: Answers, names: dict[str, str]) -> Answers:
    """Every whole-word occurrence of each name replaced (a student renaming the locals)."""
    import re

    def rename(body: str) -> str:
        return re.sub(r"\b(" + "|".join(map(re.escape, names)) + r")\b", lambda m: names[m.group(1)], body)

    return {grade_id: [rename(b) for b in bodies] for grade_id, bodies in answers.items()}


def commented(answers: Answers) -> Answers:
    """A comment before every other line and blank lines between statements."""
    out = {}
    for grade_id, bodies in answers.items():
        new = []
        for body in bodies:
            lines = []
            for i, line in enumerate(body.splitlines()):
                indent = line[: len(line) - len(line.lstrip())]
                if line.strip() and i % 2:
                    lines.append(f"{indent}# step {i}: compute the next piece of the result")
                lines.append(line)
                if line.strip() and i % 3 == 0:
                    lines.append("")
            new.append("\n".join(lines) + "\n")
        out[grade_id] = new
    return out


C1 = renamed(H1, {"result": "upsampled", "flat": "buffer", "src": "values", "idx": "where", "big": "canvas", "ramp": "profile",
                  "k1": "line", "k2": "plane", "M": "mat", "Ho": "out_h", "Wo": "out_w", "iy": "src_row", "ix": "src_col",
                  "ky": "u", "kx": "v", "out": "tmp"})
C3 = commented(H3)
C5 = commented(renamed(H5, {"kernel": "spikes", "grid": "board", "flat_x": "vals", "flat_i": "where", "ones": "unit",
                            "half": "r", "pos": "offs", "hat": "tent", "filt": "k2d", "shape": "dims", "start": "zero"}))

# Reordered: the zero_insert cell as bilinear_upsample's caller first, and a helper of its own.
# (Which functions a cell defines is the release's; the order is the student's: see `cells`.)
REORDERED = {"ps2_zero_insert"}
C2: Answers = {**H2, "ps2_conv_matrix": ["""
    return _columns(weight, input_size, stride, padding).T
"""]}
C2_HELPER = '''def _columns(weight, input_size, stride, padding):
    c_in = weight.shape[1]
    h, w = input_size
    basis = torch.eye(c_in * h * w, dtype=weight.dtype).reshape(-1, c_in, h, w)
    columns = F.conv2d(basis, weight, stride=stride, padding=padding)
    return columns.flatten(1)


'''

# name -> (answers, prefix to the conv_matrix cell, cells with their functions in reverse order, source of the copy)
COPIES = {
    "c1_renamed": (C1, "", set(), "h1_loops"),
    "c2_reordered": (C2, C2_HELPER, REORDERED, "h2_kron"),
    "c3_commented": (C3, "", set(), "h3_indexing"),
    "c5_disguised": (C5, "", REORDERED, "h5_transposed"),
}
REFERENCE_RENAMES = {"out": "canvas", "matrix": "big", "tent": "weights", "offsets": "steps", "row": "r_idx"}
