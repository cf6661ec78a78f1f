"""Segmentation metrics, every one of them read off a single confusion matrix.

Taught in chapter 8 (Losses and metrics). The confusion matrix counts, for every pair
(true class ``i``, predicted class ``j``), how many pixels of class ``i`` were predicted
as ``j``: rows are the truth, columns the prediction. Everything else follows from it:

* true positives of class ``c`` are the diagonal ``cm[c, c]``;
* false negatives are the rest of row ``c`` (pixels of class ``c`` predicted as something else);
* false positives are the rest of column ``c`` (pixels predicted ``c`` that are not ``c``);
* pixel accuracy is ``trace / total``; IoU (Jaccard) is ``TP / (TP + FP + FN)``;
  Dice (F1) is ``2TP / (2TP + FP + FN)``.

A class that appears neither in the target nor in the prediction has ``TP + FP + FN = 0``:
its IoU and Dice are ``0 / 0``, which we report as NaN ("no evidence"), and ``mean_iou``
averages over the remaining classes only. A class present in the target but never
predicted is a plain failure: IoU 0, not NaN. NaN is only ever "no evidence": a matrix that
counts no pixel (e.g. every pixel ignored) has pixel accuracy and mIoU NaN. A prediction
that is itself NaN is never scored: logits with a NaN raise ValueError (their argmax would be
class 0, and a NaN model would score 1.0 on an image of class 0), and a matrix with negative
or non-finite counts is refused.

The function form (``confusion_matrix``) and the class form (``ConfusionMatrix``, which
accumulates over batches) share one private implementation, ``_confusion_matrix_update``.
Scores are returned as float64 tensors, so that the ratio of two large pixel counts is
not rounded away.
"""

from __future__ import annotations

import torch
from torch import Tensor

from seglib._checks import check_ignore_index, check_int, check_labels

__all__ = [
    "confusion_matrix",
    "pixel_accuracy",
    "iou",
    "mean_iou",
    "dice",
    "ConfusionMatrix",
]


def _check_integer(x: Tensor, name: str) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of integer class indices, got {type(x).__name__}")
    if x.dtype == torch.bool or x.is_floating_point() or x.is_complex():
        raise ValueError(
            f"{name} must hold integer class indices (e.g. torch.int64), got dtype {x.dtype}"
            + ("; for logits of shape (N, K, H, W) pass them as pred" if name == "target" else "")
        )


def _as_labels(pred: Tensor, target: Tensor, num_classes: int) -> Tensor:
    """Return `pred` as integer labels of `target`'s shape, taking the argmax over dim 1 of logits."""
    if not isinstance(pred, Tensor):
        raise TypeError(f"pred must be a torch.Tensor, got {type(pred).__name__}")
    if pred.dim() == target.dim() + 1 and pred.dim() >= 2:
        # Scores / logits (N, K, H, W) against labels (N, H, W).
        expected = (target.shape[0], num_classes, *target.shape[1:])
        if tuple(pred.shape) != expected:
            raise ValueError(
                f"pred has one more dimension than target {tuple(target.shape)}, so it is read as "
                f"logits and must have shape (N, num_classes, ...) = {expected}, got {tuple(pred.shape)}"
            )
        if not pred.is_floating_point():
            raise ValueError(f"pred read as logits {tuple(pred.shape)} must be floating point, got dtype {pred.dtype}")
        if pred.numel() == 0:
            return pred.new_zeros(target.shape, dtype=torch.int64)
        # torch.max propagates NaN (and argmax picks it), so a NaN logit shows in the maximum:
        # without this check a model that outputs only NaN would be scored as always right on class 0.
        best, labels = pred.max(dim=1)  # (N, H, W)
        if bool(best.isnan().any()):
            raise ValueError(
                "pred (logits) contains NaN; a NaN model has no prediction to score (check the model, "
                "its inputs and the learning rate)"
            )
        return labels
    if pred.shape != target.shape:
        raise ValueError(
            f"pred and target must have the same shape (N, H, W), or pred the shape (N, num_classes, H, W) "
            f"of logits; got pred {tuple(pred.shape)} and target {tuple(target.shape)}"
        )
    _check_integer(pred, "pred")
    return pred


_MAX_BINS = 1 << 16  # bins of the fast count: labels up to 255 with K up to 256


def _count_dtype(low: int, high: int) -> torch.dtype:
    """The narrowest of int16, int32, int64 that holds every value in `[low, high]`."""
    for dtype in (torch.int16, torch.int32):
        info = torch.iinfo(dtype)
        if info.min <= low and high <= info.max:
            return dtype
    return torch.int64


def _confusion_matrix_update(
    pred: Tensor, target: Tensor, num_classes: int, ignore_index: int | None
) -> Tensor:
    """The one implementation: check the inputs and count them into a `(K, K)` int64 matrix."""
    num_classes = check_int(num_classes, "num_classes")
    ignore_index = check_ignore_index(ignore_index)
    _check_integer(target, "target")
    from_logits = pred.dim() == target.dim() + 1 if isinstance(pred, Tensor) else False
    pred = _as_labels(pred, target, num_classes)
    if pred.device != target.device:
        raise ValueError(f"pred and target must be on the same device, got {pred.device} and {target.device}")
    k = num_classes
    if target.numel() == 0:
        return torch.zeros(k, k, dtype=torch.int64, device=target.device)

    # Count on a narrow integer dtype, so each map is read a few times and never widened to
    # int64. Pixel of true label t predicted as p lands in bin K·t + p: row t, column p. With
    # labels in [0, T] the bins form T + 1 rows; rows K..T must be empty except the ignore
    # label's, which is dropped with them: no mask, no boolean gather of the unignored pixels.
    t_low, t_high = (int(v) for v in torch.aminmax(target))
    p_low, p_high = (0, k - 1) if from_logits else (int(v) for v in torch.aminmax(pred))
    rows = max(k, t_high + 1)
    checked = t_low < 0 or p_low < 0 or p_high >= k or rows * k > _MAX_BINS
    ignored = None
    if checked:  # the exact search (rare: negative labels, bad predictions, a huge ignore label)
        ignored = target == ignore_index if ignore_index is not None else None
        _check_ranges(pred, target, k, ignore_index, ignored)  # raises, or the maps are fine after all
        rows = k + 1
    dtype = _count_dtype(0, rows * k)
    index, labels = target.to(dtype, copy=True), pred.to(dtype)
    if ignored is not None:  # ignored pixels to row K, their (unchecked) predictions to column 0
        index.masked_fill_(ignored, k)
        labels = labels.masked_fill(ignored, 0)
    index.mul_(k).add_(labels)
    counts = torch.bincount(index.reshape(-1), minlength=rows * k).reshape(rows, k)
    if ignore_index is not None and 0 <= ignore_index < k:
        counts[ignore_index] = 0  # exactly the ignored pixels: their true label is ignore_index
    if not checked and rows > k:
        occurring = counts[k:].sum(dim=1).nonzero().flatten() + k  # labels >= K in the target
        if ignore_index is not None:
            occurring = occurring[occurring != ignore_index]
        if occurring.numel():
            check_labels(target, "target", num_classes=k, ignore_index=ignore_index)  # raises, naming one
    return counts[:k].contiguous()


def _check_ranges(pred: Tensor, target: Tensor, k: int, ignore_index: int | None, ignored: Tensor | None) -> None:
    """The exact (slower) search for a label out of range, with a message naming it."""
    check_labels(target, "target", num_classes=k, ignore_index=ignore_index)
    bad = (pred < 0) | (pred >= k)
    if ignored is not None:
        bad &= ~ignored
    if bool(bad.any()):
        raise ValueError(
            f"pred contains label {int(pred[bad][0])}, outside [0, {k}) for num_classes={k} "
            f"(pred is only checked where target is not ignore_index)"
        )


def confusion_matrix(pred: Tensor, target: Tensor, num_classes: int, ignore_index: int | None = None) -> Tensor:
    """Count pixels by (true class, predicted class).

    Args:
        pred: predicted labels `(N, H, W)` (any integer dtype), or logits `(N, K, H, W)`
            (floating point; the argmax over dim 1 is taken).
        target: true labels `(N, H, W)`, integers in `[0, num_classes)` or `ignore_index`.
        num_classes: `K`, the number of classes.
        ignore_index: a target label whose pixels are left out entirely (e.g. 255 for
            "void"); pred is only range-checked where the target is not ignored. If
            `ignore_index` lies in `[0, K)`, that class's row stays empty but predictions of it
            on other pixels still count as false positives (torchmetrics' "macro" averages
            would drop that class instead; use an index outside `[0, K)` to avoid the question).

    Returns:
        `(K, K)` int64 tensor `cm` with `cm[i, j]` = number of pixels of true class `i`
        predicted as class `j` (rows = truth, columns = prediction).

    Raises:
        ValueError: shapes that do not match, a non-integer dtype, a label outside
            `[0, num_classes)` (other than `ignore_index` in the target), `num_classes < 1`,
            logits that contain NaN.
        TypeError: `num_classes` that is not an int, `pred` or `target` that is not a tensor.

    The counting reads each map a few times on a narrow integer dtype (no int64 copies, no
    boolean gather of the unignored pixels): see `benchmarks/confusion_matrix.py`.

    >>> target = torch.tensor([[0, 0, 1], [1, 2, 2]])
    >>> pred = torch.tensor([[0, 1, 1], [1, 2, 0]])
    >>> confusion_matrix(pred, target, num_classes=3)
    tensor([[1, 1, 0],
            [0, 2, 0],
            [1, 0, 1]])
    """
    return _confusion_matrix_update(pred, target, num_classes, ignore_index)


def _check_cm(cm: Tensor) -> Tensor:
    if not isinstance(cm, Tensor):
        raise TypeError(f"cm must be a (K, K) torch.Tensor confusion matrix, got {type(cm).__name__}")
    if cm.dim() != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] < 1:
        raise ValueError(f"cm must be a square (K, K) confusion matrix with K >= 1, got shape {tuple(cm.shape)}")
    if cm.dtype == torch.bool or cm.is_complex():
        raise TypeError(f"cm must hold pixel counts (an integer or float tensor), got dtype {cm.dtype}")
    cm = cm.double()
    if not bool(torch.isfinite(cm).all()) or bool((cm < 0).any()):
        raise ValueError(f"cm must hold pixel counts: finite and >= 0, got {cm.tolist() if cm.numel() <= 16 else 'a matrix with negative or non-finite entries'}")
    return cm


def _tp_fp_fn(cm: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    cm = _check_cm(cm)
    tp = cm.diagonal()
    fp = cm.sum(dim=0) - tp  # predicted c (column sum) but not c
    fn = cm.sum(dim=1) - tp  # truly c (row sum) but predicted otherwise
    return tp, fp, fn


def pixel_accuracy(cm: Tensor) -> Tensor:
    """Fraction of (non-ignored) pixels whose predicted class is the true class.

    Args:
        cm: `(K, K)` confusion matrix, rows = truth, columns = prediction.

    Returns:
        0-dim float64 tensor `trace(cm) / cm.sum()`; NaN when `cm` counts no pixel.

    Under class imbalance this is dominated by the large classes: predicting "background"
    everywhere on a mask that is 95% background scores 0.95.

    >>> cm = torch.tensor([[1, 1, 0], [0, 2, 0], [1, 0, 1]])
    >>> round(pixel_accuracy(cm).item(), 4)   # (1 + 2 + 1) / 6
    0.6667
    """
    cm = _check_cm(cm)
    return cm.trace() / cm.sum()


def iou(cm: Tensor) -> Tensor:
    """Intersection over union (Jaccard index) of each class, `TP / (TP + FP + FN)`.

    Args:
        cm: `(K, K)` confusion matrix, rows = truth, columns = prediction.

    Returns:
        `(K,)` float64; NaN for a class absent from both target and prediction (0 / 0),
        0 for a class present in the target but never predicted (or vice versa).

    >>> cm = torch.tensor([[1, 1, 0], [0, 2, 0], [1, 0, 1]])
    >>> iou(cm)                                # [1/3, 2/3, 1/2]
    tensor([0.3333, 0.6667, 0.5000], dtype=torch.float64)
    """
    tp, fp, fn = _tp_fp_fn(cm)
    return tp / (tp + fp + fn)  # 0 / 0 = NaN for absent classes


def mean_iou(cm: Tensor) -> Tensor:
    """Mean IoU over the classes that are present in the target or the prediction.

    Args:
        cm: `(K, K)` confusion matrix, rows = truth, columns = prediction.

    Returns:
        0-dim float64: the mean of `iou(cm)` ignoring NaN entries; NaN if every class is absent.

    >>> cm = torch.tensor([[3, 1, 0], [1, 5, 0], [0, 0, 0]])   # class 2 never occurs
    >>> iou(cm)
    tensor([0.6000, 0.7143,    nan], dtype=torch.float64)
    >>> round(mean_iou(cm).item(), 4)          # (3/5 + 5/7) / 2
    0.6571
    """
    return torch.nanmean(iou(cm))


def dice(cm: Tensor) -> Tensor:
    """Dice coefficient (F1 score) of each class, `2TP / (2TP + FP + FN)` = `2|X∩Y| / (|X| + |Y|)`.

    Args:
        cm: `(K, K)` confusion matrix, rows = truth, columns = prediction.

    Returns:
        `(K,)` float64; NaN for a class absent from both target and prediction, as in `iou`.
        Per class, `dice = 2·iou / (1 + iou)`.

    >>> cm = torch.tensor([[1, 1, 0], [0, 2, 0], [1, 0, 1]])
    >>> dice(cm)                               # [2/4, 4/5, 2/3]
    tensor([0.5000, 0.8000, 0.6667], dtype=torch.float64)
    """
    tp, fp, fn = _tp_fp_fn(cm)
    return 2 * tp / (2 * tp + fp + fn)


class ConfusionMatrix:
    """A confusion matrix accumulated over batches, for evaluating a whole data set.

    Args:
        num_classes: `K`.
        ignore_index: target label whose pixels are never counted (e.g. 255).

    `update(pred, target)` takes the same inputs as `confusion_matrix` (integer labels
    `(N, H, W)` or logits `(N, K, H, W)`, argmax over dim 1) and adds their counts;
    `compute()` returns the `(K, K)` int64 total so far (a copy); `reset()` sets it to zero.
    The counts live on the device of the last `update`.

    >>> metric = ConfusionMatrix(num_classes=2)
    >>> metric.update(torch.tensor([[0, 1]]), torch.tensor([[0, 0]]))
    >>> metric.update(torch.tensor([[1, 1]]), torch.tensor([[1, 1]]))
    >>> metric.compute()
    tensor([[1, 1],
            [0, 2]])
    >>> iou(metric.compute())
    tensor([0.5000, 0.6667], dtype=torch.float64)
    """

    def __init__(self, num_classes: int, ignore_index: int | None = None) -> None:
        self.num_classes = check_int(num_classes, "num_classes")
        self.ignore_index = check_ignore_index(ignore_index)
        self.matrix = torch.zeros(self.num_classes, self.num_classes, dtype=torch.int64)

    def update(self, pred: Tensor, target: Tensor) -> None:
        """Add the counts of one batch (see `confusion_matrix` for the shapes)."""
        counts = _confusion_matrix_update(pred, target, self.num_classes, self.ignore_index)
        self.matrix = self.matrix.to(counts.device) + counts

    def compute(self) -> Tensor:
        """The `(K, K)` int64 matrix accumulated since the last `reset` (rows = truth)."""
        return self.matrix.clone()

    def reset(self) -> None:
        """Forget every count."""
        self.matrix = torch.zeros_like(self.matrix)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(num_classes={self.num_classes}, ignore_index={self.ignore_index}, "
            f"pixels={int(self.matrix.sum())})"
        )
