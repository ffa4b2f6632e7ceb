"""The control group of an export: how big (``--holdout``) and who (seeded)."""

from __future__ import annotations

import math
import secrets
from collections.abc import Sequence

import numpy as np

from clustomer.errors import InputError

TREATMENT = "treatment"
CONTROL = "control"


def parse_holdout(value: str | float | None) -> float:
    """The share of an audience held out as a control group, from what a person typed.

    ``"10%"``, ``"10"``, ``10``, ``"0.1"`` and ``0.1`` all mean a tenth: a number with
    ``%``, or one of 1 or more, is a percentage; a number below 1 is a share. ``None``
    and ``0`` mean no control group.

    Raises
    ------
    InputError
        If the value is not a number, or not between 0% and (strictly) 100%.

    Examples
    --------
    >>> [parse_holdout(v) for v in ("10%", "0.1", 10, 0.25, "2.5 %", None, 0)]
    [0.1, 0.1, 0.1, 0.25, 0.025, 0.0, 0.0]
    >>> parse_holdout("all")
    Traceback (most recent call last):
    ...
    clustomer.errors.InputError: holdout 'all' is not a number; give a percentage such as 10% (or a share such as 0.1)
    """  # noqa: E501
    hint = "give a percentage such as 10% (or a share such as 0.1)"
    if value is None:
        return 0.0
    if isinstance(value, bool):
        raise InputError(f"holdout {value!r} is not a number; {hint}")
    percent = False
    if isinstance(value, str):
        text = value.strip()
        if text.endswith("%"):
            percent, text = True, text[:-1].strip()
        try:
            number = float(text)
        except ValueError:
            raise InputError(f"holdout {value!r} is not a number; {hint}") from None
    else:
        number = float(value)
    if not math.isfinite(number) or number < 0:
        raise InputError(f"holdout {value!r} must be between 0% and 100%; {hint}")
    share = number / 100 if percent or number >= 1 else number
    if share >= 1:
        raise InputError(
            f"holdout {value!r} would keep everyone out of the file; it must be less than 100%"
        )
    return share


def new_seed() -> int:
    """A fresh random seed to record with an audience (fits a 64-bit column)."""
    return secrets.randbits(32)


def split_holdout(keys: Sequence[str], share: float, seed: int | None) -> np.ndarray:
    """Assign each customer key to ``"treatment"`` or ``"control"``, reproducibly.

    Exactly ``round(share * n)`` customers go to control (half rounds up). The draw
    depends only on the *set* of keys and the seed, not on their order, so the same
    audience and seed give the same split.

    Returns
    -------
    numpy.ndarray of str
        The arm of each key, aligned with ``keys``.

    Examples
    --------
    >>> arms = split_holdout([f"C{i}" for i in range(10)], 0.3, seed=1)
    >>> int((arms == "control").sum()), int((arms == "treatment").sum())
    (3, 7)
    >>> order = [f"C{i}" for i in reversed(range(10))]
    >>> sorted(k for k, a in zip(order, split_holdout(order, 0.3, seed=1)) if a == "control") \\
    ...     == sorted(f"C{i}" for i, a in enumerate(arms) if a == "control")
    True
    """
    n = len(keys)
    arms = np.full(n, TREATMENT, dtype=object)
    n_control = math.floor(share * n + 0.5)
    if n_control == 0:
        return arms
    if seed is None:
        raise ValueError("a holdout needs a seed (see new_seed)")
    by_key = np.argsort(np.asarray(keys, dtype=object), kind="stable")
    chosen = np.random.default_rng(seed).permutation(n)[:n_control]
    arms[by_key[chosen]] = CONTROL
    return arms
