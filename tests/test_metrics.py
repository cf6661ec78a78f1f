"""seglib.metrics against hand-worked confusion matrices, torchmetrics, and the shared real-data oracles."""

import math
import os
from pathlib import Path

import pytest
import torch
from torchmetrics.functional.classification import (
    multiclass_accuracy,
    multiclass_confusion_matrix,
    multiclass_jaccard_index,
)
from torchmetrics.functional.segmentation import dice_score as tm_dice_score
from torchmetrics.functional.segmentation import mean_iou as tm_mean_iou

from seglib import metrics
from seglib.metrics import ConfusionMatrix, confusion_matrix, dice, iou, mean_iou, pixel_accuracy

NAN = float("nan")


def _close(got, expected, atol=1e-6):
    """Compare float tensors (NaN equal to NaN), with a message showing both."""
    expected = torch.as_tensor(expected, dtype=torch.float64)
    assert got.dtype == torch.float64, f"scores should be float64, got {got.dtype}"
    assert got.shape == expected.shape, f"expected shape {tuple(expected.shape)}, got {tuple(got.shape)}"
    assert torch.allclose(got, expected, atol=atol, rtol=0, equal_nan=True), f"expected {expected}, got {got}"


# ---------------------------------------------------------------------------------------------
# Hand-worked examples
# ---------------------------------------------------------------------------------------------


def test_hand_worked_three_classes():
    """A 2x3 prediction whose matrix and scores are worked out by hand."""
    target = torch.tensor([[0, 0, 1], [1, 2, 2]])
    pred = torch.tensor([[0, 1, 1], [1, 2, 0]])
    # Pixel pairs (true, pred): (0,0) (0,1) (1,1) / (1,1) (2,2) (2,0)
    expected_cm = torch.tensor(
        [
            [1, 1, 0],  # true 0: once right, once predicted 1
            [0, 2, 0],  # true 1: both right
            [1, 0, 1],  # true 2: once predicted 0, once right
        ]
    )
    cm = confusion_matrix(pred, target, num_classes=3)
    assert cm.dtype == torch.int64
    assert torch.equal(cm, expected_cm), f"expected\n{expected_cm}\ngot\n{cm}"
    # accuracy = trace / total = 4 / 6
    _close(pixel_accuracy(cm), 4 / 6)
    # class 0: TP 1, FP 1 (the true-2 pixel), FN 1 -> 1/3
    # class 1: TP 2, FP 1 (the true-0 pixel), FN 0 -> 2/3
    # class 2: TP 1, FP 0, FN 1                    -> 1/2
    _close(iou(cm), [1 / 3, 2 / 3, 1 / 2])
    _close(mean_iou(cm), (1 / 3 + 2 / 3 + 1 / 2) / 3)  # = 0.5
    # Dice = 2TP / (2TP + FP + FN): 2/4, 4/5, 2/3
    _close(dice(cm), [2 / 4, 4 / 5, 2 / 3])


def test_hand_worked_ignore_index_and_absent_classes():
    """ignore_index pixels are dropped; a never-predicted class scores 0; an absent class is NaN."""
    target = torch.tensor([[0, 255, 1], [1, 0, 2]])
    pred = torch.tensor([[0, 3, 1], [0, 0, 0]])  # the 3 sits on an ignored pixel: never counted
    cm = confusion_matrix(pred, target, num_classes=4, ignore_index=255)
    expected_cm = torch.tensor(
        [
            [2, 0, 0, 0],  # true 0: both right
            [1, 1, 0, 0],  # true 1: one predicted 0, one right
            [1, 0, 0, 0],  # true 2: predicted 0 -> class 2 is present but never predicted
            [0, 0, 0, 0],  # class 3: absent from target and (counted) prediction
        ]
    )
    assert torch.equal(cm, expected_cm), f"expected\n{expected_cm}\ngot\n{cm}"
    _close(pixel_accuracy(cm), 3 / 5)
    # class 0: TP 2, FP 2, FN 0 -> 1/2; class 1: TP 1, FP 0, FN 1 -> 1/2;
    # class 2: TP 0, FN 1 -> 0 (a failure, not "no evidence"); class 3: 0/0 -> NaN
    _close(iou(cm), [1 / 2, 1 / 2, 0.0, NAN])
    _close(mean_iou(cm), 1 / 3)  # (1/2 + 1/2 + 0) / 3: class 3 left out of the mean
    _close(dice(cm), [4 / 6, 2 / 3, 0.0, NAN])


def test_pred_out_of_range_on_ignored_pixel_is_allowed():
    """A mask compared with itself scores 1 even though it contains the ignore label."""
    mask = torch.tensor([[[0, 1, 255], [2, 255, 1]]])
    cm = confusion_matrix(mask, mask, num_classes=3, ignore_index=255)
    assert cm.sum() == 4
    _close(pixel_accuracy(cm), 1.0)
    _close(mean_iou(cm), 1.0)
    _close(dice(cm), [1.0, 1.0, 1.0])


def test_absent_everywhere_gives_nan_mean():
    """With no counted pixel every score is NaN: there is no evidence either way."""
    cm = torch.zeros(3, 3, dtype=torch.int64)
    assert torch.isnan(iou(cm)).all() and torch.isnan(dice(cm)).all()
    assert math.isnan(mean_iou(cm).item()) and math.isnan(pixel_accuracy(cm).item())


def test_dice_iou_identity():
    """Per class, Dice = 2 IoU / (1 + IoU)."""
    cm = torch.randint(0, 50, (6, 6))
    cm[4] = 0
    cm[:, 4] = 0  # one absent class
    j = iou(cm)
    _close(dice(cm), 2 * j / (1 + j), atol=1e-12)


def test_logits_are_argmaxed():
    """Logits (N, K, H, W) give the same matrix as their argmax (N, H, W)."""
    logits = torch.randn(2, 4, 5, 6)
    target = torch.randint(0, 4, (2, 5, 6))
    assert torch.equal(confusion_matrix(logits, target, 4), confusion_matrix(logits.argmax(1), target, 4))


# ---------------------------------------------------------------------------------------------
# Against torchmetrics (an independent implementation)
# ---------------------------------------------------------------------------------------------


def _random_case(num_classes, ignore_index, seed):
    """(pred, target) of shape (3, 7, 9) in which some classes are absent from target, pred, or both."""
    g = torch.Generator().manual_seed(seed)
    target_classes = torch.arange(num_classes)[torch.rand(num_classes, generator=g) < 0.7]
    pred_classes = torch.arange(num_classes)[torch.rand(num_classes, generator=g) < 0.7]
    if len(target_classes) == 0:
        target_classes = torch.tensor([0])
    if len(pred_classes) == 0:
        pred_classes = torch.tensor([num_classes - 1])
    shape = (3, 7, 9)
    target = target_classes[torch.randint(0, len(target_classes), shape, generator=g)]
    pred = pred_classes[torch.randint(0, len(pred_classes), shape, generator=g)]
    # Mostly right, so that IoUs are not all near zero.
    right = torch.rand(shape, generator=g) < 0.5
    pred = torch.where(right, target, pred)
    if ignore_index is not None:
        target[torch.rand(shape, generator=g) < 0.2] = ignore_index
    return pred, target


CASES = [(k, ii, seed) for k in (2, 3, 5, 8) for ii in (None, 255) for seed in range(3)]


@pytest.mark.parametrize("num_classes, ignore_index, seed", CASES)
def test_against_torchmetrics_classification(num_classes, ignore_index, seed):
    """Matrix, accuracy, per-class and mean IoU against torchmetrics' multiclass functions.

    `multiclass_jaccard_index(average="none")` returns 0 (zero_division) for a class absent from
    both target and prediction where we return NaN, so per-class IoU is compared on the present
    classes and the NaN positions are checked against presence computed here. Its
    `average="macro"` gives such classes weight 0, which is exactly our `mean_iou`.
    """
    pred, target = _random_case(num_classes, ignore_index, seed)
    tm_kwargs = dict(num_classes=num_classes, ignore_index=ignore_index)
    cm = confusion_matrix(pred, target, num_classes, ignore_index=ignore_index)

    assert torch.equal(cm, multiclass_confusion_matrix(pred, target, **tm_kwargs))
    _close(pixel_accuracy(cm), multiclass_accuracy(pred, target, average="micro", **tm_kwargs).item())

    keep = target != ignore_index if ignore_index is not None else torch.ones_like(target, dtype=torch.bool)
    present = (torch.bincount(target[keep], minlength=num_classes) + torch.bincount(pred[keep], minlength=num_classes)) > 0
    scores = iou(cm)
    assert torch.equal(torch.isnan(scores), ~present), f"NaN exactly for absent classes {~present}, got {scores}"
    tm_iou = multiclass_jaccard_index(pred, target, average="none", **tm_kwargs).double()
    _close(scores[present], tm_iou[present])
    _close(mean_iou(cm), multiclass_jaccard_index(pred, target, average="macro", **tm_kwargs).item())


def test_random_cases_include_absent_classes():
    """The parametrised cases above really exercise absent classes (otherwise NaN handling goes untested)."""
    absent = 0
    for num_classes, ignore_index, seed in CASES:
        pred, target = _random_case(num_classes, ignore_index, seed)
        absent += int(torch.isnan(iou(confusion_matrix(pred, target, num_classes, ignore_index=ignore_index))).any())
    assert absent >= 4, f"only {absent} random cases have an absent class"


@pytest.mark.parametrize("num_classes, ignore_index, seed", CASES)
def test_dice_against_torchmetrics_segmentation(num_classes, ignore_index, seed):
    """Per-class Dice against `torchmetrics.functional.segmentation.dice_score`.

    With `aggregation_level="global"` and `average="none"` it sums over the whole batch and
    returns NaN for a class absent from both target and prediction, as we do. It has no
    `ignore_index`, so ignored pixels are removed here first (a (1, P) "image" of kept pixels).
    """
    pred, target = _random_case(num_classes, ignore_index, seed)
    cm = confusion_matrix(pred, target, num_classes, ignore_index=ignore_index)
    keep = target != ignore_index if ignore_index is not None else torch.ones_like(target, dtype=torch.bool)
    expected = tm_dice_score(
        pred[keep].reshape(1, -1),
        target[keep].reshape(1, -1),
        num_classes=num_classes,
        average="none",
        input_format="index",
        aggregation_level="global",
    )[0].double()
    _close(dice(cm), expected)


@pytest.mark.parametrize("num_classes", [2, 3, 5, 8])
def test_mean_iou_against_torchmetrics_segmentation_per_image(num_classes):
    """Per image, `mean_iou` equals `torchmetrics.functional.segmentation.mean_iou` (index input).

    That function averages over the classes with a non-empty union (it marks the others -1
    with `per_class=True`), which is our NaN-skipping mean.
    """
    pred, target = _random_case(num_classes, None, seed=num_classes)
    expected = tm_mean_iou(pred, target, num_classes=num_classes, input_format="index").double()
    got = torch.stack([mean_iou(confusion_matrix(pred[n], target[n], num_classes)) for n in range(len(pred))])
    _close(got, expected)


# ---------------------------------------------------------------------------------------------
# ConfusionMatrix (the accumulating form)
# ---------------------------------------------------------------------------------------------


def test_confusion_matrix_accumulates_batches():
    """update() over batches equals one call on everything; reset() empties it."""
    pred, target = _random_case(5, 255, seed=7)
    metric = ConfusionMatrix(num_classes=5, ignore_index=255)
    for n in range(len(pred)):
        metric.update(pred[n : n + 1], target[n : n + 1])
    whole = confusion_matrix(pred, target, 5, ignore_index=255)
    assert torch.equal(metric.compute(), whole)
    assert "num_classes=5" in repr(metric)
    metric.reset()
    assert torch.equal(metric.compute(), torch.zeros(5, 5, dtype=torch.int64))
    metric.update(pred, target)
    assert torch.equal(metric.compute(), whole)


def test_confusion_matrix_compute_returns_a_copy():
    """Changing what compute() returned does not change the accumulated counts."""
    metric = ConfusionMatrix(2)
    metric.update(torch.tensor([[0, 1]]), torch.tensor([[0, 1]]))
    metric.compute().zero_()
    assert metric.compute().sum() == 2


def test_confusion_matrix_never_counts_ignored_pixels():
    """Whatever is predicted on ignored pixels, the counts do not change; all-ignored adds nothing."""
    pred, target = _random_case(4, 255, seed=3)
    ignored = target == 255
    assert ignored.any()
    metric = ConfusionMatrix(4, ignore_index=255)
    metric.update(pred, target)
    other = pred.clone()
    other[ignored] = (other[ignored] + 1) % 4
    again = ConfusionMatrix(4, ignore_index=255)
    again.update(other, target)
    assert torch.equal(metric.compute(), again.compute())
    assert metric.compute().sum() == (~ignored).sum()
    metric.update(pred, torch.full_like(target, 255))
    assert metric.compute().sum() == (~ignored).sum()


def test_confusion_matrix_accepts_logits():
    """update() takes logits (N, K, H, W) and uses their argmax."""
    logits = torch.randn(2, 3, 4, 4)
    target = torch.randint(0, 3, (2, 4, 4))
    metric = ConfusionMatrix(3)
    metric.update(logits, target)
    assert torch.equal(metric.compute(), confusion_matrix(logits.argmax(1), target, 3))


def test_perfect_prediction_scores_one():
    """A mask against itself: accuracy = mIoU = Dice = 1."""
    target = torch.randint(0, 4, (2, 8, 8))
    cm = confusion_matrix(target, target, 4)
    _close(pixel_accuracy(cm), 1.0)
    _close(mean_iou(cm), 1.0)
    _close(dice(cm), [1.0] * 4)


# ---------------------------------------------------------------------------------------------
# Bad inputs
# ---------------------------------------------------------------------------------------------

T = torch.tensor([[0, 1], [2, 1]])


@pytest.mark.parametrize(
    "pred, target, num_classes, ignore_index, match",
    [
        (torch.zeros(2, 3, dtype=torch.long), T, 3, None, r"same shape \(N, H, W\).*\(2, 3\).*\(2, 2\)"),
        (T.float(), T, 3, None, r"pred must hold integer class indices.*float32"),
        (T, T.float(), 3, None, r"target must hold integer class indices.*float32"),
        (T, T.bool(), 3, None, r"target must hold integer.*bool"),
        (T, torch.tensor([[0, 1], [3, 1]]), 3, None, r"target contains label 3.*\[0, 3\).*num_classes=3"),
        (T, torch.tensor([[0, 1], [-1, 1]]), 3, 255, r"label -1.*\[0, 3\) or ignore_index=255"),
        (torch.tensor([[0, 1], [5, 1]]), T, 3, None, r"pred contains label 5.*\[0, 3\)"),
        (T, T, 0, None, r"num_classes must be an int >= 1, got 0"),
        (torch.zeros(2, 4, 2), T, 3, None, r"logits.*\(N, num_classes, \.\.\.\) = \(2, 3, 2\)"),
        (T, T, 3, 1.5, r"ignore_index must be an int or None"),
    ],
)
def test_bad_inputs_raise(pred, target, num_classes, ignore_index, match):
    """Each bad input raises ValueError with a message naming what was expected."""
    with pytest.raises(ValueError, match=match):
        confusion_matrix(pred, target, num_classes, ignore_index=ignore_index)


def test_a_num_classes_that_is_no_int_is_a_type_error():
    with pytest.raises(TypeError, match=r"num_classes must be an int >= 1, got 2.0"):
        confusion_matrix(T, T, 2.0)


def test_bad_inputs_raise_in_class_form():
    """The class form checks its arguments and inputs the same way."""
    with pytest.raises(ValueError, match="num_classes"):
        ConfusionMatrix(0)
    metric = ConfusionMatrix(3, ignore_index=255)
    with pytest.raises(ValueError, match=r"label 7.*ignore_index=255"):
        metric.update(T, torch.tensor([[0, 7], [255, 1]]))
    assert metric.compute().sum() == 0, "a failed update must not count anything"


@pytest.mark.parametrize("cm", [torch.zeros(3), torch.zeros(2, 3), torch.zeros(0, 0)])
def test_bad_confusion_matrix_raises(cm):
    """Scores want a square (K, K) matrix."""
    for score in (pixel_accuracy, iou, mean_iou, dice):
        with pytest.raises(ValueError, match=r"square \(K, K\)"):
            score(cm)


def test_public_names():
    """The names the course plan fixes are exported."""
    assert set(metrics.__all__) >= {"confusion_matrix", "pixel_accuracy", "iou", "mean_iou", "dice", "ConfusionMatrix"}


# ---------------------------------------------------------------------------------------------
# Real data: the deterministic values in shared/data/README.md
# ---------------------------------------------------------------------------------------------


def _shared_data() -> Path:
    root = Path(os.environ.get("SEGLIB_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    return root


def _load_mask(relative: str) -> torch.Tensor:
    path = _shared_data() / relative
    if not path.is_file():
        pytest.skip(f"shared test data not found at {path} (set SEGLIB_SHARED_DATA to its folder)")
    np = pytest.importorskip("numpy")
    image = pytest.importorskip("PIL.Image")
    return torch.from_numpy(np.array(image.open(path)).astype("int64"))


def test_isbi_rolled_mask_deterministic_value():
    """ISBI 2012 mask 0 against itself rolled 3 px along W: the README's numbers (torchmetrics 1.9.0)."""
    target = (_load_mask("isbi2012_membrane/train/masks/0.png") > 127).long()  # 0 = membrane, 1 = cell
    pred = torch.roll(target, 3, dims=1)  # = np.roll(target, 3, axis=1)
    cm = confusion_matrix(pred, target, num_classes=2)
    assert torch.equal(cm, torch.tensor([[40769, 16723], [16723, 187929]])), cm
    _close(pixel_accuracy(cm), 0.872414, atol=5e-7)
    _close(iou(cm), [0.549336, 0.848917], atol=5e-7)
    _close(mean_iou(cm), 0.699127, atol=5e-7)
    _close(dice(cm), [0.709125, 0.918286], atol=5e-7)


def test_camvid_rolled_mask_deterministic_value():
    """CamVid val 0016E5_07959 rolled 5 px along W (predicted 11 -> 3), ignore_index=11: README's numbers."""
    target = _load_mask("camvid/val/masks/0016E5_07959.png")
    pred = torch.roll(target, 5, dims=1)
    pred[pred == 11] = 3
    cm = confusion_matrix(pred, target, num_classes=11, ignore_index=11)
    assert cm.sum() == (target != 11).sum()
    _close(pixel_accuracy(cm), 0.937410, atol=5e-7)
    _close(mean_iou(cm), 0.629713, atol=5e-7)
    # The README's class-average accuracy (macro) is the mean over classes of the row-normalised diagonal.
    per_class_accuracy = cm.diagonal().double() / cm.sum(1).double()
    _close(torch.nanmean(per_class_accuracy), 0.710410, atol=5e-7)
