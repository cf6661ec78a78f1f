"""Interactive demos for the chapters: live with ipywidgets 7.7 (Colab) or 8, and on the book's
static pages with no kernel.

Taught in chapter 5 (Upsampling): `conv_matrix_explorer` shows a 2-D convolution as a matrix
product `y = C x` and the transposed convolution as `Cᵀ y`, with one output pixel followed
through both; `upsampling_explorer` puts nearest neighbour, bed of nails, max unpooling,
bilinear interpolation and transposed convolution side by side. `receptive_field_explorer`
(chapter 7, atrous convolution) shows how dilation, depth and stride widen what one output
pixel sees; `iou_explorer` (chapter 8, metrics) moves a predicted mask over a target and
reports IoU, Dice and pixel accuracy.

One module per explorer; `_common` holds what they share (see its docstring for the three
layers of each explorer and how the static page works). ipywidgets is imported only when a
widget is built, so `import seglib.widgets` works without it, and the `*_view_html` functions
draw the same views with no widget at all.
"""

from seglib.widgets._common import static_page_html, widget_view_bundle
from seglib.widgets.conv_matrix import (
    LIMITS,
    ConvMatrixExplorer,
    ConvMatrixState,
    conv_matrix_explorer,
    conv_matrix_state,
    conv_matrix_static_data,
    conv_matrix_view_html,
    render_conv_matrix_view,
)
from seglib.widgets.iou import (
    IOU_COLORS,
    IOU_LIMITS,
    SHAPES,
    IoUExplorer,
    IoUState,
    iou_explorer,
    iou_state,
    iou_static_data,
    iou_view_html,
    render_iou_view,
)
from seglib.widgets.receptive_field import (
    MAX_DRAWN_FIELD,
    RECEPTIVE_FIELD_LIMITS,
    ReceptiveFieldExplorer,
    ReceptiveFieldState,
    receptive_field_explorer,
    receptive_field_state,
    receptive_field_static_data,
    receptive_field_view_html,
    render_receptive_field_view,
)
from seglib.widgets.upsampling import (
    PATTERNS,
    UPSAMPLING_LIMITS,
    UpsamplingExplorer,
    UpsamplingState,
    render_upsampling_view,
    transposed_padding,
    upsampling_explorer,
    upsampling_state,
    upsampling_static_data,
    upsampling_view_html,
)

__all__ = [
    "LIMITS", "ConvMatrixExplorer", "ConvMatrixState", "conv_matrix_explorer", "conv_matrix_state",
    "conv_matrix_static_data", "conv_matrix_view_html", "render_conv_matrix_view",
    "PATTERNS", "UPSAMPLING_LIMITS", "UpsamplingExplorer", "UpsamplingState", "render_upsampling_view",
    "transposed_padding", "upsampling_explorer", "upsampling_state", "upsampling_static_data", "upsampling_view_html",
    "MAX_DRAWN_FIELD", "RECEPTIVE_FIELD_LIMITS", "ReceptiveFieldExplorer", "ReceptiveFieldState",
    "receptive_field_explorer", "receptive_field_state", "receptive_field_static_data", "receptive_field_view_html",
    "render_receptive_field_view",
    "IOU_COLORS", "IOU_LIMITS", "SHAPES", "IoUExplorer", "IoUState", "iou_explorer", "iou_state", "iou_static_data",
    "iou_view_html", "render_iou_view",
    "static_page_html", "widget_view_bundle",
]
