"""The marketing half of the :class:`~clustomer.workspace.Workspace` API.

Recommendations, the playbook's plan, audience exports, the suppression list and
campaigns, each a thin call from the workspace's store into its own package
(``recommend``, ``playbook``, ``export``, ``campaign``). Kept apart from ``workspace.py``
so that each file has one job; :class:`Workspace` inherits these methods.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from clustomer.errors import ClustomerError

if TYPE_CHECKING:
    from clustomer.campaign import CampaignReport
    from clustomer.export import ExportResult
    from clustomer.playbook import Plan
    from clustomer.store import Store


class MarketingMixin:
    """Workspace methods from segments to money (see the module docstring)."""

    store: Store

    # -- recommendations -----------------------------------------------------------------
    def _segment_names(self, run_id: int | None) -> pd.Series | None:
        from clustomer.store.runs import load_assignments

        try:
            members = load_assignments(self.store, run_id)
        except ClustomerError:  # no run yet: overall popularity only
            return None
        return members.set_index("customer_key")["segment_name"]

    def recommendations(
        self,
        *,
        top: int = 10,
        new_items_only: bool = False,
        exclude: Iterable[str] | None = None,
        run_id: int | None = None,
        customers: Iterable[str] | None = None,
    ) -> pd.DataFrame:
        """Each customer's top products with a reason per product.

        One row per customer and rank: ``customer_key, rank, product_id, product_name,
        score, reason``. ``exclude`` adds product ids to the default non-product list;
        ``customers`` limits the rows to those keys.
        """
        from clustomer.recommend import DEFAULT_EXCLUDE, recommend
        from clustomer.store.lines import clean_lines

        lines = clean_lines(self.store)
        if lines.empty:
            raise ClustomerError("the workspace has no order lines to recommend from")
        rules = [*DEFAULT_EXCLUDE, *(exclude or [])]
        return recommend(
            lines,
            top=top,
            new_items_only=new_items_only,
            exclude=rules,
            segments=self._segment_names(run_id),
            customers=None if customers is None else list(customers),
        )

    def segment_favourites(
        self, *, top: int = 10, run_id: int | None = None
    ) -> dict[str, list[dict[str, Any]]]:
        """What a customer without purchase history gets: each segment's most popular
        products of the last eight weeks (the recommender's cold start), by segment name.

        The rows are :meth:`recommendations`' (``rank, product_id, product_name, score,
        reason``; the score is the share of the segment's recent customers who bought
        the product). Key ``""`` holds the shop-wide list. Empty without order lines.
        """
        from clustomer.recommend import DEFAULT_EXCLUDE, recommend
        from clustomer.store.lines import clean_lines

        lines = clean_lines(self.store)
        if lines.empty:
            return {}
        segments = self._segment_names(run_id)
        names = [] if segments is None else sorted(set(segments.dropna().astype(str)))
        # one stand-in customer per segment, with no purchases: it gets the cold start
        stand_in = {f"\x00{n}": n for n in names}
        stand_in["\x00"] = ""
        member = pd.Series(names, index=[f"\x00{n}" for n in names], dtype=object)
        if segments is not None:
            member = pd.concat([segments.astype(object), member])
        recs = recommend(
            lines,
            top=top,
            exclude=list(DEFAULT_EXCLUDE),
            segments=member,
            customers=list(stand_in),
            blend="default",  # the cold start does not use the blend: no need to fit it
        )
        out: dict[str, list[dict[str, Any]]] = {n: [] for n in stand_in.values()}
        cols = ["customer_key", "rank", "product_id", "product_name", "score", "reason"]
        for row in recs[cols].astype(object).itertuples(index=False):
            out[stand_in[str(row[0])]].append(dict(zip(cols[1:], row[1:], strict=True)))
        return out

    def write_recommendations(self, path: Path, **options: Any) -> dict[str, Any]:
        """Write :meth:`recommendations` to a CSV file (atomically); return counts."""
        from clustomer.export import escape_cell, write_csv_atomic
        from clustomer.recommend import RECOMMENDATION_COLUMNS

        recs = self.recommendations(**options)
        text = {}
        for col in ("customer_key", "product_id", "product_name", "reason"):
            cat = recs[col].fillna("").astype(str).astype("category")
            # escaping is one-to-one, so the categories stay distinct
            text[col] = cat.cat.rename_categories([escape_cell(c) for c in cat.cat.categories])
        score = recs["score"].round(6).astype(str)
        rows = zip(
            text["customer_key"],
            recs["rank"].astype(str),
            text["product_id"],
            text["product_name"],
            score,
            text["reason"],
            strict=True,
        )
        write_csv_atomic(Path(path), list(RECOMMENDATION_COLUMNS), rows)
        return {
            "path": str(path),
            "customers": int(recs["customer_key"].nunique()),
            "rows": len(recs),
            "products": int(recs["product_id"].nunique()),
            "reasons": {str(k): int(v) for k, v in _reason_kinds(recs["reason"]).items()},
        }

    def recommend_backtest(self, horizon: int = 91, top: int = 10) -> dict[str, Any]:
        """Hit@N and recall@N of the recommenders on the last ``horizon`` days."""
        from clustomer.recommend import backtest_recommendations
        from clustomer.store.lines import clean_lines

        return backtest_recommendations(clean_lines(self.store), horizon=horizon, top=top)

    # -- the plan ------------------------------------------------------------------------
    def plan(
        self,
        *,
        run_id: int | None = None,
        playbook: str | Path | None = None,
        contact_limit: int = 20,
    ) -> Plan:
        """Each segment's strategy by expected value, and who to contact this week."""
        from clustomer.features import customer_features
        from clustomer.playbook import build_plan, load_playbook
        from clustomer.store.runs import latest_run_id, load_assignments, load_run
        from clustomer.store.values import load_values

        rid = latest_run_id(self.store) if run_id is None else run_id
        run = load_run(self.store, rid)
        members = load_assignments(self.store, rid)
        # the RFM features decide who "was valuable" and stand in for missing values
        rfm = ["customer_key", "recency_days", "frequency", "monetary", "tenure_days"]
        frame = customer_features(self.store, run["as_of"])[rfm]
        values = load_values(self.store, rid)
        if not values.empty:
            frame = frame.merge(values, on="customer_key", how="left")
        return build_plan(
            run["profiles"],
            members,
            frame,
            load_playbook(playbook),
            contact_limit=contact_limit,
            exclude=self.not_contactable(),
        )

    def not_contactable(self) -> set[str]:
        """Customer keys that must not be contacted: suppressed, or declined marketing."""
        from clustomer.export import suppressed_keys
        from clustomer.store.audiences import declined_marketing_keys

        return suppressed_keys(self.store) | declined_marketing_keys(self.store)

    # -- exports and suppression ---------------------------------------------------------
    def export(
        self,
        segment: str | int,
        *,
        fmt: str = "csv",
        out: str | Path | None = None,
        holdout: str | float | None = 0.0,
        seed: int | None = None,
        run_id: int | None = None,
        include_unconsented: bool = False,
    ) -> ExportResult:
        """Write a segment as an audience file and record its treatment and control arms.

        Klaviyo files carry each customer's top three recommended products.
        """
        from clustomer.export import export_segment, get_format, resolve_segment
        from clustomer.store.runs import latest_run_id, load_assignments

        recs = None
        if get_format(fmt).name == "klaviyo":  # the segment's own top products
            rid = latest_run_id(self.store) if run_id is None else run_id
            sid, _ = resolve_segment(self.store, segment, rid)
            members = load_assignments(self.store, rid)
            keys = members.loc[members["segment_id"] == sid, "customer_key"]
            try:
                recs = self.recommendations(top=3, run_id=rid, customers=keys)
            except ClustomerError:  # no order lines to recommend from: no top products
                recs = None
        return export_segment(
            self.store,
            segment,
            fmt=fmt,
            out=out,
            holdout=holdout,
            seed=seed,
            run_id=run_id,
            include_unconsented=include_unconsented,
            recommendations=recs,
        )

    def suppress(
        self, values: Iterable[str], *, reason: str | None = None, hashed: bool = False
    ) -> int:
        """Add e-mail addresses (stored hashed) or customer keys to the suppression list;
        return how many were new. ``hashed``: the values are SHA-256 digests of
        addresses already."""
        from clustomer.export import add_suppression
        from clustomer.store.audiences import list_suppressions

        before = len(list_suppressions(self.store))
        with self.store.transaction():
            for value in values:
                add_suppression(self.store, value, reason, kind="email_sha256" if hashed else None)
        return len(list_suppressions(self.store)) - before

    # -- campaigns -----------------------------------------------------------------------
    def record_campaign(
        self,
        name: str,
        segments: Sequence[str],
        sent: date | datetime | str,
        *,
        window_days: int = 30,
        audience_ids: Sequence[int] | None = None,
    ) -> int:
        """Record the latest export of each segment (or the given audiences) as a
        campaign sent on ``sent``."""
        from clustomer.campaign import record_campaign

        return record_campaign(
            self.store,
            name,
            list(segments),
            sent,
            window_days=window_days,
            audience_ids=list(audience_ids) if audience_ids else None,
        )

    def import_campaign_outcomes(self, name: str, path: str | Path) -> int:
        """Import a campaign's outcome file (customer, converted[, revenue]); rows stored."""
        from clustomer.campaign import import_outcomes

        return int(import_outcomes(self.store, name, Path(path)).rows)

    def campaign_report(self, name: str) -> CampaignReport:
        """Treatment against control for campaign ``name``, overall and per segment."""
        from clustomer.campaign import campaign_report

        return campaign_report(self.store, name)

    def segment_size(self, segment: str) -> int:
        """Customers in a segment of the latest run (by name, any case)."""
        from clustomer.store.campaigns import segment_size

        size = segment_size(self.store, segment)
        if size is None:
            raise ClustomerError(f"the latest run has no segment named {segment!r}")
        return size


def _reason_kinds(reasons: pd.Series) -> pd.Series:
    """How many recommendations came for each kind of reason (its first words)."""
    pattern = r"^(you buy|you bought|bought together|popular in your segment|popular)"
    kinds = reasons.astype(str).str.extract(pattern, expand=False)
    return kinds.fillna("other").value_counts()
