"""Personalised product recommendations: repurchase, item-kNN and popularity, blended.

Every customer gets their top products (default 10), each with a reason in plain words
("you buy this about every 6 weeks", "bought together with X", "popular in your
segment"). Non-products (postage, fees, vouchers) are never recommended
(:data:`DEFAULT_EXCLUDE`). :func:`backtest_recommendations` measures hit@N and recall@N
on the shop's own history, with the customer-value backtest's split.

Examples
--------
>>> import pandas as pd
>>> from clustomer.recommend import recommend
>>> lines = pd.DataFrame({"customer_key": ["a", "a", "b"], "product_id": ["TEA", "CUP", "TEA"],
...                       "day": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-03"])})
>>> recommend(lines, top=1, new_items_only=True, blend="default")[["customer_key", "product_id"]]
  customer_key product_id
0            b        CUP
"""

from clustomer.recommend.backtest import backtest_recommendations, list_metrics
from clustomer.recommend.blend import DEFAULT_BLEND, Blend, LogitModel, fit_blend
from clustomer.recommend.exclusions import DEFAULT_EXCLUDE, excluded
from clustomer.recommend.run import RECOMMENDATION_COLUMNS, recommend

__all__ = [
    "DEFAULT_BLEND",
    "DEFAULT_EXCLUDE",
    "RECOMMENDATION_COLUMNS",
    "Blend",
    "LogitModel",
    "backtest_recommendations",
    "excluded",
    "fit_blend",
    "list_metrics",
    "recommend",
]
