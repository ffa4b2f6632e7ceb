"""Ordered, registered schema steps for the workspace file.

Each step is a function decorated with :func:`migration`; the versions applied are
recorded in ``schema_migrations``. Add a new step at the end with the next number —
never edit a step that has shipped.

Examples
--------
>>> import duckdb
>>> con = duckdb.connect()
>>> apply_migrations(con) == list(range(1, LATEST_VERSION + 1))
True
>>> apply_migrations(con)
[]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import duckdb

from clustomer.errors import WorkspaceError


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    apply: Callable[[duckdb.DuckDBPyConnection], None]


MIGRATIONS: list[Migration] = []


def migration(
    version: int, description: str
) -> Callable[
    [Callable[[duckdb.DuckDBPyConnection], None]], Callable[[duckdb.DuckDBPyConnection], None]
]:
    """Register a schema step; versions must be consecutive from 1."""

    def register(
        fn: Callable[[duckdb.DuckDBPyConnection], None],
    ) -> Callable[[duckdb.DuckDBPyConnection], None]:
        expected = len(MIGRATIONS) + 1
        if version != expected:
            raise RuntimeError(f"migration {version} registered out of order (expected {expected})")
        MIGRATIONS.append(Migration(version, description, fn))
        return fn

    return register


@migration(1, "imports, order lines, customers, runs and assignments")
def _initial(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        CREATE SEQUENCE import_id_seq START 1;
        CREATE TABLE imports (
            import_id      INTEGER PRIMARY KEY,
            file_name      VARCHAR NOT NULL,
            file_bytes     BIGINT NOT NULL,
            content_hash   VARCHAR NOT NULL,
            layout         VARCHAR NOT NULL,
            mapping        JSON,
            currency       VARCHAR,
            as_of          TIMESTAMP NOT NULL,
            rows_read      BIGINT NOT NULL,
            rows_kept      BIGINT NOT NULL,
            customers      BIGINT NOT NULL,
            orders         BIGINT NOT NULL,
            revenue        DOUBLE NOT NULL,
            revenue_kept   DOUBLE NOT NULL,
            cancellation_lines BIGINT NOT NULL,
            extra_lines    BIGINT NOT NULL,
            first_order    TIMESTAMP,
            last_order     TIMESTAMP,
            imported_at    TIMESTAMPTZ NOT NULL,
            seconds        DOUBLE,
            UNIQUE (content_hash, currency)
        );
        CREATE TABLE import_drops (
            import_id  INTEGER NOT NULL,
            reason     VARCHAR NOT NULL,
            rows       BIGINT NOT NULL,
            revenue    DOUBLE,
            PRIMARY KEY (import_id, reason)
        );
        CREATE TABLE import_rejects (
            import_id    INTEGER NOT NULL,
            line         BIGINT,
            column_name  VARCHAR,
            value        VARCHAR,
            message      VARCHAR
        );
        CREATE TABLE order_lines (
            customer_key  VARCHAR NOT NULL,
            order_id      VARCHAR NOT NULL,
            ts            TIMESTAMP NOT NULL,
            product_id    VARCHAR,
            product_name  VARCHAR,
            quantity      DOUBLE,
            unit_price    DOUBLE,
            revenue       DOUBLE NOT NULL,
            currency      VARCHAR,
            is_return     BOOLEAN NOT NULL,
            import_id     INTEGER NOT NULL
        );
        CREATE TABLE customers (
            customer_key       VARCHAR PRIMARY KEY,
            country            VARCHAR,
            marketing_consent  BOOLEAN,
            attributes         JSON,
            first_import_id    INTEGER,
            updated_at         TIMESTAMPTZ
        );
        CREATE SEQUENCE run_id_seq START 1;
        CREATE TABLE runs (
            run_id       INTEGER PRIMARY KEY,
            created_at   TIMESTAMPTZ NOT NULL,
            method       VARCHAR NOT NULL,
            as_of        TIMESTAMP NOT NULL,
            k            INTEGER NOT NULL,
            n_customers  BIGINT NOT NULL,
            config       JSON,
            metrics      JSON,
            curves       JSON,
            reason       VARCHAR,
            profiles     JSON
        );
        CREATE TABLE assignments (
            run_id        INTEGER NOT NULL,
            customer_key  VARCHAR NOT NULL,
            segment_id    INTEGER NOT NULL,
            segment_name  VARCHAR NOT NULL,
            rfm_segment   VARCHAR
        );
        """
    )


@migration(2, "run details and models, membership probabilities, assignments of new customers")
def _segment_depth(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        ALTER TABLE runs ADD COLUMN details JSON;
        ALTER TABLE assignments ADD COLUMN probability DOUBLE;
        CREATE TABLE run_models (
            run_id           INTEGER PRIMARY KEY,
            feature_columns  JSON NOT NULL,
            model            BLOB NOT NULL,
            created_at       TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE assigned (
            run_id        INTEGER NOT NULL,
            customer_key  VARCHAR NOT NULL,
            segment_id    INTEGER NOT NULL,
            segment_name  VARCHAR NOT NULL,
            probability   DOUBLE,
            as_of         TIMESTAMP NOT NULL,
            source        VARCHAR NOT NULL,
            assigned_at   TIMESTAMPTZ NOT NULL
        );
        """
    )


@migration(3, "backtests of the customer-value models, and each run's value columns")
def _customer_value(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        CREATE SEQUENCE backtest_id_seq START 1;
        CREATE TABLE backtests (
            backtest_id  INTEGER PRIMARY KEY,
            created_at   TIMESTAMPTZ NOT NULL,
            cutoff       TIMESTAMP NOT NULL,
            horizon      INTEGER NOT NULL,
            n_customers  BIGINT NOT NULL,
            best_model   VARCHAR NOT NULL,
            results      JSON NOT NULL
        );
        CREATE TABLE customer_values (
            run_id                INTEGER NOT NULL,
            customer_key          VARCHAR NOT NULL,
            p_active_90d          DOUBLE NOT NULL,
            expected_orders_90d   DOUBLE NOT NULL,
            expected_revenue_90d  DOUBLE NOT NULL,
            clv_12m               DOUBLE NOT NULL,
            value_confidence      VARCHAR NOT NULL
        );
        """
    )


@migration(4, "contacts, suppression list, audience exports and campaigns")
def _marketing(con: duckdb.DuckDBPyConnection) -> None:
    # contacts: the raw contact details, read only by exports (one row per customer).
    # suppressions: never exported again; matched by customer key or by the SHA-256 of
    # the normalised email (the list itself holds no raw address).
    # audiences / audience_members: each export, its treatment and control arms.
    # campaigns: an export sent on a date; campaign_outcomes: an imported outcome file.
    con.execute(
        """
        CREATE TABLE contacts (
            customer_key  VARCHAR PRIMARY KEY,
            email         VARCHAR,
            first_name    VARCHAR,
            last_name     VARCHAR,
            import_id     INTEGER,
            updated_at    TIMESTAMPTZ
        );
        CREATE TABLE suppressions (
            kind        VARCHAR NOT NULL,
            value       VARCHAR NOT NULL,
            reason      VARCHAR,
            added_at    TIMESTAMPTZ NOT NULL,
            PRIMARY KEY (kind, value)
        );
        CREATE SEQUENCE audience_id_seq START 1;
        CREATE TABLE audiences (
            audience_id    INTEGER PRIMARY KEY,
            created_at     TIMESTAMPTZ NOT NULL,
            run_id         INTEGER,
            segment_id     INTEGER,
            segment_name   VARCHAR NOT NULL,
            format         VARCHAR NOT NULL,
            file_name      VARCHAR,
            holdout_share  DOUBLE NOT NULL,
            seed           BIGINT,
            n_treatment    BIGINT NOT NULL,
            n_control      BIGINT NOT NULL,
            excluded       JSON
        );
        CREATE TABLE audience_members (
            audience_id   INTEGER NOT NULL,
            customer_key  VARCHAR NOT NULL,
            arm           VARCHAR NOT NULL,
            PRIMARY KEY (audience_id, customer_key)
        );
        CREATE SEQUENCE campaign_id_seq START 1;
        CREATE TABLE campaigns (
            campaign_id   INTEGER PRIMARY KEY,
            name          VARCHAR NOT NULL UNIQUE,
            created_at    TIMESTAMPTZ NOT NULL,
            sent_at       TIMESTAMP NOT NULL,
            window_days   INTEGER NOT NULL,
            audience_ids  JSON NOT NULL
        );
        CREATE TABLE campaign_outcomes (
            campaign_id   INTEGER NOT NULL,
            customer_key  VARCHAR NOT NULL,
            converted     BOOLEAN NOT NULL,
            revenue       DOUBLE,
            PRIMARY KEY (campaign_id, customer_key)
        );
        """
    )


@migration(5, "pseudonyms and phone numbers of contacts; the list of people erased on request")
def _privacy(con: duckdb.DuckDBPyConnection) -> None:
    # contacts gains each address's pseudonym (HMAC-SHA256 under the install's key, see
    # clustomer.privacy.keys), the phone number (E.164, raw) and its pseudonym. Rows
    # already there keep a NULL email_hash: the key lives outside the workspace, so the
    # pseudonyms are filled in later, by the code that holds the key (forget does).
    # forgotten: the pseudonyms of what `clustomer forget` erased (kinds customer_key_hash,
    # email_hash, phone_hash; plus one key_check row, to notice another key file), never
    # the value itself, so that a re-import of an old file can drop those people again.
    con.execute(
        """
        ALTER TABLE contacts ADD COLUMN email_hash VARCHAR;
        ALTER TABLE contacts ADD COLUMN phone VARCHAR;
        ALTER TABLE contacts ADD COLUMN phone_hash VARCHAR;
        CREATE TABLE forgotten (
            kind          VARCHAR NOT NULL,
            value         VARCHAR NOT NULL,
            forgotten_at  TIMESTAMPTZ NOT NULL,
            PRIMARY KEY (kind, value)
        );
        """
    )


@migration(6, "one customer across sources: identifiers, links, overrides, matched payments")
def _identity(con: duckdb.DuckDBPyConnection) -> None:
    # Linking rewrites order_lines.customer_key to the unified key, so every reader sees
    # one customer; what it takes to explain and undo that lives beside it (see
    # clustomer.store.identity). Every table has a customer_key column (the unified key
    # now), so that erasure (clustomer.store.erase) covers it.
    # customer_sources: the identifiers each source key (the key as imported) was seen
    #   with: kind 'email' / 'phone' (pseudonyms, never the value) or 'customer id'
    #   ('shopify:…', 'stripe:cus_…', 'woocommerce:17').
    # identity_links: each source key that belongs to another customer, with the rule
    #   ("email", "phone", "customer id") and evidence (a pseudonym prefix or the id).
    # identity_overrides: source keys unlinked by hand; never linked automatically again.
    # line_sources: for the lines whose customer_key was rewritten, their source key
    #   (by import and order), so that an unlink can restore it. Lines not in it have
    #   customer_key = source key. (A side table rather than a column of order_lines:
    #   a new column would break every INSERT INTO order_lines VALUES (...) of 11 values.)
    # No primary keys but identity_overrides': the code keeps source keys unique (and a
    # key constraint would turn every UPDATE of customer_key into a delete and insert).
    # payment_duplicates: payment lines (Stripe) taken out of order_lines because they pay
    #   an order of the same customer imported from a shop export; with the order matched.
    con.execute(
        """
        CREATE TABLE customer_sources (
            source_key    VARCHAR NOT NULL,
            kind          VARCHAR NOT NULL,
            value         VARCHAR NOT NULL,
            customer_key  VARCHAR NOT NULL,
            import_id     INTEGER NOT NULL
        );
        CREATE TABLE identity_links (
            source_key    VARCHAR NOT NULL,
            customer_key  VARCHAR NOT NULL,
            rule          VARCHAR NOT NULL,
            evidence      VARCHAR,
            import_id     INTEGER,
            linked_at     TIMESTAMPTZ
        );
        CREATE TABLE identity_overrides (
            customer_key  VARCHAR PRIMARY KEY,
            reason        VARCHAR,
            created_at    TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE line_sources (
            import_id     INTEGER NOT NULL,
            order_id      VARCHAR NOT NULL,
            source_key    VARCHAR NOT NULL,
            customer_key  VARCHAR NOT NULL
        );
        CREATE TABLE payment_duplicates AS
            SELECT *, CAST(NULL AS INTEGER) AS order_import_id,
                   CAST(NULL AS VARCHAR) AS matched_order_id
            FROM order_lines WITH NO DATA;
        """
    )


LATEST_VERSION = len(MIGRATIONS)


def current_version(con: duckdb.DuckDBPyConnection) -> int:
    """The schema version of an open workspace (0 for a new, empty file)."""
    found = con.execute(
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_name = 'schema_migrations' AND table_catalog = current_database()"
    ).fetchall()[0][0]
    if not found:
        return 0
    return int(
        con.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchall()[0][0]
    )


def apply_migrations(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Bring the schema up to :data:`LATEST_VERSION`; return the versions applied.

    Raises
    ------
    WorkspaceError
        If the file was written by a newer clustomer (its version is above ours).
    """
    version = current_version(con)
    if version > LATEST_VERSION:
        raise WorkspaceError(
            f"this workspace has schema version {version}, newer than this clustomer "
            f"understands ({LATEST_VERSION}); upgrade clustomer to open it"
        )
    applied: list[int] = []
    for step in MIGRATIONS[version:]:
        con.execute("BEGIN TRANSACTION")
        try:
            if step.version == 1:
                con.execute(
                    "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, "
                    "description VARCHAR, applied_at TIMESTAMPTZ DEFAULT current_timestamp)"
                )
            step.apply(con)
            con.execute(
                "INSERT INTO schema_migrations (version, description) VALUES (?, ?)",
                [step.version, step.description],
            )
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        applied.append(step.version)
    return applied
