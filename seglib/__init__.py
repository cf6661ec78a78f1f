"""seglib: the small PyTorch package behind the open course on semantic segmentation.

Every chapter, assignment and test imports its ideas from here; each module's docstring names
the chapter that teaches it:

- `seglib.ops`: upsampling and convolution written out (chapters 5 and 7)
- `seglib.models`: sliding window, FCN, SegNet, U-Net, ASPP, DeepLabV3(+), pyramid pooling (3, 4, 6, 7)
- `seglib.data`: the synthetic shapes dataset, real-dataset wrappers, joint transforms (6, 9)
- `seglib.losses`, `seglib.metrics`: focal and Dice losses; confusion-matrix metrics (8)
- `seglib.engine`: fit, evaluate, predict, tiled and test-time-augmented prediction (6, 9)
- `seglib.viz`, `seglib.widgets`: figures and interactive demos
- `seglib.testing`: helpers for graded test cells
- `seglib.zoo`: small models trained on the real data that ships in `seglib/_data` (4, 6, 7)
- `seglib.cpu`: the thread policy every chapter sets before torch loads

Submodules load on first use (`seglib.models` after `import seglib` works), so importing one
light module does not pull in the others.
"""

import importlib
from types import ModuleType

__version__ = "0.1.0"

_SUBMODULES = ("ops", "models", "data", "losses", "metrics", "engine", "viz", "widgets", "testing", "zoo", "cpu")
__all__ = list(_SUBMODULES)


def __getattr__(name: str) -> ModuleType:
    if name in _SUBMODULES:
        return importlib.import_module(f"seglib.{name}")
    raise AttributeError(f"module 'seglib' has no attribute {name!r}")
