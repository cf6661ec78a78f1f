"""seglib.models: one shape/gradient/determinism contract over every model, then each model's own idea
checked against an independent computation (the sliding window, max unpooling, torchvision's DeepLabV3)."""

import math

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from seglib import models
from seglib.models import (
    ASPP,
    FCN,
    ASPPConv,
    ASPPPooling,
    DeepLabV3,
    DeepLabV3Plus,
    PatchClassifier,
    PSPNet,
    PyramidPooling,
    SegNet,
    SlidingWindowSegmenter,
    UNet,
    center_crop,
    fully_convolutional,
)

IN_CHANNELS, NUM_CLASSES = 2, 3  # not the defaults, so a model that ignores them fails
ODD = (37, 45)  # odd and non-square


def _sliding_window(c, k):
    return SlidingWindowSegmenter(PatchClassifier(c, k, 8, channels=(4,), hidden_features=8))


def _tiny_vgg(model, variant=None):
    extra = {"variant": variant, "head_channels": 8, "fc_kernel": 3} if variant else {}
    return lambda c, k: model(c, k, base_channels=4, convs_per_stage=(1, 1, 1, 1, 1), **extra)


# name -> (factory(in_channels, num_classes), input (H, W), expected output (H, W)). A valid-padding
# U-Net takes no odd size (see test_unet_valid_rejects_sizes_a_pooling_cannot_halve): it gets a
# valid non-square tile, and its output is the documented smaller size (depth 2: 4·b - 12 for
# an input 4·b + 28).
CASES = {
    "sliding_window": (_sliding_window, ODD, ODD),
    "sliding_window_fully_convolutional": (lambda c, k: _sliding_window(c, k).to_fully_convolutional(), ODD, ODD),
    "fcn32s": (_tiny_vgg(FCN, "32s"), ODD, ODD),
    "fcn16s": (_tiny_vgg(FCN, "16s"), ODD, ODD),
    "fcn8s": (_tiny_vgg(FCN, "8s"), ODD, ODD),
    "segnet": (_tiny_vgg(SegNet), ODD, ODD),
    **{
        f"unet_same_{mode}": (lambda c, k, mode=mode: UNet(c, k, base_channels=4, depth=3, upsampling=mode), ODD, ODD)
        for mode in ("transpose", "bilinear", "pixel_shuffle")
    },
    **{
        f"unet_valid_{mode}": (
            lambda c, k, mode=mode: UNet(c, k, base_channels=4, depth=2, padding="valid", upsampling=mode),
            (44, 60),
            (4, 20),
        )
        for mode in ("transpose", "bilinear", "pixel_shuffle")
    },
    "deeplabv3": (lambda c, k: DeepLabV3(c, k, base_channels=4), ODD, ODD),
    "deeplabv3plus": (lambda c, k: DeepLabV3Plus(c, k, base_channels=4), ODD, ODD),
    "pspnet": (lambda c, k: PSPNet(c, k, base_channels=4), ODD, ODD),
}


@pytest.mark.parametrize("name", CASES)
def test_model_contract(name):
    """Every model: logits (N, num_classes, H, W) for odd sizes, gradients to every parameter,
    deterministic in eval mode, and a clear error for a wrong channel count or a 3-D input."""
    factory, size, out_size = CASES[name]
    model = factory(IN_CHANNELS, NUM_CLASSES)
    x = torch.randn(2, IN_CHANNELS, *size)

    y = model(x)
    assert y.shape == (2, NUM_CLASSES, *out_size), f"{name}: got {tuple(y.shape)}"
    y.sum().backward()
    params = dict(model.named_parameters())
    assert params, f"{name} has no parameters"
    for pname, p in params.items():
        assert p.grad is not None, f"{name}: no gradient reaches {pname}"
        assert torch.isfinite(p.grad).all(), f"{name}: non-finite gradient in {pname}"
        assert p.grad.abs().sum() > 0, f"{name}: zero gradient in {pname}"

    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), model(x)), f"{name} is not deterministic in eval mode"
        with pytest.raises(ValueError, match=rf"\(N, {IN_CHANNELS}, H, W\)"):
            model(torch.randn(2, IN_CHANNELS + 1, *size))
        with pytest.raises(ValueError, match=rf"\(N, {IN_CHANNELS}, H, W\)"):
            model(torch.randn(IN_CHANNELS, *size))


# --------------------------------------------------------------------------- sliding window


@pytest.mark.parametrize("padding_mode", ["zeros", "reflect", "replicate"])
@pytest.mark.parametrize("patch_size, channels", [(15, (4, 8)), (16, (4, 8)), (9, (6,)), (5, ())])
def test_fully_convolutional_equals_sliding_window_at_every_pixel(patch_size, channels, padding_mode):
    """One convolutional pass gives the sliding window's scores at every pixel (odd/even patches,
    poolings that drop the last row of a patch, every padding mode), to 1e-5 in float32."""
    classifier = PatchClassifier(3, 4, patch_size, channels=channels, hidden_features=16)
    sliding = SlidingWindowSegmenter(classifier, padding_mode=padding_mode, chunk_size=300)
    x = torch.randn(2, 3, 19, 26)
    with torch.no_grad():
        slow = sliding(x)
        fast = sliding.to_fully_convolutional()(x)
    assert slow.shape == fast.shape == (2, 4, 19, 26)
    torch.testing.assert_close(fast, slow, atol=1e-5, rtol=0)


@pytest.mark.parametrize("patch_size, before, after", [(7, 3, 3), (8, 4, 3)])
def test_sliding_window_scores_the_patch_centred_on_each_pixel(patch_size, before, after):
    """The sliding window at pixel (i, j) is the classifier on the zero-padded patch centred there
    (for an even patch, the pixel is the lower-right of the four central ones)."""
    classifier = PatchClassifier(1, 3, patch_size, channels=(4,))
    x = torch.randn(1, 1, 6, 9)
    padded = F.pad(x, (before, after, before, after))
    with torch.no_grad():
        scores = SlidingWindowSegmenter(classifier)(x)
        for i, j in [(0, 0), (2, 5), (5, 8)]:
            window = padded[:, :, i : i + patch_size, j : j + patch_size]
            assert window[0, 0, before, before] == x[0, 0, i, j]
            torch.testing.assert_close(scores[0, :, i, j], classifier(window)[0])


def test_fully_convolutional_general_classifier_in_eval_mode():
    """A strided convolution, BatchNorm, dropout and a pooling with dilation convert too (eval mode)."""
    classifier = nn.Sequential(
        nn.Conv2d(2, 4, 3, stride=2),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Sequential(nn.MaxPool2d(2, stride=1, dilation=2), nn.Conv2d(4, 5, 2)),
        nn.Flatten(),
        nn.Linear(5 * 4 * 4, 8),  # 15 -> 7 (conv, stride 2) -> 5 (pool) -> 4 (conv)
        nn.Dropout(0.3),
        nn.Tanh(),
        nn.Linear(8, 3),
    )
    classifier[1].running_mean.uniform_(-1, 1)
    classifier[1].running_var.uniform_(0.5, 2)
    classifier.eval()
    sliding = SlidingWindowSegmenter(classifier, patch_size=15)
    x = torch.randn(1, 2, 11, 17)
    with torch.no_grad():
        torch.testing.assert_close(sliding.to_fully_convolutional()(x), sliding(x), atol=1e-5, rtol=0)


def test_fully_convolutional_without_dense_keeps_the_stride():
    """dense=False: output (i, j) is the window at (i·s, j·s), s the classifier's total stride."""
    classifier = PatchClassifier(3, 4, 16, channels=(4, 8))
    net = fully_convolutional(classifier, dense=False)
    assert net.output_stride == 4
    x = torch.randn(1, 3, 28, 37)
    with torch.no_grad():
        scores = net(x)
        assert scores.shape[-2:] == ((28 - 16) // 4 + 1, (37 - 16) // 4 + 1)
        for i in range(scores.shape[2]):
            for j in range(scores.shape[3]):
                window = x[:, :, 4 * i : 4 * i + 16, 4 * j : 4 * j + 16]
                torch.testing.assert_close(scores[0, :, i, j], classifier(window)[0], atol=1e-5, rtol=0)


def test_fully_convolutional_turns_linear_layers_into_convolutions():
    """The first Linear becomes a conv with the feature map's size as kernel, the next a 1×1 conv."""
    net = fully_convolutional(PatchClassifier(3, 4, 16, channels=(4, 8), hidden_features=16))
    convs = [m for m in net if isinstance(m, nn.Conv2d)]
    assert not any(isinstance(m, (nn.Linear, nn.Flatten)) for m in net)
    assert convs[-2].kernel_size == (2, 2) and convs[-2].dilation == (4, 4) and convs[-2].out_channels == 16
    assert convs[-1].kernel_size == (1, 1) and convs[-1].out_channels == 4


def test_fully_convolutional_rejects_what_it_cannot_convert():
    with pytest.raises(ValueError, match="padding=0"):
        padded = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.Flatten(), nn.Linear(2 * 8 * 8, 2))
        fully_convolutional(padded, patch_size=8)
    with pytest.raises(TypeError, match="cannot be converted"):
        fully_convolutional(nn.Sequential(nn.AvgPool2d(2), nn.Flatten(), nn.Linear(16, 2)), patch_size=8)
    with pytest.raises(ValueError, match="in_features"):
        fully_convolutional(nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(10, 2)), patch_size=8)
    with pytest.raises(TypeError, match="patch_size"):
        fully_convolutional(nn.Sequential(nn.Flatten(), nn.Linear(4, 2)))


# --------------------------------------------------------------------------- FCN, SegNet


def test_fcn_upsampling_starts_as_bilinear_interpolation():
    """FCN's transposed convolutions start as bilinear interpolation (away from the border)."""
    up = models._bilinear_transpose(2, 4)
    x = torch.randn(1, 2, 6, 7)
    with torch.no_grad():
        y = up(x)
    expected = F.interpolate(x, scale_factor=4, mode="bilinear", align_corners=False)
    assert y.shape == expected.shape == (1, 2, 24, 28)
    torch.testing.assert_close(y[..., 2:-2, 2:-2], expected[..., 2:-2, 2:-2])


def test_fcn_variants_use_the_documented_skips():
    model = FCN(3, 5, variant="8s", base_channels=4, convs_per_stage=(1, 1, 1, 1, 1))
    assert [s.in_channels for s in model.skips] == [32, 16]  # pool4, pool3
    assert [u.stride for u in model.upsample] == [(2, 2), (2, 2), (8, 8)]
    assert [u.stride for u in FCN(3, 5, variant="32s").upsample] == [(32, 32)]


def test_segnet_unpools_at_the_encoder_argmax_positions():
    """Each decoder unpooling puts its input exactly where the matching encoder pooling found its maxima."""
    model = SegNet(2, 3, base_channels=4, convs_per_stage=(1, 2, 1))
    pooled, unpooled = {}, {}
    for i in range(3):
        model.pool[i].register_forward_hook(lambda m, args, out, i=i: pooled.__setitem__(i, (args[0], *out)))
        model.unpool[i].register_forward_hook(lambda m, args, out, i=i: unpooled.__setitem__(i, (*args, out)))
    with torch.no_grad():
        model(torch.randn(2, 2, 37, 45))
    for i in range(3):
        before, values, indices = pooled[i]
        unpool_input, unpool_indices, out = unpooled[i]
        assert torch.equal(unpool_indices, indices), f"unpool {i} does not use pool {i}'s indices"
        assert out.shape == before.shape  # odd sizes restored
        # The indices are the argmax positions of the pooling (independent of the model's code):
        _, argmax = F.max_pool2d(before, 2, return_indices=True)
        assert torch.equal(indices, argmax)
        at_argmax = torch.zeros_like(out, dtype=torch.bool).flatten(2).scatter_(2, argmax.flatten(2), True).view_as(out)
        assert (out[~at_argmax] == 0).all(), f"unpool {i} writes outside the argmax positions"
        torch.testing.assert_close(out.flatten(2).gather(2, argmax.flatten(2)), unpool_input.flatten(2), rtol=0, atol=0)
        # Nonzero exactly at the argmax positions whose unpooled value is nonzero (ReLU makes some zero).
        expected = torch.zeros_like(at_argmax).flatten(2).scatter_(2, argmax.flatten(2), unpool_input.flatten(2) != 0)
        assert torch.equal(out != 0, expected.view_as(out)) and (out != 0).any()


def test_segnet_needs_room_for_every_pooling():
    with pytest.raises(ValueError, match="H and W >= 8"):
        SegNet(1, 2, base_channels=2, convs_per_stage=(1, 1, 1))(torch.randn(1, 1, 7, 20))


# --------------------------------------------------------------------------- U-Net


def test_unet_original_configuration():
    """The paper's U-Net: 31,030,658 parameters (biases, 2×2 up-convolutions, a 1×1 conv to 2 classes), 572 -> 388."""
    with torch.device("meta"):  # shapes only: no memory, no compute
        model = UNet(1, 2, base_channels=64, depth=4, padding="valid", upsampling="transpose")
        assert model(torch.zeros(1, 1, 572, 572)).shape == (1, 2, 388, 388)
    count = sum(p.numel() for p in model.parameters())
    assert count == 31_030_658
    assert abs(count - 31.0e6) <= 0.1e6
    assert model.output_size(572) == 388 and model.input_size_for_output(388) == 572


def test_unet_original_configuration_runs_on_the_smallest_tile():
    """A real forward of the full-size U-Net on its smallest valid tile, 188 -> 4."""
    model = UNet(1, 2, padding="valid").eval()
    assert model.valid_input_size(1) == 188
    with torch.no_grad():
        y = model(torch.randn(1, 1, 188, 188))
    assert y.shape == (1, 2, 4, 4) and torch.isfinite(y).all()


@pytest.mark.parametrize("depth, size", [(1, (20, 26)), (2, (44, 52)), (2, (60, 48)), (3, (92, 108)), (3, (100, 92))])
@pytest.mark.parametrize("upsampling", ["transpose", "pixel_shuffle"])
def test_unet_output_size_matches_the_forward(depth, size, upsampling):
    model = UNet(1, 2, base_channels=2, depth=depth, padding="valid", upsampling=upsampling)
    with torch.no_grad():
        y = model(torch.randn(1, 1, *size))
    assert tuple(y.shape[-2:]) == model.output_size(size)
    # By hand: side = 2^d·b + 4·(2^(d+1) - 1) in, 2^d·b - 4·(2^d - 1) out.
    for side, out in zip(size, y.shape[-2:]):
        bottom = (side - 4 * (2 ** (depth + 1) - 1)) / 2**depth
        assert out == 2**depth * bottom - 4 * (2**depth - 1)


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_unet_valid_input_size_is_the_smallest_valid_tile(depth):
    model = UNet(1, 2, base_channels=1, depth=depth, padding="valid")

    def ok(side):
        try:
            model.output_size(side)
            return True
        except ValueError:
            return False

    for side in range(1, 140):
        chosen = model.valid_input_size(side)
        assert chosen >= side and ok(chosen)
        assert not any(ok(t) for t in range(side, chosen)), f"a smaller valid tile than {chosen} exists for {side}"
        needed = model.input_size_for_output(side)
        assert ok(needed) and model.output_size(needed) >= side
        smaller = needed - 2**depth  # the next valid tile down, if there is one
        assert not ok(smaller) or model.output_size(smaller) < side


def test_unet_valid_rejects_sizes_a_pooling_cannot_halve():
    model = UNet(1, 2, base_channels=2, depth=2, padding="valid")
    with pytest.raises(ValueError, match="even"):
        model(torch.randn(1, 1, *ODD))
    with pytest.raises(ValueError, match="nearest valid sides: 44 or 48"):
        model.output_size(46)
    with pytest.raises(ValueError, match=">= 44"):
        model.output_size(40)


def test_unet_same_padding_crops_back_odd_sizes():
    model = UNet(1, 2, base_channels=2, depth=3)
    assert model.output_size((37, 45)) == (37, 45)
    assert model(torch.randn(1, 1, 5, 3)).shape == (1, 2, 5, 3)


def test_unet_pixel_shuffle_with_icnr_starts_constant_on_2x2_blocks():
    """ICNR: at initialisation each pixel-shuffle upsampling gives 2×2 blocks of equal values."""
    model = UNet(1, 2, base_channels=4, depth=2, upsampling="pixel_shuffle")
    for up in model.decoder:
        channels = up.upsample[0].in_channels
        with torch.no_grad():
            y = up.upsample(torch.randn(2, channels, 5, 6))
        assert y.shape == (2, channels // 2, 10, 12)
        blocks = y[..., ::2, ::2].repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)
        torch.testing.assert_close(y, blocks)
        assert y.std() > 0


def test_unet_skips_are_centre_cropped():
    x = torch.arange(2 * 7 * 8.0).reshape(1, 2, 7, 8)
    assert torch.equal(center_crop(x, (3, 4)), x[:, :, 2:5, 2:6])
    with pytest.raises(ValueError, match="cannot crop"):
        center_crop(x, (8, 8))


def test_unet_valid_concatenates_the_centre_of_each_skip():
    """Valid padding: each expanding step concatenates the centre crop of the same level's features."""
    model = UNet(1, 2, base_channels=2, depth=2, padding="valid").eval()
    skips, concatenated = [], []
    for block in model.encoder:
        block.register_forward_hook(lambda m, args, out: skips.append(out))
    for up in model.decoder:
        up.conv.register_forward_hook(lambda m, args, out: concatenated.append(args[0]))
    with torch.no_grad():
        model(torch.randn(1, 1, 60, 52))
    for skip, joined in zip(reversed(skips), concatenated):
        (big_h, big_w), (h, w) = skip.shape[-2:], joined.shape[-2:]
        assert (big_h - h) % 2 == 0 and big_h > h
        top, left = (big_h - h) // 2, (big_w - w) // 2
        assert torch.equal(joined[:, : skip.shape[1]], skip[:, :, top : top + h, left : left + w])


def test_unet_widths_follow_the_paper():
    with torch.device("meta"):
        model = UNet(3, 4, base_channels=64, depth=4)
    assert [block[0].out_channels for block in model.encoder] == [64, 128, 256, 512]
    assert model.bottleneck[0].out_channels == 1024
    assert "padding='same'" in repr(model) and "depth=4" in repr(model)


# --------------------------------------------------------------------------- ASPP, DeepLab, PSPNet


def test_aspp_branches():
    """Each branch gives (N, out_channels, h, w); the rate-r branch is a 3×3 conv with dilation r."""
    rates = (1, 3, 5)
    aspp = ASPP(8, out_channels=6, atrous_rates=rates).eval()
    x = torch.randn(2, 8, 9, 11)
    assert len(aspp.convs) == len(rates) + 2
    assert isinstance(aspp.convs[-1], ASPPPooling)
    for branch, rate in zip(aspp.convs[1:-1], rates):
        assert isinstance(branch, ASPPConv)
        conv = branch[0]
        assert conv.kernel_size == (3, 3) and conv.dilation == (rate, rate) and conv.padding == (rate, rate)
    with torch.no_grad():
        for branch in aspp.convs:
            assert branch(x).shape == (2, 6, 9, 11)
        pooled = aspp.convs[-1](x)
        assert torch.allclose(pooled, pooled[..., :1, :1].expand_as(pooled))  # image pooling: constant map
        assert aspp(x).shape == (2, 6, 9, 11)


def test_deeplabv3_resnet50_matches_torchvision():
    """Same parameter count as torchvision's deeplabv3_resnet50 (no aux head), its state dict loads, same logits."""
    ours = DeepLabV3(3, 21, backbone="resnet50", output_stride=8).eval()
    theirs = torchvision.models.segmentation.deeplabv3_resnet50(
        weights=None, weights_backbone=None, num_classes=21, aux_loss=False
    ).eval()
    count = sum(p.numel() for p in ours.parameters())
    assert count == sum(p.numel() for p in theirs.parameters()) == 39_638_869
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(1, 3, 65, 73)
    with torch.no_grad():
        got, expected = ours(x), theirs(x)["out"]
    assert got.shape == expected.shape == (1, 21, 65, 73)
    torch.testing.assert_close(got, expected)


@pytest.mark.parametrize("model_class", [DeepLabV3, DeepLabV3Plus, PSPNet])
@pytest.mark.parametrize("backbone", ["small", "resnet18"])
def test_output_stride_gives_the_documented_feature_sizes(model_class, backbone):
    """Features at ⌈H/os⌉×⌈W/os⌉ (os 16: 5×5, os 8: 9×10 for 65×73), low-level features at 1/4."""
    # ResNets on the meta device: PyTorch's shape rules without the compute (the sizes are the point).
    device = torch.device("meta" if backbone.startswith("resnet") else "cpu")
    for output_stride, expected in [(16, (5, 5)), (8, (9, 10))]:
        with device:
            model = model_class(3, 2, backbone=backbone, output_stride=output_stride, base_channels=4).eval()
            with torch.no_grad():
                low, features = model.backbone(torch.randn(1, 3, 65, 73))
                assert model(torch.randn(1, 3, 65, 73)).shape == (1, 2, 65, 73)
        assert tuple(features.shape[-2:]) == model.feature_size((65, 73)) == expected
        assert tuple(low.shape[-2:]) == (17, 19)
        assert features.shape[1] == model.backbone.out_channels


def test_deeplabv3plus_resnet_decoder_widths_follow_the_paper():
    """ASPP 256 channels, low-level features reduced to 48, decoder on 256 + 48 (Chen et al. 2018)."""
    with torch.device("meta"):
        model = DeepLabV3Plus(3, 21, backbone="resnet50")
    assert model.aspp.out_channels == 256 and model.backbone.low_channels == 256
    assert model.project[0].out_channels == 48 and model.decoder[0].in_channels == 256 + 48
    assert model.atrous_rates == (6, 12, 18) and model.output_stride == 16


def test_resnet18_dilation_follows_torchvision_rule():
    with torch.device("meta"):
        backbone = DeepLabV3(3, 2, backbone="resnet18", output_stride=8).backbone
    assert backbone.layer3[0].conv1.stride == (1, 1) and backbone.layer3[0].downsample[0].stride == (1, 1)
    assert backbone.layer3[0].conv1.dilation == (1, 1) and backbone.layer3[1].conv1.dilation == (2, 2)
    assert backbone.layer4[0].conv2.dilation == (2, 2) and backbone.layer4[1].conv2.dilation == (4, 4)


def test_default_atrous_rates_double_at_output_stride_8():
    assert DeepLabV3(3, 2, output_stride=16).atrous_rates == (6, 12, 18)
    assert DeepLabV3Plus(3, 2, output_stride=8).atrous_rates == (12, 24, 36)


def test_weights_are_downloaded_only_when_asked(monkeypatch):
    """No download by default; pretrained_backbone=True asks torchvision for the ImageNet weights."""
    asked = []

    def fake_get_state_dict(self, *args, **kwargs):
        asked.append(self.url)
        raise RuntimeError("no network in tests")

    monkeypatch.setattr(torchvision.models.WeightsEnum, "get_state_dict", fake_get_state_dict)
    with torch.device("meta"):  # no memory or initialisation cost; only which weights are asked for matters
        DeepLabV3(3, 2, backbone="resnet18")
        assert asked == []
        with pytest.raises(RuntimeError, match="no network"):
            DeepLabV3(3, 2, backbone="resnet18", pretrained_backbone=True)
    assert len(asked) == 1 and "resnet18" in asked[0]


def test_pyramid_pooling_concatenates_four_bins():
    ppm = PyramidPooling(8).eval()
    x = torch.randn(2, 8, 7, 9)
    with torch.no_grad():
        y = ppm(x)
    assert ppm.bins == (1, 2, 3, 6) and ppm.out_channels == 16 and y.shape == (2, 16, 7, 9)
    assert torch.equal(y[:, :8], x)  # the input itself, then the pooled context
    whole_image = y[:, 8:10]  # bin 1: one value per map
    assert torch.allclose(whole_image, whole_image[..., :1, :1].expand_as(whole_image))
    for k, bins in enumerate((1, 2, 3, 6)):  # branch k: pool to bins×bins, 1×1 conv (+BN, ReLU), resize back
        conv_bn_relu = ppm.stages[k][1:]
        with torch.no_grad():
            expected = F.interpolate(conv_bn_relu(F.adaptive_avg_pool2d(x, bins)), size=(7, 9), mode="bilinear")
        torch.testing.assert_close(y[:, 8 + 2 * k : 10 + 2 * k], expected)


# --------------------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: UNet(1, 2, padding="full"), ValueError, "padding must be one of 'same', 'valid'"),
        (lambda: UNet(1, 2, upsampling="nearest"), ValueError, "upsampling must be one of"),
        (lambda: UNet(1, 2, depth=0), ValueError, "depth must be an int >= 1"),
        (lambda: UNet(0, 2), ValueError, "in_channels must be an int >= 1"),
        (lambda: UNet(1, "2"), TypeError, "num_classes must be an int"),
        (lambda: FCN(3, 2, variant="4s"), ValueError, "variant must be one of"),
        (lambda: FCN(3, 2, variant="8s", convs_per_stage=(1, 1)), ValueError, "at least 3 stages"),
        (lambda: FCN(3, 2, fc_kernel=4), ValueError, "odd"),
        (lambda: DeepLabV3(3, 2, output_stride=4), ValueError, "output_stride must be one of 8, 16, 32"),
        (lambda: DeepLabV3(3, 2, backbone="vgg16"), ValueError, "backbone must be one of"),
        (lambda: DeepLabV3(3, 2, pretrained_backbone=True), ValueError, "needs a ResNet backbone"),
        (lambda: DeepLabV3(1, 2, backbone="resnet18", pretrained_backbone=True), ValueError, "in_channels=3"),
        (lambda: PatchClassifier(3, 2, 6, channels=(4, 4)), ValueError, "patch_size 6 is too small"),
        (lambda: SlidingWindowSegmenter(nn.Linear(2, 2)), TypeError, "patch_size is needed"),
        (
            lambda: SlidingWindowSegmenter(PatchClassifier(1, 2, 5, channels=()), padding_mode="circular"),
            ValueError,
            "padding_mode must be one of 'zeros', 'reflect', 'replicate'",
        ),
        (lambda: PatchClassifier(1, 2, 8, channels=(4,))(torch.randn(1, 1, 9, 8)), ValueError, r"\(B, 1, 8, 8\)"),
        (lambda: DeepLabV3(3, 2)([1, 2, 3]), TypeError, r"torch.Tensor of shape \(N, 3, H, W\)"),
        (lambda: DeepLabV3(3, 2)(torch.zeros(1, 3, 8, 8, dtype=torch.long)), TypeError, "floating-point"),
        (lambda: ASPP(4)(torch.randn(1, 5, 6, 6)), ValueError, r"\(N, 4, H, W\)"),
        (lambda: PyramidPooling(3), ValueError, "branch_channels"),
        (
            lambda: SlidingWindowSegmenter(PatchClassifier(1, 2, 9, channels=(2,)), padding_mode="reflect")(
                torch.randn(1, 1, 3, 8)
            ),
            ValueError,
            "reflect padding",
        ),
    ],
)
def test_bad_arguments_raise_with_a_clear_message(call, error, message):
    with pytest.raises(error, match=message):
        call()

