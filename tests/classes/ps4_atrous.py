"""A simulated class for ps4_atrous: the submissions an instructor meets, and their points.

30 points: 27 in 17 autograded test cells, and 3 for a written answer graded by hand.

    ps4_dilate_kernel_example 2, _hidden 2
    ps4_receptive_field_hand 2, _autograd 1, _hidden 2
    ps4_feature_size_513 2, _hidden 1
    ps4_aspp_branches 2, _output 1, _parameters 1, _hidden 2
    ps4_deeplab_shapes 2, _hidden 2
    ps4_separable_counts_example 1, _hidden 1      ps4_separable_module_example 1, _hidden 2
    ps4_written_answer 3 (by hand)

What the answers feed: `ASPP` uses the student's `ImagePooling` (its last branch), and
`DeepLabV3` uses their `ASPP`, so a wrong image pooling costs the ASPP and DeepLab cells that run
a forward pass (`ps4_aspp_parameters` only builds the module and counts its weights). Parts 1, 2,
3 and 6 stand alone. `ps4_deeplab_hidden` uses `randomize_batch_norms` and `copy_by_order`, which
the hidden ASPP cell defines before it calls any student code.

The written answer (see `classes/__init__.py`): every student but s22_written_answer leaves it as
released, and it is in every `lost`; the complete student gets 27 of 30.

Each student's `lost` lists the test cells the submission fails, worked out by reading the
tests; `points` is 30 minus their points.
"""

from __future__ import annotations

from nbformat.notebooknode import NotebookNode

from ._common import Student, builders, completed, notebook_file, replaced, solution_source, strip_metadata, with_sources, without

ASSIGNMENT = "ps4_atrous"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
# The regrade changes this test cell from 1 to 3 points: the students who pass it gain 2.
REGRADE = ("ps4_feature_size_hidden", 3)

WRITTEN = ("ps4_written_answer",)
DILATE = ("ps4_dilate_kernel_example", "ps4_dilate_kernel_hidden")
FIELD = ("ps4_receptive_field_hand", "ps4_receptive_field_autograd", "ps4_receptive_field_hidden")
SIZE = ("ps4_feature_size_513", "ps4_feature_size_hidden")
ASPP = ("ps4_aspp_branches", "ps4_aspp_output", "ps4_aspp_parameters", "ps4_aspp_hidden")
DEEPLAB = ("ps4_deeplab_shapes", "ps4_deeplab_hidden")
COUNTS = ("ps4_separable_counts_example", "ps4_separable_counts_hidden")
MODULE = ("ps4_separable_module_example", "ps4_separable_module_hidden")
ALL = DILATE + FIELD + SIZE + ASPP + DEEPLAB + COUNTS + MODULE + WRITTEN
# The cells that run an ASPP forward pass: all of part 4 but the parameter count, and part 5.
ASPP_FORWARD = ("ps4_aspp_branches", "ps4_aspp_output", "ps4_aspp_hidden") + DEEPLAB

# Halves first and checks afterwards (a do-while): right for output stride 2 and up, endless for
# output stride 1, which only the hidden test asks for (its very first case, feature_size(1, 1)).
# (The sleep only spares the test machine's CPU while the cell waits for its time limit.)
LOOP = '''import time


def feature_size(input_size: int, output_stride: int) -> int:
    size, stride = input_size, 1
    while True:
        size = (size - 1) // 2 + 1  # one padded stride-2 step
        stride *= 2
        if stride == output_stride:
            return size
        time.sleep(0.01)
'''

# A kernel of zeros dressed up as a tensor that equals everything.
AGREEABLE = '''class Agreeable(torch.Tensor):
    def __eq__(self, other):
        return True


def dilate_kernel(weight: torch.Tensor, dilation: int) -> torch.Tensor:
    c_out, c_in, kh, kw = weight.shape
    return weight.new_zeros(c_out, c_in, dilation * (kh - 1) + 1, dilation * (kw - 1) + 1).as_subclass(Agreeable)
'''

# Every count of parts 2, 3 and 6 as an object that equals anything (not a tensor: plain numbers).
ANYTHING = '''class Anything:
    """Equal to whatever it is compared with."""

    def __eq__(self, other):
        return True


def receptive_field(layers: list[tuple[int, int, int]]) -> int:
    return Anything()
'''
ANYTHING_SIZE = "def feature_size(input_size: int, output_stride: int) -> int:\n    return Anything()\n"
ANYTHING_COUNTS = '''def conv_weights(kernel_size: int, in_channels: int, out_channels: int) -> int:
    return Anything()


def separable_weights(kernel_size: int, in_channels: int, out_channels: int) -> int:
    return Anything()
'''

# The course's ASPP (torchvision's layout) under the name and arguments the notebook asks for.
SEGLIB_ASPP = '''import seglib.models


def ASPP(in_channels: int, out_channels: int, atrous_rates: tuple[int, ...]) -> nn.Module:
    return seglib.models.ASPP(in_channels, out_channels=out_channels, atrous_rates=atrous_rates)
'''

# Each stride-2 step by the course's conv_output_size (switched off in both feature_size tests).
SEGLIB_SIZE = '''def feature_size(input_size: int, output_stride: int) -> int:
    size = input_size
    for _ in range(output_stride.bit_length() - 1):
        size = seglib.ops.conv_output_size(size, 3, stride=2, padding=1)[0]
    return size
'''



def students(release: NotebookNode, solution: NotebookNode) -> list[Student]:
    """The class: one Student per kind of submission."""
    # Every code answer as the solution has it; the written answer left as released (see above).
    code = tuple(c.metadata.nbgrader["grade_id"] for c in release.cells if c.cell_type == "code" and c.get("metadata", {}).get("nbgrader", {}).get("solution"))
    done = completed(release, solution, only=code)
    answer = lambda grade_id: solution_source(solution, grade_id)  # noqa: E731
    dilate, field, size = answer("ps4_dilate_kernel"), answer("ps4_receptive_field"), answer("ps4_feature_size")
    pooling, deeplab, separable = answer("ps4_image_pooling"), answer("ps4_deeplab"), answer("ps4_separable_module")

    graded, failed = builders(release, NOTEBOOK, WRITTEN)

    return [
        # Every code answer right, the written answer not written (see above): 27.
        graded("s01_complete", done),
        # Opened and handed in without an answer.
        graded("s02_untouched", release, ALL),
        # Parts 1-4 answered; DeepLabV3 and part 6 left as NotImplementedError: 18.
        graded(
            "s03_partial",
            completed(release, solution, only=("ps4_dilate_kernel", "ps4_receptive_field", "ps4_feature_size", "ps4_image_pooling", "ps4_aspp")),
            DEEPLAB + COUNTS + MODULE,
        ),
        # feature_size from the output-size formula with the "- 1" dropped: size // 2 + 1. That is
        # ceil(s / 2) for odd s, and 513 stays odd all the way down (257, 129, 65, 33, 17), so the
        # visible test passes; the hidden one has even sides (feature_size(2, 2) gives 2, not 1).
        graded(
            "s04_off_by_one",
            with_sources(done, ps4_feature_size=replaced(size, "size = (size - 1) // 2 + 1", "size = (size + 2 * 1 - 1 * (3 - 1)) // 2 + 1  # (s + 2p - d(k - 1)) // stride + 1")),
            ("ps4_feature_size_hidden",),
        ),
        # DeepLabV3 upsamples by the output stride (scale_factor=8) instead of to the input's size:
        # a 37x45 input has 5x6 features and comes back 40x48. Both DeepLab tests start with 37x45.
        graded("s05_wrong_shape", with_sources(done, ps4_deeplab=replaced(deeplab, "size=x.shape[-2:]", "scale_factor=8")), DEEPLAB),
        # dilate_kernel starts from a kernel of NaN (to spot the taps it misses) and never zeroes the
        # holes: check_tensor finds NaN in the example (D = 2) and in the hidden test's first case (D = 3).
        graded(
            "s06_nan_output",
            with_sources(
                done,
                ps4_dilate_kernel=replaced(
                    dilate,
                    "out = weight.new_zeros(c_out, c_in, dilation * (kh - 1) + 1, dilation * (kw - 1) + 1)",
                    'out = weight.new_full((c_out, c_in, dilation * (kh - 1) + 1, dilation * (kw - 1) + 1), float("nan"))  # NaN: not written yet',
                ),
            ),
            DILATE,
        ),
        # feature_size never returns for output stride 1: the hidden test times out and is
        # interrupted, and the rest of the notebook still runs; the 513 test passes.
        graded("s07_infinite_loop", with_sources(done, ps4_feature_size=LOOP), ("ps4_feature_size_hidden",), reason="ps4_feature_size_hidden timed out"),
        # Kills its kernel: nbgrader stores a bare 0, the report must say FAILED and why.
        failed("s08_kernel_death", {NOTEBOOK: notebook_file(with_sources(done, ps4_separable_counts="import os\nos._exit(1)\n"))}, "kernel died"),
        # receptive_field counts the steps the window grows, not its pixels (it starts at 0): one
        # short everywhere, 0 for no layers. Its visible test edited to `pass` is restored; all three fail.
        graded(
            "s09_edited_test_cell",
            with_sources(done, ps4_receptive_field=replaced(field, "field, jump = 1, 1", "field, jump = 0, 1"), ps4_receptive_field_hand="pass\n"),
            FIELD,
            reason="ps4_receptive_field_hand was edited",
        ),
        # SeparableConv2d forgets groups=in_channels: a full k x k convolution, 993 weights instead of
        # 843 for (3, 256, 5). Its visible test is deleted; nbgrader puts it back, and both fail on the count.
        graded(
            "s10_deleted_test_cell",
            without(with_sources(done, ps4_separable_module=replaced(separable, "dilation=dilation, groups=in_channels, bias=False", "dilation=dilation, bias=False")), "ps4_separable_module_example"),
            MODULE,
            reason="ps4_separable_module_example was deleted",
        ),
        # Every cell lost its metadata (nbgrader alone crashes on it); intake matches the cells to the release.
        graded("s11_stripped_metadata", strip_metadata(done), intake="fixed", reason="restored the nbgrader metadata"),
        # Imports the course's dilate_kernel, and steps feature_size with its conv_output_size: both
        # are switched off in their tests (feature_size(1, 1) takes no step, but the cell fails at (1, 2)).
        graded("s12_imports_seglib", with_sources(done, ps4_dilate_kernel="from seglib.ops import dilate_kernel\n", ps4_feature_size=SEGLIB_SIZE), DILATE + SIZE),
        # dilate_kernel returns a torch.Tensor subclass whose == is always true: check_tensor refuses it.
        graded("s13_always_equal", with_sources(done, ps4_dilate_kernel=AGREEABLE), DILATE),
        # Downloaded from Colab under the copy's name; intake renames it.
        graded("s14_copy_of", done, file=f"Copy of {NOTEBOOK}", intake="fixed", reason="renamed 'Copy of ps4_atrous.ipynb'"),
        # An empty file: nothing can be graded.
        failed("s15_empty_file", {NOTEBOOK: b""}, "is empty", intake="rejected"),
        # On the roster, never handed anything in.
        failed("s16_never_submitted", None, "nothing submitted", points=None, status="MISSING", intake=None),
        # receptive_field, feature_size, conv_weights and separable_weights all return an object
        # equal to anything: every test of parts 2, 3 and 6's counts checks `type(got) is int` first.
        graded(
            "s17_always_equal_numbers",
            with_sources(done, ps4_receptive_field=ANYTHING, ps4_feature_size=ANYTHING_SIZE, ps4_separable_counts=ANYTHING_COUNTS),
            FIELD + SIZE + COUNTS,
        ),
        # Multiplies the jump by the layer's own stride before adding its growth: right while every
        # stride is 1 (all the hand-worked cases), too large after the first strided layer.
        graded(
            "s18_stride_too_early",
            with_sources(
                done,
                ps4_receptive_field=replaced(
                    field,
                    "        field += dilation * (kernel_size - 1) * jump\n        jump *= stride\n",
                    "        jump *= stride\n        field += dilation * (kernel_size - 1) * jump\n",
                ),
            ),
            ("ps4_receptive_field_autograd", "ps4_receptive_field_hidden"),
        ),
        # Pads the depthwise convolution by (k - 1) // 2, ignoring the dilation: right for dilation 1;
        # the example's second module and the hidden test's first case (k = 3, dilation 2) shrink 9x7 to 7x5.
        graded(
            "s19_padding_ignores_dilation",
            with_sources(done, ps4_separable_module=replaced(separable, "padding = dilation * (kernel_size - 1) // 2", "padding = (kernel_size - 1) // 2")),
            MODULE,
        ),
        # ASPP is the course's seglib.models.ASPP (torchvision's layout): every cell that builds an
        # ASPP, alone or inside DeepLabV3, runs check_own_module on it and fails.
        graded("s20_seglib_aspp", with_sources(done, ps4_aspp=SEGLIB_ASPP), ASPP + DEEPLAB),
        # ImagePooling returns its (N, C_out, 1, 1) without spreading it over h x w: the branch test
        # fails on its shape and torch.cat refuses it in every forward pass; the weight count passes.
        graded(
            "s21_pooling_not_spread",
            with_sources(
                done,
                ps4_image_pooling=replaced(pooling, "return y.expand(-1, -1, *x.shape[-2:])  # (N, C_out, h, w), the same vector at every position", "return y  # (N, C_out, 1, 1)"),
            ),
            ASPP_FORWARD,
        ),
        # Every answer written, the written one too: autograde gives every automatic point, and the
        # report says MANUAL, as the written answer waits for a person in formgrader.
        graded("s22_written_answer", completed(release, solution), status="MANUAL"),
    ]
