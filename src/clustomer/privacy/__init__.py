"""Privacy: pseudonyms under a per-install key, and erasure on request (``forget``).

See ``docs/privacy.md`` for what clustomer stores, where, and how to erase it.
"""

from __future__ import annotations

from clustomer.privacy.forget import (
    ERASED_REASON,
    ForgetResult,
    ForgottenFilter,
    forget,
    forgotten_filter,
    mask_who,
)
from clustomer.privacy.keys import (
    default_key_file,
    hmac_hex,
    load_or_create_key,
    normalize_phone,
    pseudonym,
)

__all__ = [
    "ERASED_REASON",
    "ForgetResult",
    "ForgottenFilter",
    "default_key_file",
    "forget",
    "forgotten_filter",
    "hmac_hex",
    "load_or_create_key",
    "mask_who",
    "normalize_phone",
    "pseudonym",
]
