"""Read and check a marketing playbook (TOML): what to do with each segment archetype.

A playbook has one table per archetype under ``[archetypes]`` and a ``[fallback]``
table, each with five fields:

``objective`` (text), ``actions`` (a list of texts, most important first), ``channel``,
``offer`` and ``cadence`` (texts). Optional top-level keys: ``version`` (1) and
``description``.

The default playbook (``default.toml`` beside this module) covers every archetype
clustomer names segments with (:data:`clustomer.segment.profile.PROTOTYPES`) and every RFM
segment (:data:`clustomer.segment.rfm.RFM_SEGMENTS`). A user's playbook is read *on top
of* the default: it may hold only some archetypes, and in each only some fields; the
rest is inherited. Besides the default's names, a user file may name ``"Unassigned"``
(customers a density method left in no segment) and ``"Segment <id>"`` (a segment left
without an archetype); both inherit from ``[fallback]``.

Every problem is reported at once, each with the file and the key (``archetypes."At
risk".offer``); an unknown archetype name comes with the closest known one.

Examples
--------
>>> pb = read_playbook('[archetypes.Champions]\\noffer = "A thank-you gift."', source="my.toml")
>>> pb.lookup("Champions")[1].offer, pb.sources
('A thank-you gift.', ('default', 'my.toml'))
>>> pb.lookup("Champions")[1].objective == default_playbook().lookup("Champions")[1].objective
True
>>> pb.lookup("Segment 11")[0]
'fallback'
>>> try:
...     read_playbook('[archetypes.Champs]\\noffer = "x"', source="my.toml")
... except PlaybookError as exc:
...     print(exc.file, exc.key, "did you mean 'Champions'?" in str(exc))
my.toml archetypes.Champs True
"""

from __future__ import annotations

import difflib
import json
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

from clustomer.errors import InputError

__all__ = [
    "DEFAULT_SOURCE",
    "FALLBACK",
    "FIELDS",
    "Playbook",
    "PlaybookError",
    "Strategy",
    "default_playbook",
    "load_playbook",
    "read_playbook",
]

#: The fields of every playbook entry, in the order shown.
FIELDS: tuple[str, ...] = ("objective", "actions", "channel", "offer", "cadence")
#: The name of the entry used for segments without an archetype of their own.
FALLBACK = "fallback"
#: How ``Playbook.sources`` names the playbook shipped with clustomer.
DEFAULT_SOURCE = "default"
#: Names a user file may add to the default's: both inherit from ``[fallback]``.
_EXTRA_NAME = re.compile(r"Unassigned|Segment \d+")
_TOP_LEVEL = ("version", "description", "archetypes", FALLBACK)
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_TOML_WHERE = re.compile(r"\(at line (\d+), column (\d+)\)")


class PlaybookError(InputError):
    """A playbook file that cannot be used: every problem, each with its key.

    Attributes
    ----------
    problems : list of (str, str)
        ``(key, what is wrong)``; the key is TOML-style (``archetypes."At risk".offer``),
        empty when the problem is the whole file.
    key : str
        The first problem's key.

    Examples
    --------
    >>> str(PlaybookError([("fallback.offer", "must be text, not a number")], file="p.toml"))
    'p.toml: fallback.offer: must be text, not a number'
    """

    def __init__(
        self, problems: list[tuple[str, str]], *, file: str, line: int | None = None
    ) -> None:
        self.problems = list(problems)
        self.key = self.problems[0][0] if self.problems else ""
        text = "; ".join(f"{key}: {what}" if key else what for key, what in self.problems)
        super().__init__(text, file=file, line=line)


@dataclass(frozen=True)
class Strategy:
    """What to do with one segment archetype.

    Examples
    --------
    >>> s = Strategy("Win back.", ("Send a note.",), "email", "None.", "once")
    >>> s.to_dict()["actions"]
    ['Send a note.']
    """

    objective: str
    actions: tuple[str, ...]
    channel: str
    offer: str
    cadence: str

    def to_dict(self) -> dict[str, Any]:
        """Plain data: the five fields (``actions`` as a list)."""
        return {
            "objective": self.objective,
            "actions": list(self.actions),
            "channel": self.channel,
            "offer": self.offer,
            "cadence": self.cadence,
        }


@dataclass(frozen=True)
class Playbook:
    """A checked playbook: one :class:`Strategy` per archetype name, and a fallback.

    Attributes
    ----------
    archetypes : dict of str to Strategy
    fallback : Strategy
    sources : tuple of str
        ``("default",)``, or ``("default", <user file>)``.
    overridden : tuple of str
        The entries the user file set (archetype names, or ``"fallback"``).
    description : str
    """

    archetypes: Mapping[str, Strategy]
    fallback: Strategy
    sources: tuple[str, ...] = (DEFAULT_SOURCE,)
    overridden: tuple[str, ...] = ()
    description: str = ""
    _folded: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        folded = {" ".join(name.split()).casefold(): name for name in self.archetypes}
        object.__setattr__(self, "_folded", folded)

    def lookup(self, segment_name: str) -> tuple[str, Strategy]:
        """The entry for a segment: ``(archetype name or "fallback", strategy)``.

        The name matches exactly, else ignoring case and repeated spaces; anything else
        (``"Segment 7"``, ``"Unassigned"``, a name from an older version) gets the
        fallback.

        Examples
        --------
        >>> pb = default_playbook()
        >>> pb.lookup("at  RISK")[0], pb.lookup("Unassigned")[0]
        ('At risk', 'fallback')
        """
        name = str(segment_name)
        if name in self.archetypes:
            return name, self.archetypes[name]
        key = self._folded.get(" ".join(name.split()).casefold())
        if key is not None:
            return key, self.archetypes[key]
        return FALLBACK, self.fallback

    def to_dict(self) -> dict[str, Any]:
        """Plain data: sources, overridden entries, every archetype's strategy, fallback."""
        return {
            "sources": list(self.sources),
            "overridden": list(self.overridden),
            "description": self.description,
            "archetypes": {name: s.to_dict() for name, s in self.archetypes.items()},
            FALLBACK: self.fallback.to_dict(),
        }


def _key(*parts: str) -> str:
    """A TOML dotted key, quoting the parts that need it."""
    return ".".join(p if _BARE_KEY.fullmatch(p) else json.dumps(p) for p in parts)


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return "a date or time"


def _suggest(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    if not close:  # "champions" is far from "Champions" only by case
        folded = {k.casefold(): k for k in known}
        close = [folded[c] for c in difflib.get_close_matches(name.casefold(), list(folded), n=1)]
    return f"; did you mean {close[0]!r}?" if close else ""


def _text(value: Any, key: str, problems: list[tuple[str, str]]) -> str | None:
    if not isinstance(value, str):
        problems.append((key, f"must be text, not {_kind(value)}"))
        return None
    text = " ".join(value.split())
    if not text:
        problems.append((key, "is empty"))
        return None
    return text


def _actions(value: Any, key: str, problems: list[tuple[str, str]]) -> tuple[str, ...] | None:
    if isinstance(value, str):  # one action written without brackets
        value = [value]
    if not isinstance(value, list):
        problems.append((key, f"must be a list of texts, not {_kind(value)}"))
        return None
    if not value:
        problems.append((key, "is empty: give at least one action"))
        return None
    out = [_text(v, f"{key}[{i}]", problems) for i, v in enumerate(value)]
    return tuple(a for a in out if a is not None) if all(a is not None for a in out) else None


def _entry(
    table: Any, path: tuple[str, ...], inherit: Strategy | None, problems: list[tuple[str, str]]
) -> Strategy | None:
    """One checked entry; missing fields come from ``inherit`` (an error without it)."""
    where = _key(*path)
    if not isinstance(table, dict):
        problems.append((where, f"must be a table of {', '.join(FIELDS)}, not {_kind(table)}"))
        return None
    for name in table:
        if name not in FIELDS:
            problems.append(
                (
                    _key(*path, name),
                    f"unknown field{_suggest(name, list(FIELDS))} (fields: {', '.join(FIELDS)})",
                )
            )
    values: dict[str, Any] = {}
    for name in FIELDS:
        key = _key(*path, name)
        if name in table:
            check = _actions if name == "actions" else _text
            values[name] = check(table[name], key, problems)
        elif inherit is not None:
            values[name] = getattr(inherit, name)
        else:
            problems.append((key, "is missing"))
            values[name] = None
    if any(v is None for v in values.values()):
        return None
    return Strategy(**values)


def _parse(data: Mapping[str, Any], source: str, base: Playbook | None) -> Playbook:
    problems: list[tuple[str, str]] = []
    for key in data:
        if key not in _TOP_LEVEL:
            allowed = ", ".join(_TOP_LEVEL)
            hint = _suggest(key, list(_TOP_LEVEL))
            problems.append((_key(key), f"unknown key{hint} (top-level keys: {allowed})"))
    if "version" in data and (data["version"] != 1 or isinstance(data["version"], bool)):
        problems.append(("version", f"must be 1, not {data['version']!r}"))
    description = data.get("description", base.description if base else "")
    if not isinstance(description, str):
        problems.append(("description", f"must be text, not {_kind(description)}"))
        description = ""

    # first: the names without an entry of their own inherit from this file's fallback
    fallback: Strategy | None = base.fallback if base else None
    if FALLBACK in data:
        fallback = _entry(data[FALLBACK], (FALLBACK,), base.fallback if base else None, problems)
    elif base is None:
        problems.append((FALLBACK, "is missing: every playbook needs a [fallback] table"))

    tables = data.get("archetypes", {})
    if not isinstance(tables, dict):
        problems.append(("archetypes", f"must be a table of archetypes, not {_kind(tables)}"))
        tables = {}
    known = list(base.archetypes) if base else []
    archetypes: dict[str, Strategy] = dict(base.archetypes) if base else {}
    for name, table in tables.items():
        if base is not None and name not in base.archetypes and not _EXTRA_NAME.fullmatch(name):
            problems.append(
                (
                    _key("archetypes", name),
                    f"unknown archetype {name!r}{_suggest(name, known)} "
                    f"(known: {', '.join(known)}, Unassigned, Segment <id>)",
                )
            )
            continue
        inherit = (base.archetypes.get(name) or fallback or base.fallback) if base else None
        entry = _entry(table, ("archetypes", name), inherit, problems)
        if entry is not None:
            archetypes[name] = entry

    if problems or fallback is None:
        raise PlaybookError(problems or [("", "no usable entries")], file=source)
    overridden = [*tables, *([FALLBACK] if FALLBACK in data else [])] if base else []
    return Playbook(
        archetypes=archetypes,
        fallback=fallback,
        sources=(*base.sources, source) if base else (source,),
        overridden=tuple(overridden),
        description=description,
    )


def _loads(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = _TOML_WHERE.search(str(exc))
        line = int(found.group(1)) if found else None
        reason = _TOML_WHERE.sub("", str(exc)).strip()
        raise PlaybookError([("", f"not valid TOML: {reason}")], file=source, line=line) from exc


def read_playbook(
    text: str, *, source: str = "<playbook>", base: Playbook | None = None
) -> Playbook:
    """Check a playbook given as TOML text, on top of ``base`` (the default playbook).

    Parameters
    ----------
    text : str
        The TOML document.
    source : str
        Its name in error messages and in ``Playbook.sources``.
    base : Playbook, optional
        What the text overrides (default: :func:`default_playbook`).

    Returns
    -------
    Playbook

    Raises
    ------
    PlaybookError
        Naming the source and, for each problem, the key and what is wrong.

    Examples
    --------
    >>> pb = read_playbook('[fallback]\\ncadence = "weekly"')
    >>> pb.fallback.cadence, pb.overridden
    ('weekly', ('fallback',))
    """
    return _parse(_loads(text, source), source, base or default_playbook())


def load_playbook(path: str | os.PathLike[str] | None = None) -> Playbook:
    """The default playbook, with a user's playbook file read on top of it.

    Parameters
    ----------
    path : str or path-like, optional
        A TOML playbook (``--playbook my.toml``); None gives the default alone.

    Returns
    -------
    Playbook

    Raises
    ------
    PlaybookError
        The file cannot be read, is not TOML, or has wrong keys or values.

    Examples
    --------
    >>> load_playbook().sources
    ('default',)
    >>> load_playbook("no-such-playbook.toml")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    clustomer.playbook.load.PlaybookError: no-such-playbook.toml: cannot read the playbook: ...
    """
    if path is None:
        return default_playbook()
    source = os.fspath(path)
    try:
        with open(source, "rb") as fh:
            raw = fh.read()
        text = raw.decode("utf-8-sig")
    except OSError as exc:
        raise PlaybookError(
            [("", f"cannot read the playbook: {exc.strerror or exc}")], file=source
        ) from exc
    except UnicodeDecodeError as exc:
        raise PlaybookError([("", "is not UTF-8 text")], file=source) from exc
    return read_playbook(text, source=source)


@lru_cache(maxsize=1)
def default_playbook() -> Playbook:
    """The playbook shipped with clustomer (``clustomer/playbook/default.toml``).

    Examples
    --------
    >>> default_playbook().lookup("At risk")[1].channel
    'email, then retargeting ads'
    """
    text = (resources.files("clustomer.playbook") / "default.toml").read_text(encoding="utf-8")
    return _parse(_loads(text, "default.toml"), DEFAULT_SOURCE, None)
