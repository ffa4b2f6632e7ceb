"""Audience exports: a segment's customers as a file for a marketing tool.

:func:`export_segment` writes a segment in one of :data:`FORMATS` (Mailchimp, Klaviyo,
Google Customer Match / Meta hashed e-mails, plain CSV), leaves out whoever refused
marketing or is on the suppression list (:func:`add_suppression`), holds out a seeded
control group (:func:`parse_holdout`) and records both arms in the workspace.
"""

from clustomer.export.audience import (
    EXCLUSION_REASONS,
    ExportResult,
    export_segment,
    resolve_segment,
    screen_members,
)
from clustomer.export.formats import FORMATS, ExportFormat, get_format
from clustomer.export.holdout import parse_holdout, split_holdout
from clustomer.export.safety import (
    atomic_file,
    email_sha256,
    escape_cell,
    is_valid_email,
    normalize_email,
    unescape_cell,
    write_csv_atomic,
)
from clustomer.export.suppression import add_suppression, suppressed_hashes, suppressed_keys

__all__ = [
    "EXCLUSION_REASONS",
    "FORMATS",
    "ExportFormat",
    "ExportResult",
    "add_suppression",
    "atomic_file",
    "email_sha256",
    "escape_cell",
    "export_segment",
    "get_format",
    "is_valid_email",
    "normalize_email",
    "parse_holdout",
    "resolve_segment",
    "screen_members",
    "split_holdout",
    "suppressed_hashes",
    "suppressed_keys",
    "unescape_cell",
    "write_csv_atomic",
]
