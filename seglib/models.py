"""Segmentation models, from the slow sliding window to DeepLabv3+.

Taught in chapter 3 (Sliding window: `PatchClassifier`, `SlidingWindowSegmenter`,
`fully_convolutional`, `FullyConvolutionalSegmenter`), chapter 4 (Fully convolutional
networks: `FCN`), chapter 6 (U-Net and encoder-decoders: `SegNet`, `UNet`, `DoubleConv`,
`center_crop`) and chapter 7 (Atrous convolution and ASPP: `ASPPConv`, `ASPPPooling`, `ASPP`,
`DeepLabV3`, `DeepLabV3Plus`, `PyramidPooling`, `PSPNet`).

Every model takes `in_channels` and `num_classes` and returns plain logits
`(N, num_classes, H, W)` at the input resolution; the one exception is a U-Net with
`padding="valid"`, whose output is smaller (`UNet.output_size`). Defaults are CPU-sized, so
that a model trains in seconds on small images; the papers' configurations are reached by
arguments (each docstring says which). Models with batch normalisation after a global
pooling (`ASPPPooling`, `PyramidPooling`) need more than one image per batch in training
mode, as in torchvision.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seglib._checks import check_images, check_int, check_ints
from seglib.ops import conv_output_size, icnr_

__all__ = [
    "PatchClassifier",
    "SlidingWindowSegmenter",
    "fully_convolutional",
    "FullyConvolutionalSegmenter",
    "FCN",
    "SegNet",
    "DoubleConv",
    "center_crop",
    "UNet",
    "ASPPConv",
    "ASPPPooling",
    "ASPP",
    "DeepLabHead",
    "DeepLabV3",
    "DeepLabV3Plus",
    "PyramidPooling",
    "PSPNet",
]


# --------------------------------------------------------------------------- argument checks


def _check_choice(value: object, name: str, choices: Sequence[object]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")


def _size_pair(size: object, name: str) -> tuple[int, int]:
    if isinstance(size, int) and not isinstance(size, bool):
        size = (size, size)
    if not isinstance(size, (tuple, list, torch.Size)) or len(size) != 2:
        raise TypeError(f"{name} must be an int or a pair (H, W), got {size!r}")
    return check_int(size[0], name), check_int(size[1], name)


def _check_batch_norm_batch(module: nn.Module, n: int, what: str) -> None:
    """BatchNorm after a global pooling sees one value per channel and image: training needs N >= 2."""
    if module.training and n < 2:
        raise ValueError(
            f"{what} normalises a 1×1 map with BatchNorm, which in training mode needs a batch of N >= 2 "
            f"images, got N = {n}; use a larger batch, or call .eval() for inference"
        )


def _pad_to_multiple(x: Tensor, multiple: int) -> Tensor:
    """Zero-pad the bottom and right of `x` so that H and W are multiples of `multiple`."""
    h, w = x.shape[-2:]
    pad_h, pad_w = -h % multiple, -w % multiple
    return F.pad(x, (0, pad_w, 0, pad_h)) if pad_h or pad_w else x


def _resize(x: Tensor, size: Sequence[int]) -> Tensor:
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)


# --------------------------------------------------------------------------- chapter 3: sliding window


class PatchClassifier(nn.Sequential):
    """A small CNN giving class scores for one square patch: what a sliding window runs.

    Per entry of `channels`: an unpadded 3×3 convolution, ReLU and 2×2 max pooling; then
    `nn.Flatten` and two fully connected layers. The convolutions are unpadded so that the
    scores depend on the pixels inside the patch only, which is what lets
    `fully_convolutional` reproduce them exactly on a whole image.

    Args:
        in_channels: channels of the image.
        num_classes: number of class scores.
        patch_size: side `P` of the square patch.
        channels: output channels of each conv + pool stage; each stage takes a side `s`
            to `(s - 2) // 2`.
        hidden_features: width of the hidden fully connected layer.

    Shape:
        `(B, in_channels, P, P) -> (B, num_classes)`.

    >>> PatchClassifier(3, 5, 16)(torch.randn(2, 3, 16, 16)).shape
    torch.Size([2, 5])
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        patch_size: int,
        *,
        channels: Sequence[int] = (16, 32),
        hidden_features: int = 64,
    ) -> None:
        check_int(in_channels, "in_channels")
        check_int(num_classes, "num_classes")
        check_int(patch_size, "patch_size")
        channels = check_ints(channels, "channels", allow_empty=True)
        check_int(hidden_features, "hidden_features")
        layers: list[nn.Module] = []
        side, previous = patch_size, in_channels
        for out in channels:
            if (side - 2) // 2 < 1:
                raise ValueError(
                    f"patch_size {patch_size} is too small for {len(channels)} conv + pool stages: each stage "
                    f"takes a side s to (s - 2) // 2, which must stay >= 1"
                )
            layers += [nn.Conv2d(previous, out, 3), nn.ReLU(), nn.MaxPool2d(2)]
            side, previous = (side - 2) // 2, out
        layers += [
            nn.Flatten(),
            nn.Linear(previous * side * side, hidden_features),
            nn.ReLU(),
            nn.Linear(hidden_features, num_classes),
        ]
        super().__init__(*layers)
        self.in_channels, self.num_classes, self.patch_size = in_channels, num_classes, patch_size

    def forward(self, x: Tensor) -> Tensor:
        check_images(x, self.in_channels, module=self)
        if tuple(x.shape[2:]) != (self.patch_size, self.patch_size):
            p = self.patch_size
            raise ValueError(f"x must have shape (B, {self.in_channels}, {p}, {p}), got shape {tuple(x.shape)}")
        return super().forward(x)  # (B, num_classes)

    def extra_repr(self) -> str:
        return f"in_channels={self.in_channels}, num_classes={self.num_classes}, patch_size={self.patch_size}"


_PADDING_MODES = ("zeros", "reflect", "replicate")


def _pad_for_windows(x: Tensor, patch_size: int, padding_mode: str) -> Tensor:
    """Pad so that `padded[..., i:i+P, j:j+P]` is the window of pixel `(i, j)`: `(H+P-1, W+P-1)`."""
    before, after = patch_size // 2, patch_size - 1 - patch_size // 2
    if padding_mode == "zeros":
        return F.pad(x, (before, after, before, after))
    if padding_mode == "reflect" and max(before, after) >= min(x.shape[-2:]):
        raise ValueError(
            f"reflect padding by {max(before, after)} needs H and W >= {max(before, after) + 1}, "
            f"got shape {tuple(x.shape)}; use padding_mode='zeros' or 'replicate'"
        )
    return F.pad(x, (before, after, before, after), mode=padding_mode)


def _patch_size_of(classifier: nn.Module, patch_size: int | None) -> int:
    if patch_size is None:
        patch_size = getattr(classifier, "patch_size", None)
        if patch_size is None:
            raise TypeError("patch_size is needed: the classifier has no patch_size attribute")
    return check_int(patch_size, "patch_size")


class SlidingWindowSegmenter(nn.Module):
    """Semantic segmentation the slow way: classify the patch around every pixel.

    The image is padded by `P // 2` at the top and left and `P - 1 - P // 2` at the bottom and
    right (`padding_mode` "zeros", "reflect" or "replicate"), so pixel `(i, j)` gets the window
    `padded[:, :, i:i+P, j:j+P]`: centred for odd `P`, and for even `P` the pixel is the
    lower-right of the four central ones. Every window is cut out with `F.unfold` and
    classified on its own, about `chunk_size` windows at a time. Neighbouring windows share all
    but one row or column, yet their features are computed again for each window:
    `to_fully_convolutional` removes that waste and gives the same scores (Farabet et al.
    2013; Pinheiro and Collobert 2014).

    Args:
        classifier: maps `(B, C, P, P)` to `(B, num_classes)`, e.g. a `PatchClassifier`.
        patch_size: `P`; defaults to `classifier.patch_size`.
        padding_mode: how the image is extended beyond its border.
        chunk_size: roughly how many windows go through the classifier at once (memory).

    Shape:
        `(N, C, H, W) -> (N, num_classes, H, W)`.

    >>> seg = SlidingWindowSegmenter(PatchClassifier(3, 4, 9, channels=(4,)))
    >>> seg(torch.randn(1, 3, 10, 12)).shape
    torch.Size([1, 4, 10, 12])
    """

    def __init__(
        self,
        classifier: nn.Module,
        *,
        patch_size: int | None = None,
        padding_mode: str = "zeros",
        chunk_size: int = 4096,
    ) -> None:
        super().__init__()
        if not isinstance(classifier, nn.Module):
            raise TypeError(f"classifier must be an nn.Module, got {type(classifier).__name__}")
        _check_choice(padding_mode, "padding_mode", _PADDING_MODES)
        self.classifier = classifier
        self.patch_size = _patch_size_of(classifier, patch_size)
        self.padding_mode = padding_mode
        self.chunk_size = check_int(chunk_size, "chunk_size")
        self.in_channels = getattr(classifier, "in_channels", None)

    def forward(self, x: Tensor) -> Tensor:
        check_images(x, self.in_channels, module=self)
        n, c, h, w = x.shape
        p = self.patch_size
        padded = _pad_for_windows(x, p, self.padding_mode)  # (N, C, H+P-1, W+P-1)
        rows_per_chunk = max(1, self.chunk_size // (n * w))
        rows = []
        for top in range(0, h, rows_per_chunk):
            count = min(rows_per_chunk, h - top)
            strip = padded[:, :, top : top + count + p - 1]  # (N, C, count+P-1, W+P-1)
            windows = F.unfold(strip, p)  # (N, C·P·P, count·W), one column per window
            windows = windows.transpose(1, 2).reshape(n * count * w, c, p, p)  # (N·count·W, C, P, P)
            scores = self.classifier(windows)  # (N·count·W, K)
            rows.append(scores.reshape(n, count, w, -1))  # (N, count, W, K)
        return torch.cat(rows, dim=1).permute(0, 3, 1, 2)  # (N, K, H, W)

    def to_fully_convolutional(self) -> FullyConvolutionalSegmenter:
        """The same segmenter as one fully convolutional pass (a copy of the current weights)."""
        return FullyConvolutionalSegmenter(self.classifier, patch_size=self.patch_size, padding_mode=self.padding_mode)

    def extra_repr(self) -> str:
        return f"patch_size={self.patch_size}, padding_mode={self.padding_mode!r}"


_ELEMENTWISE = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Tanh, nn.Sigmoid, nn.Hardtanh,
    nn.Identity, nn.Dropout,
)  # fmt: skip


def _flatten_sequential(module: nn.Module) -> list[nn.Module]:
    if isinstance(module, nn.Sequential):
        return [leaf for child in module for leaf in _flatten_sequential(child)]
    return [module]


def _is_unpadded(padding: object) -> bool:
    if isinstance(padding, str):
        return padding == "valid"
    return not any(padding) if isinstance(padding, tuple) else padding == 0


def _as_pair(value: int | tuple[int, ...]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (value[0], value[1])


def fully_convolutional(classifier: nn.Module, *, patch_size: int | None = None, dense: bool = True) -> nn.Sequential:
    """Turn a patch classifier into a convolutional network that scores every window in one pass.

    A fully connected layer that reads a flattened `(C, h, w)` feature map is a convolution
    with an `h×w` kernel: the same weights, reshaped from `(out, C·h·w)` to `(out, C, h, w)`.
    Later fully connected layers are 1×1 convolutions. Slid over a whole image, the converted
    network scores every window at once and computes the features that windows share once.

    Strides: pooling with stride `s` in the classifier means the converted network scores
    only every `s`-th window. With `dense=True` each stride is set to 1 and every later layer is
    dilated by `s` instead (the "filter rarefaction" of Long et al. 2015, section 3.2; the
    atrous trick of chapter 7), so output `(i, j)` is the score of the window whose top-left
    corner is `(i, j)`: every window, in one pass. With `dense=False` the strides stay, and
    output `(i, j)` is the window at `(i·s, j·s)`, `s` being the product of the strides
    (shift-and-stitch would fill the gaps with `s²` shifted passes).

    The result is a copy: convert again after further training. Batch normalisation and
    dropout give the same numbers in `eval()` mode only.

    Args:
        classifier: an `nn.Sequential` (nested ones are flattened) of unpadded `Conv2d` and
            `MaxPool2d`, `BatchNorm2d`, elementwise activations and `Dropout`, then `Flatten`
            and `Linear` layers with activations and `Dropout` between them.
        patch_size: side `P` of the windows; defaults to `classifier.patch_size`.
        dense: score every window (True) or keep the classifier's strides (False).

    Returns:
        `nn.Sequential` with attributes `patch_size` and `output_stride` (1 when dense).

    Shape:
        `(N, C, H, W) -> (N, K, H', W')` with `H' >= (H - P) // output_stride + 1`; the first
        `(H - P) // output_stride + 1` rows and columns are the windows inside the image (when
        a pooling drops the last row of the patch, a few more come out).

    >>> clf = PatchClassifier(1, 3, 8, channels=(4,)).eval()
    >>> x = torch.randn(1, 1, 8, 10)
    >>> scores = fully_convolutional(clf)(x)  # windows at columns 0, 1, 2
    >>> torch.allclose(scores[0, :, 0, 2], clf(x[:, :, :, 2:10])[0], atol=1e-5)
    True
    """
    if not isinstance(classifier, nn.Module):
        raise TypeError(f"classifier must be an nn.Module, got {type(classifier).__name__}")
    patch = _patch_size_of(classifier, patch_size)
    size = (patch, patch)  # spatial size of the feature map in the classifier, for one patch
    jump = 1  # product of the strides so far: in the dense net, the dilation factor
    channels = getattr(classifier, "in_channels", None)
    flattened, linears = False, 0
    layers: list[nn.Module] = []
    for position, layer in enumerate(_flatten_sequential(classifier)):
        where = f"layer {position} ({type(layer).__name__})"
        if isinstance(layer, (nn.Conv2d, nn.MaxPool2d)):
            if flattened:
                raise TypeError(f"{where} comes after Flatten; expected only Linear layers and activations there")
            if not _is_unpadded(layer.padding):
                raise ValueError(
                    f"{where} pads its input (padding={layer.padding}): inside a patch it would read zeros where "
                    "the image has neighbouring pixels, so no convolutional version gives the same scores; "
                    "use padding=0"
                )
            kernel, stride, dilation = _as_pair(layer.kernel_size), _as_pair(layer.stride), _as_pair(layer.dilation)
            if isinstance(layer, nn.MaxPool2d) and (layer.ceil_mode or layer.return_indices):
                raise ValueError(f"{where} must have ceil_mode=False and return_indices=False")
            size = conv_output_size(size, kernel, stride, 0, dilation)
            if not dense:
                layers.append(copy.deepcopy(layer))
            elif isinstance(layer, nn.Conv2d):
                conv = nn.Conv2d(
                    layer.in_channels, layer.out_channels, kernel, dilation=(dilation[0] * jump, dilation[1] * jump),
                    groups=layer.groups, bias=layer.bias is not None,
                ).to(layer.weight)  # fmt: skip
                with torch.no_grad():
                    conv.weight.copy_(layer.weight)
                    if layer.bias is not None:
                        conv.bias.copy_(layer.bias)
                layers.append(conv)
            else:
                layers.append(nn.MaxPool2d(kernel, stride=1, dilation=(dilation[0] * jump, dilation[1] * jump)))
            if dense:
                if stride[0] != stride[1]:
                    raise ValueError(f"{where} has unequal strides {stride}; dense conversion needs square strides")
                jump *= stride[0]
            if isinstance(layer, nn.Conv2d):
                channels = layer.out_channels
        elif isinstance(layer, nn.Flatten):
            if flattened or layer.start_dim != 1 or layer.end_dim != -1:
                raise TypeError(f"{where}: expected one nn.Flatten() with start_dim=1, end_dim=-1")
            flattened = True
        elif isinstance(layer, nn.Linear):
            if not flattened:
                raise TypeError(f"{where} is not preceded by nn.Flatten: expected Flatten before the first Linear")
            if linears == 0:
                if channels is None:
                    channels = layer.in_features // (size[0] * size[1])
                if layer.in_features != channels * size[0] * size[1]:
                    raise ValueError(
                        f"{where} has in_features={layer.in_features}, but a {patch}×{patch} patch gives "
                        f"{channels}·{size[0]}·{size[1]} = {channels * size[0] * size[1]} features"
                    )
                # The fully connected layer as a convolution whose kernel covers the whole feature map.
                weight = layer.weight.reshape(layer.out_features, channels, *size)  # (out, C, h, w)
                conv = nn.Conv2d(channels, layer.out_features, size, dilation=jump, bias=layer.bias is not None)
            else:
                weight = layer.weight[:, :, None, None]  # (out, in, 1, 1)
                conv = nn.Conv2d(layer.in_features, layer.out_features, 1, bias=layer.bias is not None)
            conv = conv.to(layer.weight)
            with torch.no_grad():
                conv.weight.copy_(weight)
                if layer.bias is not None:
                    conv.bias.copy_(layer.bias)
            layers.append(conv)
            linears += 1
        elif isinstance(layer, _ELEMENTWISE) or (isinstance(layer, nn.BatchNorm2d) and not flattened):
            layers.append(copy.deepcopy(layer))
        else:
            raise TypeError(
                f"{where} cannot be converted: expected Conv2d, MaxPool2d, BatchNorm2d, Flatten, Linear, "
                f"Dropout or an elementwise activation"
            )
    if linears == 0:
        raise ValueError("the classifier has no Linear layer to convert")
    net = nn.Sequential(*layers)
    net.patch_size = patch
    net.output_stride = 1 if dense else math.prod(
        _as_pair(m.stride)[0] for m in layers if isinstance(m, (nn.Conv2d, nn.MaxPool2d))
    )  # fmt: skip
    return net


class FullyConvolutionalSegmenter(nn.Module):
    """The sliding window done right: the classifier run fully convolutionally, every window in one pass.

    Pads the image exactly as `SlidingWindowSegmenter` does, runs `fully_convolutional(classifier,
    dense=True)` on it and keeps the `H×W` window scores, so both segmenters give the same
    numbers (up to rounding) while this one shares the features of overlapping windows.

    Args:
        classifier: as for `SlidingWindowSegmenter` (its weights are copied).
        patch_size: `P`; defaults to `classifier.patch_size`.
        padding_mode: "zeros", "reflect" or "replicate", as in `SlidingWindowSegmenter`.

    Shape:
        `(N, C, H, W) -> (N, num_classes, H, W)`.

    >>> seg = SlidingWindowSegmenter(PatchClassifier(3, 4, 9, channels=(4,))).eval()
    >>> x = torch.randn(1, 3, 10, 12)
    >>> torch.allclose(seg.to_fully_convolutional()(x), seg(x), atol=1e-5)
    True
    """

    def __init__(self, classifier: nn.Module, *, patch_size: int | None = None, padding_mode: str = "zeros") -> None:
        super().__init__()
        _check_choice(padding_mode, "padding_mode", _PADDING_MODES)
        self.net = fully_convolutional(classifier, patch_size=patch_size, dense=True)
        self.patch_size = self.net.patch_size
        self.padding_mode = padding_mode
        self.in_channels = getattr(classifier, "in_channels", None)

    def forward(self, x: Tensor) -> Tensor:
        check_images(x, self.in_channels, module=self)
        h, w = x.shape[-2:]
        padded = _pad_for_windows(x, self.patch_size, self.padding_mode)  # (N, C, H+P-1, W+P-1)
        scores = self.net(padded)  # (N, K, >=H, >=W): score of the window with top-left corner (i, j)
        return scores[:, :, :h, :w]  # (N, K, H, W): window (i, j) is the one around pixel (i, j)

    def extra_repr(self) -> str:
        return f"patch_size={self.patch_size}, padding_mode={self.padding_mode!r}"


# --------------------------------------------------------------------------- shared blocks


def _conv_bn_relu(in_channels: int, out_channels: int, *, padding: int = 1, batch_norm: bool = True) -> list[nn.Module]:
    """3×3 convolution (+ BatchNorm) + ReLU; no bias when BatchNorm follows."""
    conv = nn.Conv2d(in_channels, out_channels, 3, padding=padding, bias=not batch_norm)
    return [conv, nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True)] if batch_norm else [conv, nn.ReLU(inplace=True)]


def _vgg_channels(base_channels: int, stages: int) -> list[int]:
    """VGG widths: double per stage up to 8× the base (64, 128, 256, 512, 512 for base 64)."""
    return [base_channels * min(2**i, 8) for i in range(stages)]


def _bilinear_transpose(channels: int, scale: int) -> nn.ConvTranspose2d:
    """Per-channel transposed convolution ×`scale` (`scale` even), initialised to bilinear interpolation.

    Kernel `2·scale`, stride `scale`, padding `scale/2`: `(h, w) -> (scale·h, scale·w)`, as in
    the FCN paper's upsampling layers (learnable, bilinear at initialisation).
    """
    up = nn.ConvTranspose2d(
        channels, channels, 2 * scale, stride=scale, padding=scale // 2, groups=channels, bias=False
    )
    centre = scale - 0.5
    tent = 1 - (torch.arange(2 * scale, dtype=torch.float32) - centre).abs() / scale
    with torch.no_grad():
        up.weight.copy_(torch.outer(tent, tent).expand_as(up.weight))
    return up


# --------------------------------------------------------------------------- chapter 4: FCN


class FCN(nn.Module):
    """Fully convolutional network with FCN-32s/16s/8s skips (Long, Shelhamer and Darrell 2015).

    A VGG-style encoder (per stage: 3×3 convolutions and a 2×2 max pooling, widths doubling up to
    8× `base_channels`) ends in "fc6" (a `fc_kernel`×`fc_kernel` convolution), "fc7" (1×1) and
    a 1×1 class-score layer at 1/2^S of the input (S = number of stages). FCN-32s upsamples
    those scores by 2^S; FCN-16s first upsamples ×2 and adds scores read from the last-but-one
    pooling ("pool4"); FCN-8s adds "pool3" as well. Upsampling layers are per-class transposed
    convolutions initialised to bilinear interpolation; the skip score layers start at zero, as
    in the paper. Any input size: the image is zero-padded at the bottom and right to a multiple
    of 2^S and the scores cropped back. fc6 is padded (`same`), unlike the paper's unpadded fc6
    with its 100-pixel input padding.

    Paper configuration (VGG16): `base_channels=64, convs_per_stage=(2, 2, 3, 3, 3),
    head_channels=4096, fc_kernel=7`.

    Args:
        in_channels, num_classes: image channels and class count.
        variant: "32s", "16s" or "8s".
        base_channels: width of the first stage.
        convs_per_stage: 3×3 convolutions in each stage (at least 3 stages for "8s").
        head_channels: width of fc6 and fc7.
        fc_kernel: odd kernel size of fc6.
        batch_norm: BatchNorm after each encoder convolution (not in the paper).
        dropout: dropout after fc6 and fc7.

    Shape:
        `(N, in_channels, H, W) -> (N, num_classes, H, W)`.

    >>> model = FCN(3, 5, variant="8s", base_channels=4, convs_per_stage=(1, 1, 1, 1, 1), head_channels=16)
    >>> model(torch.randn(1, 3, 37, 45)).shape
    torch.Size([1, 5, 37, 45])
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        *,
        variant: str = "8s",
        base_channels: int = 8,
        convs_per_stage: Sequence[int] = (2, 2, 3, 3, 3),
        head_channels: int = 64,
        fc_kernel: int = 7,
        batch_norm: bool = False,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        self.in_channels = check_int(in_channels, "in_channels")
        self.num_classes = check_int(num_classes, "num_classes")
        _check_choice(variant, "variant", ("32s", "16s", "8s"))
        convs_per_stage = check_ints(convs_per_stage, "convs_per_stage")
        skips = {"32s": 0, "16s": 1, "8s": 2}[variant]
        if len(convs_per_stage) < skips + 1:
            raise ValueError(f"FCN-{variant} needs at least {skips + 1} stages, got convs_per_stage={convs_per_stage}")
        if check_int(fc_kernel, "fc_kernel") % 2 == 0:
            raise ValueError(f"fc_kernel must be odd (padded to keep the size), got {fc_kernel}")
        self.variant = variant
        self.stride = 2 ** len(convs_per_stage)
        widths = _vgg_channels(check_int(base_channels, "base_channels"), len(convs_per_stage))
        check_int(head_channels, "head_channels")

        stages, previous = [], in_channels
        for width, count in zip(widths, convs_per_stage):
            layers = []
            for _ in range(count):
                layers += _conv_bn_relu(previous, width, batch_norm=batch_norm)
                previous = width
            stages.append(nn.Sequential(*layers, nn.MaxPool2d(2)))
        self.features = nn.ModuleList(stages)  # stage i ends in pool(i+1), at 1/2^(i+1)
        self.head = nn.Sequential(
            nn.Conv2d(previous, head_channels, fc_kernel, padding=fc_kernel // 2),  # fc6
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Conv2d(head_channels, head_channels, 1),  # fc7
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Conv2d(head_channels, num_classes, 1),  # class scores
        )
        # Skip score layers, deepest first: pool4 for 16s, then pool3 for 8s.
        self.skips = nn.ModuleList(nn.Conv2d(widths[-2 - i], num_classes, 1) for i in range(skips))
        for skip in self.skips:
            nn.init.zeros_(skip.weight)
            nn.init.zeros_(skip.bias)
        final = self.stride // 2**skips
        self.upsample = nn.ModuleList([_bilinear_transpose(num_classes, 2) for _ in range(skips)])
        self.upsample.append(_bilinear_transpose(num_classes, final))

    def forward(self, x: Tensor) -> Tensor:
        check_images(x, self.in_channels, module=self)
        h, w = x.shape[-2:]
        x = _pad_to_multiple(x, self.stride)  # (N, C, H', W'), multiples of 2^S
        pools = []
        for stage in self.features:
            x = stage(x)  # (N, C_i, H'/2^(i+1), W'/2^(i+1))
            pools.append(x)
        scores = self.head(x)  # (N, K, H'/2^S, W'/2^S)
        for skip, up, pool in zip(self.skips, self.upsample, reversed(pools[:-1])):
            scores = up(scores) + skip(pool)  # (N, K, H'/2^(S-1), ...), then /2^(S-2)
        scores = self.upsample[-1](scores)  # (N, K, H', W')
        return scores[:, :, :h, :w]  # (N, K, H, W)

    def extra_repr(self) -> str:
        return f"variant={self.variant!r}, in_channels={self.in_channels}, num_classes={self.num_classes}"


# --------------------------------------------------------------------------- chapter 6: SegNet, U-Net


class SegNet(nn.Module):
    """SegNet: an encoder-decoder whose decoder unpools with the encoder's max-pooling indices.

    Each encoder stage (3×3 convolutions + BatchNorm + ReLU) ends in a 2×2 max pooling that
    remembers where each maximum was; the matching decoder stage puts values back at exactly
    those positions (`nn.MaxUnpool2d`, zeros elsewhere) and densifies them with convolutions
    (Badrinarayanan, Kendall and Cipolla 2017). Odd sizes are fine: unpooling restores the size
    before each pooling. H and W must be at least 2^S (S = number of stages).

    Paper configuration (VGG16 encoder): `base_channels=64, convs_per_stage=(2, 2, 3, 3, 3)`.

    Args:
        in_channels, num_classes: image channels and class count.
        base_channels: width of the first stage (widths double up to 8×).
        convs_per_stage: 3×3 convolutions in each encoder stage (the decoder mirrors them).
        batch_norm: BatchNorm after each convolution.

    Shape:
        `(N, in_channels, H, W) -> (N, num_classes, H, W)`.

    >>> model = SegNet(3, 5, base_channels=4, convs_per_stage=(1, 1, 1))
    >>> model(torch.randn(1, 3, 37, 45)).shape
    torch.Size([1, 5, 37, 45])
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        *,
        base_channels: int = 8,
        convs_per_stage: Sequence[int] = (2, 2, 3, 3, 3),
        batch_norm: bool = True,
    ) -> None:
        super().__init__()
        self.in_channels = check_int(in_channels, "in_channels")
        self.num_classes = check_int(num_classes, "num_classes")
        convs_per_stage = check_ints(convs_per_stage, "convs_per_stage")
        widths = _vgg_channels(check_int(base_channels, "base_channels"), len(convs_per_stage))
        encoder, decoder, previous = [], [], in_channels
        for i, (width, count) in enumerate(zip(widths, convs_per_stage)):
            layers = []
            for _ in range(count):
                layers += _conv_bn_relu(previous, width, batch_norm=batch_norm)
                previous = width
            encoder.append(nn.Sequential(*layers))
            # Decoder stage i mirrors encoder stage i: width -> ... -> the width of stage i - 1.
            target = widths[max(i - 1, 0)]
            layers = []
            for j in range(count):
                layers += _conv_bn_relu(width, target if j == count - 1 else width, batch_norm=batch_norm)
            decoder.append(nn.Sequential(*layers))
        self.encoder = nn.ModuleList(encoder)
        self.pool = nn.ModuleList(nn.MaxPool2d(2, return_indices=True) for _ in widths)
        self.unpool = nn.ModuleList(nn.MaxUnpool2d(2) for _ in widths)  # unpool[i] undoes pool[i]
        self.decoder = nn.ModuleList(decoder)
        self.classifier = nn.Conv2d(widths[0], num_classes, 1)
        self.min_size = 2 ** len(widths)

    def forward(self, x: Tensor) -> Tensor:
        check_images(x, self.in_channels, module=self)
        if min(x.shape[-2:]) < self.min_size:
            raise ValueError(
                f"SegNet with {len(self.encoder)} poolings needs H and W >= {self.min_size}, got shape {tuple(x.shape)}"
            )
        indices, sizes = [], []
        for encode, pool in zip(self.encoder, self.pool):
            x = encode(x)  # (N, C_i, H_i, W_i)
            sizes.append(x.shape[-2:])
            x, where = pool(x)  # (N, C_i, H_i/2, W_i/2), and where each maximum was
            indices.append(where)
        for i in reversed(range(len(self.decoder))):
            x = self.unpool[i](x, indices[i], output_size=sizes[i])  # (N, C_i, H_i, W_i), sparse
            x = self.decoder[i](x)  # (N, C_(i-1), H_i, W_i)
        return self.classifier(x)  # (N, K, H, W)

    def extra_repr(self) -> str:
        return f"in_channels={self.in_channels}, num_classes={self.num_classes}"


class DoubleConv(nn.Sequential):
    """Two 3×3 convolutions, each followed by (BatchNorm and) ReLU: the U-Net block.

    `padding="same"` keeps the size; `"valid"` (the paper's unpadded convolutions) takes 2
    pixels off each side: `(H, W) -> (H - 4, W - 4)`.
    """

    def __init__(self, in_channels: int, out_channels: int, *, padding: str = "same", batch_norm: bool = False) -> None:
        _check_choice(padding, "padding", ("same", "valid"))
        pad = 1 if padding == "same" else 0
        super().__init__(
            *_conv_bn_relu(check_int(in_channels, "in_channels"), check_int(out_channels, "out_channels"),
                           padding=pad, batch_norm=batch_norm),
            *_conv_bn_relu(out_channels, out_channels, padding=pad, batch_norm=batch_norm),
        )
        self.in_channels, self.padding = in_channels, padding

    def forward(self, x: Tensor) -> Tensor:
        check_images(x, self.in_channels, module=self)
        if self.padding == "valid" and min(x.shape[-2:]) < 5:
            raise ValueError(f"x must be at least 5×5 for two unpadded 3×3 convolutions, got shape {tuple(x.shape)}")
        return super().forward(x)


def center_crop(x: Tensor, size: Sequence[int]) -> Tensor:
    """Crop the centre `(h, w)` of `x` (U-Net's crop before concatenating a skip).

    Shape: `(N, C, H, W) -> (N, C, h, w)`; when `H - h` is odd the extra row goes at the bottom.

    >>> center_crop(torch.arange(16.).reshape(1, 1, 4, 4), (2, 2))[0, 0]
    tensor([[ 5.,  6.],
            [ 9., 10.]])
    """
    check_images(x)
    h, w = _size_pair(tuple(size), "size")
    height, width = x.shape[-2:]
    if h > height or w > width:
        raise ValueError(f"cannot crop {(h, w)} out of a {(height, width)} map")
    top, left = (height - h) // 2, (width - w) // 2
    return x[:, :, top : top + h, left : left + w]


_UPSAMPLING = ("transpose", "bilinear", "pixel_shuffle")


class _UNetUp(nn.Module):
    """Upsample ×2 halving the channels, crop the skip to match, concatenate, DoubleConv."""

    def __init__(self, in_channels: int, out_channels: int, *, upsampling: str, padding: str, batch_norm: bool) -> None:
        super().__init__()
        if upsampling == "transpose":  # learnable upsampling (the paper's "up-convolution")
            self.upsample: nn.Module = nn.ConvTranspose2d(in_channels, out_channels, 2, stride=2)
        elif upsampling == "bilinear":  # fixed resize, then a 1×1 convolution halving the channels
            self.upsample = nn.Sequential(
                nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                nn.Conv2d(in_channels, out_channels, 1),
            )
        else:  # subpixel convolution with ICNR: like nearest-neighbour at initialisation, no checkerboard
            conv = nn.Conv2d(in_channels, out_channels * 4, 1)
            icnr_(conv.weight, 2)
            nn.init.zeros_(conv.bias)
            self.upsample = nn.Sequential(conv, nn.PixelShuffle(2))
        self.conv = DoubleConv(2 * out_channels, out_channels, padding=padding, batch_norm=batch_norm)

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        x = self.upsample(x)  # (N, C/2, 2h, 2w)
        skip = center_crop(skip, x.shape[-2:])  # (N, C/2, 2h, 2w)
        return self.conv(torch.cat([skip, x], dim=1))  # (N, C, 2h, 2w) -> (N, C/2, 2h, 2w) (-4 each if valid)


class UNet(nn.Module):
    """U-Net: a contracting path, a symmetric expanding path and skips by concatenation.

    `depth` poolings; level `i` has `base_channels·2^i` channels (64 ... 1024 in the paper).
    Each expanding step upsamples ×2 halving the channels, concatenates the (centre-cropped)
    skip of the same level and applies a `DoubleConv` (Ronneberger, Fischer and Brox 2015).

    Sizes: with `padding="same"` the output has the input size (the image is zero-padded at the
    bottom and right to a multiple of 2^depth and the logits cropped back). With
    `padding="valid"`, the paper's unpadded convolutions, the output is smaller (572 -> 388 for
    depth 4; `output_size`) and the input must let every 2×2 pooling see an even size
    (`valid_input_size`, `input_size_for_output` pick such tiles); other sizes raise ValueError.

    Paper configuration (31,030,658 parameters): `UNet(1, 2, padding="valid")`.

    Args:
        in_channels, num_classes: image channels and class count.
        base_channels: width of the first level.
        depth: number of 2×2 poolings.
        padding: "same" or "valid".
        upsampling: "transpose" (2×2 transposed convolution, the paper), "bilinear" (bilinear
            resize + 1×1 convolution) or "pixel_shuffle" (1×1 convolution + `nn.PixelShuffle(2)`,
            ICNR-initialised).
        batch_norm: BatchNorm after each 3×3 convolution (not in the paper).

    Shape:
        `(N, in_channels, H, W) -> (N, num_classes, *output_size((H, W)))`.

    >>> model = UNet(1, 2, base_channels=8, depth=2)
    >>> model(torch.randn(1, 1, 37, 45)).shape
    torch.Size([1, 2, 37, 45])
    >>> UNet(1, 2, padding="valid").output_size(572)
    388
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        *,
        base_channels: int = 64,
        depth: int = 4,
        padding: str = "same",
        upsampling: str = "transpose",
        batch_norm: bool = False,
    ) -> None:
        super().__init__()
        self.in_channels = check_int(in_channels, "in_channels")
        self.num_classes = check_int(num_classes, "num_classes")
        self.base_channels = check_int(base_channels, "base_channels")
        self.depth = check_int(depth, "depth")
        _check_choice(padding, "padding", ("same", "valid"))
        _check_choice(upsampling, "upsampling", _UPSAMPLING)
        self.padding, self.upsampling = padding, upsampling
        widths = [base_channels * 2**i for i in range(depth + 1)]
        inputs = [in_channels] + widths[:-2]
        self.encoder = nn.ModuleList(
            DoubleConv(c_in, c_out, padding=padding, batch_norm=batch_norm) for c_in, c_out in zip(inputs, widths)
        )
        self.pool = nn.MaxPool2d(2)
        self.bottleneck = DoubleConv(widths[-2], widths[-1], padding=padding, batch_norm=batch_norm)
        self.decoder = nn.ModuleList(
            _UNetUp(widths[i + 1], widths[i], upsampling=upsampling, padding=padding, batch_norm=batch_norm)
            for i in reversed(range(depth))
        )
        self.head = nn.Conv2d(base_channels, num_classes, 1)

    def forward(self, x: Tensor) -> Tensor:
        check_images(x, self.in_channels, module=self)
        h, w = x.shape[-2:]
        if self.padding == "same":
            x = _pad_to_multiple(x, 2**self.depth)  # (N, C, H', W'), multiples of 2^depth
        else:
            self.output_size((h, w))  # raises ValueError for a tile that a pooling cannot halve
        skips = []
        for block in self.encoder:
            x = block(x)  # (N, 64·2^i, H_i, W_i)
            skips.append(x)
            x = self.pool(x)  # (N, 64·2^i, H_i/2, W_i/2)
        x = self.bottleneck(x)  # (N, 64·2^depth, h, w)
        for up, skip in zip(self.decoder, reversed(skips)):
            x = up(x, skip)  # (N, 64·2^i, ~2h, ~2w)
        x = self.head(x)  # (N, K, H_out, W_out)
        return x[:, :, :h, :w] if self.padding == "same" else x

    # Valid padding, one side: each level takes 4 pixels (two 3×3 convolutions) and halves;
    # going up doubles and takes 4. With b the side after the bottleneck, the input is
    # 2^d·b + 4·(2^(d+1) - 1) and the output 2^d·b - 4·(2^d - 1).

    def _min_bottom(self) -> int:
        bottom = 1
        while any(2**k * bottom - 4 * (2**k - 1) < 1 for k in range(1, self.depth + 1)):
            bottom += 1
        return bottom

    def _input_for_bottom(self, bottom: int) -> int:
        return 2**self.depth * bottom + 4 * (2 ** (self.depth + 1) - 1)

    def _valid_side(self, side: int) -> int:
        """Smallest valid input side >= `side`."""
        bottom = max(self._min_bottom(), -(-(side - self._input_for_bottom(0)) // 2**self.depth))
        return self._input_for_bottom(bottom)

    def _output_side(self, side: int) -> int:
        if self.padding == "same":
            return side
        size = side
        for level in range(self.depth):
            size -= 4
            if size < 2 or size % 2:
                larger = self._valid_side(side)
                smaller = larger - 2**self.depth
                nearest = f"{smaller} or {larger}" if smaller >= self._valid_side(1) else f"{larger}"
                raise ValueError(
                    f"a valid-padding UNet of depth {self.depth} cannot take a side of {side}: pooling {level + 1} "
                    f"would see a side of {size}, which must be even and >= 2; nearest valid sides: {nearest} "
                    f"(see UNet.valid_input_size)"
                )
            size //= 2
        size = 2**self.depth * (size - 4) - 4 * (2**self.depth - 1)
        if size < 1:
            raise ValueError(
                f"a valid-padding UNet of depth {self.depth} needs sides >= {self._valid_side(1)}, got {side}"
            )
        return size

    def output_size(self, input_size: int | tuple[int, int]) -> int | tuple[int, int]:
        """Output side (int) or `(H_out, W_out)` for an input side or `(H, W)`.

        Raises ValueError when a valid-padding U-Net cannot take that size.

        >>> UNet(1, 2, depth=4, padding="valid").output_size((572, 188))
        (388, 4)
        """
        if isinstance(input_size, int) and not isinstance(input_size, bool):
            return self._output_side(check_int(input_size, "input_size"))
        h, w = _size_pair(input_size, "input_size")
        return self._output_side(h), self._output_side(w)

    def valid_input_size(self, min_size: int | tuple[int, int]) -> int | tuple[int, int]:
        """Smallest input side (or `(H, W)`) >= `min_size` that the U-Net takes.

        Any size for `padding="same"`; for `"valid"` one where every pooling sees an even size.

        >>> UNet(1, 2, depth=4, padding="valid").valid_input_size(500)
        508
        """

        def side(s: int) -> int:
            return s if self.padding == "same" else self._valid_side(s)

        if isinstance(min_size, int) and not isinstance(min_size, bool):
            return side(check_int(min_size, "min_size"))
        h, w = _size_pair(min_size, "min_size")
        return side(h), side(w)

    def input_size_for_output(self, output_size: int | tuple[int, int]) -> int | tuple[int, int]:
        """Smallest valid input side (or `(H, W)`) whose output is at least `output_size` (overlap-tile).

        >>> UNet(1, 2, depth=4, padding="valid").input_size_for_output(388)
        572
        """

        def side(s: int) -> int:
            if self.padding == "same":
                return s
            bottom = max(self._min_bottom(), -(-(s + 4 * (2**self.depth - 1)) // 2**self.depth))
            return self._input_for_bottom(bottom)

        if isinstance(output_size, int) and not isinstance(output_size, bool):
            return side(check_int(output_size, "output_size"))
        h, w = _size_pair(output_size, "output_size")
        return side(h), side(w)

    def extra_repr(self) -> str:
        return (
            f"in_channels={self.in_channels}, num_classes={self.num_classes}, base_channels={self.base_channels}, "
            f"depth={self.depth}, padding={self.padding!r}, upsampling={self.upsampling!r}"
        )


# --------------------------------------------------------------------------- chapter 7: backbones


_OUTPUT_STRIDES = (8, 16, 32)
# For layer2, layer3, layer4 (torchvision's convention): which stride-2 steps become dilation.
_REPLACE_STRIDE = {32: [False, False, False], 16: [False, False, True], 8: [False, True, True]}
_RESNETS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")


class _SmallBackbone(nn.Module):
    """A CPU-sized ResNet-shaped feature extractor (no residuals).

    A stride-2 stem and four stages of two 3×3 convolutions (+ BatchNorm + ReLU), each stage
    halving the size, widths `base, base, 2·base, 4·base, 8·base`. As in torchvision's ResNet,
    `output_stride` 16 or 8 replaces the stride of the last one or two stages by dilation.
    Returns the low-level features (1/4) and the output (1/output_stride).
    """

    def __init__(self, in_channels: int, *, base_channels: int, output_stride: int) -> None:
        super().__init__()
        widths = [base_channels, base_channels, 2 * base_channels, 4 * base_channels, 8 * base_channels]
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, widths[0], 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(inplace=True),
        )
        stages, dilation = [], 1
        for i, replace in enumerate([False] + _REPLACE_STRIDE[output_stride]):
            previous, stride = dilation, 2
            if replace:
                dilation, stride = dilation * 2, 1
            stages.append(
                nn.Sequential(
                    nn.Conv2d(
                        widths[i], widths[i + 1], 3, stride=stride, padding=previous, dilation=previous, bias=False
                    ),
                    nn.BatchNorm2d(widths[i + 1]),
                    nn.ReLU(inplace=True),
                    nn.Conv2d(widths[i + 1], widths[i + 1], 3, padding=dilation, dilation=dilation, bias=False),
                    nn.BatchNorm2d(widths[i + 1]),
                    nn.ReLU(inplace=True),
                )
            )
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.low_channels, self.out_channels = widths[1], widths[4]

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        x = self.stem(x)  # (N, b, H/2, W/2)
        low = self.layer1(x)  # (N, b, H/4, W/4)
        x = self.layer3(self.layer2(low))  # (N, 4b, H/16 or H/8, ...)
        return low, self.layer4(x)  # (N, 8b, H/output_stride, W/output_stride)


def _dilate_basic_blocks(resnet: nn.Module, replace: Sequence[bool]) -> None:
    """`replace_stride_with_dilation` for ResNet-18/34, which torchvision does not support.

    Follows torchvision's rule for bottleneck ResNets: a dilated layer loses its stride, and its
    first block keeps the previous dilation while the later blocks use the new one.
    """
    dilation = 1
    for layer, dilate in zip((resnet.layer2, resnet.layer3, resnet.layer4), replace):
        previous = dilation
        if dilate:
            dilation *= 2
            layer[0].conv1.stride = (1, 1)
            layer[0].downsample[0].stride = (1, 1)
        for i, block in enumerate(layer):
            d = previous if i == 0 else dilation
            for conv in (block.conv1, block.conv2):
                conv.dilation, conv.padding = (d, d), (d, d)


class _ResNetBackbone(nn.Module):
    """torchvision ResNet up to layer4 (names as torchvision's, so its state dicts load).

    Returns layer1's output (1/4) and layer4's (1/output_stride).
    """

    def __init__(self, name: str, in_channels: int, *, output_stride: int, pretrained: bool) -> None:
        super().__init__()
        replace = _REPLACE_STRIDE[output_stride]
        weights = "DEFAULT" if pretrained else None  # ImageNet weights, downloaded only when asked for
        import torchvision  # here, not at the top: it takes seconds to import, and only these backbones need it

        if name in ("resnet18", "resnet34"):
            resnet = torchvision.models.get_model(name, weights=weights)
            _dilate_basic_blocks(resnet, replace)
        else:
            resnet = torchvision.models.get_model(name, weights=weights, replace_stride_with_dilation=replace)
        if in_channels != 3:
            resnet.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
            nn.init.kaiming_normal_(resnet.conv1.weight, mode="fan_out", nonlinearity="relu")
        for part in ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"):
            setattr(self, part, getattr(resnet, part))
        self.out_channels = resnet.fc.in_features  # 512 (ResNet-18/34) or 2048
        self.low_channels = self.out_channels // 8  # 64 or 256

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))  # (N, 64, H/4, W/4)
        low = self.layer1(x)  # (N, 64 or 256, H/4, W/4)
        x = self.layer3(self.layer2(low))  # (N, 256 or 1024, H/16 or H/8, ...)
        return low, self.layer4(x)  # (N, 512 or 2048, H/output_stride, W/output_stride)


def _make_backbone(
    backbone: str, in_channels: int, *, output_stride: int, base_channels: int, pretrained: bool
) -> nn.Module:
    _check_choice(backbone, "backbone", ("small",) + _RESNETS)
    _check_choice(output_stride, "output_stride", _OUTPUT_STRIDES)
    if backbone == "small":
        if pretrained:
            raise ValueError("pretrained_backbone=True needs a ResNet backbone; the small backbone has no weights")
        base_channels = check_int(base_channels, "base_channels")
        return _SmallBackbone(in_channels, base_channels=base_channels, output_stride=output_stride)
    if pretrained and in_channels != 3:
        raise ValueError(f"pretrained_backbone=True needs in_channels=3 (ImageNet weights), got {in_channels}")
    return _ResNetBackbone(backbone, in_channels, output_stride=output_stride, pretrained=pretrained)


def _feature_size(input_size: object, output_stride: int) -> tuple[int, int]:
    h, w = _size_pair(input_size, "input_size")
    return -(-h // output_stride), -(-w // output_stride)


# --------------------------------------------------------------------------- chapter 7: ASPP, DeepLab, PSPNet


class ASPPConv(nn.Sequential):
    """One atrous branch of ASPP: 3×3 convolution with dilation (and padding) `dilation`, BatchNorm, ReLU.

    Shape: `(N, in_channels, h, w) -> (N, out_channels, h, w)`.
    """

    def __init__(self, in_channels: int, out_channels: int, dilation: int) -> None:
        check_int(dilation, "dilation")
        super().__init__(
            nn.Conv2d(check_int(in_channels, "in_channels"), check_int(out_channels, "out_channels"), 3,
                      padding=dilation, dilation=dilation, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
        )
        self.in_channels = in_channels

    def forward(self, x: Tensor) -> Tensor:
        check_images(x, self.in_channels, module=self)
        return super().forward(x)


class ASPPPooling(nn.Sequential):
    """The image-pooling branch of ASPP: global average, 1×1 convolution, BatchNorm, ReLU, spread back.

    Shape: `(N, in_channels, h, w) -> (N, out_channels, h, w)`, constant over `h×w`. BatchNorm
    of a 1×1 map needs more than one image per batch in training mode.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(check_int(in_channels, "in_channels"), check_int(out_channels, "out_channels"), 1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
        )

    def forward(self, x: Tensor) -> Tensor:
        check_images(x, self[1].in_channels, module=self)
        _check_batch_norm_batch(self, x.shape[0], "ASPPPooling")
        size = x.shape[-2:]
        x = super().forward(x)  # (N, out_channels, 1, 1)
        return _resize(x, size)  # (N, out_channels, h, w)


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling (Chen et al. 2017, DeepLabv3), as in torchvision.

    Parallel branches in `self.convs`: a 1×1 convolution, one `ASPPConv` per atrous rate and an
    `ASPPPooling`, each `(N, out_channels, h, w)`; concatenated and projected back to
    `out_channels` by a 1×1 convolution (+ BatchNorm, ReLU, dropout).

    Args:
        in_channels: channels of the feature map.
        out_channels: channels of each branch and of the output (256 in the paper).
        atrous_rates: dilation of each 3×3 branch; (6, 12, 18) at output stride 16, doubled at 8.
        dropout: dropout after the projection.

    Shape:
        `(N, in_channels, h, w) -> (N, out_channels, h, w)`.

    >>> aspp = ASPP(32, out_channels=16, atrous_rates=(1, 2, 3)).eval()
    >>> aspp(torch.randn(1, 32, 9, 11)).shape
    torch.Size([1, 16, 9, 11])
    """

    def __init__(
        self,
        in_channels: int,
        *,
        out_channels: int = 256,
        atrous_rates: Sequence[int] = (6, 12, 18),
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        self.in_channels = check_int(in_channels, "in_channels")
        self.out_channels = check_int(out_channels, "out_channels")
        self.atrous_rates = check_ints(atrous_rates, "atrous_rates", allow_empty=True)
        branches: list[nn.Module] = [
            nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels), nn.ReLU())
        ]
        branches += [ASPPConv(in_channels, out_channels, rate) for rate in self.atrous_rates]
        branches.append(ASPPPooling(in_channels, out_channels))
        self.convs = nn.ModuleList(branches)
        self.project = nn.Sequential(
            nn.Conv2d(len(branches) * out_channels, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
            nn.Dropout(dropout),
        )

    def forward(self, x: Tensor) -> Tensor:
        check_images(x, self.in_channels, module=self)
        branches = [branch(x) for branch in self.convs]  # each (N, out_channels, h, w)
        x = torch.cat(branches, dim=1)  # (N, (len(rates) + 2)·out_channels, h, w)
        return self.project(x)  # (N, out_channels, h, w)

    def extra_repr(self) -> str:
        return f"atrous_rates={self.atrous_rates}"


class DeepLabHead(nn.Sequential):
    """DeepLabv3's head: ASPP, a 3×3 convolution (+ BatchNorm, ReLU) and 1×1 class scores."""

    def __init__(self, in_channels: int, num_classes: int, *, atrous_rates: Sequence[int], channels: int = 256) -> None:
        super().__init__(
            ASPP(in_channels, out_channels=check_int(channels, "channels"), atrous_rates=atrous_rates),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(),
            nn.Conv2d(channels, check_int(num_classes, "num_classes"), 1),
        )


def _default_rates(atrous_rates: Sequence[int] | None, output_stride: int) -> tuple[int, ...]:
    if atrous_rates is None:  # the paper's rates at output stride 16, doubled at 8 (and halved at 32)
        return tuple(r * 16 // output_stride for r in (6, 12, 18))
    return check_ints(atrous_rates, "atrous_rates", allow_empty=True)


def _init_deeplab(
    model: nn.Module,
    in_channels: int,
    num_classes: int,
    backbone: str,
    output_stride: int,
    atrous_rates: Sequence[int] | None,
    aspp_channels: int | None,
    base_channels: int,
    pretrained_backbone: bool,
) -> int:
    """Set up what DeepLabV3 and DeepLabV3Plus share (backbone, rates); return the ASPP width."""
    model.in_channels = check_int(in_channels, "in_channels")
    model.num_classes = check_int(num_classes, "num_classes")
    model.backbone_name, model.output_stride = backbone, output_stride
    model.backbone = _make_backbone(
        backbone, in_channels, output_stride=output_stride, base_channels=base_channels, pretrained=pretrained_backbone
    )
    model.atrous_rates = _default_rates(atrous_rates, output_stride)
    channels = aspp_channels if aspp_channels is not None else (4 * base_channels if backbone == "small" else 256)
    return check_int(channels, "aspp_channels")


class DeepLabV3(nn.Module):
    """DeepLabv3: a dilated backbone, ASPP, and bilinear upsampling of the scores (Chen et al. 2017).

    The backbone keeps its features at 1/`output_stride` of the input (⌈H/os⌉ × ⌈W/os⌉, see
    `feature_size`) by replacing the last strides with dilation (16: layer4 dilated by 2; 8:
    layer3 by 2 and layer4 by 4). `backbone="small"` is a CPU-sized ResNet-shaped net;
    `"resnet18"` ... `"resnet152"` are torchvision's, with ImageNet weights only when
    `pretrained_backbone=True` (this downloads them). `DeepLabV3(3, 21, backbone="resnet50",
    output_stride=8)` has the same modules and names as torchvision's `deeplabv3_resnet50`
    without the auxiliary head, so its state dict loads.

    Args:
        in_channels, num_classes: image channels and class count.
        backbone: "small", "resnet18", "resnet34", "resnet50", "resnet101" or "resnet152".
        output_stride: 8, 16 or 32.
        atrous_rates: ASPP rates; default (6, 12, 18) at output stride 16, (12, 24, 36) at 8.
        aspp_channels: ASPP width; default 256 for ResNets, 4·`base_channels` for "small".
        base_channels: width of the small backbone's first stage.
        pretrained_backbone: load torchvision's ImageNet weights into a ResNet backbone.

    Shape:
        `(N, in_channels, H, W) -> (N, num_classes, H, W)`.

    >>> model = DeepLabV3(3, 5, base_channels=4).eval()
    >>> model(torch.randn(1, 3, 37, 45)).shape
    torch.Size([1, 5, 37, 45])
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        *,
        backbone: str = "small",
        output_stride: int = 16,
        atrous_rates: Sequence[int] | None = None,
        aspp_channels: int | None = None,
        base_channels: int = 16,
        pretrained_backbone: bool = False,
    ) -> None:
        super().__init__()
        channels = _init_deeplab(
            self, in_channels, num_classes, backbone, output_stride, atrous_rates, aspp_channels, base_channels,
            pretrained_backbone,
        )  # fmt: skip
        self.classifier = DeepLabHead(
            self.backbone.out_channels, num_classes, atrous_rates=self.atrous_rates, channels=channels
        )

    def forward(self, x: Tensor) -> Tensor:
        check_images(x, self.in_channels, module=self)
        _, features = self.backbone(x)  # (N, C_b, ⌈H/os⌉, ⌈W/os⌉)
        scores = self.classifier(features)  # (N, K, ⌈H/os⌉, ⌈W/os⌉)
        return _resize(scores, x.shape[-2:])  # (N, K, H, W)

    def feature_size(self, input_size: int | tuple[int, int]) -> tuple[int, int]:
        """`(⌈H/os⌉, ⌈W/os⌉)`: the size of the backbone's output, where ASPP works.

        >>> DeepLabV3(3, 2, output_stride=8).feature_size((65, 73))
        (9, 10)
        """
        return _feature_size(input_size, self.output_stride)

    def extra_repr(self) -> str:
        return f"backbone={self.backbone_name!r}, output_stride={self.output_stride}, atrous_rates={self.atrous_rates}"


class DeepLabV3Plus(nn.Module):
    """DeepLabv3+: DeepLabv3's ASPP plus a decoder that refines with low-level features (Chen et al. 2018).

    The ASPP output (1/`output_stride`) is upsampled to the backbone's low-level features (1/4),
    which a 1×1 convolution reduces to `low_level_channels`; both are concatenated, refined by
    two 3×3 convolutions, scored by a 1×1 convolution and upsampled ×4 to the input. Plain
    convolutions here, not the paper's depthwise separable ones (or its Xception backbone).

    Args:
        in_channels, num_classes: image channels and class count.
        backbone, output_stride, atrous_rates, aspp_channels, base_channels, pretrained_backbone:
            as in `DeepLabV3` (default output stride 16, as in the paper).
        low_level_channels: width of the reduced low-level features; default 48 (the paper)
            for ResNets, scaled as `3·aspp_channels/16` for "small".

    Shape:
        `(N, in_channels, H, W) -> (N, num_classes, H, W)`.

    >>> model = DeepLabV3Plus(3, 5, base_channels=4).eval()
    >>> model(torch.randn(1, 3, 37, 45)).shape
    torch.Size([1, 5, 37, 45])
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        *,
        backbone: str = "small",
        output_stride: int = 16,
        atrous_rates: Sequence[int] | None = None,
        aspp_channels: int | None = None,
        low_level_channels: int | None = None,
        base_channels: int = 16,
        pretrained_backbone: bool = False,
    ) -> None:
        super().__init__()
        channels = _init_deeplab(
            self, in_channels, num_classes, backbone, output_stride, atrous_rates, aspp_channels, base_channels,
            pretrained_backbone,
        )  # fmt: skip
        if low_level_channels is None:
            low_level_channels = 48 if backbone != "small" else max(1, 3 * channels // 16)
        low_level_channels = check_int(low_level_channels, "low_level_channels")
        self.aspp = ASPP(self.backbone.out_channels, out_channels=channels, atrous_rates=self.atrous_rates)
        self.project = nn.Sequential(
            nn.Conv2d(self.backbone.low_channels, low_level_channels, 1, bias=False),
            nn.BatchNorm2d(low_level_channels),
            nn.ReLU(),
        )
        self.decoder = nn.Sequential(
            *_conv_bn_relu(channels + low_level_channels, channels), *_conv_bn_relu(channels, channels)
        )
        self.classifier = nn.Conv2d(channels, num_classes, 1)

    def forward(self, x: Tensor) -> Tensor:
        check_images(x, self.in_channels, module=self)
        low, features = self.backbone(x)  # (N, C_low, ⌈H/4⌉, ⌈W/4⌉), (N, C_b, ⌈H/os⌉, ⌈W/os⌉)
        y = _resize(self.aspp(features), low.shape[-2:])  # (N, C, ⌈H/4⌉, ⌈W/4⌉)
        y = torch.cat([y, self.project(low)], dim=1)  # (N, C + 48, ⌈H/4⌉, ⌈W/4⌉)
        y = self.classifier(self.decoder(y))  # (N, K, ⌈H/4⌉, ⌈W/4⌉)
        return _resize(y, x.shape[-2:])  # (N, K, H, W)

    def feature_size(self, input_size: int | tuple[int, int]) -> tuple[int, int]:
        """`(⌈H/os⌉, ⌈W/os⌉)`: the size of the backbone's output, where ASPP works."""
        return _feature_size(input_size, self.output_stride)

    def extra_repr(self) -> str:
        return f"backbone={self.backbone_name!r}, output_stride={self.output_stride}, atrous_rates={self.atrous_rates}"


class PyramidPooling(nn.Module):
    """PSPNet's pyramid pooling module (Zhao et al. 2017).

    For each bin count `b`: average-pool the map to `b×b`, 1×1 convolution to `branch_channels`
    (+ BatchNorm, ReLU), bilinear upsampling back to `h×w`; the branches are concatenated to
    the input, giving context from the whole image (bin 1) down to sub-regions (bin 6).

    Args:
        in_channels: channels of the feature map.
        bins: pooled sizes; (1, 2, 3, 6) in the paper.
        branch_channels: channels of each branch; default `in_channels // len(bins)`.

    Shape:
        `(N, in_channels, h, w) -> (N, out_channels, h, w)` with `out_channels =
        in_channels + len(bins)·branch_channels`.

    >>> ppm = PyramidPooling(32).eval()
    >>> ppm(torch.randn(1, 32, 5, 7)).shape, ppm.out_channels
    (torch.Size([1, 64, 5, 7]), 64)
    """

    def __init__(
        self, in_channels: int, *, bins: Sequence[int] = (1, 2, 3, 6), branch_channels: int | None = None
    ) -> None:
        super().__init__()
        self.in_channels = check_int(in_channels, "in_channels")
        self.bins = check_ints(bins, "bins")
        if branch_channels is None:
            branch_channels = in_channels // len(self.bins)
            if branch_channels < 1:
                raise ValueError(
                    f"in_channels ({in_channels}) must be >= len(bins) ({len(self.bins)}), or give branch_channels"
                )
        self.branch_channels = check_int(branch_channels, "branch_channels")
        self.stages = nn.ModuleList(
            nn.Sequential(
                nn.AdaptiveAvgPool2d(b),
                nn.Conv2d(in_channels, branch_channels, 1, bias=False),
                nn.BatchNorm2d(branch_channels),
                nn.ReLU(inplace=True),
            )
            for b in self.bins
        )
        self.out_channels = in_channels + len(self.bins) * branch_channels

    def forward(self, x: Tensor) -> Tensor:
        check_images(x, self.in_channels, module=self)
        if 1 in self.bins:
            _check_batch_norm_batch(self, x.shape[0], "PyramidPooling with bin 1")
        size = x.shape[-2:]
        pooled = [_resize(stage(x), size) for stage in self.stages]  # each (N, branch, b, b) -> (N, branch, h, w)
        return torch.cat([x, *pooled], dim=1)  # (N, in_channels + len(bins)·branch, h, w)

    def extra_repr(self) -> str:
        return f"bins={self.bins}"


class PSPNet(nn.Module):
    """PSPNet: a dilated backbone, pyramid pooling and a 3×3 head (Zhao et al. 2017).

    Args:
        in_channels, num_classes: image channels and class count.
        backbone, output_stride, base_channels, pretrained_backbone: as in `DeepLabV3`
            (default output stride 8, as in the paper).
        bins: pyramid pooling bins.
        head_channels: width of the 3×3 head; default 512 (the paper) for ResNets,
            4·`base_channels` for "small".
        dropout: dropout before the class scores.

    Shape:
        `(N, in_channels, H, W) -> (N, num_classes, H, W)`.

    >>> model = PSPNet(3, 5, base_channels=4).eval()
    >>> model(torch.randn(1, 3, 37, 45)).shape
    torch.Size([1, 5, 37, 45])
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        *,
        backbone: str = "small",
        output_stride: int = 8,
        bins: Sequence[int] = (1, 2, 3, 6),
        head_channels: int | None = None,
        base_channels: int = 16,
        pretrained_backbone: bool = False,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.in_channels = check_int(in_channels, "in_channels")
        self.num_classes = check_int(num_classes, "num_classes")
        self.backbone_name, self.output_stride = backbone, output_stride
        self.backbone = _make_backbone(
            backbone, in_channels, output_stride=output_stride, base_channels=base_channels,
            pretrained=pretrained_backbone,
        )  # fmt: skip
        self.ppm = PyramidPooling(self.backbone.out_channels, bins=bins)
        channels = head_channels if head_channels is not None else (4 * base_channels if backbone == "small" else 512)
        channels = check_int(channels, "head_channels")
        self.head = nn.Sequential(
            *_conv_bn_relu(self.ppm.out_channels, channels), nn.Dropout(dropout), nn.Conv2d(channels, num_classes, 1)
        )

    def forward(self, x: Tensor) -> Tensor:
        check_images(x, self.in_channels, module=self)
        _, features = self.backbone(x)  # (N, C_b, ⌈H/os⌉, ⌈W/os⌉)
        scores = self.head(self.ppm(features))  # (N, 2·C_b, ...) -> (N, K, ⌈H/os⌉, ⌈W/os⌉)
        return _resize(scores, x.shape[-2:])  # (N, K, H, W)

    def feature_size(self, input_size: int | tuple[int, int]) -> tuple[int, int]:
        """`(⌈H/os⌉, ⌈W/os⌉)`: the size of the backbone's output, where the pyramid pools."""
        return _feature_size(input_size, self.output_stride)

    def extra_repr(self) -> str:
        return f"backbone={self.backbone_name!r}, output_stride={self.output_stride}, bins={self.ppm.bins}"
