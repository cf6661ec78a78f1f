"""A U-Net learns real images: ISBI 2012 electron-microscopy membranes (the copy shipped in seglib).

Trained briefly on 24 training images (downsampled to 128×128) and evaluated on the other 6, it
must beat the trivial baseline, "cell" everywhere, by a clear margin. That baseline scores pixel
accuracy 0.7860 and mIoU 0.3930 on those 6 masks (seglib/_data/README.md).
"""

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from seglib.data import ISBIMembrane
from seglib.engine import evaluate, fit, seed_everything
from seglib.models import UNet

SIZE = 128


def _downsampled(dataset: ISBIMembrane, indices: range) -> TensorDataset:
    images = torch.stack([dataset[i][0] for i in indices])  # (n, 1, 256, 256)
    masks = torch.stack([dataset[i][1] for i in indices])  # (n, 256, 256)
    images = F.interpolate(images, size=(SIZE, SIZE), mode="area")
    masks = F.interpolate(masks[:, None].float(), size=(SIZE, SIZE), mode="nearest")[:, 0].long()
    return TensorDataset(images, masks)


def test_unet_beats_the_majority_baseline_on_held_out_membranes():
    dataset = ISBIMembrane()
    train, held_out = _downsampled(dataset, range(24)), _downsampled(dataset, range(24, 30))
    majority = float((held_out.tensors[1] == 1).float().mean())  # "cell" everywhere on the held-out images

    seed_everything(0)
    model = UNet(1, 2, base_channels=16, depth=3, batch_norm=True)
    loader = DataLoader(train, batch_size=4, shuffle=True)
    fit(model, loader, steps=120, optimizer=torch.optim.Adam(model.parameters(), lr=3e-3), progress=False)
    scores = evaluate(model, DataLoader(held_out, batch_size=6), num_classes=2)

    assert 0.70 < majority < 0.85, majority  # the baseline is what the data's README says it is
    assert scores["pixel_accuracy"] > majority + 0.07, scores
    assert scores["mean_iou"] > 0.60, scores  # the baseline's mIoU is about 0.39
