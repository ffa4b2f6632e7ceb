"""clustomer: local-first customer segmentation for small online shops.

>>> import clustomer
>>> clustomer.sample_path().name
'online_retail.parquet'
"""

from clustomer.datasets import load_sample, sample_path
from clustomer.errors import ClustomerError, InputError, LayoutError, WorkspaceError
from clustomer.segment.segmenter import CustomerSegmenter, segment_customers
from clustomer.workspace import SegmentRun, Workspace

__version__ = "0.1.0"

__all__ = [
    "ClustomerError",
    "CustomerSegmenter",
    "InputError",
    "LayoutError",
    "SegmentRun",
    "Workspace",
    "WorkspaceError",
    "__version__",
    "load_sample",
    "sample_path",
    "segment_customers",
]
