"""seglib.losses against PyTorch, torchvision and segmentation-models-pytorch, and hand-worked values."""

import math

import pytest
import torch
import torch.nn.functional as F
from segmentation_models_pytorch.losses import DiceLoss as SmpDiceLoss
from torchvision.ops import sigmoid_focal_loss

from seglib import losses
from seglib.losses import BinaryFocalLoss, DiceLoss, FocalLoss, binary_focal_loss, dice_loss, focal_loss

TOL = dict(atol=1e-6, rtol=0)  # in float64: a difference beyond this is a bug, not rounding


def _case(num_classes, ignore_index, seed, *, shape=(2, 5, 7), absent=True):
    """float64 logits (N, K, H, W) and int64 target (N, H, W), one class absent, some pixels ignored."""
    g = torch.Generator().manual_seed(seed)
    logits = 2 * torch.randn(shape[0], num_classes, *shape[1:], generator=g, dtype=torch.float64)
    target = torch.randint(0, num_classes, shape, generator=g)
    if absent and num_classes > 2:
        target[target == num_classes - 1] = 0  # the last class never occurs in the target
    if ignore_index is not None:
        target[torch.rand(shape, generator=g) < 0.25] = ignore_index
    return logits, target


# ---------------------------------------------------------------------------------------------
# Focal loss (softmax)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("use_alpha", [False, True])
@pytest.mark.parametrize("ignore_index", [None, 255, 1])
@pytest.mark.parametrize("num_classes", [2, 4])
def test_focal_gamma_zero_is_cross_entropy(num_classes, ignore_index, use_alpha, reduction):
    """gamma = 0 equals F.cross_entropy, with alpha playing cross-entropy's `weight` (same normalisation)."""
    logits, target = _case(num_classes, ignore_index, seed=num_classes)
    alpha = torch.rand(num_classes, dtype=torch.float64) + 0.1 if use_alpha else None
    got = focal_loss(logits, target, gamma=0.0, alpha=alpha, ignore_index=ignore_index, reduction=reduction)
    expected = F.cross_entropy(
        logits, target, weight=alpha, ignore_index=-100 if ignore_index is None else ignore_index, reduction=reduction
    )
    torch.testing.assert_close(got, expected, **TOL)


@pytest.mark.parametrize("gamma", [0.5, 1.0, 2.0, 5.0])
@pytest.mark.parametrize("ignore_index", [None, 255])
def test_focal_against_explicit_formula(gamma, ignore_index):
    """-alpha_t (1 - p_t)^gamma log p_t from softmax probabilities, normalised like weighted cross-entropy."""
    logits, target = _case(3, ignore_index, seed=11, absent=False)
    alpha = torch.tensor([0.2, 1.0, 3.0], dtype=torch.float64)
    keep = target != ignore_index if ignore_index is not None else torch.ones_like(target, dtype=torch.bool)
    probs = torch.softmax(logits, dim=1).permute(0, 2, 3, 1)[keep]  # (P, K) over kept pixels
    t = target[keep]
    p_t = probs[torch.arange(len(t)), t]
    per_pixel = -alpha[t] * (1 - p_t) ** gamma * torch.log(p_t)
    got = focal_loss(logits, target, gamma=gamma, alpha=alpha, ignore_index=ignore_index)
    torch.testing.assert_close(got, per_pixel.sum() / alpha[t].sum(), **TOL)
    got_sum = focal_loss(logits, target, gamma=gamma, alpha=alpha, ignore_index=ignore_index, reduction="sum")
    torch.testing.assert_close(got_sum, per_pixel.sum(), **TOL)


def test_focal_hand_worked_single_pixel():
    """p_t = 0.9, gamma = 2: (1 - 0.9)^2 * -log 0.9 = 0.01 * 0.10536 = 0.0010536, 1/100 of cross-entropy."""
    logits = torch.tensor([0.0, math.log(9.0)], dtype=torch.float64).reshape(1, 2, 1, 1)  # softmax = [0.1, 0.9]
    target = torch.tensor([[[1]]])
    ce = -math.log(0.9)  # 0.1053605...
    torch.testing.assert_close(focal_loss(logits, target, gamma=0.0).item(), ce, **TOL)
    torch.testing.assert_close(focal_loss(logits, target, gamma=2.0).item(), 0.1**2 * ce, atol=1e-12, rtol=0)
    # A badly classified pixel (p_t = 0.1) keeps most of its cross-entropy: factor 0.9^2 = 0.81.
    wrong = torch.tensor([[[0]]])
    torch.testing.assert_close(
        focal_loss(logits, wrong, gamma=2.0).item(), 0.9**2 * -math.log(0.1), atol=1e-12, rtol=0
    )


def test_focal_down_weights_easy_pixels():
    """Relative to cross-entropy, focal loss shrinks easy pixels far more than hard ones."""
    logits, target = _case(4, None, seed=5)
    ce = F.cross_entropy(logits, target, reduction="none")
    fl = focal_loss(logits, target, gamma=2.0, reduction="none")
    assert (fl <= ce + 1e-12).all(), "focal loss never exceeds cross-entropy"
    ratio = fl / ce
    p_t = torch.exp(-ce)
    easy, hard = p_t > 0.8, p_t < 0.2
    assert easy.any() and hard.any()
    assert ratio[easy].max() < ratio[hard].min(), "easy pixels should be down-weighted more than hard ones"


def test_focal_all_ignored_is_nan_like_cross_entropy():
    """Every pixel ignored: mean = 0 / 0 = NaN, as in F.cross_entropy; sum = 0."""
    logits = torch.randn(1, 3, 2, 2)
    target = torch.full((1, 2, 2), 255)
    assert math.isnan(F.cross_entropy(logits, target, ignore_index=255).item())
    assert math.isnan(focal_loss(logits, target, ignore_index=255).item())
    assert focal_loss(logits, target, ignore_index=255, reduction="sum").item() == 0.0


# ---------------------------------------------------------------------------------------------
# Binary (sigmoid) focal loss
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("alpha", [0.25, 0.8, None])
@pytest.mark.parametrize("gamma", [0.0, 1.0, 2.0, 3.5])
def test_binary_focal_equals_torchvision(gamma, alpha, reduction):
    """Equals torchvision.ops.sigmoid_focal_loss (alpha=None here is alpha=-1 there)."""
    logits = 3 * torch.randn(2, 3, 4, 5, dtype=torch.float64)
    target = (torch.rand(2, 3, 4, 5) < 0.3).double()
    got = binary_focal_loss(logits, target, gamma=gamma, alpha=alpha, reduction=reduction)
    expected = sigmoid_focal_loss(logits, target, alpha=-1 if alpha is None else alpha, gamma=gamma, reduction=reduction)
    torch.testing.assert_close(got, expected, **TOL)


def test_binary_focal_gamma_zero_is_bce():
    """gamma = 0 without alpha is binary cross-entropy with logits; integer targets are accepted."""
    logits = torch.randn(2, 1, 3, 3, dtype=torch.float64)
    target = torch.randint(0, 2, (2, 1, 3, 3))
    got = binary_focal_loss(logits, target, gamma=0.0, alpha=None)
    torch.testing.assert_close(got, F.binary_cross_entropy_with_logits(logits, target.double()), **TOL)


# ---------------------------------------------------------------------------------------------
# Dice loss
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("smooth", [0.0, 1.0, 3.0])
@pytest.mark.parametrize("ignore_index", [None, 255])
@pytest.mark.parametrize("num_classes", [2, 3, 5])
def test_dice_loss_equals_smp(num_classes, ignore_index, smooth):
    """Equals smp's DiceLoss(mode="multiclass", from_logits=True) with smp's smooth = ours / 2.

    smp computes (I + s) / ((|X| + |Y|) / 2 + s) = (2I + 2s) / (|X| + |Y| + 2s); we add `smooth`
    once, (2I + s) / (|X| + |Y| + s), so the two agree exactly when smp gets smooth / 2. Everything
    else is the same: softmax, sums over batch and pixels per class, ignored pixels dropped from
    both prediction and target, classes absent from the target contributing 0 to a mean over K.
    """
    logits, target = _case(num_classes, ignore_index, seed=num_classes)
    got = dice_loss(logits, target, smooth=smooth, ignore_index=ignore_index)
    smp_loss = SmpDiceLoss(mode="multiclass", from_logits=True, smooth=smooth / 2, ignore_index=ignore_index)
    torch.testing.assert_close(got, smp_loss(logits, target), **TOL)


def test_dice_loss_smoothing_differs_from_smp_at_same_value():
    """The one documented difference: at the same nonzero `smooth`, smp's value is not ours."""
    logits, target = _case(3, None, seed=0, shape=(1, 3, 3))
    ours = dice_loss(logits, target, smooth=1.0)
    smp_same = SmpDiceLoss(mode="multiclass", from_logits=True, smooth=1.0)(logits, target)
    assert abs(ours.item() - smp_same.item()) > 1e-4


def test_dice_loss_hand_worked():
    """Target [0, 1, 1, 1], p = 0.5 everywhere, smooth = 1.

    class 0: 2I = 2*0.5 = 1, |X| = 2, |Y| = 1 -> (1 + 1) / (3 + 1) = 1/2, loss 1/2
    class 1: 2I = 2*1.5 = 3, |X| = 2, |Y| = 3 -> (3 + 1) / (5 + 1) = 2/3, loss 1/3
    mean: (1/2 + 1/3) / 2 = 5/12
    """
    target = torch.tensor([[[0, 1], [1, 1]]])
    logits = torch.zeros(1, 2, 2, 2, dtype=torch.float64)
    torch.testing.assert_close(dice_loss(logits, target, smooth=1.0).item(), 5 / 12, atol=1e-12, rtol=0)
    # A class absent from the target contributes 0 but still counts in the mean over K = 3.
    logits3 = torch.tensor([0.0, 0.0, -1e4], dtype=torch.float64).reshape(1, 3, 1, 1).expand(1, 3, 2, 2)
    torch.testing.assert_close(dice_loss(logits3, target, smooth=1.0).item(), (1 / 2 + 1 / 3) / 3, atol=1e-12, rtol=0)


def test_dice_loss_ignored_pixels_do_not_matter():
    """Changing logits on ignored pixels leaves the loss unchanged."""
    logits, target = _case(4, 255, seed=2)
    other = logits.clone()
    other.permute(0, 2, 3, 1)[target == 255] = 50 * torch.randn(int((target == 255).sum()), 4, dtype=torch.float64)
    torch.testing.assert_close(dice_loss(logits, target, ignore_index=255), dice_loss(other, target, ignore_index=255))


@pytest.mark.parametrize("smooth", [0.0, 1.0])
def test_perfect_prediction_gives_near_zero_losses(smooth):
    """Confident, correct logits: Dice loss and focal loss are (close to) 0."""
    target = torch.randint(0, 4, (2, 6, 6))
    logits = 30.0 * F.one_hot(target, 4).permute(0, 3, 1, 2).double()
    assert dice_loss(logits, target, smooth=smooth).item() < 1e-9
    assert focal_loss(logits, target).item() < 1e-9


# ---------------------------------------------------------------------------------------------
# Gradients, module forms
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "loss_fn",
    [
        lambda x, t: focal_loss(x, t, gamma=2.0, ignore_index=255),
        lambda x, t: focal_loss(x, t, gamma=0.5, alpha=torch.ones(3), ignore_index=255),
        lambda x, t: dice_loss(x, t, smooth=0.0, ignore_index=255),
        lambda x, t: dice_loss(x, t, smooth=1.0, ignore_index=255),
        lambda x, t: binary_focal_loss(x[:, :1], (t[:, None] == 0).float()),
        lambda x, t: binary_focal_loss(x[:, :1], (t[:, None] == 0).float(), gamma=0.5),
    ],
    ids=["focal", "focal-fractional-gamma-alpha", "dice-smooth0", "dice-smooth1", "binary-focal", "binary-focal-gamma-0.5"],
)
def test_gradients_finite_even_for_extreme_logits(loss_fn):
    """Backward gives finite gradients, also where softmax saturates (p_t = 1 exactly in float32)."""
    logits = torch.randn(2, 3, 4, 4)
    logits[0, :, 0, 0] = torch.tensor([200.0, -200.0, 0.0])  # saturated
    target = torch.randint(0, 3, (2, 4, 4))
    target[0, 0, 0] = 0
    target[1, 0, :2] = 255
    logits.requires_grad_(True)
    loss = loss_fn(logits, target)
    loss.backward()
    assert torch.isfinite(loss), loss
    assert torch.isfinite(logits.grad).all()
    assert logits.grad.abs().sum() > 0


def test_module_forms_equal_function_forms():
    """FocalLoss, BinaryFocalLoss and DiceLoss are thin wrappers."""
    logits, target = _case(3, 255, seed=4)
    alpha = torch.tensor([0.5, 1.0, 2.0])
    module = FocalLoss(gamma=1.5, alpha=alpha, ignore_index=255, reduction="sum").double()
    torch.testing.assert_close(
        module(logits, target),
        focal_loss(logits, target, gamma=1.5, alpha=alpha.double(), ignore_index=255, reduction="sum"),
    )
    assert "alpha" in dict(module.named_buffers()), "alpha should follow the module to a device"
    torch.testing.assert_close(
        DiceLoss(smooth=0.5, ignore_index=255)(logits, target), dice_loss(logits, target, smooth=0.5, ignore_index=255)
    )
    x, t = logits[:, :1], (target[:, None] == 1).double()
    torch.testing.assert_close(BinaryFocalLoss(gamma=3.0, alpha=0.4)(x, t), binary_focal_loss(x, t, gamma=3.0, alpha=0.4))
    assert "gamma=1.5" in repr(module) and "smooth=0.5" in repr(DiceLoss(smooth=0.5))


# ---------------------------------------------------------------------------------------------
# Bad inputs
# ---------------------------------------------------------------------------------------------

X = torch.randn(2, 3, 4, 4)
Y = torch.randint(0, 3, (2, 4, 4))


@pytest.mark.parametrize("fn", [focal_loss, dice_loss], ids=["focal", "dice"])
@pytest.mark.parametrize(
    "logits, target, kwargs, match",
    [
        (X, Y[:, :3], {}, r"target must have shape \(N, H, W\) = \(2, 4, 4\).*got \(2, 3, 4\)"),
        (X, Y.float(), {}, r"target must hold integer class indices.*float32"),
        (X.long(), Y, {}, r"logits must be floating point.*int64"),
        (X[0, 0, 0], Y, {}, r"logits must have shape \(N, K, H, W\)"),
        (X, torch.where(Y == 0, 3, Y), {}, r"target contains label 3.*\[0, 3\)"),
        (X, torch.where(Y == 0, 7, Y), {"ignore_index": 255}, r"label 7.*\[0, 3\) or ignore_index=255"),
        (X, torch.where(Y == 0, -1, Y), {}, r"label -1"),
    ],
)
def test_bad_inputs_raise(fn, logits, target, kwargs, match):
    """Shapes, dtypes and label ranges are checked with messages naming what was expected."""
    with pytest.raises(ValueError, match=match):
        fn(logits, target, **kwargs)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: focal_loss(X, Y, alpha=torch.ones(4)), r"alpha must be .* shape \(K,\) = \(3,\).*\(4,\)"),
        (lambda: focal_loss(X, Y, gamma=-1.0), r"gamma must be a number >= 0"),
        (lambda: focal_loss(X, Y, reduction="avg"), r"reduction must be one of"),
        (lambda: dice_loss(X, Y, smooth=-1.0), r"smooth must be a number >= 0"),
        (lambda: binary_focal_loss(X, Y.float()), r"target must have the shape of logits \(2, 3, 4, 4\)"),
        (lambda: binary_focal_loss(X, (X > 0).float(), alpha=1.5), r"alpha must be a number in \[0, 1\]"),
        (lambda: FocalLoss(reduction="avg"), r"reduction must be one of"),
    ],
)
def test_bad_arguments_raise(call, match):
    """Bad keyword arguments raise ValueError naming the allowed values."""
    with pytest.raises(ValueError, match=match):
        call()


def test_public_names():
    """The names the course plan fixes are exported."""
    assert set(losses.__all__) >= {"focal_loss", "dice_loss", "FocalLoss", "DiceLoss", "binary_focal_loss"}
