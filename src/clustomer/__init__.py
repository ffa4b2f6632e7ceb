"""clustomer: local-first customer segmentation for small online shops.

The public names are imported on first use, so that ``import clustomer`` (and the
command line's ``--help``) stay quick.

>>> import clustomer
>>> clustomer.sample_path().name
'online_retail.parquet'
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from clustomer.errors import ClustomerError, InputError, LayoutError, WorkspaceError

if TYPE_CHECKING:
    from clustomer.datasets import load_sample, sample_path
    from clustomer.results import SegmentRun
    from clustomer.segment.segmenter import CustomerSegmenter, segment_customers
    from clustomer.workspace import Workspace

__version__ = "0.1.0"

_LAZY = {
    "CustomerSegmenter": "clustomer.segment.segmenter",
    "segment_customers": "clustomer.segment.segmenter",
    "SegmentRun": "clustomer.results",
    "Workspace": "clustomer.workspace",
    "load_sample": "clustomer.datasets",
    "sample_path": "clustomer.datasets",
}

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


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'clustomer' has no attribute {name!r}")
