"""seglib.testing.check_own_module: the class-level counterpart of `unavailable` for graded test cells."""

import re

import pytest
import torch
import torchvision
from torch import nn

import seglib.models
from seglib.testing import check_own_module


class MyBlock(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)
        self.parts = nn.ModuleList([nn.ReLU(), nn.Sequential(nn.BatchNorm2d(2))])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


def test_torch_layers_and_own_classes_pass():
    check_own_module(MyBlock())
    check_own_module(nn.Sequential(MyBlock(), nn.Conv2d(2, 2, 1)), name="net")


@pytest.mark.parametrize(
    "module, where, cls",
    [
        (seglib.models.DoubleConv(1, 2), "model", "seglib.models.DoubleConv"),
        (nn.Sequential(nn.ReLU(), seglib.models.ASPP(4, out_channels=2)), "model[1]", "seglib.models.ASPP"),
        (nn.ModuleDict({"aspp": torchvision.models.segmentation.deeplabv3.ASPP(4, [1, 2], 2)}), "model.aspp", "ASPP"),
    ],
)
def test_forbidden_classes_fail_with_their_name_and_place(module, where, cls):
    with pytest.raises(AssertionError, match=rf"contains .*{cls}.* \(at {re.escape(where)}\)"):
        check_own_module(module)


def test_a_subclass_of_a_forbidden_class_fails():
    class Mine(seglib.models.DoubleConv):  # defined here, in the tests, but inherits the reference answer
        pass

    with pytest.raises(AssertionError, match=r"a subclass of seglib\.models\.DoubleConv"):
        check_own_module(Mine(1, 2), name="block")


def test_a_forbidden_class_nested_inside_own_module_is_found():
    outer = MyBlock()
    outer.parts.append(seglib.models.ASPPConv(2, 2, 2))
    with pytest.raises(AssertionError, match=r"seglib\.models\.ASPPConv \(at model\.parts\[2\]\)"):
        check_own_module(outer)


def test_the_forbidden_packages_can_be_chosen():
    check_own_module(torchvision.ops.Conv2dNormActivation(1, 2), forbidden=("seglib",))
    with pytest.raises(AssertionError, match="torch.nn.modules.conv.Conv2d"):
        check_own_module(nn.Conv2d(1, 2, 3), forbidden=("torch",))


def test_not_a_module_is_an_assertion_error_for_the_student():
    with pytest.raises(AssertionError, match="expected a torch.nn.Module, got function"):
        check_own_module(lambda x: x, name="model")


@pytest.mark.parametrize("forbidden", ["seglib", ("seglib", 3), ("",), None])
def test_bad_forbidden_is_a_type_error(forbidden):
    with pytest.raises(TypeError, match="forbidden must be a tuple of package names"):
        check_own_module(nn.ReLU(), forbidden=forbidden)


def test_bad_name_is_a_type_error():
    with pytest.raises(TypeError, match="name must be a str"):
        check_own_module(nn.ReLU(), name=3)
