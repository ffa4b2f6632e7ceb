"""The bundled sample: UCI Online Retail (CC0), 541,909 invoice lines. See LICENSE.md."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pandas as pd

SAMPLE_NAME = "online_retail.parquet"


def sample_path() -> Path:
    """Path of the bundled Online Retail Parquet file, in the installed package.

    >>> sample_path().name
    'online_retail.parquet'
    """
    return Path(str(resources.files("clustomer.datasets") / SAMPLE_NAME))


def load_sample() -> pd.DataFrame:
    """The bundled sample as a pandas DataFrame.

    >>> load_sample().shape
    (541909, 8)
    """
    return pd.read_parquet(sample_path())
