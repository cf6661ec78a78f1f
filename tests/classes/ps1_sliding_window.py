"""A simulated class for ps1_sliding_window: the submissions an instructor meets, and their points.

28 points: 24 in 12 autograded test cells, and 4 for a written answer graded by hand.

    ps1_extract_patches_example 2, _properties 2, _hidden 2
    ps1_sliding_window_example 3, _hidden 2
    ps1_linear_to_conv_example 2, _1x1 1, _hidden 2
    ps1_to_fully_convolutional_example 2            ps1_fully_convolutional_scores_example 3
    ps1_fully_convolutional_matches_sliding_window 1  ps1_fully_convolutional_hidden 2
    ps1_written_answer 4 (by hand)

What the answers feed: `sliding_window_scores` calls the student's `extract_patches`;
`to_fully_convolutional` calls their `linear_to_conv`; the part-4 cells call
`to_fully_convolutional` and `fully_convolutional_scores`, and `..._matches_sliding_window`
also calls `sliding_window_scores`. A wrong answer costs the cells of every answer built on it.

The written answer (see `classes/__init__.py`): every student but s18_written_answer leaves it as
released, and it is in every `lost`; the complete student gets 24 of 28.

Each student's `lost` lists the test cells the submission fails, worked out by reading the
tests; `points` is 28 minus their points.
"""

from __future__ import annotations

from nbformat.notebooknode import NotebookNode

from ._common import Student, builders, completed, notebook_file, replaced, solution_source, strip_metadata, with_sources, without

ASSIGNMENT = "ps1_sliding_window"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
# The regrade changes this test cell from 2 to 3 points: the students who pass it gain 1.
REGRADE = ("ps1_extract_patches_hidden", 3)

WRITTEN = ("ps1_written_answer",)
EXTRACT = ("ps1_extract_patches_example", "ps1_extract_patches_properties", "ps1_extract_patches_hidden")
SLIDING = ("ps1_sliding_window_example", "ps1_sliding_window_hidden")
LINEAR = ("ps1_linear_to_conv_example", "ps1_linear_to_conv_1x1", "ps1_linear_to_conv_hidden")
MATCHES = ("ps1_fully_convolutional_matches_sliding_window",)
FULLY = ("ps1_to_fully_convolutional_example", "ps1_fully_convolutional_scores_example", *MATCHES, "ps1_fully_convolutional_hidden")
# The cells that call fully_convolutional_scores (all of part 4 but the conversion's own example).
SCORES = ("ps1_fully_convolutional_scores_example", *MATCHES, "ps1_fully_convolutional_hidden")
ALL = EXTRACT + SLIDING + LINEAR + FULLY + WRITTEN
# The cells that give extract_patches an even patch size: visible (P = 4 for extract_patches, 6 for
# the segmenter) and hidden (P = 4, 2; 8, 6).
EVEN_P = ("ps1_extract_patches_properties", "ps1_extract_patches_hidden", "ps1_sliding_window_example", "ps1_sliding_window_hidden")

# Steps in from both ends of the window to find its centre: the two never meet when P is even.
# (The sleep only spares the test machine's CPU while the cell waits for its time limit.)
LOOP = '''def extract_patches(x: torch.Tensor, patch_size: int) -> torch.Tensor:
    before, after = 0, patch_size - 1
    while before != after:
        before, after = before + 1, after - 1
        time.sleep(0.01)
    padded = F.pad(x, (before, after, before, after))  # (N, C, H + P - 1, W + P - 1)
    windows = padded.unfold(2, patch_size, 1).unfold(3, patch_size, 1)  # (N, C, H, W, P, P)
    return windows.permute(0, 2, 3, 1, 4, 5).contiguous()  # (N, H, W, C, P, P)
'''

# Copies the weights but never the bias: the convolution has none.
NO_BIAS = '''def linear_to_conv(linear: nn.Linear, in_channels: int, kernel_size: tuple[int, int]) -> nn.Conv2d:
    h, w = kernel_size
    conv = nn.Conv2d(in_channels, linear.out_features, (h, w), bias=False).to(linear.weight)
    with torch.no_grad():
        conv.weight.copy_(linear.weight.reshape(linear.out_features, in_channels, h, w))
    return conv
'''

# The course's conversion, imported (seglib.testing.unavailable switches it off in the tests).
SEGLIB_CONVERSION = '''from seglib.models import fully_convolutional


def to_fully_convolutional(classifier: nn.Sequential, patch_size: int) -> nn.Sequential:
    return fully_convolutional(classifier, patch_size=patch_size)
'''

# Returns zeros dressed up as a tensor that equals everything.
AGREEABLE = '''class Agreeable(torch.Tensor):
    def __eq__(self, other):
        return True


def fully_convolutional_scores(net: nn.Module, x: torch.Tensor, patch_size: int) -> torch.Tensor:
    n, c, h, w = x.shape
    return torch.zeros(n, net[-1].out_channels, h, w).as_subclass(Agreeable)
'''



def _split_part4(source: str) -> tuple[str, str]:
    """The part-4 answer cell's two functions: to_fully_convolutional, fully_convolutional_scores."""
    marker = "\n\n\ndef fully_convolutional_scores"
    if source.count(marker) != 1:
        raise ValueError("the solution changed: the part-4 cell no longer ends with fully_convolutional_scores")
    conversion, scores = source.split(marker)
    return conversion, marker.lstrip("\n") + scores


def students(release: NotebookNode, solution: NotebookNode) -> list[Student]:
    """The class: one Student per kind of submission."""
    # Every code answer as the solution has it; the written answer left as released (see above).
    code = tuple(c.metadata.nbgrader["grade_id"] for c in release.cells if c.cell_type == "code" and c.get("metadata", {}).get("nbgrader", {}).get("solution"))
    done = completed(release, solution, only=code)
    answer = lambda grade_id: solution_source(solution, grade_id)  # noqa: E731
    extract, sliding, fully = (answer(f"ps1_{part}") for part in ("extract_patches", "sliding_window", "fully_convolutional"))
    conversion_part, scores_part = _split_part4(fully)

    graded, failed = builders(release, NOTEBOOK, WRITTEN)

    return [
        # Every code answer right, the written answer not written (see above): 24.
        graded("s01_complete", done),
        # Opened and handed in without an answer.
        graded("s02_untouched", release, ALL),
        # Parts 1 and 2 answered; parts 3 and 4 left as NotImplementedError.
        graded("s03_partial", completed(release, solution, only=("ps1_extract_patches", "ps1_sliding_window")), LINEAR + FULLY),
        # Pads (P - 1) // 2 before and P // 2 after: the same for odd P, one pixel off for even P,
        # which the second half of the visible tests and the hidden tests use; the segmenter inherits it.
        graded("s04_off_by_one", with_sources(done, ps1_extract_patches=replaced(extract, "patch_size // 2, patch_size - 1 - patch_size // 2", "(patch_size - 1) // 2, patch_size // 2")), EVEN_P),
        # Forgets the permute: (N, C, H, W, P, P). The shape checks fail; the segmenter reshapes
        # it to (N·H·W, C, P, P) all the same, which scrambles the channels when C > 1 (every
        # visible test has C = 3; the first hidden case, C = 1, passes, the second does not).
        graded(
            "s05_wrong_shape",
            with_sources(done, ps1_extract_patches=replaced(extract, "return windows.permute(0, 2, 3, 1, 4, 5).contiguous()  # (N, H, W, C, P, P)", "return windows  # (N, C, H, W, P, P)")),
            EXTRACT + SLIDING + MATCHES,
        ),
        # Pads with NaN "to mark the outside of the image": the scores of border pixels are NaN.
        graded(
            "s06_nan_output",
            with_sources(done, ps1_fully_convolutional=replaced(fully, "return net(F.pad(x, (before, after, before, after)))", "return net(F.pad(x, (before, after, before, after), value=float('nan')))")),
            SCORES,
        ),
        # extract_patches never returns for an even P: the four test cells that use one time out.
        graded("s07_infinite_loop", with_sources(done, ps1_extract_patches=LOOP), EVEN_P, reason="timed out"),
        # Kills its kernel: nbgrader stores a bare 0, the report must say FAILED and why.
        failed("s08_kernel_death", {NOTEBOOK: notebook_file(with_sources(done, ps1_linear_to_conv="import os\nos._exit(1)\n"))}, "kernel died"),
        # linear_to_conv drops the bias (bias=False always), and its visible test is edited to
        # `pass`: the test is restored. Every Linear of the classifier has a bias, so part 4 fails too.
        graded(
            "s09_edited_test_cell",
            with_sources(done, ps1_linear_to_conv=NO_BIAS, ps1_linear_to_conv_example="pass\n"),
            LINEAR + FULLY,
            reason="ps1_linear_to_conv_example was edited",
        ),
        # Every Linear becomes a 1x1 convolution, the first one too (it reads C·s·s channels where
        # the map has C): the net cannot run. Its visible test is deleted; nbgrader puts it back.
        graded(
            "s10_deleted_test_cell",
            without(with_sources(done, ps1_fully_convolutional=replaced(fully, "linear_to_conv(layer, channels, (side, side))", "linear_to_conv(layer, layer.in_features, (1, 1))")), "ps1_to_fully_convolutional_example"),
            FULLY,
            reason="ps1_to_fully_convolutional_example was deleted",
        ),
        # Every cell lost its metadata (nbgrader alone crashes on it); intake matches the cells to the release.
        graded("s11_stripped_metadata", strip_metadata(done), intake="fixed", reason="restored the nbgrader metadata"),
        # The course's segmenter for part 2 and its conversion for part 4: both are switched off.
        graded(
            "s12_imports_seglib",
            with_sources(
                done,
                ps1_sliding_window="def sliding_window_scores(classifier, x, patch_size):\n    return seglib.models.SlidingWindowSegmenter(classifier, patch_size=patch_size)(x)\n",
                ps1_fully_convolutional=SEGLIB_CONVERSION + "\n\n\n" + scores_part,
            ),
            SLIDING + FULLY,
        ),
        # fully_convolutional_scores returns a torch.Tensor subclass whose == is always true:
        # it passes the isinstance and shape checks, and check_tensor refuses it.
        graded("s13_always_equal", with_sources(done, ps1_fully_convolutional=conversion_part + "\n\n\n" + AGREEABLE), SCORES),
        # Downloaded from Colab under the copy's name; intake renames it.
        graded("s14_copy_of", done, file=f"Copy of {NOTEBOOK}", intake="fixed", reason="renamed 'Copy of ps1_sliding_window.ipynb'"),
        # An empty file: nothing can be graded.
        failed("s15_empty_file", {NOTEBOOK: b""}, "is empty", intake="rejected"),
        # On the roster, never handed anything in.
        failed("s16_never_submitted", None, "nothing submitted", points=None, status="MISSING", intake=None),
        # The scores reshaped to (N, K, H, W) without the permute: the right shape, the values of
        # other pixels. Both segmenter tests fail, and so does the comparison with part 4.
        graded(
            "s17_wrong_layout",
            with_sources(done, ps1_sliding_window=replaced(sliding, "return scores.reshape(n, h, w, -1).permute(0, 3, 1, 2)", "return scores.reshape(n, -1, h, w)")),
            SLIDING + MATCHES,
        ),
        # Every answer written, the written one too: autograde gives every automatic point, and the
        # report says MANUAL, as the written answer waits for a person in formgrader.
        graded("s18_written_answer", completed(release, solution), status="MANUAL"),
    ]
