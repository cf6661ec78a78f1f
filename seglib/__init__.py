"""seglib: the small PyTorch package behind the open course on semantic segmentation.

Every chapter, assignment and test imports its ideas from here; each module's docstring
names the chapter that teaches it.
"""

from seglib import ops

__version__ = "0.1.0"
__all__ = ["ops"]
