"""seglib.viz: mask colours, overlays and figures, against values worked out here.

Figures are checked through what matplotlib holds (axes, titles, texts, image arrays, lines),
so the tests need no display.
"""

import math

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from seglib.viz import (
    DEFAULT_PALETTE,
    colorize_mask,
    overlay,
    plot_confusion_matrix,
    plot_history,
    show_predictions,
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_tests_draw_without_a_display():
    assert matplotlib.get_backend().lower() == "agg"


# ---------------------------------------------------------------------------------------------
# colorize_mask
# ---------------------------------------------------------------------------------------------


def lookup(mask, palette, ignore_index=None, ignore_color=(0, 0, 0)):
    """The oracle: one pixel at a time, a plain Python lookup."""
    h, w = mask.shape
    out = np.zeros((h, w, 3), dtype=np.uint8)
    for i in range(h):
        for j in range(w):
            label = int(mask[i, j])
            out[i, j] = ignore_color if label == ignore_index else palette[label]
    return out


def test_default_palette_has_distinct_colours_and_no_black():
    colours = {tuple(c) for c in DEFAULT_PALETTE.tolist()}
    assert DEFAULT_PALETTE.shape == (21, 3) and DEFAULT_PALETTE.dtype == torch.uint8
    assert len(colours) == 21, "two classes share a colour"
    assert (0, 0, 0) not in colours, "black is the default ignore colour"


def test_colorize_mask_maps_each_label_to_its_palette_colour():
    mask = torch.randint(0, 21, (7, 9))
    mask[0, :] = torch.arange(9)
    rgb = colorize_mask(mask)
    assert rgb.shape == (7, 9, 3) and rgb.dtype == torch.uint8
    assert np.array_equal(rgb.numpy(), lookup(mask, DEFAULT_PALETTE.tolist()))
    assert rgb[0, 1].tolist() == [31, 119, 180]  # class 1 is tab:blue


@pytest.mark.parametrize(
    "palette, expected",
    [
        ([(255, 0, 0), (0, 255, 0), (0, 0, 255)], [(255, 0, 0), (0, 255, 0), (0, 0, 255)]),
        ([(1.0, 0.0, 0.0), (0.0, 0.5, 0.0), (0.0, 0.0, 1.0)], [(255, 0, 0), (0, 128, 0), (0, 0, 255)]),
        (["red", "white", "black"], [(255, 0, 0), (255, 255, 255), (0, 0, 0)]),
        (torch.tensor([[10, 20, 30], [40, 50, 60], [70, 80, 90]]), [(10, 20, 30), (40, 50, 60), (70, 80, 90)]),
    ],
)
def test_colorize_mask_with_a_given_palette(palette, expected):
    mask = torch.tensor([[0, 1, 2], [2, 1, 0]])
    assert np.array_equal(colorize_mask(mask, palette).numpy(), lookup(mask, expected))


def test_colorize_mask_ignore_index_and_colour():
    mask = torch.tensor([[0, 255], [1, 255]])
    rgb = colorize_mask(mask, ignore_index=255)
    assert np.array_equal(rgb.numpy(), lookup(mask, DEFAULT_PALETTE.tolist(), 255))
    rgb = colorize_mask(mask, ignore_index=255, ignore_color="white")
    assert rgb[0, 1].tolist() == [255, 255, 255] and rgb[1, 0].tolist() == DEFAULT_PALETTE[1].tolist()
    # An ignore_index inside the palette's range wins over the class colour.
    assert colorize_mask(torch.tensor([[0, 1]]), ignore_index=1)[0, 1].tolist() == [0, 0, 0]


def test_colorize_mask_accepts_bool_and_numpy_masks():
    rgb = colorize_mask(np.array([[True, False]]), [(0, 0, 0), (9, 9, 9)])
    assert rgb.tolist() == [[[9, 9, 9], [0, 0, 0]]]


@pytest.mark.parametrize(
    "mask, palette, match",
    [
        (torch.tensor([[0, 21]]), None, r"outside 0\.\.20 \(the palette has 21 colours\): \[21\]"),
        (torch.tensor([[0, -1]]), None, r"outside 0\.\.20 .*: \[-1\]"),
        (torch.tensor([[3, 0, 7, 3]]), ["red", "blue"], r"outside 0\.\.1 .*: \[3, 7\]"),
        (torch.tensor([[255]]), None, r"\[255\]; pass a palette with more colours, or set ignore_index"),
    ],
)
def test_colorize_mask_rejects_labels_without_a_colour(mask, palette, match):
    with pytest.raises(ValueError, match=match):
        colorize_mask(mask, palette)


@pytest.mark.parametrize(
    "palette, error, match",
    [
        ([(256, 0, 0)], ValueError, r"palette\[0\]: int colours must lie in 0\.\.255"),
        ([(1.5, 0.0, 0.0)], ValueError, r"float colours must lie in \[0, 1\]"),
        ([(1, 2)], ValueError, r"palette\[0\] must be an \(r, g, b\) triple"),
        (["not-a-colour"], ValueError, r"is not a colour matplotlib knows"),
        ([], ValueError, r"non-empty"),
        (torch.zeros(3, 4), ValueError, r"shape \(K, 3\)"),
    ],
)
def test_colorize_mask_rejects_bad_palettes(palette, error, match):
    with pytest.raises(error, match=match):
        colorize_mask(torch.zeros(2, 2, dtype=torch.long), palette)


def test_colorize_mask_rejects_float_masks():
    with pytest.raises(TypeError, match="integer class labels"):
        colorize_mask(torch.zeros(2, 2))


# ---------------------------------------------------------------------------------------------
# overlay
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("alpha", [0.0, 0.3, 0.5, 1.0])
def test_overlay_is_the_alpha_blend(alpha):
    image = torch.rand(3, 5, 6)
    mask = torch.randint(0, 4, (5, 6))
    palette = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)]
    out = overlay(image, mask, alpha=alpha, palette=palette)
    assert out.shape == (5, 6, 3) and out.dtype == torch.float32
    colours = torch.tensor(palette, dtype=torch.float32)[mask] / 255
    expected = (1 - alpha) * image.permute(1, 2, 0) + alpha * colours
    torch.testing.assert_close(out, expected)
    i, j = 2, 3  # one pixel written out
    for ch in range(3):
        blend = (1 - alpha) * image[ch, i, j].item() + alpha * palette[mask[i, j]][ch] / 255
        assert math.isclose(out[i, j, ch].item(), blend, abs_tol=1e-6)


def test_overlay_leaves_ignored_pixels_as_the_image():
    image = torch.rand(3, 4, 4)
    mask = torch.zeros(4, 4, dtype=torch.long)
    mask[1:3, 1:3] = 255
    out = overlay(image, mask, alpha=0.8, ignore_index=255)
    assert torch.equal(out[1:3, 1:3], image.permute(1, 2, 0)[1:3, 1:3])
    background = DEFAULT_PALETTE[0].float() / 255
    torch.testing.assert_close(out[0, 0], 0.2 * image[:, 0, 0] + 0.8 * background)


def test_overlay_accepts_uint8_and_grey_images():
    grey = torch.full((1, 2, 2), 0.5)
    out = overlay(grey, torch.zeros(2, 2, dtype=torch.long), alpha=0.0)
    assert torch.equal(out, torch.full((2, 2, 3), 0.5))
    as_bytes = torch.full((3, 2, 2), 255, dtype=torch.uint8)
    assert torch.equal(overlay(as_bytes, torch.zeros(2, 2, dtype=torch.long), alpha=0.0), torch.ones(2, 2, 3))


LABELS_4x4 = torch.zeros(4, 4, dtype=torch.long)


@pytest.mark.parametrize(
    "image, mask, alpha, error, match",
    [
        (torch.rand(3, 4, 4), LABELS_4x4[:, :3], 0.5, ValueError, r"mask must have shape \(H, W\) = \(4, 4\)"),
        (torch.rand(4, 4, 4), LABELS_4x4, 0.5, ValueError, r"image must have shape \(3, H, W\)"),
        (torch.rand(3, 4, 4) * 3 - 1, LABELS_4x4, 0.5, ValueError, r"undo the normalisation"),
        (torch.rand(3, 4, 4), LABELS_4x4, 1.5, ValueError, r"alpha must be a number in \[0, 1\]"),
        (torch.zeros(3, 4, 4, dtype=torch.long), LABELS_4x4, 0.5, TypeError, r"float tensor"),
    ],
)
def test_overlay_checks_its_arguments(image, mask, alpha, error, match):
    with pytest.raises(error, match=match):
        overlay(image, mask, alpha=alpha)


# ---------------------------------------------------------------------------------------------
# show_predictions
# ---------------------------------------------------------------------------------------------


def batch(n=5, h=6, w=8):
    images = torch.rand(n, 3, h, w)
    targets = torch.zeros(n, h, w, dtype=torch.long)
    targets[:, 1:4, 2:6] = 1
    targets[:, 4:, :2] = 2
    return images, targets


def test_show_predictions_grid_titles_and_pictures():
    images, targets = batch()
    predictions = targets.clone()
    predictions[1, 0, :] = 1  # 8 of 48 pixels wrong in image 1
    fig = show_predictions(images, targets, predictions, class_names=["background", "square", "corner"], max_items=4)
    axes = fig.axes
    assert len(axes) == 4 * 3, "4 rows (max_items) of image, target, prediction"
    titles = [ax.get_title() for ax in axes]
    assert titles[:3] == ["image 0", "target", "prediction: 100% correct"]
    assert titles[3:6] == ["image 1", "target", f"prediction: {40 / 48:.0%} correct"]
    assert titles[9] == "image 3"
    for row in range(4):
        shown = axes[3 * row].images[0].get_array()
        np.testing.assert_allclose(shown, images[row].permute(1, 2, 0).numpy())
        assert np.array_equal(axes[3 * row + 1].images[0].get_array(), colorize_mask(targets[row]).numpy())
        assert np.array_equal(axes[3 * row + 2].images[0].get_array(), colorize_mask(predictions[row]).numpy())
    legend = fig.legends[0]
    assert [t.get_text() for t in legend.get_texts()] == ["background", "square", "corner"]
    for patch, k in zip(legend.get_patches(), range(3)):
        assert np.allclose(patch.get_facecolor()[:3], DEFAULT_PALETTE[k].numpy() / 255)


def test_show_predictions_without_predictions_and_with_logits():
    images, targets = batch(n=2)
    fig = show_predictions(images, targets)
    assert len(fig.axes) == 2 * 2 and [ax.get_title() for ax in fig.axes] == ["image 0", "target", "image 1", "target"]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["class 0", "class 1", "class 2"]

    logits = torch.nn.functional.one_hot(targets, 3).permute(0, 3, 1, 2).float()  # (N, K, H, W)
    logits[0, :, 0, 0] = torch.tensor([0.0, 0.0, 5.0])  # one pixel predicted as class 2
    fig = show_predictions(images, targets, logits)
    assert fig.axes[2].get_title() == f"prediction: {47 / 48:.0%} correct"
    assert np.array_equal(fig.axes[2].images[0].get_array(), colorize_mask(logits[0].argmax(0)).numpy())


def test_show_predictions_does_not_score_ignored_pixels():
    images, targets = batch(n=1)
    targets[0, 0, :] = 255  # 8 pixels without a label
    predictions = targets.clone()
    predictions[0, 0, :] = 2  # any value there
    predictions[0, 5, 0] = 0  # 1 real mistake among 40 labelled pixels
    fig = show_predictions(images, targets, predictions, ignore_index=255)
    assert fig.axes[2].get_title() == f"prediction: {39 / 40:.0%} correct"
    assert fig.axes[1].images[0].get_array()[0, 0].tolist() == [0, 0, 0]
    assert [t.get_text() for t in fig.legends[0].get_texts()][-1] == "ignored (255)"


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(targets=torch.zeros(2, 6, 7, dtype=torch.long)), ValueError, r"targets must have shape \(N, H, W\)"),
        (dict(predictions=torch.zeros(2, 5, 8, dtype=torch.long)), ValueError, r"predictions must have shape"),
        (dict(images=torch.rand(3, 6, 8)), ValueError, r"images must have shape \(N, 3, H, W\)"),
        (dict(max_items=0), ValueError, r"max_items must be a positive int"),
        (dict(targets=torch.full((2, 6, 8), 30)), ValueError, r"outside 0\.\.20"),
    ],
)
def test_show_predictions_checks_its_arguments(kwargs, error, match):
    images, targets = batch(n=2)
    args = dict(images=images, targets=targets, predictions=None) | kwargs
    with pytest.raises(error, match=match):
        show_predictions(args.pop("images"), args.pop("targets"), args.pop("predictions"), **args)


# ---------------------------------------------------------------------------------------------
# plot_history
# ---------------------------------------------------------------------------------------------

HISTORY = {
    "train_loss": [1.0, 0.7, 0.5, 0.45],
    "val_loss": [1.1, 0.8, 0.75, 0.9],
    "val_miou": [0.2, 0.5, 0.6, 0.55],
    "lr": [0.1, 0.1, 0.01, 0.01],
}


def curves(ax) -> dict[str, tuple[list, list]]:
    """Labelled lines of an axes: {label: (x, y)} (the best-epoch stars are unlabelled)."""
    lines = [line for line in ax.get_lines() if not line.get_label().startswith("_")]
    return {line.get_label(): (list(line.get_xdata()), list(line.get_ydata())) for line in lines}


def test_plot_history_groups_losses_metrics_and_learning_rate():
    fig = plot_history(HISTORY)
    assert [ax.get_title() for ax in fig.axes] == ["loss", "metrics", "learning rate"]
    loss, metrics, lr = fig.axes
    epochs = [1, 2, 3, 4]
    assert curves(loss) == {"train_loss": (epochs, HISTORY["train_loss"]), "val_loss": (epochs, HISTORY["val_loss"])}
    assert curves(metrics) == {"val_miou": ([1, 2, 3, 4], HISTORY["val_miou"])}
    assert lr.get_yscale() == "log" and all(ax.get_xlabel() == "epoch" for ax in fig.axes)
    # The best validation epoch is starred: the lowest loss (epoch 3), the highest mIoU (epoch 3).
    stars = {
        ax.get_title(): [(list(ln.get_xdata()), list(ln.get_ydata())) for ln in ax.get_lines() if ln.get_marker() == "*"]
        for ax in fig.axes
    }
    assert stars == {"loss": [([3], [0.75])], "metrics": [([3], [0.6])], "learning rate": []}


def test_plot_history_accepts_as_dict_and_a_list_of_epochs():
    class History:
        def as_dict(self):
            return {"train_loss": [2.0, 1.0], "val_pixel_accuracy": [0.5, 0.9]}

    fig = plot_history(History())
    assert [ax.get_title() for ax in fig.axes] == ["loss", "metrics"]
    assert curves(fig.axes[1]) == {"val_pixel_accuracy": ([1, 2], [0.5, 0.9])}

    epochs = [{"train_loss": 1.0, "val_miou": 0.1}, {"train_loss": 0.5}, {"train_loss": 0.25, "val_miou": 0.4}]
    fig = plot_history(epochs)
    x, y = curves(fig.axes[1])["val_miou"]
    assert x == [1, 2, 3] and y[0] == 0.1 and math.isnan(y[1]) and y[2] == 0.4

    fig = plot_history({"train_loss": torch.tensor([0.5, 0.25])})  # tensors are fine
    assert len(fig.axes) == 1 and curves(fig.axes[0])["train_loss"][1] == [0.5, 0.25]


@pytest.mark.parametrize(
    "history, match",
    [
        ({}, "non-empty dict"),
        ([1, 2], "non-empty dict"),
        ({"train_loss": ["a"]}, r"history\['train_loss'\] must be a sequence of numbers"),
    ],
)
def test_plot_history_rejects_what_is_not_a_history(history, match):
    with pytest.raises(TypeError, match=match):
        plot_history(history)


# ---------------------------------------------------------------------------------------------
# plot_confusion_matrix
# ---------------------------------------------------------------------------------------------

CM = torch.tensor([[8, 2, 0], [1, 9, 0], [0, 0, 0]])


def texts(fig) -> list[str]:
    return [t.get_text() for t in fig.axes[0].texts]


def test_confusion_matrix_normalised_by_true_class():
    fig = plot_confusion_matrix(CM, class_names=["bg", "cat", "dog"])
    assert len(fig.axes) == 2, "the matrix and its colour bar"
    # Rows 8/10, 2/10, 0 and 1/10, 9/10, 0; the dog row has no pixels.
    assert texts(fig) == ["0.80", "0.20", "0.00", "0.10", "0.90", "0.00", "–", "–", "–"]
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["bg", "cat", "dog"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["bg", "cat", "dog"]
    assert ax.get_xlabel() == "predicted class" and ax.get_ylabel() == "true class"
    assert "recall" in ax.get_title()
    shown = ax.images[0].get_array()
    np.testing.assert_allclose(shown[:2], [[0.8, 0.2, 0.0], [0.1, 0.9, 0.0]])


def test_confusion_matrix_counts_and_other_normalisations():
    assert texts(plot_confusion_matrix(CM, normalize=None)) == ["8", "2", "0", "1", "9", "0", "0", "0", "0"]
    # Columns 8/9, 1/9 and 2/11, 9/11; the last column is empty.
    by_column = ["0.89", "0.18", "–", "0.11", "0.82", "–", "0.00", "0.00", "–"]
    assert texts(plot_confusion_matrix(CM, normalize="pred")) == by_column
    assert texts(plot_confusion_matrix(CM, normalize="all"))[:2] == ["0.40", "0.10"]
    big = torch.tensor([[123456, 42], [2_500_000, 7]])
    assert texts(plot_confusion_matrix(big, normalize=None)) == ["123k", "42", "2.5M", "7"]
    default_names = plot_confusion_matrix(CM).axes[0].get_xticklabels()
    assert [t.get_text() for t in default_names] == ["0", "1", "2"]


@pytest.mark.parametrize(
    "cm, kwargs, match",
    [
        (torch.zeros(2, 3), {}, r"square \(K, K\) matrix"),
        (torch.tensor([[1, -1], [0, 1]]), {}, "non-negative"),
        (CM, dict(class_names=["a", "b"]), r"one name per class \(3\), got 2"),
        (CM, dict(normalize="rows"), r'normalize must be "true", "pred", "all" or None'),
    ],
)
def test_confusion_matrix_checks_its_arguments(cm, kwargs, match):
    with pytest.raises(ValueError, match=match):
        plot_confusion_matrix(cm, **kwargs)


def test_plot_history_accepts_the_history_that_fit_returns():
    """fit's History carries bookkeeping (stop_reason, device, per-step losses) besides the curves."""
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from seglib.engine import fit

    data = TensorDataset(torch.randn(8, 3, 8, 8), torch.randint(0, 2, (8, 8, 8)))
    history = fit(torch.nn.Conv2d(3, 2, 1), DataLoader(data, batch_size=4), epochs=2, val_loader=DataLoader(data, batch_size=4), progress=False)
    fig = plot_history(history)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["loss", "metrics", "learning rate"], titles
    assert len(fig.axes[0].lines[0].get_xdata()) == 2  # one point per epoch
    plt.close(fig)
