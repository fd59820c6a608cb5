"""The customer-service database: per-user metrics and the champion's churn risk, through SQLAlchemy.

Two tables in the database of ``FLYWHEEL_DATABASE_URL`` (SQLite by default, Postgres works: only
portable SQLAlchemy Core, no dialect-specific SQL):

``sparkify_customers``
    one row per user: profile (name, gender, level, location, state, device), activity counts, the
    current ``churn_probability``/``prediction`` with the model version, and ``risk_drivers`` (JSON:
    the features that push this user's risk up). Indexed by ``user_id`` (primary key), by lower-case
    name, and by risk.
``sparkify_daily_activity``
    ``(user_id, day)`` → events and songs, for the activity plot.

:func:`write_customers` replaces both tables' rows in one transaction, so a reader sees the old set
or the new one and a re-run never duplicates.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

import pandas as pd
from sqlalchemy import (
    Column,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    delete,
    func,
    insert,
    or_,
    select,
)
from sqlalchemy.types import BigInteger

metadata = MetaData()
customers = Table(
    "sparkify_customers",
    metadata,
    Column("user_id", String(64), primary_key=True),
    Column("first_name", String(128)),
    Column("last_name", String(128)),
    Column("name", String(256)),
    Column("name_lower", String(256)),
    Column("gender", String(8)),
    Column("level", String(16)),
    Column("location", String(256)),
    Column("state", String(8)),
    Column("os", String(32)),
    Column("user_agent", Text),
    Column("registration", BigInteger),
    Column("first_ts", BigInteger),
    Column("last_ts", BigInteger),
    Column("events", Integer),
    Column("sessions", Integer),
    Column("songs", Integer),
    Column("thumbs_up", Integer),
    Column("thumbs_down", Integer),
    Column("adverts", Integer),
    Column("errors", Integer),
    Column("add_playlist", Integer),
    Column("add_friend", Integer),
    Column("cancelled", Integer),
    Column("churn_probability", Float),
    Column("prediction", Integer),
    Column("model_version", String(32)),
    Column("risk_drivers", Text),
    Column("updated_at", String(40)),
    Index("ix_sparkify_customers_name_lower", "name_lower"),
    Index("ix_sparkify_customers_risk", "churn_probability"),
)
daily = Table(
    "sparkify_daily_activity",
    metadata,
    Column("user_id", String(64), nullable=False),
    Column("day", String(10), nullable=False),
    Column("events", Integer),
    Column("songs", Integer),
    Index("ix_sparkify_daily_user_day", "user_id", "day", unique=True),
)
CUSTOMER_COLUMNS = [c.name for c in customers.columns]


@lru_cache(maxsize=8)
def engine(url: str) -> Engine:
    return create_engine(url, future=True, pool_pre_ping=True)


def _records(frame: pd.DataFrame, columns: list[str]) -> list[dict[str, Any]]:
    frame = frame.reindex(columns=columns).astype(object)
    return frame.where(frame.notna(), None).to_dict("records")


def write_customers(url: str, table: pd.DataFrame, activity: pd.DataFrame) -> dict[str, int]:
    """Replace every customer and daily-activity row (one transaction); returns the row counts."""
    db = engine(url)
    metadata.create_all(db)
    rows = _records(table, CUSTOMER_COLUMNS)
    days = _records(activity, ["user_id", "day", "events", "songs"])
    with db.begin() as connection:
        connection.execute(delete(daily))
        connection.execute(delete(customers))
        for start in range(0, len(rows), 5000):
            connection.execute(insert(customers), rows[start : start + 5000])
        for start in range(0, len(days), 5000):
            connection.execute(insert(daily), days[start : start + 5000])
    return {"customers": len(rows), "daily_rows": len(days)}


def _frame(result: Any) -> pd.DataFrame:
    return pd.DataFrame(result.mappings().all())


def search(url: str, query: str, limit: int = 50) -> pd.DataFrame:
    """Customers whose id is ``query`` or whose name contains it (case-insensitive), riskiest first."""
    text = query.strip().lower()
    statement = (
        select(customers)
        .where(
            or_(customers.c.user_id == query.strip(), customers.c.name_lower.contains(text, autoescape=True))
        )
        .order_by(customers.c.churn_probability.desc(), customers.c.user_id)
        .limit(limit)
    )
    with engine(url).connect() as connection:
        return _frame(connection.execute(statement))


def customer(url: str, user_id: str) -> dict[str, Any] | None:
    with engine(url).connect() as connection:
        row = connection.execute(select(customers).where(customers.c.user_id == user_id)).mappings().first()
    if row is None:
        return None
    out = dict(row)
    out["risk_drivers"] = json.loads(out["risk_drivers"] or "[]")
    return out


def activity(url: str, user_id: str) -> pd.DataFrame:
    statement = select(daily).where(daily.c.user_id == user_id).order_by(daily.c.day)
    with engine(url).connect() as connection:
        return _frame(connection.execute(statement))


def at_risk(
    url: str,
    level: str | None = None,
    state: str | None = None,
    min_risk: float = 0.0,
    max_risk: float = 1.0,
    limit: int = 100,
) -> pd.DataFrame:
    """Customers not yet cancelled within the risk range (and level/state), riskiest first."""
    statement = select(customers).where(
        customers.c.churn_probability >= min_risk,
        customers.c.churn_probability <= max_risk,
        customers.c.cancelled == 0,
    )
    if level:
        statement = statement.where(customers.c.level == level)
    if state:
        statement = statement.where(customers.c.state == state)
    statement = statement.order_by(customers.c.churn_probability.desc(), customers.c.user_id).limit(limit)
    with engine(url).connect() as connection:
        return _frame(connection.execute(statement))


def states(url: str) -> list[str]:
    with engine(url).connect() as connection:
        rows = connection.execute(select(customers.c.state).distinct().order_by(customers.c.state)).all()
    return [r[0] for r in rows if r[0]]


def count(url: str) -> int:
    with engine(url).connect() as connection:
        return int(connection.execute(select(func.count()).select_from(customers)).scalar_one())


def risk_drivers(features: pd.DataFrame, risk: pd.Series, names: list[str], top: int = 3) -> pd.Series:
    """Per user, the features that push its risk up: standardised value × the feature's correlation
    with the risk across users, the ``top`` largest positive ones (JSON list of name, value, push)."""
    x = features[names].astype(float)
    z = (x - x.mean()) / x.std(ddof=0).replace(0, 1.0)
    corr = x.apply(lambda c: c.corr(risk) if c.std() > 0 else 0.0).fillna(0.0)
    push = z.fillna(0.0) * corr

    def top_of(row: pd.Series) -> str:
        best = row[row > 0].sort_values(ascending=False).head(top)
        return json.dumps(
            [
                {"feature": k, "value": round(float(x.at[row.name, k]), 3), "push": round(float(v), 3)}
                for k, v in best.items()
            ]
        )

    return push.apply(top_of, axis=1)
