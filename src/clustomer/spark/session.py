"""The Spark session the engine runs in, and the checks before one can start.

pyspark is an optional dependency (``pip install 'clustomer[spark]'``) and needs Java 17;
both are checked here, before the JVM starts, with a message that says what to install.
Every session runs in UTC: the order lines hold naive UTC timestamps, as in the
workspace, and ``$as_of`` is bound as a UTC literal.
"""

from __future__ import annotations

import os
import shutil
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING

from clustomer.errors import ClustomerError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = [
    "SESSION_CONF",
    "START_CONF",
    "SparkEngineError",
    "local_driver_memory",
    "require_spark",
    "spark_session",
]

#: Settings every clustomer Spark session gets (a user's ``spark-defaults.conf`` and
#: ``spark-submit --conf`` still apply to everything else).
SESSION_CONF: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}
#: Settings for a session started here (no progress bars on the console: the CLI draws
#: its own stages).
START_CONF: dict[str, str] = {"spark.ui.showConsoleProgress": "false"}


class SparkEngineError(ClustomerError):
    """The Spark engine cannot run: pyspark or Java missing, or Spark failed.

    >>> SparkEngineError("no Java").exit_code
    1
    """


def require_spark() -> None:
    """Raise :class:`SparkEngineError` unless pyspark, sqlglot and Java are available."""
    missing = []
    for module in ("pyspark", "sqlglot"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise SparkEngineError(
            f"--engine spark needs {' and '.join(missing)}: pip install 'clustomer[spark]' "
            "(and Java 17)"
        )
    java_home = os.environ.get("JAVA_HOME")
    java = os.path.join(java_home, "bin", "java") if java_home else shutil.which("java")
    if not java or not os.path.exists(java):
        raise SparkEngineError(
            "--engine spark needs Java 17 and found none (no java on PATH, no JAVA_HOME); "
            "install it, e.g. apt-get install openjdk-17-jre-headless"
        )


#: Spark's default number of shuffle partitions, meant for a cluster.
_DEFAULT_SHUFFLE_PARTITIONS = "200"
#: Shuffle partitions per core in local mode (see :func:`_local_shuffle_partitions`).
LOCAL_PARTITIONS_PER_CORE = 8


def _local_shuffle_partitions(spark: SparkSession, conf: Mapping[str, str]) -> None:
    """In local mode, :data:`LOCAL_PARTITIONS_PER_CORE` shuffle partitions per core
    instead of Spark's 200, which are meant for a cluster.

    Measured on ``local[2]``: the features of 200,000 lines took 39 s with 200
    partitions, 5 s with 16 and 3 s with 4; those of 1M lines 10 s with 4 and 6 s with
    16. A value set by the user (``conf``, ``spark-defaults.conf``) is kept.
    """
    key = "spark.sql.shuffle.partitions"
    master = str(spark.sparkContext.master)
    if key in conf or not master.startswith("local"):
        return
    if spark.conf.get(key) == _DEFAULT_SHUFFLE_PARTITIONS:
        cores = spark.sparkContext.defaultParallelism
        spark.conf.set(key, str(LOCAL_PARTITIONS_PER_CORE * cores))


def local_driver_memory(
    master: str | None, conf: Mapping[str, str], environ: Mapping[str, str] | None = None
) -> str | None:
    """``spark.driver.memory`` for a local session that sets none: half this machine's
    memory (at least 1g); None when the user set it, or for a cluster.

    In local mode the driver is the only executor. Spark's default heap (1g) cannot
    cache a large order log: at 100 million lines a ``local[2]`` run with 4g died with
    ``OutOfMemoryError: Java heap space`` while caching the lines (bench/spark.py), and
    ran with 11g. Set in ``conf``, in ``PYSPARK_SUBMIT_ARGS`` or in
    ``spark-defaults.conf``, the user's value is kept.

    >>> local_driver_memory("local[2]", {}, {}) is not None
    True
    >>> local_driver_memory("local[2]", {"spark.driver.memory": "2g"}, {})
    >>> local_driver_memory("spark://host:7077", {}, {})
    """
    env = os.environ if environ is None else environ
    if master is not None and not master.startswith("local"):
        return None
    if "spark.driver.memory" in conf or "driver-memory" in env.get("PYSPARK_SUBMIT_ARGS", ""):
        return None
    for folder in (env.get("SPARK_CONF_DIR"), os.path.join(env.get("SPARK_HOME", ""), "conf")):
        defaults = os.path.join(folder or "", "spark-defaults.conf")
        if folder and os.path.isfile(defaults):
            with open(defaults, encoding="utf-8", errors="replace") as fh:
                if "spark.driver.memory" in fh.read():
                    return None
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):  # not a POSIX system: Spark's default
        return None
    return f"{max(1, int(total / 2**30 / 2))}g"


def spark_session(
    master: str | None = None,
    *,
    app_name: str = "clustomer",
    conf: Mapping[str, str] | None = None,
) -> SparkSession:
    """Start (or join) a Spark session set up for clustomer.

    Parameters
    ----------
    master : str, optional
        ``local[2]``, ``spark://host:7077``, ``yarn``, ... ``None`` keeps Spark's own
        choice: ``spark-submit --master`` when submitted, else ``local[*]``.
    app_name : str
        The application name shown by the cluster manager.
    conf : mapping, optional
        More Spark settings (e.g. ``{"spark.driver.memory": "4g"}``); they take effect
        only when this call starts the JVM. A local session without a driver memory gets
        half the machine's (:func:`local_driver_memory`).
    """
    require_spark()
    with warnings.catch_warnings():
        # pyspark 4.3 warns that it "does not yet fully support pandas >= 3": the paths
        # clustomer uses (Arrow to and from pandas) are covered by tests/test_spark*.py
        warnings.filterwarnings("ignore", module=r"pyspark(\.|$)")
        from pyspark.sql import SparkSession

        builder = SparkSession.builder.appName(app_name)
        if master:
            builder = builder.master(master)
        settings = {**START_CONF, **SESSION_CONF, **dict(conf or {})}
        memory = local_driver_memory(master, conf or {})
        if memory is not None:  # takes effect only if this call starts the JVM
            settings["spark.driver.memory"] = memory
        for key, value in settings.items():
            builder = builder.config(key, value)
        try:
            spark = builder.getOrCreate()
        except Exception as exc:  # the JVM did not start: say so plainly
            raise SparkEngineError(f"Spark did not start: {exc}") from None
    for key, value in SESSION_CONF.items():  # an existing session keeps its own otherwise
        spark.conf.set(key, value)
    _local_shuffle_partitions(spark, conf or {})
    spark.sparkContext.setLogLevel("ERROR")
    return spark
