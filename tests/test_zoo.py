"""The shipped real data and the model zoo: sizes, checksums, and every checkpoint re-evaluated.

The zoo's cards store held-out metrics computed by seglib when the models were trained. Here
each checkpoint is run again on its held-out split and scored with torchmetrics (the oracle),
which must reproduce the card to 1e-4, and clear the thresholds the course promises.
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
from torchmetrics.functional.classification import multiclass_accuracy, multiclass_jaccard_index

from seglib import zoo
from seglib.data import SHIPPED_DATA, CamVid, ISBIMembrane
from seglib.engine import flip_tta

SHARED = Path(os.environ.get("SEGLIB_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
CAMVID_MODELS = ["fcn8s-camvid", "segnet-camvid", "unet-camvid", "deeplabv3plus-camvid"]


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


def test_shipped_data_is_small_and_matches_its_checksums():
    assert sum(p.stat().st_size for p in _files(SHIPPED_DATA)) < 15e6
    for name in ("isbi2012_membrane", "camvid"):
        folder = SHIPPED_DATA / name
        listed = {}
        for line in (folder / "SHA256SUMS").read_text().splitlines():
            digest, path = line.split("  ", 1)
            listed[path] = digest
        on_disk = {p.relative_to(folder).as_posix() for p in _files(folder)} - {"SHA256SUMS"}
        assert set(listed) == on_disk
        for path, digest in listed.items():
            assert hashlib.sha256((folder / path).read_bytes()).hexdigest() == digest, path
    assert (SHIPPED_DATA / "camvid" / "SOURCE_README.md").is_file()
    assert (SHIPPED_DATA / "isbi2012_membrane" / "SOURCE_LICENSE.txt").is_file()
    assert "non-commercial" in (SHIPPED_DATA / "README.md").read_text().lower()


def test_loaders_read_the_shipped_copies_by_default():
    isbi, train, val = ISBIMembrane(), CamVid(split="train"), CamVid(split="val")
    assert (len(isbi), len(train), len(val)) == (30, 62, 101)
    image, mask = isbi[0]
    assert image.shape == (1, 256, 256) and set(mask.unique().tolist()) == {0, 1}
    image, mask = val[0]
    assert image.shape == (3, 180, 240) and image.dtype == torch.float32
    assert set(mask.unique().tolist()) <= set(range(11)) | {255}


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"full-size data not found at {SHARED} (set SEGLIB_SHARED_DATA)")
@pytest.mark.parametrize("name, split, stem", [("camvid", "val", "0016E5_07959"), ("isbi2012_membrane", "train", "7")])
def test_shipped_copy_is_the_full_size_data_halved(name, split, stem):
    full_mask = np.asarray(Image.open(SHARED / name / split / "masks" / f"{stem}.png"))
    small_mask = np.asarray(Image.open(SHIPPED_DATA / name / split / "masks" / f"{stem}.png"))
    assert small_mask.shape == (full_mask.shape[0] // 2, full_mask.shape[1] // 2)
    if name == "camvid":  # PIL's nearest neighbour, halving, reads the lower-right pixel of each 2×2 block
        np.testing.assert_array_equal(small_mask, full_mask[1::2, 1::2])
    else:  # ISBI: membrane (0) where at least 2 of the 4 pixels of the block are membrane
        membrane = torch.from_numpy(full_mask == 0).double()[None, None]
        voted = F.avg_pool2d(membrane, 2)[0, 0] >= 0.5
        np.testing.assert_array_equal(small_mask, np.where(voted.numpy(), 0, 255))
        assert set(np.unique(small_mask)) == {0, 255}
    full = np.asarray(Image.open(SHARED / name / split / "images" / f"{stem}.png"), dtype=np.float64)
    small_path = next((SHIPPED_DATA / name / split / "images").glob(f"{stem}.*"))
    small = np.asarray(Image.open(small_path), dtype=np.float64)
    block_mean = full.reshape(full.shape[0] // 2, 2, full.shape[1] // 2, 2, *full.shape[2:]).mean(axis=(1, 3))
    error = np.abs(small - block_mean)
    if small_path.suffix == ".png":  # lossless (ISBI): the 2×2 mean, rounded to an integer
        assert error.max() <= 1.0
    else:  # JPEG (CamVid): a few grey levels on average
        assert error.mean() < 4.0


def test_zoo_lists_every_recipe_and_stays_small():
    assert zoo.available() == list(zoo.RECIPES)
    assert sum(p.stat().st_size for p in zoo.ZOO_DIR.glob("*.pt")) < 25e6
    with pytest.raises(ValueError, match="no zoo model called 'unet'"):
        zoo.load("unet")


@pytest.mark.parametrize("name", list(zoo.RECIPES))
def test_zoo_checkpoint_reproduces_its_card(name):
    info = zoo.card(name)
    for key in ("command", "seed", "steps", "wall_time_s", "device", "torch", "heldout"):
        assert key in info, key
    assert info["steps"] == zoo.recipe(name).steps and info["command"] == f"python -m seglib.zoo train {name}"
    model = zoo.load(name)
    assert not model.training and all(p.dtype == torch.float32 for p in model.parameters())
    _, held_out = zoo.datasets(name)
    num_classes = len(info["classes"])
    preds, targets = [], []
    with torch.no_grad():
        for image, mask in DataLoader(held_out, batch_size=1):
            scores = flip_tta(model, image) if zoo.recipe(name).tta else model(image)
            preds.append(scores.argmax(1))
            targets.append(mask)
    preds, targets = torch.cat(preds), torch.cat(targets)
    miou = multiclass_jaccard_index(preds, targets, num_classes, average="macro", ignore_index=255)
    accuracy = multiclass_accuracy(preds, targets, num_classes, average="micro", ignore_index=255)
    stored = info["heldout"]
    assert abs(float(miou) - stored["mean_iou"]) <= 1e-4, (float(miou), stored)
    assert abs(float(accuracy) - stored["pixel_accuracy"]) <= 1e-4, (float(accuracy), stored)
    per_class = multiclass_jaccard_index(preds, targets, num_classes, average=None, ignore_index=255)
    torch.testing.assert_close(per_class.double(), torch.tensor(stored["iou"], dtype=torch.float64), atol=1e-4, rtol=0)


def test_zoo_models_clear_the_promised_thresholds():
    """Far above the majority baselines (ISBI held out 0.39, CamVid val 0.027; seglib/_data/README.md)."""
    assert zoo.card("unet-isbi")["heldout"]["mean_iou"] >= 0.80
    camvid = {name: zoo.card(name)["heldout"]["mean_iou"] for name in CAMVID_MODELS}
    assert min(camvid.values()) >= 0.30, camvid
    assert max(camvid.values()) >= 0.45, camvid


def test_zoo_training_pipeline_runs_and_writes_a_loadable_card(tmp_path):
    info = zoo.train("unet-isbi", steps=2, out_dir=tmp_path, device="cpu")
    assert info["steps"] == 2 and "(steps=2)" in info["command"]
    saved = torch.load(tmp_path / "unet-isbi.pt", weights_only=True)
    assert saved["card"] == info
    assert all(v.dtype == torch.float16 for v in saved["model"].values() if v.is_floating_point())
    # The card scores the saved weights in eval mode (BatchNorm's running statistics), whatever
    # mode the model is handed in: after 2 steps, batch statistics would give other numbers.
    model = zoo.build("unet-isbi")
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in saved["model"].items()})
    assert model.training
    assert zoo.evaluate("unet-isbi", model) == info["heldout"]
    assert model.training  # its mode is given back
