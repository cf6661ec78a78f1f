"""A simulated class for ps2_upsampling: the submissions an instructor meets, and their points.

25 points in 14 test cells:

    ps2_nearest_upsample_example 2, _hidden 1        ps2_bed_of_nails_example 2, _hidden 1
    ps2_max_unpool_example 2, _hidden 2              ps2_zero_insert_example 2
    ps2_bilinear_upsample_example 2, _hidden 1       ps2_conv_matrix_1d_example 1
    ps2_conv_matrix_example 2, _hidden 2             ps2_conv_transpose_example 3, _hidden 2

Each student's `lost` lists the test cells the submission fails, worked out by reading the
tests; `points` is 25 minus their points.
"""

from __future__ import annotations

from nbformat.notebooknode import NotebookNode

from ._common import Student, builders, completed, notebook_file, solution_source, strip_metadata, with_cell_after, with_sources, without

ASSIGNMENT = "ps2_upsampling"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
# The regrade changes this test cell from 1 to 3 points: the students who pass it gain 2.
REGRADE = ("ps2_bilinear_upsample_hidden", 3)
REGRADE_EVERYONE = True  # the other classes regrade four students (tests/test_grading.py)

NEAREST = ("ps2_nearest_upsample_example", "ps2_nearest_upsample_hidden")
BED = ("ps2_bed_of_nails_example", "ps2_bed_of_nails_hidden")
UNPOOL = ("ps2_max_unpool_example", "ps2_max_unpool_hidden")
ZERO = ("ps2_zero_insert_example",)
BILINEAR = ("ps2_bilinear_upsample_example", "ps2_bilinear_upsample_hidden")
CONV = ("ps2_conv_matrix_1d_example", "ps2_conv_matrix_example", "ps2_conv_matrix_hidden")
TRANSPOSE = ("ps2_conv_transpose_example", "ps2_conv_transpose_hidden")
# Grows a factor by doubling until it equals `scale`: right for 1 and 2, endless for 3 (the hidden
# test). It sleeps while it loops, so that waiting for the timeout costs the test machine no CPU.
LOOP = """import time


def nearest_upsample(x, scale):
    factor = 1
    while factor != scale:
        factor = factor * 2 if factor < scale else factor
        time.sleep(0.01)
    return x.repeat_interleave(factor, dim=2).repeat_interleave(factor, dim=3)
"""
ALL = NEAREST + BED + UNPOOL + ZERO + BILINEAR + CONV + TRANSPOSE


def students(release: NotebookNode, solution: NotebookNode) -> list[Student]:
    """The class: one Student per kind of submission."""
    done = completed(release, solution)
    answer = lambda grade_id: solution_source(solution, grade_id)  # noqa: E731

    graded, failed = builders(release, NOTEBOOK)

    zero_insert = answer("ps2_zero_insert")
    return [
        # Every answer right.
        graded("s01_complete", done),
        # Opened and handed in without an answer.
        graded("s02_untouched", release, ALL),
        # Parts 1-3 answered, parts 4-6 left as NotImplementedError.
        graded("s03_partial", completed(release, solution, only=("ps2_nearest_upsample", "ps2_bed_of_nails", "ps2_max_unpool")), ZERO + BILINEAR + CONV + TRANSPOSE),
        # conv_matrix forgets the +1 in the output size; conv_transpose_via_matrix uses it and fails too.
        graded("s04_off_by_one", with_sources(done, ps2_conv_matrix=answer("ps2_conv_matrix").replace("- kh) // stride + 1", "- kh) // stride")), CONV + TRANSPOSE),
        # zero_insert pads after the last pixel too: (H*s, W*s) instead of ((H-1)*s+1, ...); bilinear inherits it.
        graded("s05_wrong_shape", with_sources(done, ps2_zero_insert=zero_insert.replace("(h - 1) * scale + 1, (w - 1) * scale + 1", "h * scale, w * scale")), ZERO + BILINEAR),
        # A sinc filter instead of the tent, written sin(pi d) / (pi d): 0 / 0 = NaN at the centre tap.
        graded(
            "s06_nan_output",
            with_sources(done, ps2_zero_insert=zero_insert.replace("tent = 1 - offsets.abs() / scale", "d = offsets / scale\n    tent = torch.sin(torch.pi * d) / (torch.pi * d)")),
            BILINEAR,
        ),
        # nearest_upsample never returns for scale 3: the hidden test times out and is interrupted,
        # and the rest of the notebook still runs.
        graded("s07_infinite_loop", with_sources(done, ps2_nearest_upsample=LOOP), ("ps2_nearest_upsample_hidden",), reason="ps2_nearest_upsample_hidden timed out"),
        # Kills its kernel: nbgrader stores a bare 0, the report must say FAILED and why.
        failed("s08_kernel_death", {NOTEBOOK: notebook_file(with_sources(done, ps2_conv_matrix="import os\nos._exit(1)\n"))}, "kernel died"),
        # A wrong nearest_upsample and its visible test edited to `pass`: the test is restored.
        graded(
            "s09_edited_test_cell",
            with_sources(done, ps2_nearest_upsample="def nearest_upsample(x, scale):\n    return x\n", ps2_nearest_upsample_example="pass\n"),
            NEAREST,
            reason="ps2_nearest_upsample_example was edited",
        ),
        # A wrong max_unpool and its visible test cell deleted: nbgrader puts the cell back.
        graded(
            "s10_deleted_test_cell",
            without(with_sources(done, ps2_max_unpool="def max_unpool(x, indices, output_size):\n    return x.new_zeros(*x.shape[:2], *output_size)\n"), "ps2_max_unpool_example"),
            UNPOOL,
            reason="ps2_max_unpool_example was deleted",
        ),
        # Every cell lost its metadata (nbgrader alone crashes on it); intake matches the cells to the release.
        graded("s11_stripped_metadata", strip_metadata(done), intake="fixed", reason="restored the nbgrader metadata"),
        # Imports the reference answer, and calls the built-in for another: both are switched off.
        graded(
            "s12_imports_seglib",
            with_sources(
                done,
                ps2_bed_of_nails="from seglib.ops import bed_of_nails\n",
                ps2_nearest_upsample="import torch.nn.functional as F\n\ndef nearest_upsample(x, scale):\n    return F.interpolate(x, scale_factor=scale, mode='nearest')\n",
            ),
            NEAREST + BED,
        ),
        # zero_insert returns an object equal to everything; bilinear_upsample, which uses it, fails too.
        graded(
            "s13_always_equal",
            with_sources(done, ps2_zero_insert=zero_insert + "\n\nclass Agreeable:\n    def __eq__(self, other):\n        return True\n\n\ndef zero_insert(x, scale):\n    return Agreeable()\n"),
            ZERO + BILINEAR,
        ),
        # Downloaded from Colab under the copy's name; intake renames it.
        graded("s14_copy_of", done, file=f"Copy of {NOTEBOOK}", intake="fixed", reason="renamed 'Copy of ps2_upsampling.ipynb'"),
        # An empty file and a download cut short: nothing can be graded.
        failed("s15_empty_file", {NOTEBOOK: b""}, "is empty", intake="rejected"),
        failed("s16_invalid_json", {NOTEBOOK: notebook_file(done)[:4000]}, "not valid JSON", intake="rejected"),
        # Another notebook handed in instead.
        failed("s17_wrong_notebook", {"Untitled.ipynb": notebook_file({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{"cell_type": "code", "id": "a1", "metadata": {}, "source": "print('hello')", "outputs": [], "execution_count": None}]})}, "no ps2_upsampling.ipynb", intake="rejected"),
        # Metadata lost, and an earlier attempt at nearest_upsample kept in a cell of its own: which
        # cell is the answer is ambiguous, so intake refuses to guess.
        failed(
            "s18_unrepairable",
            {NOTEBOOK: notebook_file(strip_metadata(with_cell_after(done, "ps2_nearest_upsample", "def nearest_upsample(x, scale):\n    return x\n")))},
            "could not repair answer cell ps2_nearest_upsample",
            intake="rejected",
        ),
        # On the roster, never handed anything in.
        failed("s19_never_submitted", None, "nothing submitted", points=None, status="MISSING", intake=None),
    ]
