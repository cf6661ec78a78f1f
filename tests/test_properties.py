"""Property-based tests of seglib's public API (hypothesis): never a silent wrong answer.

Every public function, given inputs drawn over shapes, dtypes, label ranges, `ignore_index`,
empty, one-pixel, all-ignored, non-contiguous and channels-last tensors, either returns what
an independent oracle returns (torch, torchmetrics, segmentation-models-pytorch, torchvision,
the formula) or raises seglib's own error: a ValueError or TypeError raised in seglib's code
(not deep inside torch) whose message names the argument. The profile (tests/conftest.py) is
derandomized with a bounded number of examples, so `make test` runs the same cases every time.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from segmentation_models_pytorch.losses import DiceLoss as SmpDiceLoss
from torch import nn
from torchmetrics.functional.classification import (
    multiclass_accuracy,
    multiclass_confusion_matrix,
    multiclass_f1_score,
    multiclass_jaccard_index,
)
from torchvision.ops import sigmoid_focal_loss

from seglib import data, engine, losses, metrics, models

SEGLIB = Path(metrics.__file__).resolve().parent
INT_DTYPES = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)


def raises_own(fn, *args, match: str | None = None, **kwargs) -> BaseException:
    """`fn` must raise seglib's own ValueError/TypeError: raised by a line of seglib, with a message."""
    with pytest.raises((ValueError, TypeError), match=match) as info:
        fn(*args, **kwargs)
    frame = Path(info.traceback[-1].path).resolve()
    assert SEGLIB in frame.parents, f"the error comes from {frame}, not from seglib: {info.value!r}"
    assert str(info.value), "an error without a message"
    return info.value


def is_own_error(error: BaseException) -> bool:
    tb = error.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return isinstance(error, (ValueError, TypeError)) and SEGLIB in Path(tb.tb_frame.f_code.co_filename).resolve().parents


@st.composite
def label_maps(draw, *, min_pixels: int = 1):
    """`(pred, target, K, ignore_index)`: integer maps `(N, H, W)` of a drawn dtype and layout."""
    k = draw(st.integers(1, 6))
    n, h, w = draw(st.integers(1, 3)), draw(st.integers(1, 7)), draw(st.integers(1, 7))
    assume(n * h * w >= min_pixels)
    dtype = draw(st.sampled_from(INT_DTYPES))
    ignore_index = draw(st.sampled_from([None, 255, 0, -1] if dtype != torch.uint8 else [None, 255, 0]))
    if dtype == torch.int8 and ignore_index == 255:
        ignore_index = -1
    generator = torch.Generator().manual_seed(draw(st.integers(0, 2**16)))
    target = torch.randint(0, k, (n, h, w), generator=generator)
    pred = torch.randint(0, k, (n, h, w), generator=generator)
    if ignore_index is not None:
        fraction = draw(st.sampled_from([0.0, 0.3, 1.0]))  # none, some, every pixel ignored
        target[torch.rand(n, h, w, generator=generator) < fraction] = ignore_index
    target, pred = target.to(dtype), pred.to(dtype)
    if draw(st.booleans()):  # a non-contiguous view of the same labels
        target, pred = target.transpose(1, 2).contiguous().transpose(1, 2), pred.transpose(1, 2).contiguous().transpose(1, 2)
    return pred, target, k, ignore_index


def oracle_confusion_matrix(pred: torch.Tensor, target: torch.Tensor, k: int, ignore_index: int | None) -> torch.Tensor:
    return multiclass_confusion_matrix(pred.long(), target.long(), k, ignore_index=ignore_index, validate_args=False)


# --------------------------------------------------------------------------- metrics


@given(label_maps())
def test_confusion_matrix_equals_torchmetrics(case):
    pred, target, k, ignore_index = case
    got = metrics.confusion_matrix(pred, target, k, ignore_index=ignore_index)
    assert got.dtype == torch.int64 and got.shape == (k, k)
    torch.testing.assert_close(got, oracle_confusion_matrix(pred, target, k, ignore_index).long())
    # The class form, fed in two halves, counts the same.
    metric = metrics.ConfusionMatrix(k, ignore_index=ignore_index)
    for p, t in zip(pred.split(max(1, pred.shape[0] // 2)), target.split(max(1, pred.shape[0] // 2))):
        metric.update(p, t)
    torch.testing.assert_close(metric.compute(), got)


@given(label_maps(), st.booleans())
def test_confusion_matrix_of_logits_is_that_of_their_argmax(case, channels_last):
    pred, target, k, ignore_index = case
    logits = torch.randn(target.shape[0], k, *target.shape[1:])
    if channels_last:
        logits = logits.contiguous(memory_format=torch.channels_last)
    got = metrics.confusion_matrix(logits, target, k, ignore_index=ignore_index)
    torch.testing.assert_close(got, oracle_confusion_matrix(logits.argmax(1), target, k, ignore_index).long())


@given(label_maps(), st.data())
def test_labels_out_of_range_are_named(case, data_):
    """A target label outside [0, K) that is not ignore_index, anywhere, is an error naming it."""
    pred, target, k, ignore_index = case
    bad = data_.draw(st.sampled_from([k, k + 1, 100, -2]))
    assume(bad != ignore_index and torch.iinfo(target.dtype).min <= bad <= torch.iinfo(target.dtype).max)
    where = tuple(data_.draw(st.integers(0, size - 1)) for size in target.shape)
    bad_target, bad_pred = target.clone(), pred.clone()
    bad_target[where], bad_pred[where] = bad, bad
    error = raises_own(metrics.confusion_matrix, pred, bad_target, k, ignore_index=ignore_index)
    assert f"target contains label {bad}" in str(error) and f"[0, {k})" in str(error)
    # A prediction out of range is an error too, unless its pixel is ignored.
    if ignore_index is not None and target[where] == ignore_index:
        assert metrics.confusion_matrix(bad_pred, target, k, ignore_index=ignore_index).sum() == (target != ignore_index).sum()
    else:
        error = raises_own(metrics.confusion_matrix, bad_pred, target, k, ignore_index=ignore_index)
        assert f"pred contains label {bad}" in str(error)


@given(st.sampled_from([19, 256, 300]), st.sampled_from([torch.uint8, torch.int16, torch.int64]), st.integers(0, 99))
def test_many_classes_and_narrow_maps_count_like_torchmetrics(k, dtype, seed):
    """Beyond 255 classes a uint8 map cannot hold the label K that ignored pixels are counted under."""
    generator = torch.Generator().manual_seed(seed)
    high = min(k, 255) if dtype == torch.uint8 else k
    target = torch.randint(0, high, (1, 9, 9), generator=generator).to(dtype)
    target[0, :2] = 255
    pred = torch.randint(0, k, (1, 9, 9), generator=generator)
    got = metrics.confusion_matrix(pred, target, k, ignore_index=255)
    torch.testing.assert_close(got, oracle_confusion_matrix(pred, target, k, 255).long())


def test_an_empty_label_map_counts_nothing():
    empty = torch.zeros(0, 4, 4, dtype=torch.long)
    assert metrics.confusion_matrix(empty, empty, 3).equal(torch.zeros(3, 3, dtype=torch.long))
    assert metrics.confusion_matrix(torch.zeros(0, 3, 4, 4), empty, 3, ignore_index=255).sum() == 0
    assert math.isnan(metrics.pixel_accuracy(torch.zeros(3, 3, dtype=torch.long)))  # no evidence


def test_nan_logits_are_never_scored():
    """The argmax of NaN is class 0: without a check a NaN model would score 1.0 on class 0."""
    target = torch.zeros(1, 4, 4, dtype=torch.long)
    raises_own(metrics.confusion_matrix, torch.full((1, 3, 4, 4), math.nan), target, 3, match="NaN")
    logits = torch.randn(1, 3, 4, 4)
    logits[0, 1, 2, 3] = math.nan
    raises_own(metrics.ConfusionMatrix(3).update, logits, target, match="NaN")


@given(label_maps())
def test_scores_equal_torchmetrics_on_classes_that_occur(case):
    """IoU and Dice equal torchmetrics' where a class occurs (torchmetrics says 0, seglib NaN, where none does)."""
    pred, target, k, ignore_index = case
    cm = metrics.confusion_matrix(pred, target, k, ignore_index=ignore_index)
    iou, dice = metrics.iou(cm), metrics.dice(cm)
    present = (cm.sum(0) + cm.sum(1)) > 0
    assert torch.equal(iou.isnan(), ~present) and torch.equal(dice.isnan(), ~present)
    p, t = pred.long(), target.long()
    kwargs = {"num_classes": k, "ignore_index": ignore_index, "validate_args": False}
    if present.any() and k > 1:
        want_iou = multiclass_jaccard_index(p, t, average="none", **kwargs).double()
        want_dice = multiclass_f1_score(p, t, average="none", **kwargs).double()
        torch.testing.assert_close(iou[present], want_iou[present])
        torch.testing.assert_close(dice[present], want_dice[present])
        torch.testing.assert_close(metrics.mean_iou(cm), iou[present].mean())
    if cm.sum() > 0 and k > 1:
        accuracy = multiclass_accuracy(p, t, average="micro", **kwargs).double()
        torch.testing.assert_close(metrics.pixel_accuracy(cm), accuracy)
    else:
        assert math.isnan(metrics.pixel_accuracy(cm)) or cm.sum() > 0


@given(st.integers(1, 5), st.sampled_from(["negative", "nan", "inf", "bool", "3d"]))
def test_a_confusion_matrix_that_counts_nothing_real_is_refused(k, kind):
    cm = torch.randint(0, 10, (k, k)).double()
    if kind == "negative":
        cm[0, -1] = -1
    elif kind == "nan":
        cm[-1, 0] = math.nan
    elif kind == "inf":
        cm[0, 0] = math.inf
    elif kind == "bool":
        cm = cm > 3
    else:
        cm = cm[None]
    for score in (metrics.pixel_accuracy, metrics.iou, metrics.mean_iou, metrics.dice):
        raises_own(score, cm, match="cm must")


# --------------------------------------------------------------------------- losses


@st.composite
def loss_cases(draw):
    pred, target, k, ignore_index = draw(label_maps())
    logits = torch.randn(target.shape[0], k, *target.shape[1:], dtype=draw(st.sampled_from([torch.float32, torch.float64])))
    logits = logits * draw(st.sampled_from([0.1, 1.0, 30.0]))
    if draw(st.booleans()):
        logits = logits.contiguous(memory_format=torch.channels_last)
    return logits, target, k, ignore_index


@given(loss_cases(), st.booleans())
def test_focal_loss_at_gamma_0_is_cross_entropy(case, weighted):
    logits, target, k, ignore_index = case
    alpha = torch.rand(k, dtype=logits.dtype) + 0.1 if weighted else None
    got = losses.focal_loss(logits, target, gamma=0.0, alpha=alpha, ignore_index=ignore_index)
    want = F.cross_entropy(logits, target.long(), weight=alpha, ignore_index=-100 if ignore_index is None else ignore_index)
    if math.isnan(want):  # every pixel ignored: 0 / 0, the same NaN as torch's
        assert math.isnan(got)
    else:
        torch.testing.assert_close(got, want)


@given(loss_cases(), st.sampled_from([0.5, 1.0, 2.0, 5.0]))
def test_focal_loss_is_the_formula(case, gamma):
    logits, target, k, ignore_index = case
    got = losses.focal_loss(logits, target, gamma=gamma, ignore_index=ignore_index, reduction="sum")
    ce = F.cross_entropy(logits, target.long(), ignore_index=-100 if ignore_index is None else ignore_index, reduction="none")
    want = ((1 - torch.exp(-ce)) ** gamma * ce).sum()
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)


@given(loss_cases(), st.sampled_from([0.0, 1.0, 2.0]))
def test_dice_loss_equals_smp(case, smooth):
    logits, target, k, ignore_index = case
    assume(ignore_index is None or ignore_index >= k or ignore_index < 0)  # smp's ignore pixels carry no label
    got = losses.dice_loss(logits, target, smooth=smooth, ignore_index=ignore_index)
    smp = SmpDiceLoss("multiclass", from_logits=True, smooth=smooth / 2, ignore_index=ignore_index)
    t = target.long()
    if ignore_index is not None and ignore_index < 0:  # smp one-hot encodes y·mask, which needs labels >= 0
        smp.ignore_index, t = 10_000, t.masked_fill(t == ignore_index, 10_000)
    torch.testing.assert_close(got, smp(logits, t).to(got.dtype), atol=1e-6, rtol=1e-5)


@given(
    st.integers(1, 3), st.integers(1, 6), st.sampled_from([None, 0.25, 0.9]), st.sampled_from([0.0, 2.0]),
    st.sampled_from([torch.float32, torch.bool, torch.uint8, torch.int64]),
)
def test_binary_focal_loss_equals_torchvision(n, side, alpha, gamma, target_dtype):
    logits = torch.randn(n, 1, side, side) * 3
    target = (torch.rand(n, 1, side, side) > 0.5).to(target_dtype)
    got = losses.binary_focal_loss(logits, target, gamma=gamma, alpha=alpha)
    want = sigmoid_focal_loss(logits, target.float(), alpha=-1 if alpha is None else alpha, gamma=gamma, reduction="mean")
    torch.testing.assert_close(got, want)


@given(st.sampled_from([255.0, 2.0, -1.0, math.nan, 1.5]), st.sampled_from([torch.float32, torch.int64]))
def test_binary_targets_outside_0_1_are_refused(bad, dtype):
    """A mask read as 0/255 gave a loss of -7.8e8 and training went on; now it is an error."""
    assume(dtype.is_floating_point or float(bad).is_integer())
    target = torch.zeros(1, 1, 4, 4)
    target[0, 0, 1, 1] = bad
    error = raises_own(losses.binary_focal_loss, torch.randn(1, 1, 4, 4), target.to(dtype), match=r"\[0, 1\]")
    assert ("0/255" in str(error)) == (bad == 255.0)


@given(
    st.sampled_from(["gamma", "smooth", "alpha", "binary_alpha"]),
    st.sampled_from([math.nan, math.inf, -math.inf, -0.5, "2", True]),
)
def test_loss_hyper_parameters_must_be_finite_and_in_range(name, value):
    logits, target = torch.randn(1, 3, 2, 2), torch.zeros(1, 2, 2, dtype=torch.long)
    if name == "gamma":
        calls = [lambda: losses.focal_loss(logits, target, gamma=value), lambda: losses.FocalLoss(gamma=value),
                 lambda: losses.binary_focal_loss(logits, target.float()[:, None].expand_as(logits), gamma=value)]
    elif name == "smooth":
        calls = [lambda: losses.dice_loss(logits, target, smooth=value), lambda: losses.DiceLoss(smooth=value)]
    elif name == "alpha":
        assume(not isinstance(value, (str, bool)))
        alpha = [1.0, value, 1.0]
        calls = [lambda: losses.focal_loss(logits, target, alpha=alpha), lambda: losses.FocalLoss(alpha=alpha)]
    else:
        calls = [lambda: losses.BinaryFocalLoss(alpha=value)]
    for call in calls:
        raises_own(call, match=name.replace("binary_", ""))


# --------------------------------------------------------------------------- models

MODELS = {
    "UNet": lambda: models.UNet(3, 2, base_channels=4, depth=2),
    "UNet-valid": lambda: models.UNet(3, 2, base_channels=4, depth=1, padding="valid"),
    "FCN": lambda: models.FCN(3, 2, base_channels=4, convs_per_stage=(1, 1, 1), variant="8s", head_channels=8),
    "SegNet": lambda: models.SegNet(3, 2, base_channels=4, convs_per_stage=(1, 1)),
    "DeepLabV3": lambda: models.DeepLabV3(3, 2, base_channels=4),
    "DeepLabV3Plus": lambda: models.DeepLabV3Plus(3, 2, base_channels=4),
    "PSPNet": lambda: models.PSPNet(3, 2, base_channels=4),
    "DoubleConv": lambda: models.DoubleConv(3, 2),
    "ASPPConv": lambda: models.ASPPConv(3, 2, dilation=2),
    "ASPPPooling": lambda: models.ASPPPooling(3, 2),
    "ASPP": lambda: models.ASPP(3, out_channels=2, atrous_rates=(1, 2)),
    "PyramidPooling": lambda: models.PyramidPooling(3, bins=(1, 2)),
}
BUILT: dict[str, nn.Module] = {}


def built(name: str) -> nn.Module:
    if name not in BUILT:
        torch.manual_seed(0)
        BUILT[name] = MODELS[name]().eval()
    return BUILT[name]


@settings(max_examples=120)  # twelve models: more examples than the profile's default
@given(
    st.sampled_from(sorted(MODELS)),
    st.tuples(st.integers(0, 2), st.sampled_from([3, 3, 1]), st.integers(0, 20), st.integers(0, 20)),
    st.sampled_from([torch.float32, torch.float32, torch.float64, torch.float16, torch.int64]),
    st.sampled_from(["contiguous", "channels_last", "transposed"]),
    st.booleans(),
)
def test_a_model_answers_right_or_raises_its_own_error(name, shape, dtype, layout, training):
    """Any input: the logits of the float32 contiguous copy, or seglib's error; never torch's."""
    model = built(name).train(training)
    x = torch.randn(shape).to(dtype)
    if layout == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    elif layout == "transposed":
        x = x.transpose(2, 3).contiguous().transpose(2, 3)
    try:
        with torch.no_grad():
            y = model(x)
    except Exception as error:  # noqa: BLE001 - the point is which error
        assert is_own_error(error), f"{name} on {tuple(shape)} {dtype} fails with torch's error: {error!r}"
        return
    finally:
        model.eval()
    assert dtype == torch.float32 and min(shape) > 0, f"{name} accepted {tuple(shape)} {dtype}"
    assert y.shape[0] == shape[0] and torch.isfinite(y).all()
    if not training:
        with torch.no_grad():
            torch.testing.assert_close(y, model(x.contiguous()), atol=1e-5, rtol=1e-4)


def test_model_input_dtype_and_emptiness_are_named():
    model = built("UNet")
    raises_own(model, torch.randn(1, 3, 8, 8, dtype=torch.float64), match=r"float64.*model's weights are torch.float32")
    raises_own(model, torch.randn(1, 3, 0, 8), match="at least one pixel")
    raises_own(models.DoubleConv(3, 2), torch.randn(1, 4, 8, 8), match=r"\(N, 3, H, W\)")
    raises_own(models.ASPPPooling(3, 2).train(), torch.randn(1, 3, 4, 4), match="N >= 2")


def test_model_input_dtype_may_differ_under_autocast():
    # Autocast casts every convolution's operands itself, so a bfloat16 input to a float32 model is fine there.
    model = built("UNet")
    x = torch.randn(1, 3, 8, 8).to(torch.bfloat16)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        torch.testing.assert_close(model(x), model(x.float()), atol=0.0, rtol=0.0)
    raises_own(model, x, match=r"bfloat16.*model's weights are torch.float32")


# --------------------------------------------------------------------------- engine


def loader_of(batches):
    return [(images, masks) for images, masks in batches]


@st.composite
def evaluation_batches(draw):
    """Batches of a 1×1 convolution's inputs, some of them wholly ignored (label 255)."""
    k = draw(st.integers(2, 4))
    count = draw(st.integers(1, 4))
    generator = torch.Generator().manual_seed(draw(st.integers(0, 2**16)))
    batches = []
    for _ in range(count):
        n, h, w = draw(st.integers(1, 2)), draw(st.integers(1, 5)), draw(st.integers(1, 5))
        masks = torch.randint(0, k, (n, h, w), generator=generator)
        fraction = draw(st.sampled_from([0.0, 0.5, 1.0]))
        masks[torch.rand(n, h, w, generator=generator) < fraction] = 255
        batches.append((torch.randn(n, 2, h, w, generator=generator), masks))
    return k, batches


@given(evaluation_batches())
def test_evaluate_loss_is_the_mean_over_labelled_pixels(case):
    """All-ignored batches leave the loss alone; NaN only when no pixel of the loader is labelled."""
    k, batches = case
    torch.manual_seed(0)
    model = nn.Conv2d(2, k, 1)
    scores = engine.evaluate(model, loader_of(batches), num_classes=k, ignore_index=255)
    with torch.no_grad():
        logits = torch.cat([model(x).permute(0, 2, 3, 1).reshape(-1, k) for x, _ in batches])
    masks = torch.cat([m.reshape(-1) for _, m in batches])
    want = F.cross_entropy(logits, masks, ignore_index=255)
    labelled = bool((masks != 255).any())
    assert math.isnan(scores["loss"]) == (not labelled)
    assert math.isnan(scores["mean_iou"]) == (not labelled) and math.isnan(scores["pixel_accuracy"]) == (not labelled)
    if labelled:
        assert scores["loss"] == pytest.approx(want.item(), rel=1e-5)
        cm = oracle_confusion_matrix(logits.argmax(1), masks, k, 255)
        torch.testing.assert_close(scores["confusion_matrix"], cm.long())


class Constant(nn.Module):
    def __init__(self, value: float, k: int = 3) -> None:
        super().__init__()
        self.value, self.k, self.weight = value, k, nn.Parameter(torch.zeros(()))

    def forward(self, x):
        return torch.full((x.shape[0], self.k, *x.shape[2:]), self.value) + self.weight


@given(st.sampled_from([math.nan, math.inf, -math.inf]))
def test_a_nan_model_is_never_scored_perfect(value):
    """Before: NaN logits were scored pixel accuracy 1.0 and mIoU 1.0 (argmax of NaN is class 0)."""
    batches = [(torch.randn(2, 1, 4, 4), torch.zeros(2, 4, 4, dtype=torch.long))]
    raises_own(engine.evaluate, Constant(value), batches, num_classes=3, match="NaN or infinite logits")


@given(st.sampled_from([3, 7, 255, -1]), st.booleans())
def test_labels_beyond_num_classes_are_named_with_ignore_index(bad, use_fit):
    """Before: torch's `IndexError: Target 255 is out of bounds`, which never mentions ignore_index."""
    masks = torch.zeros(2, 4, 4, dtype=torch.long)
    masks[0, 0, 0] = bad
    model = nn.Conv2d(1, 3, 1)
    loader = [(torch.randn(2, 1, 4, 4), masks)]
    if use_fit:
        error = raises_own(engine.fit, model, loader, device="cpu", progress=False)
    else:
        error = raises_own(engine.evaluate, model, loader, num_classes=3)
    assert f"label {bad}" in str(error)
    if bad in (255, -1):
        assert f"ignore_index={bad}" in str(error)


def test_fit_skips_batches_with_no_labelled_pixel():
    """Before: an all-ignored batch gave a NaN loss, NaN gradients and NaN weights."""
    torch.manual_seed(0)
    images = torch.randn(4, 1, 4, 4)
    masks = (images[:, 0] > 0).long()
    masks[1] = 255  # batch 2 of 4 (batch size 1) is wholly unlabelled
    loader = [(images[i : i + 1], masks[i : i + 1]) for i in range(4)]
    model = nn.Conv2d(1, 2, 1)
    history = engine.fit(model, loader, epochs=2, ignore_index=255, val_loader=loader, device="cpu", progress=False)
    assert history.step[-1] == 6 and len(history.step_loss) == 6  # 3 labelled batches per epoch
    assert all(math.isfinite(v) for v in history.train_loss + history.val_loss + history.val_miou)
    assert all(torch.isfinite(p).all() for p in model.parameters())
    raises_own(engine.fit, nn.Conv2d(1, 2, 1), [loader[1]], ignore_index=255, device="cpu", progress=False,
               match="nothing to train on")


@given(st.sampled_from([torch.float64, torch.float16, torch.bfloat16]), st.sampled_from(["fit", "evaluate", "predict"]))
def test_images_of_another_dtype_than_the_model_are_named(dtype, entry):
    model = nn.Conv2d(1, 2, 1)
    images, masks = torch.randn(2, 1, 4, 4, dtype=dtype), torch.zeros(2, 4, 4, dtype=torch.long)
    calls = {
        "fit": lambda: engine.fit(model, [(images, masks)], device="cpu", progress=False),
        "evaluate": lambda: engine.evaluate(model, [(images, masks)], num_classes=2),
        "predict": lambda: engine.predict(model, images),
    }
    raises_own(calls[entry], match=rf"{dtype}.*weights are torch.float32")


def test_images_with_other_channels_than_the_model_and_bad_loss_functions_are_named():
    model, masks = nn.Conv2d(1, 2, 1), torch.zeros(2, 4, 4, dtype=torch.long)
    images = torch.randn(2, 3, 4, 4)  # the model takes one channel (nn.Conv2d.in_channels)
    raises_own(engine.evaluate, model, [(images, masks)], num_classes=2, match=r"\(N, 1, H, W\)")
    raises_own(engine.flip_tta, model, images, match=r"\(N, 1, H, W\)")
    batches = [(torch.randn(2, 1, 4, 4), masks)]
    for call in (
        lambda: engine.fit(model, batches, loss_fn=lambda logits, m: logits, device="cpu", progress=False),
        lambda: engine.evaluate(model, batches, num_classes=2, loss_fn=lambda logits, m: logits),
    ):
        raises_own(call, match="must return a scalar tensor")


def test_empty_images_are_named():
    model = nn.Conv2d(1, 2, 1)
    for images in (torch.randn(0, 1, 4, 4), torch.randn(1, 1, 0, 4)):
        raises_own(engine.predict, model, images, match="at least one pixel")
        raises_own(engine.evaluate, model, [(images, torch.zeros(images.shape[0], *images.shape[2:]).long())],
                   num_classes=2, match="at least one pixel")


def test_a_diverged_training_run_stops_with_a_named_error():
    model = Constant(math.nan, k=2)
    loader = [(torch.randn(1, 1, 2, 2), torch.zeros(1, 2, 2, dtype=torch.long))]
    raises_own(engine.fit, model, loader, device="cpu", progress=False, match="training loss is nan")


# --------------------------------------------------------------------------- data


@given(
    st.sampled_from(INT_DTYPES), st.sampled_from([255, 300, -1, 0, 70_000]),
    st.sampled_from(["train_transforms", "elastic"]), st.integers(0, 100),
)
def test_transforms_fill_masks_with_ignore_index_or_say_why_not(dtype, ignore_index, kind, seed):
    """Before: an ignore_index the mask's dtype cannot hold was written wrapped (300 -> 44 in uint8)."""
    torch.manual_seed(seed)
    image, mask = torch.rand(3, 12, 12), torch.randint(0, 3, (12, 12)).to(dtype)
    if kind == "train_transforms":
        if ignore_index < 0:
            raises_own(data.train_transforms, 12, ignore_index=ignore_index)
            return
        transform = data.train_transforms(12, degrees=45.0, scale=(1.0, 1.0), ignore_index=ignore_index)
    else:
        transform = data.JointTransform(data.ElasticGrid(std=6.0, mask_fill=ignore_index))
    info = torch.iinfo(dtype)
    if not info.min <= ignore_index <= info.max:
        raises_own(transform, image, mask, match=rf"fill .* {ignore_index} .*{dtype}")
        return
    _, out = transform(image, mask)
    assert set(out.unique().tolist()) <= {0, 1, 2, ignore_index}
