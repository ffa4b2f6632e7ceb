"""Per-customer features, defined once in SQL."""

from clustomer.features.customer import FEATURE_SQL, customer_features, default_as_of

__all__ = ["FEATURE_SQL", "customer_features", "default_as_of"]
