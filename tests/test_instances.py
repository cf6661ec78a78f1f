"""`SyntheticShapes.instance_mask` against what the drawing itself reports: the semantic mask and `visible`."""

import pytest
import torch
from torchvision.ops import masks_to_boxes
from torchvision.transforms import v2

from seglib.data import SyntheticShapes


def _check_item(ds: SyntheticShapes, index: int) -> None:
    instances, shapes = ds.instance_mask(index), ds.shapes(index)
    _, mask = ds[index]
    n = len(shapes)
    assert instances.shape == mask.shape == (ds.size, ds.size)
    assert instances.dtype == torch.int64
    assert 0 <= int(instances.min()) and int(instances.max()) <= n
    # Each instance covers exactly the pixels the drawing counted as visible for its shape.
    counts = torch.bincount(instances.flatten(), minlength=n + 1)
    assert counts[1:].tolist() == [s.visible for s in shapes]
    assert int(counts[0]) == int((mask == 0).sum())
    # Mapping each instance id to its shape's class gives the semantic mask back, pixel for pixel.
    labels = torch.tensor([0] + [s.label for s in shapes])
    assert torch.equal(labels[instances], mask)
    assert torch.equal(instances > 0, mask > 0)
    # No shape shows more than it covers on its own.
    assert all(s.visible <= s.area for s in shapes)


@pytest.mark.parametrize("size", [32, 64, 128, 256])
def test_instance_mask_matches_mask_and_visible_counts(size):
    ds = SyntheticShapes(6, size, seed=0)
    for index in range(len(ds)):
        _check_item(ds, index)


@pytest.mark.parametrize("seed,max_shapes,hard", [(1, 1, False), (2, 6, False), (3, 8, True)])
def test_instance_mask_other_settings(seed, max_shapes, hard):
    ds = SyntheticShapes(12, 48, seed=seed, max_shapes=max_shapes, hard=hard)
    for index in range(len(ds)):
        _check_item(ds, index)


def test_occlusion_is_respected():
    """An occluded shape keeps only its visible pixels; the shape on top takes the rest."""
    ds = SyntheticShapes(40, 64, seed=0, max_shapes=6)
    occluded = [(i, k) for i in range(len(ds)) for k, s in enumerate(ds.shapes(i), start=1) if s.visible < s.area]
    assert occluded, "expected some occluded shape among 40 images"
    for index, k in occluded[:10]:
        instances, shape = ds.instance_mask(index), ds.shapes(index)[k - 1]
        assert int((instances == k).sum()) == shape.visible < shape.area


def test_boxes_from_instances_contain_their_pixels():
    """Boxes from the instance masks (torchvision's masks_to_boxes) enclose each visible shape."""
    ds = SyntheticShapes(4, 64, seed=0)
    for index in range(len(ds)):
        instances, shapes = ds.instance_mask(index), ds.shapes(index)
        ids = [k for k, s in enumerate(shapes, start=1) if s.visible > 0]
        boxes = masks_to_boxes(torch.stack([instances == k for k in ids]))  # (n, 4) as x1, y1, x2, y2
        for k, (x1, y1, x2, y2) in zip(ids, boxes.long().tolist()):
            rows, cols = torch.nonzero(instances == k, as_tuple=True)
            assert (int(cols.min()), int(rows.min()), int(cols.max()), int(rows.max())) == (x1, y1, x2, y2)


def test_negative_index_and_transforms():
    ds = SyntheticShapes(5, 32, seed=0)
    assert torch.equal(ds.instance_mask(-1), ds.instance_mask(4))
    flipped = SyntheticShapes(5, 32, seed=0, transforms=v2.RandomHorizontalFlip(p=1.0))
    assert torch.equal(flipped.instance_mask(2), ds.instance_mask(2))  # the item as drawn, like shapes()


def test_instance_mask_rejects_bad_index():
    ds = SyntheticShapes(3, 32)
    with pytest.raises(IndexError):
        ds.instance_mask(3)
    with pytest.raises(TypeError):
        ds.instance_mask(1.0)
