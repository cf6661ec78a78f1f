"""seglib.engine: training, evaluation against hand-computed numbers, overlap-tile, TTA, MC dropout.

Models and data are tiny and defined here (no seglib.models or seglib.data), so the whole
file runs in seconds on a CPU.
"""

import math
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from seglib import engine
from seglib.engine import (
    History,
    evaluate,
    fit,
    flip_tta,
    get_device,
    load_checkpoint,
    mc_dropout_predict,
    predict,
    predict_tiled,
    save_checkpoint,
    seed_everything,
)


# --------------------------------------------------------------------------- tiny models and data


def same_net(in_channels=2, num_classes=3, layers=3, hidden=4, dropout=None, batchnorm=False):
    """`layers` 3×3 convolutions with padding 1: receptive-field radius `layers`, output size = input size."""
    modules, channels = [], in_channels
    for i in range(layers - 1):
        modules.append(nn.Conv2d(channels, hidden, 3, padding=1))
        if batchnorm:
            modules.append(nn.BatchNorm2d(hidden))
        modules.append(nn.ReLU())
        if dropout is not None and i == layers - 2:
            modules.append(nn.Dropout2d(dropout))
        channels = hidden
    modules.append(nn.Conv2d(channels, num_classes, 3, padding=1))
    return nn.Sequential(*modules)


def valid_net(in_channels=2, num_classes=3):
    """Two unpadded 3×3 convolutions: output = input - 2·2 on each axis (border 2)."""
    return nn.Sequential(nn.Conv2d(in_channels, 4, 3), nn.ReLU(), nn.Conv2d(4, num_classes, 3))


def symmetric_net(in_channels=2, num_classes=3):
    """Kernels symmetric under both flips, zero padding: exactly equivariant to horizontal and vertical flips."""
    model = same_net(in_channels, num_classes, layers=2)
    with torch.no_grad():
        for module in model:
            if isinstance(module, nn.Conv2d):
                w = module.weight
                w.copy_((w + w.flip(-1) + w.flip(-2) + w.flip(-1, -2)) / 4)
    return model


def sign_data(n=32, size=8, batch_size=8, shuffle=False):
    """Two channels of noise; the label is 1 where channel 0 is positive: separable pixel by pixel."""
    images = torch.randn(n, 2, size, size)
    masks = (images[:, 0] > 0).long()
    return DataLoader(TensorDataset(images, masks), batch_size=batch_size, shuffle=shuffle)


def probabilities(model, images):
    """Plain eval-mode softmax of one forward pass: the oracle for the inference functions."""
    model.eval()
    with torch.no_grad():
        return model(images).softmax(dim=1)


# --------------------------------------------------------------------------- devices and seeds


def test_get_device_prefers_cuda_then_mps_then_cpu():
    """get_device() follows CUDA > MPS > CPU (CPU on this machine) and honours prefer="cpu"."""
    if torch.cuda.is_available():
        expected = "cuda"
    elif torch.backends.mps.is_available():
        expected = "mps"
    else:
        expected = "cpu"
    assert get_device().type == expected
    assert get_device("cpu") == torch.device("cpu")
    assert get_device(torch.device("cpu")) == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_get_device_rejects_unavailable_or_bad_names():
    """Asking for a device that is not there, or for nonsense, is a clear error."""
    with pytest.raises(ValueError, match="CUDA"):
        get_device("cuda")
    with pytest.raises(ValueError, match="device name"):
        get_device("tpu-please")
    with pytest.raises(TypeError, match="device name"):
        get_device(3)


def test_seed_everything_repeats_python_numpy_and_torch():
    """The same seed gives the same draws from random, numpy and torch; another seed does not."""

    def draws():
        return random.random(), float(np.random.rand()), torch.rand(3)

    seed_everything(123)
    a = draws()
    seed_everything(123)
    b = draws()
    seed_everything(124)
    c = draws()
    assert a[:2] == b[:2] and torch.equal(a[2], b[2])
    assert a[0] != c[0] and not torch.equal(a[2], c[2])
    with pytest.raises(ValueError, match="seed"):
        seed_everything(-1)


# --------------------------------------------------------------------------- fit


def test_fit_learns_a_separable_problem_and_records_history():
    """Loss falls, validation mIoU is high, and every history list has one value per epoch."""
    train, val = sign_data(32), sign_data(16)
    model = nn.Conv2d(2, 2, kernel_size=1)
    epochs = 6
    history = fit(
        model,
        train,
        epochs=epochs,
        optimizer=torch.optim.Adam(model.parameters(), lr=0.1),
        val_loader=val,
        device="cpu",
        progress=False,
    )
    assert history.train_loss[-1] < 0.5 * history.train_loss[0], history.train_loss
    assert history.val_miou[-1] > 0.9, history.val_miou
    assert history.val_pixel_accuracy[-1] > 0.95, history.val_pixel_accuracy
    for name in ("epoch", "step", "train_loss", "val_loss", "val_miou", "val_pixel_accuracy", "lr", "seconds"):
        assert len(getattr(history, name)) == epochs, name
    assert len(history) == epochs
    assert history.epoch == list(range(1, epochs + 1))
    assert history.step == [4 * e for e in range(1, epochs + 1)]  # 32 images / batch 8 = 4 steps per epoch
    assert len(history.step_loss) == 4 * epochs
    assert history.train_loss[0] == pytest.approx(sum(history.step_loss[:4]) / 4)
    assert history.seconds == sorted(history.seconds)
    assert history.lr == [0.1] * epochs
    assert history.stop_reason == "completed" and history.device == "cpu" and history.amp is False
    assert not model.training, "fit leaves the model in eval mode"
    values = history.as_dict()
    assert values["val_miou"] == history.val_miou and set(values) >= {"train_loss", "val_loss", "lr", "seconds"}


def test_fit_with_steps_cycles_through_the_loader():
    """steps=10 on a 4-batch loader: entries at steps 4, 8 and a partial one at 10; no val lists without val_loader."""
    history = fit(nn.Conv2d(2, 2, 1), sign_data(32), steps=10, device="cpu", progress=False)
    assert history.step == [4, 8, 10]
    assert history.epoch == [1, 2, 3]
    assert len(history.step_loss) == 10
    assert history.val_loss == [] and history.val_miou == [] and history.val_pixel_accuracy == []


def test_fit_max_time_stops_early_and_cleanly():
    """A time budget smaller than one step stops after that step, with one recorded (partial) epoch."""
    history = fit(nn.Conv2d(2, 2, 1), sign_data(32), epochs=50, max_time=1e-9, val_loader=sign_data(8),
                  device="cpu", progress=False)
    assert history.step == [1]
    assert history.stop_reason == "max_time"
    assert len(history.val_miou) == 1


def test_fit_callback_can_stop_training():
    """A callback sees the history after every epoch; returning True stops."""
    seen = []

    def callback(history):
        seen.append(len(history))
        return len(history) >= 2

    history = fit(nn.Conv2d(2, 2, 1), sign_data(16), epochs=10, callback=callback, device="cpu", progress=False)
    assert seen == [1, 2]
    assert len(history) == 2 and history.stop_reason == "callback"


def test_fit_steps_the_scheduler_every_step():
    """scheduler.step() runs after every optimizer step; the recorded lr is the one at the end of each epoch."""
    model = nn.Conv2d(2, 2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    history = fit(model, sign_data(16), epochs=2, optimizer=optimizer, scheduler=scheduler, device="cpu",
                  progress=False)
    assert history.lr == [0.5**2, 0.5**4]  # 2 steps per epoch


def test_fit_is_reproducible_under_a_seed():
    """seed_everything, then build and fit (shuffled loader, dropout): twice gives identical weights."""

    def run(seed):
        seed_everything(seed)
        loader = sign_data(16, batch_size=4, shuffle=True)
        model = same_net(num_classes=2, layers=2, dropout=0.3)
        fit(model, loader, epochs=2, device="cpu", progress=False)
        return model.state_dict()

    first, second, other = run(7), run(7), run(8)
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert not all(torch.equal(first[k], other[k]) for k in first)


def test_fit_uses_no_mixed_precision_on_cpu():
    """On the CPU the loss sees float32 logits (no autocast), and amp=True is refused with a clear error."""
    dtypes = []

    def loss_fn(logits, masks):
        dtypes.append(logits.dtype)
        return F.cross_entropy(logits, masks)

    history = fit(nn.Conv2d(2, 2, 1), sign_data(8), loss_fn=loss_fn, device="cpu", progress=False)
    assert set(dtypes) == {torch.float32} and history.amp is False
    with pytest.raises(ValueError, match="CUDA"):
        fit(nn.Conv2d(2, 2, 1), sign_data(8), amp=True, device="cpu", progress=False)


def test_progress_bars_show_and_switch_off(capsys):
    """progress=True draws a tqdm bar (on stderr); progress=False keeps test and CI logs quiet."""
    fit(nn.Conv2d(2, 2, 1), sign_data(8), device="cpu", progress=False)
    predict(nn.Conv2d(2, 2, 1), torch.randn(2, 2, 4, 4), progress=False)
    assert capsys.readouterr().err == ""
    fit(nn.Conv2d(2, 2, 1), sign_data(8), device="cpu", progress=True)
    assert "fit" in capsys.readouterr().err


@pytest.mark.skipif(not torch.cuda.is_available(), reason="mixed precision runs on CUDA only")
def test_fit_uses_mixed_precision_on_cuda_by_default():
    """On CUDA, amp defaults to on: the loss sees float16 logits, and training still works."""
    dtypes = []

    def loss_fn(logits, masks):
        dtypes.append(logits.dtype)
        return F.cross_entropy(logits.float(), masks)

    model = nn.Conv2d(2, 2, 1)
    history = fit(model, sign_data(32), epochs=4, loss_fn=loss_fn, device="cuda", val_loader=sign_data(8),
                  optimizer=torch.optim.Adam(model.parameters(), lr=0.1), progress=False)
    assert history.amp is True and set(dtypes) == {torch.float16}
    assert history.val_miou[-1] > 0.8
    assert predict(model, torch.randn(2, 2, 4, 4)).device.type == "cpu"  # back on the images' device


def test_fit_default_loss_ignores_ignore_index():
    """With every label ignored except one class, the default loss is cross-entropy over the labelled pixels only."""
    images = torch.randn(4, 2, 4, 4)
    masks = torch.full((4, 4, 4), 255)
    masks[:, 0, 0] = 1
    loader = DataLoader(TensorDataset(images, masks), batch_size=4)
    model = nn.Conv2d(2, 2, 1)
    with torch.no_grad():
        expected = F.cross_entropy(model(images)[:, :, 0, 0], masks[:, 0, 0]).item()
    history = fit(model, loader, optimizer=torch.optim.SGD(model.parameters(), lr=0.0), ignore_index=255,
                  device="cpu", progress=False)
    assert history.train_loss[0] == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize(
    "kwargs, batch, error, match",
    [
        ({"epochs": 0}, None, ValueError, "epochs"),
        ({"epochs": 2, "steps": 3}, None, ValueError, "not both"),
        ({"max_time": -1}, None, ValueError, "max_time"),
        ({"optimizer": "adam"}, None, TypeError, "optimizer"),
        ({}, (torch.randn(2, 8, 8), torch.zeros(2, 8, 8).long()), ValueError, r"\(N, C, H, W\)"),
        ({}, (torch.randn(2, 2, 8, 8), torch.zeros(2, 8, 8)), ValueError, "integer"),
        ({}, (torch.randn(2, 2, 8, 8),), ValueError, r"\(images, masks\)"),
        ({}, (torch.randn(2, 2, 8, 8), torch.zeros(2, 6, 6).long()), ValueError, "crop the masks"),
    ],
)
def test_fit_rejects_bad_arguments_and_batches(kwargs, batch, error, match):
    """Bad options and malformed batches fail with a message naming what was expected."""
    loader = sign_data(8) if batch is None else [batch]
    with pytest.raises(error, match=match):
        fit(nn.Conv2d(2, 2, 1), loader, device="cpu", progress=False, **kwargs)


def test_fit_rejects_an_empty_loader():
    """A loader without batches is an error, not a silent no-op."""
    with pytest.raises(ValueError, match="no batches"):
        fit(nn.Conv2d(2, 2, 1), [], device="cpu", progress=False)


# --------------------------------------------------------------------------- evaluate


def hand_confusion_matrix(pred, target, num_classes, ignore_index):
    """Rows = true class, columns = predicted class, counted one cell at a time."""
    keep = target != ignore_index
    cm = torch.zeros(num_classes, num_classes, dtype=torch.int64)
    for i in range(num_classes):
        for j in range(num_classes):
            cm[i, j] = ((target == i) & (pred == j) & keep).sum()
    return cm


def test_evaluate_equals_a_hand_computation():
    """With an identity 'model' (the logits are the data), every number matches a direct computation."""
    num_classes, ignore = 4, 255
    logits = torch.randn(5, num_classes, 6, 7)
    logits[:, 3] = -50.0  # class 3 is never predicted ...
    masks = torch.randint(0, 3, (5, 6, 7))  # ... nor present: its IoU and Dice are NaN
    masks[0, :2] = ignore  # batches with different numbers of ignored pixels
    masks[4, :, :5] = ignore
    loader = DataLoader(TensorDataset(logits, masks), batch_size=2)  # batches of 2, 2, 1

    scores = evaluate(nn.Identity(), loader, num_classes=num_classes, ignore_index=ignore)

    cm = hand_confusion_matrix(logits.argmax(1), masks, num_classes, ignore)
    tp = cm.diag().double()
    fp, fn = cm.sum(0).double() - tp, cm.sum(1).double() - tp
    iou = tp / (tp + fp + fn)
    assert torch.equal(scores["confusion_matrix"], cm)
    assert scores["loss"] == pytest.approx(F.cross_entropy(logits, masks, ignore_index=ignore).item(), rel=1e-5)
    assert scores["pixel_accuracy"] == pytest.approx((tp.sum() / cm.sum()).item())
    torch.testing.assert_close(scores["iou"].double(), iou, equal_nan=True)
    assert math.isnan(scores["iou"][3])
    assert scores["mean_iou"] == pytest.approx(iou[:3].mean().item())
    torch.testing.assert_close(scores["dice"].double(), 2 * tp / (2 * tp + fp + fn), equal_nan=True)


def test_evaluate_custom_loss_is_weighted_by_batch_size():
    """A custom loss_fn is averaged over batches weighted by their size: (2·2 + 2·2 + 1·1) / 5."""
    loader = DataLoader(TensorDataset(torch.randn(5, 2, 3, 3), torch.zeros(5, 3, 3).long()), batch_size=2)

    def batch_size_loss(logits, masks):
        return torch.tensor(float(logits.shape[0]))

    scores = evaluate(nn.Identity(), loader, num_classes=2, loss_fn=batch_size_loss)
    assert scores["loss"] == pytest.approx(9 / 5)


def test_evaluate_runs_in_eval_mode_and_restores_the_mode():
    """Dropout is off during evaluation (repeatable numbers) and the model's training mode comes back."""
    model = same_net(num_classes=2, layers=2, dropout=0.9).train()
    loader = sign_data(8)
    first = evaluate(model, loader, num_classes=2)
    second = evaluate(model, loader, num_classes=2)
    assert first["loss"] == second["loss"]
    assert model.training and model[2].training


def test_evaluate_tta_on_an_equivariant_model_changes_nothing():
    """Flip TTA of an exactly flip-equivariant model leaves loss and metrics as they were."""
    model, loader = symmetric_net(num_classes=2), sign_data(8)
    plain = evaluate(model, loader, num_classes=2)
    tta = evaluate(model, loader, num_classes=2, tta=True)
    assert tta["loss"] == pytest.approx(plain["loss"], rel=1e-5)
    assert torch.equal(tta["confusion_matrix"], plain["confusion_matrix"])


def test_evaluate_checks_num_classes():
    """num_classes must match what the model returns."""
    with pytest.raises(ValueError, match="num_classes"):
        evaluate(nn.Conv2d(2, 3, 1), sign_data(8), num_classes=2)
    with pytest.raises(ValueError, match="num_classes"):
        evaluate(nn.Conv2d(2, 3, 1), sign_data(8), num_classes=0)


# --------------------------------------------------------------------------- predict and flip TTA


def test_predict_is_batched_eval_mode_softmax():
    """predict = softmax of an eval-mode forward pass, whatever the batch size; the mode is restored."""
    model = same_net(dropout=0.5).train()
    images = torch.randn(5, 2, 9, 7)
    expected = probabilities(model, images)
    model.train()
    for batch_size in (1, 2, 8):
        got = predict(model, images, batch_size=batch_size)
        torch.testing.assert_close(got, expected)
    torch.testing.assert_close(got.sum(1), torch.ones(5, 9, 7))
    assert model.training


@pytest.mark.parametrize(
    "images, kwargs, error, match",
    [
        (torch.randn(2, 9, 7), {}, ValueError, r"\(N, C, H, W\)"),
        (torch.zeros(1, 2, 4, 4, dtype=torch.long), {}, TypeError, "floating-point"),
        ([[1.0]], {}, TypeError, "torch.Tensor"),
        (torch.randn(1, 2, 4, 4), {"batch_size": 0}, ValueError, "batch_size"),
    ],
)
def test_predict_rejects_bad_inputs(images, kwargs, error, match):
    """Images must be a float (N, C, H, W) tensor; batch_size >= 1."""
    with pytest.raises(error, match=match):
        predict(same_net(), images, **kwargs)


def test_flip_tta_of_an_equivariant_model_equals_plain_prediction():
    """Symmetric kernels make the model flip-equivariant: averaging over flips changes nothing."""
    model = symmetric_net()
    images = torch.randn(2, 2, 8, 11)
    plain = probabilities(model, images)
    torch.testing.assert_close(flip_tta(model, images), plain)
    torch.testing.assert_close(flip_tta(model, images, vertical=True), plain)
    torch.testing.assert_close(predict(model, images, tta=True), plain)


def test_flip_tta_equals_the_hand_average_of_the_flipped_passes():
    """For a generic model TTA differs from plain prediction and equals the average of the passes, flipped back."""
    model = same_net()
    images = torch.randn(2, 2, 8, 11)
    plain = probabilities(model, images)
    h = probabilities(model, images.flip(3)).flip(3)
    v = probabilities(model, images.flip(2)).flip(2)
    hv = probabilities(model, images.flip(2, 3)).flip(2, 3)
    got = flip_tta(model, images)
    torch.testing.assert_close(got, (plain + h) / 2)
    torch.testing.assert_close(flip_tta(model, images, vertical=True), (plain + h + v + hv) / 4)
    torch.testing.assert_close(predict(model, images, tta=True, batch_size=1), got)
    assert (got - plain).abs().max() > 1e-3, "a non-equivariant model should change under TTA"


# --------------------------------------------------------------------------- predict_tiled


def test_predict_tiled_equals_whole_image_prediction_in_the_interior():
    """Padded net with receptive-field radius 3, margin 3: interior equal to one forward pass, odd sizes."""
    model = same_net(layers=3)
    images = torch.randn(2, 2, 23, 37)  # non-square, not a multiple of the 10-pixel core
    whole = predict(model, images)
    for tile_size, margin, batch_size in ((16, 3, 4), ((12, 20), (3, 4), 1), (9, 4, 64)):
        tiled = predict_tiled(model, images, tile_size=tile_size, margin=margin, batch_size=batch_size)
        assert tiled.shape == whole.shape
        torch.testing.assert_close(tiled[..., 3:-3, 3:-3], whole[..., 3:-3, 3:-3], atol=1e-5, rtol=0)
        torch.testing.assert_close(tiled.sum(1), torch.ones(2, 23, 37))
    tiled = predict_tiled(model, images, tile_size=16, margin=3, tta=True)
    torch.testing.assert_close(tiled[..., 3:-3, 3:-3], predict(model, images, tta=True)[..., 3:-3, 3:-3],
                               atol=1e-5, rtol=0)


def test_predict_tiled_with_too_small_a_margin_differs():
    """With margin 1 < radius 3 the tile edges show: the interior no longer matches (the check above can fail)."""
    model = same_net(layers=3)
    images = torch.randn(1, 2, 23, 37)
    tiled = predict_tiled(model, images, tile_size=16, margin=1)
    assert (tiled - predict(model, images))[..., 3:-3, 3:-3].abs().max() > 1e-4


def test_predict_tiled_mirrors_the_borders():
    """Everywhere, including the border, tiled = forward pass on the reflect-padded image, cropped."""
    model = same_net(layers=3)
    images = torch.randn(2, 2, 23, 37)
    tiled = predict_tiled(model, images, tile_size=16, margin=3)
    mirrored = predict(model, F.pad(images, (3, 3, 3, 3), mode="reflect"))[..., 3:-3, 3:-3]
    torch.testing.assert_close(tiled, mirrored, atol=1e-5, rtol=0)
    assert (tiled - predict(model, images)).abs().max() > 1e-4, "zero padding and mirroring should differ at the border"


def test_predict_tiled_margin_larger_than_the_image_reflects_repeatedly():
    """A 6-pixel margin around a 4×5 image: the same as NumPy's repeated reflection (np.pad mode="reflect")."""
    model = same_net(layers=6)  # radius 6
    images = torch.randn(1, 2, 4, 5)
    tiled = predict_tiled(model, images, tile_size=15, margin=6)
    padded = torch.from_numpy(np.pad(images.numpy(), ((0, 0), (0, 0), (6, 6), (6, 6)), mode="reflect"))
    expected = predict(model, padded)[..., 6:-6, 6:-6]
    torch.testing.assert_close(tiled, expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("margin", [2, 3])
def test_predict_tiled_for_a_valid_padding_model(margin):
    """Unpadded net (output = input - 4), border=2: the result equals the net on the image mirror-padded by 2."""
    model = valid_net()
    images = torch.randn(2, 2, 19, 26)
    tiled = predict_tiled(model, images, tile_size=12, margin=margin, border=2)
    expected = predict(model, F.pad(images, (2, 2, 2, 2), mode="reflect"))
    assert tiled.shape == expected.shape == (2, 3, 19, 26)
    torch.testing.assert_close(tiled, expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    "model, kwargs, match",
    [
        (same_net(), {"tile_size": 6, "margin": 3}, r"2·margin \+ 1"),
        (valid_net(), {"tile_size": 12, "margin": 1, "border": 2}, "margin .* must be >= border"),
        (valid_net(), {"tile_size": 12, "margin": 2}, "border"),
        (same_net(), {"tile_size": 12, "margin": -1}, "margin"),
    ],
)
def test_predict_tiled_rejects_bad_geometry(model, kwargs, match):
    """Tiles too small for the margin, margin below border, a border that does not match the model."""
    with pytest.raises(ValueError, match=match):
        predict_tiled(model, torch.randn(1, 2, 20, 20), **kwargs)


# --------------------------------------------------------------------------- Monte Carlo dropout


def test_mc_dropout_with_p0_is_plain_prediction():
    """p = 0: every sample is the plain prediction, so the mean is the softmax and the entropy its entropy."""
    model = same_net(dropout=0.0)
    images = torch.randn(3, 2, 6, 9)
    plain = probabilities(model, images)
    mean, entropy = mc_dropout_predict(model, images, samples=5, batch_size=2)
    torch.testing.assert_close(mean, plain)
    torch.testing.assert_close(entropy, -(plain * plain.log()).sum(1))


def test_mc_dropout_samples_differ_sum_to_one_and_repeat_under_a_seed():
    """p > 0: single samples differ; means are distributions; entropy in [0, log K]; seeded runs repeat."""
    model = same_net(dropout=0.5)
    images = torch.randn(2, 2, 6, 9)
    one, _ = mc_dropout_predict(model, images, samples=1)
    two, _ = mc_dropout_predict(model, images, samples=1)
    assert (one - two).abs().max() > 1e-3
    seed_everything(5)
    mean, entropy = mc_dropout_predict(model, images, samples=8)
    seed_everything(5)
    again, entropy_again = mc_dropout_predict(model, images, samples=8)
    assert torch.equal(mean, again) and torch.equal(entropy, entropy_again)
    torch.testing.assert_close(mean.sum(1), torch.ones(2, 6, 9))
    assert entropy.shape == (2, 6, 9)
    assert entropy.min() >= 0 and entropy.max() <= math.log(3) + 1e-6


def test_mc_dropout_keeps_batchnorm_in_eval_mode():
    """BatchNorm running statistics are untouched and every module's mode is restored."""
    model = same_net(dropout=0.5, batchnorm=True)
    model.train()
    model(torch.randn(4, 2, 6, 6))  # give the running statistics non-trivial values
    before = {k: v.clone() for k, v in model.state_dict().items()}
    mc_dropout_predict(model, torch.randn(3, 2, 6, 6) * 5 + 3, samples=4)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(module.training for module in model.modules())


def test_mc_dropout_rejects_bad_arguments():
    """samples >= 1, a model with dropout, images (N, C, H, W)."""
    images = torch.randn(1, 2, 4, 4)
    with pytest.raises(ValueError, match="samples"):
        mc_dropout_predict(same_net(dropout=0.5), images, samples=0)
    with pytest.raises(ValueError, match="dropout"):
        mc_dropout_predict(same_net(), images)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        mc_dropout_predict(same_net(dropout=0.5), images[0])


# --------------------------------------------------------------------------- checkpoints


def test_checkpoint_round_trip(tmp_path):
    """Weights, optimizer state, history and extra values come back exactly."""
    model = same_net(layers=2, num_classes=2)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    history = fit(model, sign_data(8), epochs=2, optimizer=optimizer, device="cpu", progress=False)
    path = tmp_path / "nested" / "checkpoint.pt"
    save_checkpoint(path, model, optimizer, history, epoch=2, num_classes=2)

    restored = same_net(layers=2, num_classes=2)
    restored_optimizer = torch.optim.Adam(restored.parameters(), lr=0.5)
    assert not all(torch.equal(a, b) for a, b in zip(model.parameters(), restored.parameters()))
    info = load_checkpoint(path, restored, restored_optimizer)

    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), restored.state_dict().values()))
    saved, loaded = optimizer.state_dict(), restored_optimizer.state_dict()
    assert saved["param_groups"] == loaded["param_groups"]
    for key, state in saved["state"].items():
        for name, value in state.items():
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(loaded["state"][key][name])), name
    assert isinstance(info["history"], History) and info["history"] == history
    assert info["epoch"] == 2 and info["num_classes"] == 2


def test_load_checkpoint_without_saved_optimizer_state(tmp_path):
    """Asking for optimizer state that was not saved is a clear error; loading only the model works."""
    path = tmp_path / "model.pt"
    save_checkpoint(path, nn.Conv2d(2, 2, 1))
    assert load_checkpoint(path, nn.Conv2d(2, 2, 1)) == {"history": None}
    model = nn.Conv2d(2, 2, 1)
    with pytest.raises(ValueError, match="optimizer"):
        load_checkpoint(path, model, torch.optim.SGD(model.parameters(), lr=0.1))


def test_public_functions_reject_a_non_module_model():
    """Every entry point says it wants an nn.Module."""
    images = torch.randn(1, 2, 4, 4)
    for call in (
        lambda: predict("model", images),
        lambda: flip_tta("model", images),
        lambda: predict_tiled("model", images, tile_size=4, margin=1),
        lambda: mc_dropout_predict("model", images),
        lambda: evaluate("model", sign_data(8), num_classes=2),
        lambda: fit("model", sign_data(8), progress=False),
    ):
        with pytest.raises(TypeError, match="nn.Module"):
            call()
    assert engine.__all__  # the module lists its public names
