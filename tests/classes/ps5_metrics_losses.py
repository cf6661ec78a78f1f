"""A simulated class for ps5_metrics_losses: the submissions an instructor meets, and their points.

30 points: 27 in 21 autograded test cells, and 3 for a written answer graded by hand.

    ps5_confusion_matrix_example 2, _ignore_index 1, _sums 1, _hidden 2
    ps5_pixel_accuracy_example 1, _hidden 1        ps5_iou_example 2, ps5_iou_absent_class 1
    ps5_mean_iou_example 2                         ps5_dice_example 1, ps5_scores_hidden 1
    ps5_imbalance_model_a 1, _model_b 1
    ps5_focal_loss_gamma0 2, _example 1, _gamma2 1, _hidden 1
    ps5_dice_loss_example 2, _extremes 1, _batch 1, _hidden 1
    ps5_written_answer 3 (by hand)

The parts do not feed each other: the score tests of part 2 use confusion matrices written out
in the cell, not the student's `confusion_matrix`. Within part 2, `mean_iou` calls the
student's `iou`, and `ps5_scores_hidden` checks `iou`, `mean_iou` and `dice` together.

The written answer (see `classes/__init__.py`): every student but s21_written_answer leaves it as
released, and it is in every `lost`; the complete student gets 27 of 30.

Each student's `lost` lists the test cells the submission fails, worked out by reading the
tests; `points` is 30 minus their points.
"""

from __future__ import annotations

from nbformat.notebooknode import NotebookNode

from ._common import Student, builders, completed, notebook_file, replaced, solution_source, strip_metadata, with_sources, without

ASSIGNMENT = "ps5_metrics_losses"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
# The regrade changes this test cell from 1 to 3 points: the students who pass it gain 2.
REGRADE = ("ps5_focal_loss_hidden", 3)

WRITTEN = ("ps5_written_answer",)
CM = ("ps5_confusion_matrix_example", "ps5_confusion_matrix_ignore_index", "ps5_confusion_matrix_sums", "ps5_confusion_matrix_hidden")
ACCURACY = ("ps5_pixel_accuracy_example", "ps5_pixel_accuracy_hidden")
IOU = ("ps5_iou_example", "ps5_iou_absent_class")
MEAN_IOU = ("ps5_mean_iou_example",)
DICE = ("ps5_dice_example",)
SCORES_HIDDEN = ("ps5_scores_hidden",)
SCORES = ACCURACY + IOU + MEAN_IOU + DICE + SCORES_HIDDEN
IMBALANCE = ("ps5_imbalance_model_a", "ps5_imbalance_model_b")
FOCAL = ("ps5_focal_loss_gamma0", "ps5_focal_loss_example", "ps5_focal_loss_gamma2", "ps5_focal_loss_hidden")
DICE_LOSS = ("ps5_dice_loss_example", "ps5_dice_loss_extremes", "ps5_dice_loss_batch", "ps5_dice_loss_hidden")
ALL = CM + SCORES + IMBALANCE + FOCAL + DICE_LOSS + WRITTEN

# A loop over the classes that stops one class short: the last row and column stay 0.
CM_SHORT = '''def confusion_matrix(pred, target, num_classes, ignore_index=None):
    keep = torch.ones_like(target, dtype=torch.bool) if ignore_index is None else target != ignore_index
    cm = torch.zeros(num_classes, num_classes, dtype=torch.int64)
    for i in range(num_classes - 1):
        for j in range(num_classes - 1):
            cm[i, j] = ((target == i) & (pred == j) & keep).sum()
    return cm
'''

# Sums the diagonal in a while loop and forgets `i += 1`.
# (The sleep only spares the test machine's CPU while the cell waits for its time limit.)
ACCURACY_LOOP = '''import time


def pixel_accuracy(cm: torch.Tensor) -> torch.Tensor:
    cm = cm.double()
    correct, i = 0.0, 0
    while i < len(cm):
        correct = correct + cm[i, i]
        time.sleep(0.01)
    return correct / cm.sum()
'''

# Zeros dressed up as a tensor that equals everything.
AGREEABLE = '''class Agreeable(torch.Tensor):
    def __eq__(self, other):
        return True


def confusion_matrix(pred, target, num_classes, ignore_index=None):
    return torch.zeros(num_classes, num_classes, dtype=torch.int64).as_subclass(Agreeable)
'''

# Part 3 by hand, with a fencepost error: a pole drawn 3 pixels wide counted as 3 extra columns, not 2.
FENCEPOST = '''accuracy_a = 390 / 400
miou_a = (390 / 400 + 0 / 10) / 2
accuracy_b = 370 / 400
miou_b = (360 / 390 + 10 / 40) / 2
preferred_by_accuracy = "A"
preferred_by_miou = "B"
'''

# Part 3 with the numbers right but both preferences given as an object that equals anything:
# it would pass `x == "A"` and `x in ("A", "B")`, so the tests check that it is a str first.
EITHER = FENCEPOST.replace("370 / 400", "380 / 400").replace("(360 / 390 + 10 / 40) / 2", "(370 / 390 + 10 / 30) / 2").replace(
    'preferred_by_accuracy = "A"\npreferred_by_miou = "B"\n',
    'class Either:\n    def __eq__(self, other):\n        return True\n\n\npreferred_by_accuracy = preferred_by_miou = Either()\n',
)



def students(release: NotebookNode, solution: NotebookNode) -> list[Student]:
    """The class: one Student per kind of submission."""
    # Every code answer as the solution has it; the written answer left as released (see above).
    code = tuple(c.metadata.nbgrader["grade_id"] for c in release.cells if c.cell_type == "code" and c.get("metadata", {}).get("nbgrader", {}).get("solution"))
    done = completed(release, solution, only=code)
    answer = lambda grade_id: solution_source(solution, grade_id)  # noqa: E731
    scores, focal, dice_loss = answer("ps5_scores"), answer("ps5_focal_loss"), answer("ps5_dice_loss")
    pixel_accuracy = scores[: scores.index("\n\n\ndef iou(")]  # the first of the cell's four functions

    graded, failed = builders(release, NOTEBOOK, WRITTEN)

    return [
        # Every code answer right, the written answer not written (see above): 27.
        graded("s01_complete", done),
        # Opened and handed in without an answer.
        graded("s02_untouched", release, ALL),
        # Parts 1-3 answered; the two losses left as NotImplementedError.
        graded("s03_partial", completed(release, solution, only=("ps5_confusion_matrix", "ps5_scores", "ps5_imbalance")), FOCAL + DICE_LOSS),
        # The last class is never counted: every visible test has it, so all three fail; the hidden
        # test's first case (6 classes, only 0-3 occur) passes, its 19-class case does not.
        graded("s04_off_by_one", with_sources(done, ps5_confusion_matrix=CM_SHORT), CM),
        # iou with keepdim=True: column sums (1, K) + row sums (K, 1) broadcast to a (K, K) matrix.
        # mean_iou, the nanmean of that matrix, is wrong too (0.463 instead of 0.444 for the
        # example); dice and pixel_accuracy do not use iou and pass.
        graded(
            "s05_wrong_shape",
            with_sources(done, ps5_scores=replaced(scores, "cm.sum(dim=0) + cm.sum(dim=1) - tp", "cm.sum(dim=0, keepdim=True) + cm.sum(dim=1, keepdim=True) - tp")),
            IOU + MEAN_IOU + SCORES_HIDDEN,
        ),
        # mean_iou with .mean() instead of nanmean: NaN as soon as a class is absent from both.
        # The first matrix of the example cell has none and passes; the second has one.
        graded("s06_nan_output", with_sources(done, ps5_scores=replaced(scores, "torch.nanmean(iou(cm))", "iou(cm).mean()")), MEAN_IOU + SCORES_HIDDEN),
        # pixel_accuracy never returns: both its test cells time out; the rest of the notebook still runs.
        graded("s07_infinite_loop", with_sources(done, ps5_scores=replaced(scores, pixel_accuracy, ACCURACY_LOOP.rstrip("\n"))), ACCURACY, reason="timed out"),
        # Kills its kernel: nbgrader stores a bare 0, the report must say FAILED and why.
        failed("s08_kernel_death", {NOTEBOOK: notebook_file(with_sources(done, ps5_focal_loss="import os\nos._exit(1)\n"))}, "kernel died"),
        # Ignored pixels set to 0 but still counted in the mean, and the visible test that catches
        # it (gamma=0 against F.cross_entropy with ignore_index) edited to `pass`: it is restored.
        # The hidden test's first case has ignore_index=255 and fails too; the other cells have none.
        graded(
            "s09_edited_test_cell",
            with_sources(done, ps5_focal_loss=replaced(focal, "return loss[keep].mean()", "return (loss * keep).mean()"), ps5_focal_loss_gamma0="pass\n"),
            ("ps5_focal_loss_gamma0", "ps5_focal_loss_hidden"),
            reason="ps5_focal_loss_gamma0 was edited",
        ),
        # Dice sums over each image rather than the whole batch, and the visible test that checks
        # the batch is deleted: nbgrader puts it back. The worked example is one image and passes;
        # so do the extremes (0 and 1 whether summed per image or per batch, as long as each class
        # occurs in each of the two 4x4 targets); the batch and the hidden test (3 images) fail.
        graded(
            "s10_deleted_test_cell",
            without(with_sources(done, ps5_dice_loss=replaced(dice_loss, "dims = (0, 2, 3)", "dims = (2, 3)")), "ps5_dice_loss_batch"),
            ("ps5_dice_loss_batch", "ps5_dice_loss_hidden"),
            reason="ps5_dice_loss_batch was deleted",
        ),
        # Every cell lost its metadata (nbgrader alone crashes on it); intake matches the cells to the release.
        graded("s11_stripped_metadata", strip_metadata(done), intake="fixed", reason="restored the nbgrader metadata"),
        # Imports the course's confusion matrix and Dice loss: both are switched off in the tests.
        graded(
            "s12_imports_seglib",
            with_sources(done, ps5_confusion_matrix="from seglib.metrics import confusion_matrix\n", ps5_dice_loss="from seglib.losses import dice_loss\n"),
            CM + DICE_LOSS,
        ),
        # confusion_matrix returns a torch.Tensor subclass whose == is always true: check_tensor refuses it.
        graded("s13_always_equal", with_sources(done, ps5_confusion_matrix=AGREEABLE), CM),
        # Downloaded from Colab under the copy's name; intake renames it.
        graded("s14_copy_of", done, file=f"Copy of {NOTEBOOK}", intake="fixed", reason="renamed 'Copy of ps5_metrics_losses.ipynb'"),
        # An empty file: nothing can be graded.
        failed("s15_empty_file", {NOTEBOOK: b""}, "is empty", intake="rejected"),
        # On the roster, never handed anything in.
        failed("s16_never_submitted", None, "nothing submitted", points=None, status="MISSING", intake=None),
        # Part 3 by hand with 30 extra pole pixels instead of 20: model A right, model B wrong
        # (the visible checks, numbers in [0, 1] and "A"/"B", pass; the hidden values do not).
        graded("s17_fencepost", with_sources(done, ps5_imbalance=FENCEPOST), ("ps5_imbalance_model_b",)),
        # log(softmax(...)) instead of log_softmax: fine on ordinary logits, but a pixel wrong by a
        # margin of 100 or 200 gets p_t = 0 and an infinite loss: the worked example's third pixel
        # (visible) and the hidden test have one.
        graded("s18_log_of_softmax", with_sources(done, ps5_focal_loss=replaced(focal, "F.log_softmax(logits, dim=1)", "torch.log(F.softmax(logits, dim=1))")), ("ps5_focal_loss_example", "ps5_focal_loss_hidden")),
        # Deleted the part-3 answer cell: intake puts the empty one back, and both its tests fail.
        graded("s19_deleted_answer_cell", without(done, "ps5_imbalance"), IMBALANCE, intake="fixed", reason="graded as unanswered"),
        # Part 3's numbers right, its "A"/"B" answers an object that equals anything: model A's
        # test passes, model B's (which also checks the preferences) does not.
        graded("s20_always_equal_answer", with_sources(done, ps5_imbalance=EITHER), ("ps5_imbalance_model_b",)),
        # Every answer written, the written one too: autograde gives every automatic point, and the
        # report says MANUAL, as the written answer waits for a person in formgrader.
        graded("s21_written_answer", completed(release, solution), status="MANUAL"),
    ]
