"""Insert the real-image sections (seglib.zoo on CamVid and ISBI) into chapters 4, 6 and 7.

Idempotent: where a chapter already has the section (by cell id), its cells' text is updated in
place. A new section goes just before the chapter's "## Summary" heading, or the heading named in
`main` (a markdown cell holding more text before that heading is split there).
"""

import sys
from pathlib import Path

import nbformat

BOOK = Path(__file__).resolve().parents[1] / "book"


def md(cell_id: str, text: str) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_markdown_cell(text.strip("\n"))
    cell.id = cell_id
    return cell


def code(cell_id: str, text: str) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(text.strip("\n"))
    cell.id = cell_id
    return cell


def insert_before_summary(path: Path, cells: list, heading: str = "## Summary") -> None:
    nb = nbformat.read(path, as_version=4)
    present = {c.get("id"): c for c in nb.cells}
    if cells[0].id in present:  # the section is there: bring its cells' text up to date
        changed = [c.id for c in cells if c.id in present and present[c.id].source != c.source]
        for c in cells:
            if c.id in present:
                present[c.id].source = c.source
        nbformat.write(nb, path)
        print(f"{path.name}: section present, {len(changed)} cells updated")
        return
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown" and heading in cell.source:
            before, summary = cell.source.split(heading, 1)
            if before.strip():
                cell.source = before.rstrip("\n")
                rest = md(f"{cells[0].id}-next", heading + summary)
                nb.cells[i + 1 : i + 1] = cells + [rest]
            else:
                nb.cells[i:i] = cells
            break
    else:
        raise SystemExit(f"{path}: no {heading!r} heading")
    nbformat.write(nb, path)
    print(f"{path.name}: added {len(cells)} cells")


IMPORTS = """
from IPython.display import Markdown, display

from seglib import zoo
from seglib.data import CamVid, ISBIMembrane
from seglib.metrics import confusion_matrix, iou, mean_iou, pixel_accuracy
from seglib.viz import iou_table, show_predictions
"""

CH4 = [
    md("zoo-fcn-intro", r"""
## FCN-8s on real street scenes

The synthetic shapes show what the skips do. A photograph shows what the whole network can and
cannot do. `seglib.zoo` holds an FCN-8s that was trained for a few minutes on a CPU on 62
street scenes from CamVid {cite}`brostow2009camvid`: eleven classes (sky, building, pole,
road, ...) plus a *void* label for pixels nobody labelled, which counts for nothing. Its card
records how it was trained. Here it labels the 101 validation images it never saw, at
$240\times180$ pixels, and we score it with one confusion matrix (chapter 8), next to the
simplest baseline, "road" everywhere.
"""),
    code("zoo-fcn-score", IMPORTS + r'''
card, fcn_real = zoo.card("fcn8s-camvid"), zoo.predict_held_out("fcn8s-camvid")
# The zoo stored these metrics when it trained the model: the same weights give the same numbers.
assert abs(float(mean_iou(fcn_real.confusion_matrix)) - card["heldout"]["mean_iou"]) <= 1e-4
assert torch.allclose(iou(fcn_real.confusion_matrix).double(), torch.tensor(card["heldout"]["iou"]).double(), atol=1e-4, rtol=0)
print(f"{card['description']}: {card['steps']} steps, {card['wall_time_s']:.0f} s on {card['device']}")
display(Markdown(iou_table({"FCN-8s": fcn_real.confusion_matrix}, CamVid.CLASSES)))

road_everywhere = confusion_matrix(torch.full_like(fcn_real.masks, 3), fcn_real.masks, 11, ignore_index=255)
fcn_miou, baseline_miou = float(mean_iou(fcn_real.confusion_matrix)), float(mean_iou(road_everywhere))
print(f"FCN-8s mIoU {fcn_miou:.3f}; 'road everywhere' mIoU {baseline_miou:.3f}")
assert fcn_miou >= 0.30 and fcn_miou > 10 * baseline_miou
'''),
    md("zoo-fcn-figure", r"""
Three of the validation images, with what FCN-8s predicts and where it is wrong (red; void
pixels grey):
"""),
    code("zoo-fcn-show", r'''
shown = [0, 50, 100]
fig = show_predictions(fcn_real.images[shown], fcn_real.masks[shown], fcn_real.predictions[shown],
                       palette=CamVid.PALETTE, class_names=CamVid.CLASSES, ignore_index=255, max_items=3,
                       errors=True)
plt.show()

per_class = iou(fcn_real.confusion_matrix)
large = [CamVid.CLASSES.index(c) for c in ("sky", "building", "road")]
thin = [CamVid.CLASSES.index(c) for c in ("pole", "sign", "pedestrian", "bicyclist")]
labelled = fcn_real.masks != 255
wrong = (fcn_real.predictions != fcn_real.masks) & labelled
# Pixels within 2 px of a pixel of another class: the 5×5 max and min of the labels differ.
x = fcn_real.masks[:, None].float()
edges = (F.max_pool2d(x, 5, 1, 2) != -F.max_pool2d(-x, 5, 1, 2))[:, 0]
share_of_errors, share_of_pixels = float(edges[wrong].float().mean()), float(edges[labelled].float().mean())
print(f"IoU of sky, building, road: {per_class[large].mean():.2f}; of pole, sign, pedestrian, bicyclist: {per_class[thin].mean():.2f}")
print(f"pixels within 2 px of a class boundary: {share_of_pixels:.0%} of all labelled pixels, {share_of_errors:.0%} of the errors")
assert per_class[large].mean() > 2 * per_class[thin].mean()
assert share_of_errors > 1.5 * share_of_pixels
'''),
    md("zoo-fcn-discussion", r"""
The large classes are mostly right; the thin and small ones (poles, signs, people, cyclists)
are where FCN-8s fails, and its errors crowd along the boundaries between classes, far more
than the boundary pixels' share of the image. Both follow from the design: the finest scores
FCN-8s computes are at $1/8$ of the image, $30\times23$ vectors for a $240\times180$ scene, and
everything finer is interpolated. A pole two pixels wide never owns a score vector of its own.
The encoder–decoders of chapter 6 attack exactly this.
"""),
]


CH6 = [
    md("zoo-unet-intro", r"""
## On real images: U-Net on its own data, SegNet and U-Net on street scenes

The synthetic shapes keep training short. The real test is the data these networks were made
for. U-Net was designed for the ISBI 2012 electron-microscopy stacks {cite}`ronneberger2015unet`:
grey images of nerve tissue in which the thin dark membranes between cells must be traced.
seglib ships the 30 labelled images, halved to $256\times256$, and `seglib.zoo` holds a small
U-Net (three poolings, $16$ channels at the first level) trained on 24 of them for a quarter
of an hour on a CPU; the other 6 are held out. Membrane is the hard class: about a fifth of
the pixels, in lines one to three pixels wide. The baseline labels every pixel "cell".
"""),
    code("zoo-unet-isbi", IMPORTS + r'''
card, isbi_real = zoo.card("unet-isbi"), zoo.predict_held_out("unet-isbi")
# The zoo stored these metrics when it trained the model: the same weights give the same numbers.
assert abs(float(mean_iou(isbi_real.confusion_matrix)) - card["heldout"]["mean_iou"]) <= 1e-4
assert torch.allclose(iou(isbi_real.confusion_matrix).double(), torch.tensor(card["heldout"]["iou"]).double(), atol=1e-4, rtol=0)
print(f"{card['description']}: {card['steps']} steps, {card['wall_time_s']:.0f} s on {card['device']}")

cell_everywhere = confusion_matrix(torch.ones_like(isbi_real.masks), isbi_real.masks, 2)
display(Markdown(iou_table({"U-Net": isbi_real.confusion_matrix, "'cell' everywhere": cell_everywhere},
                           ISBIMembrane.CLASSES)))
isbi_miou = float(mean_iou(isbi_real.confusion_matrix))
assert isbi_miou >= 0.75 and isbi_miou > float(mean_iou(cell_everywhere)) + 0.3

# Where are the errors? Pixels within one pixel of the other class (a 3×3 neighbourhood).
x = isbi_real.masks[:, None].float()
edge = (F.max_pool2d(x, 3, 1, 1) != -F.max_pool2d(-x, 3, 1, 1))[:, 0]
wrong = isbi_real.predictions != isbi_real.masks
print(f"{edge.float().mean():.0%} of the pixels lie on a membrane's edge; {edge[wrong].float().mean():.0%} of the errors do")
assert edge[wrong].float().mean() > 2 * edge.float().mean()

fig = show_predictions(isbi_real.images[:2], isbi_real.masks[:2], isbi_real.predictions[:2],
                       palette=ISBIMembrane.PALETTE, class_names=ISBIMembrane.CLASSES, max_items=2, errors=True)
plt.show()
'''),
    md("zoo-unet-isbi-read", r"""
The membranes come out as connected lines, and the errors sit mostly on their edges: a pixel's
disagreement about where a line starts, the kind of error the paper's weighted loss and
full-resolution training were designed to squeeze (its network, trained on a GPU, led the
challenge). A map of which pixels a model gets wrong is worth drawing for every model: a
single mIoU hides *where* the errors are.

Street scenes ask more of a network: eleven classes, objects at every size. The zoo has a
SegNet and a U-Net trained on 62 CamVid frames (chapter 4 scored FCN-8s on the same data),
both with the same recipe but for the number of steps: random crops of $160\times120$ pixels
with flips, small rotations and colour jitter, class-weighted cross-entropy, AdamW with a
one-cycle schedule. Each is scored on the 101 validation frames, void pixels left out.
"""),
    code("zoo-segnet-camvid", r'''
camvid_real, camvid_cards = {}, {}


def score_on_camvid(label: str, name: str) -> None:
    """Label the 101 CamVid val frames with zoo model `name`, check its card, keep the result as `label`."""
    card, result = zoo.card(name), zoo.predict_held_out(name)
    assert abs(float(mean_iou(result.confusion_matrix)) - card["heldout"]["mean_iou"]) <= 1e-4
    assert torch.allclose(iou(result.confusion_matrix).double(), torch.tensor(card["heldout"]["iou"]).double(), atol=1e-4, rtol=0)
    camvid_real[label], camvid_cards[label] = result, card
    parameters = sum(p.numel() for p in zoo.build(name).parameters())
    print(f"{label}: {parameters:,d} parameters, {card['steps']:,d} steps in {card['wall_time_s']:.0f} s on {card['device']}, "
          f"val mIoU {float(mean_iou(result.confusion_matrix)):.3f}")


score_on_camvid("SegNet", "segnet-camvid")
'''),
    code("zoo-unet-camvid", r'''
score_on_camvid("U-Net", "unet-camvid")
'''),
    code("zoo-camvid-compare", r'''
display(Markdown(iou_table({k: v.confusion_matrix for k, v in camvid_real.items()}, CamVid.CLASSES)))
assert all(float(mean_iou(r.confusion_matrix)) >= 0.30 for r in camvid_real.values())

miou = {label: float(mean_iou(r.confusion_matrix)) for label, r in camvid_real.items()}
winner, other = sorted(miou, key=miou.get, reverse=True)
print(f"{winner} scores the higher mIoU, {miou[winner]:.3f} after {camvid_cards[winner]['steps']:,d} steps, "
      f"against {miou[other]:.3f} after {camvid_cards[other]['steps']:,d} steps.")
thin = [CamVid.CLASSES.index(c) for c in ("pole", "sign")]
for label, r in camvid_real.items():
    print(f"{label}: IoU of pole {float(iou(r.confusion_matrix)[thin[0]]):.2f}, of sign {float(iou(r.confusion_matrix)[thin[1]]):.2f}")
    assert float(iou(r.confusion_matrix)[thin].max()) < 0.25
train_masks = torch.stack([mask for _, mask in zoo.datasets("unet-camvid")[0]])
share = torch.bincount(train_masks[train_masks != 255], minlength=11).double() / int((train_masks != 255).sum())
print(f"share of the labelled training pixels: pole {share[thin[0]]:.1%}, sign {share[thin[1]]:.1%}")
assert share[thin].max() < 0.02
'''),
    code("zoo-unet-camvid-show", r'''
shown = [10, 60]
unet_real = camvid_real["U-Net"]
fig = show_predictions(unet_real.images[shown], unet_real.masks[shown], unet_real.predictions[shown],
                       palette=CamVid.PALETTE, class_names=CamVid.CLASSES, ignore_index=255, max_items=2, errors=True)
plt.show()
'''),
    md("zoo-unet-camvid-read", r"""
Both networks find the large classes, sky, road, buildings and trees, and both miss nearly
every pole and sign: those are thin, often one or two pixels wide at $240\times180$, and rare
(under 2 % of the training pixels each), so a few minutes of training on 62 frames teaches
them little. The skips of U-Net and the pooling indices of SegNet bring back *where* an edge
was; they cannot invent a class the encoder never learned to see. Which of the two scores
higher at these small and unequal budgets is printed above, and says little about the two
designs; with all 367 training frames, pretrained
encoders and long GPU schedules, published models {cite}`badrinarayanan2017segnet` score far
higher on CamVid. Chapter 7 adds DeepLabv3+ to the comparison.
"""),
]


CH7 = [
    md("zoo-deeplab-intro", r'''
## DeepLabv3+ on real street scenes

A few minutes of training on a CPU is enough to see DeepLabv3+ work where its design is meant
to: real photographs, where a map at $1/8$ of the image is still $30\times23$ vectors and
context across the scene tells a pavement from a road. The DeepLabv3+ in `seglib.zoo` (the
`small` backbone, output stride $8$) was trained on the same 62 CamVid frames as the FCN-8s of
chapter 4 and the SegNet and U-Net of chapter 6, with the same crops, augmentation and loss;
here it labels the 101 validation frames. Its ASPP rates are $3, 6, 9$, not the paper's
$12, 24, 36$ at output stride $8$ {cite}`chen2017deeplabv3`: those were chosen for the
$65\times65$ maps of $513$-pixel crops, and on our $15\times20$ training maps most of their
taps would read padding, as the receptive-field section showed. The rates scale with the map.
'''),
    code("zoo-deeplab-camvid", IMPORTS + r'''
card, deeplab_real = zoo.card("deeplabv3plus-camvid"), zoo.predict_held_out("deeplabv3plus-camvid")
# The zoo stored these metrics when it trained the model: the same weights give the same numbers.
assert abs(float(mean_iou(deeplab_real.confusion_matrix)) - card["heldout"]["mean_iou"]) <= 1e-4
assert torch.allclose(iou(deeplab_real.confusion_matrix).double(), torch.tensor(card["heldout"]["iou"]).double(), atol=1e-4, rtol=0)
display(Markdown(iou_table({"DeepLabv3+": deeplab_real.confusion_matrix}, CamVid.CLASSES)))

# The four CamVid models of the zoo side by side (the other three are re-scored in chapters 4 and 6,
# and every card in the test suite).
rows = ["| model | parameters | training steps | training time (2 CPU cores) | val mIoU |", "|---|---:|---:|---:|---:|"]
zoo_miou = {}
for label, name in (("FCN-8s", "fcn8s-camvid"), ("SegNet", "segnet-camvid"), ("U-Net", "unet-camvid"),
                    ("DeepLabv3+", "deeplabv3plus-camvid")):
    info = zoo.card(name)
    zoo_miou[label] = info["heldout"]["mean_iou"]
    parameters = sum(p.numel() for p in zoo.build(name).parameters())
    rows.append(f"| {label} | {parameters:,d} | {info['steps']:,d} | {info['wall_time_s'] / 60:.0f} min | {zoo_miou[label]:.3f} |")
display(Markdown("\n".join(rows)))
assert min(zoo_miou.values()) >= 0.30 and max(zoo_miou.values()) >= 0.45
'''),
    code("zoo-deeplab-show", r'''
shown = [5, 55, 95]
fig = show_predictions(deeplab_real.images[shown], deeplab_real.masks[shown], deeplab_real.predictions[shown],
                       palette=CamVid.PALETTE, class_names=CamVid.CLASSES, ignore_index=255, max_items=3, errors=True)
plt.show()

ranking = sorted(zoo_miou, key=zoo_miou.get, reverse=True)
print("ranking at this budget:", " > ".join(f"{m} ({zoo_miou[m]:.3f})" for m in ranking))
'''),
    md("zoo-deeplab-read", r"""
Every model of the zoo is far above the "road everywhere" baseline of chapter 4 ($0.027$), and
the ranking printed above is a fact about *this* budget: a few minutes on a CPU, a different
number of steps for each, 62 training frames, no pretrained encoder. It is not a verdict on the
architectures. A small, cheap network that takes many steps can beat a stronger one that took
few, and DeepLab's strengths, wide context from ASPP and a deep pretrained backbone, matter
most on large images and long schedules, where it leads the benchmarks (next sections).
Comparing architectures fairly means equal compute, several seeds and the same data, and
the practice chapter returns to that.
"""),
]


CH9 = [
    md("shipped-data-intro", r"""
### Two real data sets that ship with seglib

Not every example needs a download. seglib carries two small real data sets inside the package,
so they load offline, locally and on Colab: the ISBI 2012 electron-microscopy membranes
{cite}`cardona2010drosophila,arganda2015crowdsourcing` (the 30 labelled images, U-Net's data; MIT licence) and a
CamVid subset {cite}`brostow2008camvid,brostow2009camvid` (62 training and all 101 validation street scenes,
SegNet's data; CC BY-NC 4.0, for **non-commercial** use only), both halved in size.
`ISBIMembrane()` and `CamVid(split=...)` read them when no folder is given;
`seglib/_data/README.md` lists their sources, licences, class frequencies and baselines.
Chapters 4, 6 and 7 show the zoo's models (`seglib.zoo`) on them.
"""),
    code("shipped-data-load", r'''
from seglib.data import CamVid, ISBIMembrane
from seglib.viz import show_predictions

shipped = {"ISBI 2012 membranes": ISBIMembrane(), "CamVid train": CamVid(split="train"), "CamVid val": CamVid(split="val")}
for name, dataset in shipped.items():
    image, mask = dataset[0]
    print(f"{name}: {len(dataset)} pairs, image {tuple(image.shape)}, {len(dataset.classes)} classes, "
          f"labels in the first mask {mask.unique().tolist()}")
assert [len(d) for d in shipped.values()] == [30, 62, 101]

camvid_val = shipped["CamVid val"]
images, masks = (torch.stack(t) for t in zip(*(camvid_val[i] for i in (0, 50))))
fig = show_predictions(images, masks, palette=CamVid.PALETTE, class_names=CamVid.CLASSES, ignore_index=255)
plt.show()
'''),
]


def main() -> None:
    chapters = {"04_fcn.ipynb": CH4, "06_unet.ipynb": CH6, "07_atrous_aspp.ipynb": CH7, "09_practice.ipynb": CH9}
    headings = {"07_atrous_aspp.ipynb": "## Depthwise separable convolution", "09_practice.ipynb": "## Joint augmentation"}
    for name, cells in chapters.items():
        if len(sys.argv) > 1 and name not in sys.argv[1:]:
            continue
        insert_before_summary(BOOK / name, cells, headings.get(name, "## Summary"))


if __name__ == "__main__":
    main()
