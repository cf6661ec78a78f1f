"""Losses for class-imbalanced segmentation: focal loss and soft Dice loss.

Taught in chapter 8 (Losses and metrics). Cross-entropy itself is PyTorch's
(`F.cross_entropy(logits, target, weight=..., ignore_index=...)`, a mean over pixels);
the losses here are the two standard answers to class imbalance:

* `focal_loss` (Lin et al. 2017) multiplies each pixel's cross-entropy by `(1 - p_t)^γ`,
  so pixels the model already gets right (`p_t` near 1) contribute almost nothing and the
  hard, rare ones dominate. `γ = 0` is exactly cross-entropy. `binary_focal_loss` is the
  sigmoid form of the paper, for one-channel (or multi-label) outputs.
* `dice_loss` (Milletari et al. 2016; Sudre et al. 2017) is `1 - Dice` computed on soft
  probabilities instead of hard labels, averaged over classes, so a small class weighs as
  much as a large one.

Shapes: logits `(N, K, H, W)` (any number of trailing dimensions works), integer target
`(N, H, W)` with labels in `[0, K)` or `ignore_index`. The function forms hold the
computation; `FocalLoss`, `BinaryFocalLoss` and `DiceLoss` are thin `nn.Module` wrappers.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seglib._checks import check_ignore_index, check_labels, check_number, is_integer_dtype

__all__ = ["focal_loss", "binary_focal_loss", "dice_loss", "FocalLoss", "BinaryFocalLoss", "DiceLoss"]

_REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(reduction: str) -> str:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    return reduction


def _check_logits_target(logits: Tensor, target: Tensor, ignore_index: int | None) -> tuple[Tensor, Tensor]:
    """Check `(N, K, ...)` logits against an `(N, ...)` integer target; return `(valid mask, safe target)`.

    The safe target has ignored pixels replaced by 0, so that it can index a class axis.
    """
    if not isinstance(logits, Tensor) or not isinstance(target, Tensor):
        raise TypeError(
            f"logits and target must be torch.Tensors, got {type(logits).__name__} and {type(target).__name__}"
        )
    if logits.dim() < 2 or logits.shape[1] < 1:
        raise ValueError(f"logits must have shape (N, K, H, W) with K >= 1, got shape {tuple(logits.shape)}")
    if not logits.is_floating_point():
        raise ValueError(f"logits must be floating point (raw scores, shape (N, K, H, W)), got dtype {logits.dtype}")
    if not is_integer_dtype(target.dtype):
        raise ValueError(f"target must hold integer class indices (torch.int64), got dtype {target.dtype}")
    expected = (logits.shape[0], *logits.shape[2:])
    if tuple(target.shape) != expected:
        raise ValueError(
            f"target must have shape (N, H, W) = {expected} to match logits {tuple(logits.shape)}, "
            f"got {tuple(target.shape)}"
        )
    ignore_index = check_ignore_index(ignore_index)
    if target.device != logits.device:
        raise ValueError(f"logits and target must be on the same device, got {logits.device} and {target.device}")
    check_labels(target, "target", num_classes=logits.shape[1], ignore_index=ignore_index, where=" (K of the logits)")
    target = target.long()
    valid = torch.ones_like(target, dtype=torch.bool) if ignore_index is None else target != ignore_index
    return valid, torch.where(valid, target, torch.zeros_like(target))


def _check_alpha(alpha: Tensor, num_classes: int | None) -> None:
    """Per-class weights: a `(K,)` tensor of finite numbers >= 0."""
    if alpha.dim() != 1 or (num_classes is not None and alpha.shape[0] != num_classes):
        k = num_classes if num_classes is not None else "K"
        raise ValueError(f"alpha must be a tensor of per-class weights of shape (K,) = ({k},), got shape {tuple(alpha.shape)}")
    if not bool(torch.isfinite(alpha).all()) or bool((alpha < 0).any()):
        raise ValueError(f"alpha must hold finite per-class weights >= 0, got {alpha.tolist()}")


def focal_loss(
    logits: Tensor,
    target: Tensor,
    *,
    gamma: float = 2.0,
    alpha: Tensor | Sequence[float] | None = None,
    ignore_index: int | None = None,
    reduction: str = "mean",
) -> Tensor:
    """Multi-class focal loss on the softmax, `-α_t (1 - p_t)^γ log p_t` per pixel (Lin et al. 2017).

    `p_t` is the softmax probability of the true class. With `γ = 0` this is exactly
    `F.cross_entropy(logits, target, weight=alpha, ignore_index=ignore_index)`; a larger `γ`
    down-weights the pixels that are already well classified (`γ = 2` is the paper's default).

    Args:
        logits: raw class scores `(N, K, H, W)`.
        target: true labels `(N, H, W)`, integers in `[0, K)` or `ignore_index`.
        gamma: focusing parameter `γ >= 0`.
        alpha: optional per-class weights, shape `(K,)`, playing the role of cross-entropy's
            `weight`: pixel `i` is weighted by `alpha[target_i]`. (The paper's scalar α is for
            the binary form; see `binary_focal_loss`.)
        ignore_index: target label whose pixels contribute nothing (neither to the sum nor to the
            count); `None` means every pixel counts.
        reduction: `"mean"`, `"sum"` or `"none"`.

    Returns:
        `"none"`: the per-pixel loss `(N, H, W)`, 0 at ignored pixels. `"sum"`: its sum.
        `"mean"`: its sum divided by the number of non-ignored pixels, or, when `alpha` is given,
        by `sum(alpha[target_i])` over the non-ignored pixels, which is how `F.cross_entropy`
        normalises a weighted mean. If every pixel is ignored the mean is NaN (0 / 0), as in
        `F.cross_entropy`.

    Shape:
        logits `(N, K, H, W)`, target `(N, H, W)` -> scalar, or `(N, H, W)` for `"none"`.

    Reference:
        T.-Y. Lin, P. Goyal, R. Girshick, K. He, P. Dollár, "Focal Loss for Dense Object
        Detection", ICCV 2017.

    >>> logits = torch.tensor([[[[0.0]], [[2.1972]]]])  # (1, 2, 1, 1): p(class 1) = 0.9
    >>> target = torch.tensor([[[1]]])
    >>> round(focal_loss(logits, target, gamma=0.0).item(), 4)   # -log 0.9: cross-entropy
    0.1054
    >>> round(focal_loss(logits, target, gamma=2.0).item(), 6)   # (1 - 0.9)^2 · -log 0.9
    0.001054
    """
    _check_reduction(reduction)
    gamma = check_number(gamma, "gamma", minimum=0)
    valid, safe_target = _check_logits_target(logits, target, ignore_index)
    num_classes = logits.shape[1]

    log_p = F.log_softmax(logits, dim=1)  # (N, K, H, W)
    log_p_t = log_p.gather(1, safe_target.unsqueeze(1)).squeeze(1)  # (N, H, W): log prob of the true class
    loss = -log_p_t
    if gamma != 0:
        one_minus_p_t = -torch.expm1(log_p_t)  # 1 - p_t, accurate when p_t is close to 1
        # Where p_t == 1 exactly, d/dx x^γ = γ·x^(γ-1) is infinite for γ < 1 and 0·inf = NaN in
        # the backward pass; the smallest positive float keeps it finite and changes no value.
        one_minus_p_t = one_minus_p_t.clamp_min(torch.finfo(one_minus_p_t.dtype).tiny)
        loss = one_minus_p_t.pow(gamma) * loss

    weight = valid.to(loss.dtype)  # 0 at ignored pixels
    if alpha is not None:
        alpha = torch.as_tensor(alpha, dtype=loss.dtype, device=loss.device)
        _check_alpha(alpha, num_classes)
        weight = weight * alpha[safe_target]  # (N, H, W)
    loss = loss * weight

    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return loss.sum() / weight.sum()


def binary_focal_loss(
    logits: Tensor,
    target: Tensor,
    *,
    gamma: float = 2.0,
    alpha: float | None = 0.25,
    reduction: str = "mean",
) -> Tensor:
    """Sigmoid (binary) focal loss, `-α_t (1 - p_t)^γ log p_t` per element (Lin et al. 2017).

    For each element `p = sigmoid(logit)`; `p_t = p` where the target is 1 and `1 - p` where
    it is 0; `α_t = α` for positives and `1 - α` for negatives. Equals
    `torchvision.ops.sigmoid_focal_loss` (which spells "no α" as `alpha=-1`; here it is `None`).

    Args:
        logits: raw scores, any shape, e.g. `(N, 1, H, W)` or `(N, C, H, W)` for multi-label masks.
        target: same shape as `logits`, values in `[0, 1]` (0/1 labels, or soft labels); any dtype.
            Values outside `[0, 1]` (a mask read as 0/255, NaN) raise ValueError: the loss would
            be negative and unbounded.
        gamma: focusing parameter `γ >= 0`; `γ = 0, alpha=None` is `F.binary_cross_entropy_with_logits`.
        alpha: weight of the positive class in `[0, 1]`, or `None` for no weighting.
        reduction: `"mean"` (over all elements), `"sum"` or `"none"`.

    Returns:
        The loss, a scalar or, for `"none"`, a tensor of the shape of `logits`.

    Shape:
        logits `(*)`, target `(*)` -> scalar, or `(*)` for `"none"`.

    Reference:
        T.-Y. Lin, P. Goyal, R. Girshick, K. He, P. Dollár, "Focal Loss for Dense Object
        Detection", ICCV 2017.

    >>> logits, target = torch.tensor([2.1972, -2.1972]), torch.tensor([1.0, 0.0])  # p_t = 0.9 for both
    >>> round(binary_focal_loss(logits, target, gamma=2.0, alpha=None).item(), 6)  # 0.1^2 · -log 0.9
    0.001054
    """
    _check_reduction(reduction)
    gamma = check_number(gamma, "gamma", minimum=0)
    if alpha is not None:
        alpha = check_number(alpha, "alpha", minimum=0, maximum=1)
    if not isinstance(logits, Tensor) or not isinstance(target, Tensor):
        raise TypeError(
            f"logits and target must be torch.Tensors, got {type(logits).__name__} and {type(target).__name__}"
        )
    if not logits.is_floating_point():
        raise ValueError(f"logits must be floating point, got dtype {logits.dtype}")
    if target.shape != logits.shape:
        raise ValueError(
            f"target must have the shape of logits {tuple(logits.shape)} (0/1 per element), got {tuple(target.shape)}"
        )
    if target.is_complex():
        raise TypeError(f"target must hold values in [0, 1], got dtype {target.dtype}")
    if target.numel():
        low, high = (float(v) for v in torch.aminmax(target.to(logits.dtype)))
        if not (0 <= low and high <= 1):  # also False for NaN
            hint = "; a mask read as 0/255 needs (mask > 0).float()" if high == 255 else ""
            raise ValueError(f"target must hold values in [0, 1] (0/1 labels or soft labels), got [{low:g}, {high:g}]{hint}")
    target = target.to(logits.dtype)

    p = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")  # -log p_t
    p_t = p * target + (1 - p) * (1 - target)
    one_minus_p_t = (1 - p_t).clamp_min(torch.finfo(p_t.dtype).tiny)  # finite gradients for γ < 1, as above
    loss = ce * one_minus_p_t**gamma
    if alpha is not None:
        loss = (alpha * target + (1 - alpha) * (1 - target)) * loss

    if reduction == "none":
        return loss
    return loss.sum() if reduction == "sum" else loss.mean()


def dice_loss(
    logits: Tensor,
    target: Tensor,
    *,
    smooth: float = 1.0,
    ignore_index: int | None = None,
) -> Tensor:
    """Soft Dice loss on softmax probabilities, `1 - Dice` averaged over classes.

    For each class `c`, with `p` the softmax probability of `c` and `g` the one-hot target,
    summed over every non-ignored pixel of the whole batch:
    `Dice_c = (2·Σ p·g + smooth) / (Σ p + Σ g + smooth)`, the chapter's `2|X∩Y| / (|X| + |Y|)`
    with probabilities in place of hard masks. The loss is the mean over all `K` classes of
    `1 - Dice_c`, where a class absent from the (non-ignored) target of the whole batch
    contributes 0 (its Dice is undefined without smoothing) but still counts in the mean.

    This is segmentation-models-pytorch's `DiceLoss(mode="multiclass", from_logits=True)` with
    one difference, in the smoothing: smp computes `(Σpg + s) / ((Σp + Σg)/2 + s)`, i.e. adds `2s`
    to both numerator and denominator of `2Σpg / (Σp + Σg)`; here `smooth` is added once, as in
    the usual formula. So `dice_loss(..., smooth=s)` equals smp's loss with `smooth=s / 2`
    (exactly equal at `smooth=0`). Ignored pixels count neither as prediction nor as target, as in smp.

    Args:
        logits: raw class scores `(N, K, H, W)`.
        target: true labels `(N, H, W)`, integers in `[0, K)` or `ignore_index`.
        smooth: added to numerator and denominator; keeps the loss defined and smooth for small
            classes.
        ignore_index: target label whose pixels are left out.

    Returns:
        Scalar loss in `[0, 1]`; 0 for a perfect, confident prediction (up to the smoothing).
        0 when every pixel is ignored (every class is then absent), as in smp.

    Shape:
        logits `(N, K, H, W)`, target `(N, H, W)` -> scalar.

    References:
        F. Milletari, N. Navab, S.-A. Ahmadi, "V-Net: Fully Convolutional Neural Networks for
        Volumetric Medical Image Segmentation", 3DV 2016. C. H. Sudre, W. Li, T. Vercauteren,
        S. Ourselin, M. J. Cardoso, "Generalised Dice Overlap as a Deep Learning Loss Function
        for Highly Unbalanced Segmentations", DLMIA 2017.

    >>> target = torch.tensor([[[0, 1], [1, 1]]])                 # (1, 2, 2)
    >>> logits = 20.0 * F.one_hot(target, 2).permute(0, 3, 1, 2)   # confident and right
    >>> dice_loss(logits, target, smooth=0.0).item() < 1e-6
    True
    >>> # p = 0.5 everywhere: class 0 scores 2·0.5 / (2 + 1) = 1/3, class 1 scores 2·1.5 / (2 + 3) = 3/5
    >>> round(dice_loss(torch.zeros(1, 2, 2, 2), target, smooth=0.0).item(), 4)  # ((1 - 1/3) + (1 - 3/5)) / 2
    0.5333
    """
    smooth = check_number(smooth, "smooth", minimum=0)
    valid, safe_target = _check_logits_target(logits, target, ignore_index)
    num_classes = logits.shape[1]

    probs = F.softmax(logits, dim=1)  # (N, K, H, W)
    mask = valid.unsqueeze(1).to(probs.dtype)  # (N, 1, H, W): 0 at ignored pixels
    probs = probs * mask
    one_hot = F.one_hot(safe_target, num_classes).movedim(-1, 1).to(probs.dtype) * mask  # (N, K, H, W)

    dims = [0, *range(2, logits.dim())]  # sum over the batch and every pixel, per class
    intersection = (probs * one_hot).sum(dims)  # (K,)
    pred_sum, target_sum = probs.sum(dims), one_hot.sum(dims)
    score = (2 * intersection + smooth) / (pred_sum + target_sum + smooth).clamp_min(1e-7)
    loss = (1 - score) * (target_sum > 0).to(score.dtype)  # absent classes contribute 0
    return loss.mean()


class FocalLoss(nn.Module):
    """Module form of `focal_loss` (softmax focal loss, Lin et al. 2017); same arguments.

    `alpha` is stored as a buffer, so it follows the module to a device.

    >>> criterion = FocalLoss(gamma=2.0, ignore_index=255)
    >>> criterion(torch.zeros(2, 3, 4, 4), torch.zeros(2, 4, 4, dtype=torch.long)).shape
    torch.Size([])
    """

    def __init__(
        self,
        *,
        gamma: float = 2.0,
        alpha: Tensor | Sequence[float] | None = None,
        ignore_index: int | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__()
        self.gamma, self.reduction = check_number(gamma, "gamma", minimum=0), _check_reduction(reduction)
        self.ignore_index = check_ignore_index(ignore_index)
        if alpha is not None:
            alpha = torch.as_tensor(alpha, dtype=torch.float32)
            _check_alpha(alpha, None)
        self.register_buffer("alpha", alpha)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        return focal_loss(
            logits, target, gamma=self.gamma, alpha=self.alpha, ignore_index=self.ignore_index, reduction=self.reduction
        )

    def extra_repr(self) -> str:
        return f"gamma={self.gamma}, ignore_index={self.ignore_index}, reduction={self.reduction!r}"


class BinaryFocalLoss(nn.Module):
    """Module form of `binary_focal_loss` (sigmoid focal loss, Lin et al. 2017); same arguments.

    >>> BinaryFocalLoss(alpha=None)(torch.zeros(1, 1, 2, 2), torch.ones(1, 1, 2, 2)).item() > 0
    True
    """

    def __init__(self, *, gamma: float = 2.0, alpha: float | None = 0.25, reduction: str = "mean") -> None:
        super().__init__()
        self.gamma, self.reduction = check_number(gamma, "gamma", minimum=0), _check_reduction(reduction)
        self.alpha = None if alpha is None else check_number(alpha, "alpha", minimum=0, maximum=1)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        return binary_focal_loss(logits, target, gamma=self.gamma, alpha=self.alpha, reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"gamma={self.gamma}, alpha={self.alpha}, reduction={self.reduction!r}"


class DiceLoss(nn.Module):
    """Module form of `dice_loss` (soft Dice on the softmax; Milletari et al. 2016); same arguments.

    >>> # all pixels class 0, p = 0.5: Dice_0 = (2·2 + 1) / (2 + 4 + 1) = 5/7; class 1 is absent (loss 0)
    >>> round(DiceLoss(smooth=1.0)(torch.zeros(1, 2, 2, 2), torch.zeros(1, 2, 2, dtype=torch.long)).item(), 4)
    0.1429
    """

    def __init__(self, *, smooth: float = 1.0, ignore_index: int | None = None) -> None:
        super().__init__()
        self.smooth, self.ignore_index = check_number(smooth, "smooth", minimum=0), check_ignore_index(ignore_index)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        return dice_loss(logits, target, smooth=self.smooth, ignore_index=self.ignore_index)

    def extra_repr(self) -> str:
        return f"smooth={self.smooth}, ignore_index={self.ignore_index}"
