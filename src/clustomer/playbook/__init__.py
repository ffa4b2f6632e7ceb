"""The marketing playbook: what to do with each segment, and this week's plan.

A playbook (TOML) maps each segment archetype to an objective, actions, a channel, an
offer and a cadence; a sensible default ships, and a user's file overrides only what it
names (:mod:`clustomer.playbook.load`). :func:`build_plan` joins a run's segments with
the playbook and the customers' values: the segments by expected value, and the
customers to contact this week (:mod:`clustomer.playbook.plan`,
:mod:`clustomer.playbook.scores`).

Examples
--------
>>> from clustomer.playbook import default_playbook
>>> default_playbook().lookup("Champions")[1].offer
'Early access and a referral reward; no discounts (they buy anyway).'
"""

from __future__ import annotations

from clustomer.playbook.load import (
    Playbook,
    PlaybookError,
    Strategy,
    default_playbook,
    load_playbook,
    read_playbook,
)
from clustomer.playbook.plan import Contact, Plan, SegmentPlan, build_plan

__all__ = [
    "Contact",
    "Plan",
    "Playbook",
    "PlaybookError",
    "SegmentPlan",
    "Strategy",
    "build_plan",
    "default_playbook",
    "load_playbook",
    "read_playbook",
]
