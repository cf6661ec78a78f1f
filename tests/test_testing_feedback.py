"""seglib.testing's messages for students: call_student, answer, check_number, describe, hints."""

import re

import pytest
import torch
import torch.nn.functional as F

from seglib.testing import answer, call_student, check_number, check_tensor, describe, digests


def bilinear_upsample(x: torch.Tensor, scale: int) -> torch.Tensor:
    kernel = torch.ones(1, 1, 3, 3)  # one input channel only: the typical missing groups=C
    return F.conv2d(x, kernel, padding=1)


def test_call_student_returns_what_the_function_returns():
    x = torch.zeros(2, 3)
    assert call_student(torch.add, x, 1, name="add").equal(x + 1)


def test_call_student_names_the_function_the_shapes_the_error_and_the_line():
    with pytest.raises(AssertionError) as caught:
        call_student(bilinear_upsample, torch.zeros(2, 3, 7, 13), 2, hint="use groups=C")
    message = str(caught.value)
    assert message.startswith("your `bilinear_upsample` raised RuntimeError for bilinear_upsample((2, 3, 7, 13) float32 tensor, 2): ")
    assert "in `bilinear_upsample`, line" in message and "F.conv2d(x, kernel, padding=1)" in message
    assert message.endswith("Hint: use groups=C")
    assert caught.value.__context__ is None  # the student sees this message, not torch's traceback


def test_call_student_reports_an_unwritten_answer_and_keyword_arguments():
    def conv_matrix(weight, size, stride=1, padding=0):
        raise NotImplementedError()

    with pytest.raises(AssertionError, match=r"^`conv_matrix` is not written yet"):
        call_student(conv_matrix, torch.zeros(1, 1, 3, 3), (4, 4), stride=2)

    def broken(weight, size, stride=1):
        raise ValueError("no")

    with pytest.raises(AssertionError, match=re.escape("for broken((1, 1, 3, 3) float32 tensor, (4, 4), stride=2): no")):
        call_student(broken, torch.zeros(1, 1, 3, 3), (4, 4), stride=2)


def test_call_student_does_not_swallow_an_interrupt_and_survives_a_hostile_message():
    def interrupted():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        call_student(interrupted)

    class Hostile(Exception):
        def __str__(self):
            raise RuntimeError("no message for you")

    def raises_hostile():
        raise Hostile()

    with pytest.raises(AssertionError, match=r"raised Hostile for raises_hostile\(\): \(no message\)"):
        call_student(raises_hostile)
    with pytest.raises(AssertionError, match=r"`nearest_upsample` should be a function, got int"):
        call_student(3, name="nearest_upsample")


def test_describe():
    assert describe(torch.zeros(4, dtype=torch.uint8)) == "(4,) uint8 tensor"
    assert describe([1, (2, 3)]) == "[1, (2, 3)]"
    assert describe("x" * 100).endswith("...")


def test_check_tensor_adds_the_hint_to_every_failure():
    with pytest.raises(AssertionError, match=r"expected shape \(2,\), got \(3,\)\. Hint: read the size from x"):
        check_tensor(torch.zeros(3), torch.zeros(2), name="r", hint="read the size from x")
    with pytest.raises(AssertionError, match=r"1 of 2 values differ.*\. Hint: h$"):
        check_tensor(torch.tensor([0.0, 1.0]), torch.zeros(2), name="r", hint="h")


def test_answer_and_check_number():
    assert answer({"a": 1}, "a") == 1
    with pytest.raises(AssertionError, match="`miou_b` is not set"):
        answer({}, "miou_b")
    expected = digests("miou_a", 0.4875)
    for right in (0.4875, 0.487, 0.488, 39 / 80, torch.tensor(0.4875, dtype=torch.float64)):
        check_number(right, expected, name="miou_a")
    for wrong in (0.975, 0.4855, 0.49, float("nan")):
        with pytest.raises(AssertionError, match="miou_a"):
            check_number(wrong, expected, name="miou_a")
    with pytest.raises(AssertionError, match="expected a number, got '0.4875'"):
        check_number("0.4875", expected, name="miou_a")
    # The fingerprint depends on the name: one answer's digests do not accept another's value.
    with pytest.raises(AssertionError):
        check_number(0.4875, digests("accuracy_a", 0.4875), name="miou_a")
