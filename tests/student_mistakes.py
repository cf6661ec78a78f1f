"""Typical student mistakes, each written into an assignment's reference solution.

`tests/test_student_mistakes.py` checks that every one fails a *visible* test cell with the
course's own message (an `AssertionError` that says what went wrong), so that the student sees
it before grading; `python tests/student_mistakes.py [SOLUTIONS_DIR]` prints, for each mistake,
where it is caught (visible, hidden only, or not at all), e.g. for an older copy of `solutions/`
(`python tests/student_mistakes.py OLD_SOLUTIONS ps2_upsampling ps5_metrics_losses` for some).

The notebooks run in-process: one namespace per run, each code cell `exec`-ed in order (the
install cell and the training cells skipped), the hidden-test regions stripped unless asked for.
A cell that raises is recorded and the run goes on, as nbgrader does.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"
HIDDEN = re.compile(r"^\s*### (BEGIN|END) HIDDEN TESTS\s*$")
# Cells that train or time things: slow, and no mistake below needs them.
SKIP = {
    "ps1_speed",
    "ps3_train_data", "ps3_train", "ps3_train_miou_low", "ps3_train_miou_high",
    "ps6_show_pool", "ps6_train", "ps6_evaluate", "ps6_failures", "ps6_val_miou", "ps6_heldout_partial", "ps6_heldout_pass",
}


@dataclass(frozen=True)
class Mistake:
    """`old` replaced by `new` in the solution cell `cell`; `message` must appear in a visible failure."""

    assignment: str
    name: str
    cell: str
    old: str
    new: str
    message: str
    stop_after: str | None = None  # the last cell the run needs (saves time)


@dataclass
class Outcome:
    failures: dict[str, tuple[str, str]] = field(default_factory=dict)  # grade_id -> (exception type, message)


def cells(assignment: str, solutions: Path = SOLUTIONS) -> list[dict]:
    nb = json.loads((solutions / assignment / f"{assignment}.ipynb").read_text())
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def _meta(cell: dict) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def visible(source: str) -> str:
    """The source without its hidden-test regions, as students get it."""
    kept, hidden = [], False
    for line in source.splitlines():
        marker = HIDDEN.match(line)
        if marker:
            hidden = marker.group(1) == "BEGIN"
        elif not hidden:
            kept.append(line)
    return "\n".join(kept)


_PREFIXES: dict[tuple[str, str, int], tuple[dict, object]] = {}


def _prefix(assignment: str, index: int, solutions: Path) -> tuple[dict, object]:
    """The namespace and torch's random state after the untouched code cells before `index` (cached)."""
    import torch

    key = (assignment, str(solutions), index)
    if key not in _PREFIXES:
        namespace: dict = {"__name__": "__main__"}
        for cell in cells(assignment, solutions)[:index]:
            _execute(cell, None, namespace, hidden=False)
        _PREFIXES[key] = (namespace, torch.get_rng_state())
    namespace, state = _PREFIXES[key]
    torch.set_rng_state(state)
    return dict(namespace), state


def _execute(cell: dict, source: str | None, namespace: dict, *, hidden: bool) -> tuple[str, bool, BaseException | None]:
    meta = _meta(cell)
    grade_id = meta.get("grade_id", "")
    if grade_id.endswith("_install") or grade_id in SKIP:
        return grade_id, False, None
    source = "".join(cell["source"]) if source is None else source
    is_test = bool(meta.get("grade") and not meta.get("solution"))
    if is_test and not hidden:
        source = visible(source)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(source, f"<cell {grade_id}>", "exec"), namespace)  # noqa: S102: the course's own notebooks
    except Exception as error:  # noqa: BLE001: a failing cell is what is being recorded
        return grade_id, is_test, error
    return grade_id, is_test, None


def run(assignment: str, replace: dict[str, str] | None = None, *, hidden: bool = False, stop_after: str | None = None,
        solutions: Path = SOLUTIONS) -> Outcome:
    """Execute the notebook in one namespace; record every graded test cell that raises.

    The cells before the first replaced one run once per assignment and are reused (they do not
    depend on the replacement); in a visible run, so are their test cells' outcomes (none fail).
    """
    replace = replace or {}
    all_cells = cells(assignment, solutions)
    ids = [_meta(c).get("grade_id", "") for c in all_cells]
    start = min((ids.index(k) for k in replace), default=0) if not hidden else 0
    namespace, _ = _prefix(assignment, start, solutions) if start else ({"__name__": "__main__"}, None)
    outcome = Outcome()
    for cell, grade_id in zip(all_cells[start:], ids[start:]):
        _, is_test, error = _execute(cell, replace.get(grade_id), namespace, hidden=hidden)
        if is_test and error is not None:
            outcome.failures[grade_id] = (type(error).__name__, str(error))
        if grade_id == stop_after:
            break
    return outcome


def applied(mistake: Mistake, solutions: Path = SOLUTIONS) -> dict[str, str]:
    """{cell: its source with the mistake written in}; KeyError if the cell or the text is missing."""
    (cell,) = [c for c in cells(mistake.assignment, solutions) if _meta(c).get("grade_id") == mistake.cell]
    source = "".join(cell["source"])
    if mistake.old not in source:
        raise KeyError(f"{mistake.name}: {mistake.old!r} is not in {mistake.cell}")
    return {mistake.cell: source.replace(mistake.old, mistake.new)}


def course_message(kind: str, message: str) -> bool:
    """An AssertionError with a message of its own, not a bare `assert` or a raw library error."""
    return kind == "AssertionError" and bool(message.strip())


def where_caught(mistake: Mistake, solutions: Path = SOLUTIONS) -> tuple[str, str]:
    """('visible' | 'visible, raw error' | 'hidden' | 'not caught', the first message seen)."""
    replace = applied(mistake, solutions)
    seen = run(mistake.assignment, replace, stop_after=mistake.stop_after, solutions=solutions).failures
    good = [m for kind, m in seen.values() if course_message(kind, m)]
    if good:
        return "visible", good[0]
    if seen:
        kind, message = next(iter(seen.values()))
        return "visible, raw error", f"{kind}: {message}"
    everything = run(mistake.assignment, replace, hidden=True, stop_after=mistake.stop_after, solutions=solutions).failures
    if everything:
        kind, message = next(iter(everything.values()))
        return "hidden", f"{kind}: {message}"
    return "not caught", ""


# fmt: off
MISTAKES = [
    # ps1: sliding window
    Mistake("ps1_sliding_window", "padding P // 2 on both sides (wrong for even P)", "ps1_extract_patches",
            "before, after = patch_size // 2, patch_size - 1 - patch_size // 2", "before = after = patch_size // 2", "extract_patches", "ps1_extract_patches_hidden"),
    Mistake("ps1_sliding_window", "pads (P - 1) // 2 first: even P puts the pixel upper-left", "ps1_extract_patches",
            "before, after = patch_size // 2, patch_size - 1 - patch_size // 2", "before, after = (patch_size - 1) // 2, patch_size // 2", "extract_patches", "ps1_extract_patches_hidden"),
    Mistake("ps1_sliding_window", "windows as (N, H, W, P, P, C): permute in the wrong order", "ps1_extract_patches",
            "windows.permute(0, 2, 3, 1, 4, 5)", "windows.permute(0, 2, 3, 4, 5, 1).reshape(windows.shape[0], windows.shape[2], windows.shape[3], windows.shape[1], patch_size, patch_size)", "extract_patches", "ps1_extract_patches_hidden"),
    Mistake("ps1_sliding_window", "returns float32 whatever the input dtype", "ps1_extract_patches",
            "return windows.permute(0, 2, 3, 1, 4, 5).contiguous()", "return windows.permute(0, 2, 3, 1, 4, 5).float()", "dtype", "ps1_extract_patches_hidden"),
    Mistake("ps1_sliding_window", "score map reshaped to (N, K, H, W) without the permute", "ps1_sliding_window",
            "return scores.reshape(n, h, w, -1).permute(0, 3, 1, 2)", "return scores.reshape(n, -1, h, w)", "sliding_window_scores", "ps1_sliding_window_hidden"),
    Mistake("ps1_sliding_window", "patches reshaped with the batch of one image only", "ps1_sliding_window",
            "patches.reshape(n * h * w, c, patch_size, patch_size)", "patches.reshape(h * w, c, patch_size, patch_size)", "sliding_window_scores", "ps1_sliding_window_hidden"),
    Mistake("ps1_sliding_window", "linear weight reshaped as (out, h, w, C)", "ps1_linear_to_conv",
            "linear.weight.reshape(linear.out_features, in_channels, h, w)", "linear.weight.reshape(linear.out_features, h, w, in_channels).permute(0, 3, 1, 2)", "linear_to_conv", "ps1_linear_to_conv_hidden"),
    Mistake("ps1_sliding_window", "bias dropped", "ps1_linear_to_conv",
            "bias=linear.bias is not None", "bias=False", "linear_to_conv", "ps1_linear_to_conv_hidden"),
    Mistake("ps1_sliding_window", "every convolution assumed to be 3x3", "ps1_fully_convolutional",
            "side - layer.kernel_size[0] + 1", "side - 2", "to_fully_convolutional"),
    Mistake("ps1_sliding_window", "first Linear's channels read from the classifier's input, not the last conv", "ps1_fully_convolutional",
            "side, channels = side - layer.kernel_size[0] + 1, layer.out_channels", "side, channels = side - layer.kernel_size[0] + 1, channels or layer.in_channels", "to_fully_convolutional"),
    Mistake("ps1_sliding_window", "fully convolutional scores without padding", "ps1_fully_convolutional",
            "return net(F.pad(x, (before, after, before, after)))", "return net(x)", "fully_convolutional_scores"),
    # ps2: upsampling
    Mistake("ps2_upsampling", "nearest_upsample with the scale hard-coded to 2", "ps2_nearest_upsample",
            "repeat_interleave(scale, dim=2).repeat_interleave(scale, dim=3)", "repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)", "nearest_upsample", "ps2_nearest_upsample_hidden"),
    Mistake("ps2_upsampling", "nearest_upsample that tiles the image instead of repeating pixels", "ps2_nearest_upsample",
            "return x.repeat_interleave(scale, dim=2).repeat_interleave(scale, dim=3)", "return x.repeat(1, 1, scale, scale)", "nearest_upsample", "ps2_nearest_upsample_hidden"),
    Mistake("ps2_upsampling", "bed_of_nails as float32 zeros (dtype lost)", "ps2_bed_of_nails",
            "out = x.new_zeros(n, c, h * scale, w * scale)", "out = torch.zeros(n, c, h * scale, w * scale)", "dtype", "ps2_bed_of_nails_hidden"),
    Mistake("ps2_upsampling", "max unpooling indices flattened over the whole tensor", "ps2_max_unpool",
            "out = x.new_zeros(n, c, h * w)\n    out.scatter_(2, indices.flatten(2), x.flatten(2))\n    return out.reshape(n, c, h, w)",
            "out = x.new_zeros(n * c * h * w)\n    out[indices.flatten()] = x.flatten()\n    return out.reshape(n, c, h, w)", "max_unpool", "ps2_max_unpool_hidden"),
    Mistake("ps2_upsampling", "max unpooling into a square output (H used for W)", "ps2_max_unpool",
            "h, w = output_size", "h = w = output_size[0]", "max_unpool", "ps2_max_unpool_hidden"),
    Mistake("ps2_upsampling", "zero_insert that pads after the last pixel too", "ps2_zero_insert",
            "(h - 1) * scale + 1, (w - 1) * scale + 1", "h * scale, w * scale", "zero_insert", "ps2_bilinear_upsample_hidden"),
    Mistake("ps2_upsampling", "bilinear upsampling without groups=C", "ps2_zero_insert",
            "kernel = torch.outer(tent, tent).expand(x.shape[1], 1, -1, -1)\n    return F.conv2d(zero_insert(x, scale), kernel, padding=scale - 1, groups=x.shape[1])",
            "kernel = torch.outer(tent, tent)[None, None]\n    return F.conv2d(zero_insert(x, scale), kernel, padding=scale - 1)", "bilinear_upsample", "ps2_bilinear_upsample_hidden"),
    Mistake("ps2_upsampling", "bilinear kernel mixing channels (C x C full kernel)", "ps2_zero_insert",
            "kernel = torch.outer(tent, tent).expand(x.shape[1], 1, -1, -1)\n    return F.conv2d(zero_insert(x, scale), kernel, padding=scale - 1, groups=x.shape[1])",
            "kernel = torch.outer(tent, tent).expand(x.shape[1], x.shape[1], -1, -1)\n    return F.conv2d(zero_insert(x, scale), kernel, padding=scale - 1)", "bilinear_upsample", "ps2_bilinear_upsample_hidden"),
    Mistake("ps2_upsampling", "bilinear tent filter for scale 2 only", "ps2_zero_insert",
            "offsets = torch.arange(2 * scale - 1, dtype=x.dtype) - (scale - 1)\n    tent = 1 - offsets.abs() / scale",
            "tent = torch.tensor([0.5, 1.0, 0.5], dtype=x.dtype)\n    scale = 2", "bilinear_upsample", "ps2_bilinear_upsample_hidden"),
    Mistake("ps2_upsampling", "conv_matrix always float32", "ps2_conv_matrix",
            "matrix = weight.new_zeros(c_out * h_out * w_out, c_in * h * w)", "matrix = torch.zeros(c_out * h_out * w_out, c_in * h * w)", "dtype", "ps2_conv_matrix_hidden"),
    Mistake("ps2_upsampling", "conv_matrix columns ordered (row, col, channel)", "ps2_conv_matrix",
            "matrix[row, (c * h + r) * w + q] = weight[o, c, u, v]", "matrix[row, (r * w + q) * c_in + c] = weight[o, c, u, v]", "conv_matrix", "ps2_conv_matrix_hidden"),
    Mistake("ps2_upsampling", "conv_matrix rows ordered (i, j, o)", "ps2_conv_matrix",
            "row = (o * h_out + i) * w_out + j", "row = (i * w_out + j) * c_out + o", "conv_matrix", "ps2_conv_matrix_hidden"),
    Mistake("ps2_upsampling", "conv_matrix ignores the stride in the output size", "ps2_conv_matrix",
            "h_out = (h + 2 * padding - kh) // stride + 1\n    w_out = (w + 2 * padding - kw) // stride + 1",
            "h_out = (h + 2 * padding - kh) + 1\n    w_out = (w + 2 * padding - kw) + 1", "conv_matrix", "ps2_conv_matrix_hidden"),
    Mistake("ps2_upsampling", "transposed conv with the weight transposed the wrong way", "ps2_conv_transpose",
            "matrix = conv_matrix(weight, input_size, stride, padding)\n    c_in = weight.shape[1]",
            "matrix = conv_matrix(weight.transpose(0, 1), input_size, stride, padding)\n    c_in = weight.shape[0]", "conv_transpose_via_matrix", "ps2_conv_transpose_hidden"),
    Mistake("ps2_upsampling", "transposed conv for one sample only", "ps2_conv_transpose",
            "return (y.flatten(1) @ matrix).reshape(y.shape[0], c_in, *input_size)", "return (matrix.T @ y.flatten()).reshape(1, c_in, *input_size)", "conv_transpose_via_matrix", "ps2_conv_transpose_hidden"),
    # ps4: atrous
    Mistake("ps4_atrous", "dilate_kernel with zeros after the last tap", "ps4_dilate_kernel",
            "dilation * (kh - 1) + 1, dilation * (kw - 1) + 1", "dilation * kh, dilation * kw", "dilate_kernel", "ps4_dilate_kernel_hidden"),
    Mistake("ps4_atrous", "dilate_kernel always float32", "ps4_dilate_kernel",
            "out = weight.new_zeros(", "out = torch.zeros(", "dtype", "ps4_dilate_kernel_hidden"),
    Mistake("ps4_atrous", "dilate_kernel for square kernels only (kH used for kW)", "ps4_dilate_kernel",
            "c_out, c_in, kh, kw = weight.shape", "c_out, c_in, kh, _ = weight.shape\n    kw = kh", "dilate_kernel", "ps4_dilate_kernel_hidden"),
    Mistake("ps4_atrous", "receptive field that ignores the strides", "ps4_receptive_field",
            "field += dilation * (kernel_size - 1) * jump", "field += dilation * (kernel_size - 1)", "receptive_field", "ps4_receptive_field_hidden"),
    Mistake("ps4_atrous", "receptive field that multiplies the jump before adding", "ps4_receptive_field",
            "field += dilation * (kernel_size - 1) * jump\n        jump *= stride", "jump *= stride\n        field += dilation * (kernel_size - 1) * jump", "receptive_field", "ps4_receptive_field_hidden"),
    Mistake("ps4_atrous", "feature size by floor division", "ps4_feature_size",
            "size = (size - 1) // 2 + 1", "size = size // 2", "feature_size", "ps4_feature_size_hidden"),
    Mistake("ps4_atrous", "feature size rounded to nearest", "ps4_feature_size",
            "return size", "return round(input_size / output_stride)", "feature_size", "ps4_feature_size_hidden"),
    Mistake("ps4_atrous", "separable weights counting the depthwise filter over all channels", "ps4_separable_counts",
            "return kernel_size * kernel_size * in_channels + in_channels * out_channels", "return kernel_size * kernel_size * in_channels * in_channels + in_channels * out_channels", "separable_weights", "ps4_separable_counts_hidden"),
    Mistake("ps4_atrous", "separable conv padded by kernel_size // 2, ignoring the dilation", "ps4_separable_module",
            "padding = dilation * (kernel_size - 1) // 2", "padding = kernel_size // 2", "SeparableConv2d", "ps4_separable_module_hidden"),
    Mistake("ps4_atrous", "DeepLabV3 upsamples by 8 instead of to the input size", "ps4_deeplab",
            "return F.interpolate(scores, size=x.shape[-2:], mode=\"bilinear\", align_corners=False)", "return F.interpolate(scores, scale_factor=8, mode=\"bilinear\", align_corners=False)", "DeepLabV3", "ps4_deeplab_hidden"),
    # ps5: metrics and losses
    Mistake("ps5_metrics_losses", "confusion matrix counted in uint8 (overflow)", "ps5_confusion_matrix",
            "pred, target = pred.reshape(-1).long(), target.reshape(-1).long()", "pred, target = pred.reshape(-1), target.reshape(-1)", "confusion_matrix", "ps5_confusion_matrix_hidden"),
    Mistake("ps5_metrics_losses", "ignore_index forgotten", "ps5_confusion_matrix",
            "    if ignore_index is not None:\n        keep = target != ignore_index\n        pred, target = pred[keep], target[keep]\n", "", "confusion_matrix", "ps5_confusion_matrix_hidden"),
    Mistake("ps5_metrics_losses", "confusion matrix transposed (rows predicted)", "ps5_confusion_matrix",
            "torch.bincount(num_classes * target + pred", "torch.bincount(num_classes * pred + target", "confusion_matrix", "ps5_confusion_matrix_hidden"),
    Mistake("ps5_metrics_losses", "confusion matrix without minlength (absent classes)", "ps5_confusion_matrix",
            "counts = torch.bincount(num_classes * target + pred, minlength=num_classes * num_classes)\n    return counts.reshape(num_classes, num_classes)",
            "counts = torch.bincount(num_classes * target + pred)\n    return counts.reshape(num_classes, num_classes)", "confusion_matrix", "ps5_confusion_matrix_hidden"),
    Mistake("ps5_metrics_losses", "IoU with the union counting TP twice", "ps5_scores",
            "return tp / (cm.sum(dim=0) + cm.sum(dim=1) - tp)", "return tp / (cm.sum(dim=0) + cm.sum(dim=1))", "iou", "ps5_scores_hidden"),
    Mistake("ps5_metrics_losses", "IoU of an absent class as 0 instead of NaN", "ps5_scores",
            "return tp / (cm.sum(dim=0) + cm.sum(dim=1) - tp)", "return torch.nan_to_num(tp / (cm.sum(dim=0) + cm.sum(dim=1) - tp))", "iou", "ps5_scores_hidden"),
    Mistake("ps5_metrics_losses", "mean IoU with torch.mean (NaN from absent classes)", "ps5_scores",
            "return torch.nanmean(iou(cm))", "return iou(cm).mean()", "mean_iou", "ps5_scores_hidden"),
    Mistake("ps5_metrics_losses", "pixel accuracy in float32 (no .double())", "ps5_scores",
            "cm = cm.double()\n    return cm.trace() / cm.sum()", "cm = cm.float()\n    return cm.trace() / cm.sum()", "pixel_accuracy", "ps5_pixel_accuracy_hidden"),
    Mistake("ps5_metrics_losses", "pixel accuracy by integer division", "ps5_scores",
            "cm = cm.double()\n    return cm.trace() / cm.sum()", "return cm.trace() // cm.sum()", "pixel_accuracy", "ps5_pixel_accuracy_hidden"),
    Mistake("ps5_metrics_losses", "imbalance: accuracy of model A answered as the pole's share", "ps5_imbalance",
            "accuracy_a = 390 / 400", "accuracy_a = 10 / 400", "accuracy_a"),
    Mistake("ps5_metrics_losses", "imbalance: mean IoU of model A without the background IoU", "ps5_imbalance",
            "miou_a = (390 / 400 + 0 / 10) / 2", "miou_a = 0.975", "miou_a"),
    Mistake("ps5_metrics_losses", "imbalance: model B's pole IoU as 10/20", "ps5_imbalance",
            "miou_b = (370 / 390 + 10 / 30) / 2", "miou_b = (370 / 390 + 10 / 20) / 2", "miou_b"),
    Mistake("ps5_metrics_losses", "imbalance: model B's accuracy forgetting it found the pole", "ps5_imbalance",
            "accuracy_b = 380 / 400", "accuracy_b = 370 / 400", "accuracy_b"),
    Mistake("ps5_metrics_losses", "focal loss via log(softmax) (inf for confident mistakes)", "ps5_focal_loss",
            "log_p = F.log_softmax(logits, dim=1)", "log_p = torch.log(F.softmax(logits, dim=1))", "focal_loss", "ps5_focal_loss_hidden"),
    Mistake("ps5_metrics_losses", "focal loss averaged over ignored pixels too", "ps5_focal_loss",
            "return loss[keep].mean()", "return (loss * keep).mean()", "focal_loss", "ps5_focal_loss_hidden"),
    Mistake("ps5_metrics_losses", "focal loss that gathers at ignored pixels (255 out of range)", "ps5_focal_loss",
            "safe = torch.where(keep, target, torch.zeros_like(target))", "safe = target", "focal_loss", "ps5_focal_loss_hidden"),
    Mistake("ps5_metrics_losses", "Dice loss over absent classes too", "ps5_dice_loss",
            "return ((1 - score) * (g_sum > 0)).mean()", "return (1 - score).mean()", "dice_loss", "ps5_dice_loss_hidden"),
    Mistake("ps5_metrics_losses", "Dice loss per image, then averaged", "ps5_dice_loss",
            "dims = (0, 2, 3)", "dims = (2, 3)", "dice_loss", "ps5_dice_loss_hidden"),
    Mistake("ps5_metrics_losses", "Dice loss averaged over the present classes only", "ps5_dice_loss",
            "return ((1 - score) * (g_sum > 0)).mean()", "return (1 - score)[g_sum > 0].mean()", "dice_loss", "ps5_dice_loss_hidden"),
    Mistake("ps5_metrics_losses", "Dice loss on uint8 targets without .long()", "ps5_dice_loss",
            "g = F.one_hot(target.long(), num_classes)", "g = F.one_hot(target, num_classes)", "dice_loss", "ps5_dice_loss_hidden"),
    # ps3: U-Net
    Mistake("ps3_unet", "DoubleConv with a bias before BatchNorm", "ps3_double_conv",
            "bias=not batch_norm", "bias=True", "DoubleConv", "ps3_double_conv_hidden"),
    Mistake("ps3_unet", "DoubleConv with padding fixed to 1", "ps3_double_conv",
            "nn.Conv2d(c_in, out_channels, 3, padding=padding", "nn.Conv2d(c_in, out_channels, 3, padding=1", "DoubleConv", "ps3_double_conv_hidden"),
    Mistake("ps3_unet", "center_crop from the top-left corner", "ps3_center_crop",
            "top, left = (x.shape[2] - h) // 2, (x.shape[3] - w) // 2", "top, left = 0, 0", "center_crop", "ps3_center_crop_hidden"),
    Mistake("ps3_unet", "center_crop giving the odd row to the top", "ps3_center_crop",
            "top, left = (x.shape[2] - h) // 2, (x.shape[3] - w) // 2", "top, left = (x.shape[2] - h + 1) // 2, (x.shape[3] - w + 1) // 2", "center_crop", "ps3_center_crop_hidden"),
    Mistake("ps3_unet", "center_crop sliced top:-top", "ps3_center_crop",
            "return x[:, :, top : top + h, left : left + w]", "return x[:, :, top : x.shape[2] - top, left : x.shape[3] - left]", "center_crop", "ps3_center_crop_hidden"),
    Mistake("ps3_unet", "UpBlock without cropping the skip", "ps3_up_block",
            "skip = center_crop(skip, up.shape[-2:])", "pass", "UpBlock", "ps3_up_block_hidden"),
    Mistake("ps3_unet", "UpBlock's up-convolution keeping the channels", "ps3_up_block",
            "self.up = nn.ConvTranspose2d(in_channels, out_channels, 2, stride=2)\n        self.conv = DoubleConv(2 * out_channels,",
            "self.up = nn.ConvTranspose2d(in_channels, in_channels, 2, stride=2)\n        self.conv = DoubleConv(in_channels + out_channels,", "UpBlock", "ps3_up_block_hidden"),
    Mistake("ps3_unet", "UNet decoder meeting the skips in encoder order", "ps3_unet",
            "zip(self.decoder, reversed(skips))", "zip(self.decoder, skips)", "UNet", "ps3_unet_hidden"),
    Mistake("ps3_unet", "unet_output_size forgetting the bottleneck", "ps3_unet_output_size",
            "    size -= 4  # bottleneck\n", "", "unet_output_size", "ps3_output_size_hidden"),
    # ps6: capstone (the parts that do not train)
    Mistake("ps6_capstone", "split without shuffling", "ps6_split_indices",
            "order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()", "order = list(range(n))", "shuffle", "ps6_split_indices_hidden"),
    Mistake("ps6_capstone", "validation size truncated with int", "ps6_split_indices",
            "n_val = round(n * val_fraction)", "n_val = int(n * val_fraction)", "round", "ps6_split_indices_hidden"),
    Mistake("ps6_capstone", "split shuffled with the global random state", "ps6_split_indices",
            "order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()", "torch.manual_seed(seed)\n    order = torch.randperm(n).tolist()", "global random state", "ps6_split_indices_hidden"),
    Mistake("ps6_capstone", "indices left as tensors", "ps6_split_indices",
            "order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()", "order = list(torch.randperm(n, generator=torch.Generator().manual_seed(seed)))", "Python ints", "ps6_split_indices_hidden"),
    Mistake("ps6_capstone", "eval_tf that does not resize", "ps6_transforms",
            "eval_tf = eval_transforms(IMAGE_SIZE)  # resize (image bilinear, mask nearest), nothing random", "eval_tf = lambda image, mask: (image, mask)", "(3, 21, 34) input", "ps6_transforms_hidden"),
    Mistake("ps6_capstone", "train_tf flipping the image but not the mask", "ps6_transforms",
            "image, mask = image.flip(-1), mask.flip(-1)", "image = image.flip(-1)", "train_tf", "ps6_transforms_hidden"),
    Mistake("ps6_capstone", "model with a fixed factor-2 up-convolution (wrong size for odd inputs)", "ps6_build_model",
            "    return net.to(memory_format=torch.channels_last)", "    return nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(), nn.ConvTranspose2d(8, num_classes, 2, stride=2))", "37, 45", "ps6_model_hidden"),
    Mistake("ps6_capstone", "loss without ignore_index", "ps6_loss",
            "return F.cross_entropy(logits, masks, ignore_index=IGNORE_INDEX) + dice_loss(logits, masks, ignore_index=IGNORE_INDEX)", "return F.cross_entropy(logits, masks)", "loss_fn", "ps6_loss_hidden"),
    Mistake("ps6_capstone", "loss counting ignored pixels as class 0", "ps6_loss",
            "return F.cross_entropy(logits, masks, ignore_index=IGNORE_INDEX) + dice_loss(logits, masks, ignore_index=IGNORE_INDEX)", "return F.cross_entropy(logits, masks.masked_fill(masks == IGNORE_INDEX, 0))", "leave them out", "ps6_loss_hidden"),
]
# fmt: on


def main(solutions: Path, only: list[str]) -> None:
    counts: dict[str, int] = {}
    for mistake in MISTAKES:
        if only and mistake.assignment not in only:
            continue
        where, message = where_caught(mistake, solutions)
        counts[where] = counts.get(where, 0) + 1
        print(f"{mistake.assignment:20} {where:18} {mistake.name}\n{'':40}{message[:200]!r}")
    print(f"{sum(counts.values())} mistakes: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else SOLUTIONS, sys.argv[2:])
