"""Campaigns: record an export as sent, measure treatment against control, plan a test.

- :func:`record_campaign` / :func:`import_outcomes` / :func:`campaign_report`
  (:mod:`~clustomer.campaign.measure`, :mod:`~clustomer.campaign.outcomes`): which
  audiences were sent when, who converted, and the lift with its uncertainty.
- :func:`sample_size` / :func:`plan` (:mod:`~clustomer.campaign.power`): how many
  customers a test needs, and what a given list can detect.
- :mod:`~clustomer.campaign.stats`: the tests and intervals, on plain counts.

Examples
--------
>>> from clustomer.campaign import parse_lift, parse_rate, sample_size
>>> sample_size(parse_rate("3%"), parse_lift("2pp")).n_treatment
1506
"""

from clustomer.campaign.compare import ArmStats, Comparison, compare_arms
from clustomer.campaign.measure import CampaignReport, campaign_report, record_campaign
from clustomer.campaign.outcomes import OutcomeImport, import_outcomes
from clustomer.campaign.power import (
    Lift,
    Plan,
    SampleSize,
    minimum_detectable_lift,
    parse_lift,
    parse_rate,
    plan,
    power_of,
    sample_size,
)

__all__ = [
    "ArmStats",
    "CampaignReport",
    "Comparison",
    "Lift",
    "OutcomeImport",
    "Plan",
    "SampleSize",
    "campaign_report",
    "compare_arms",
    "import_outcomes",
    "minimum_detectable_lift",
    "parse_lift",
    "parse_rate",
    "plan",
    "power_of",
    "record_campaign",
    "sample_size",
]
