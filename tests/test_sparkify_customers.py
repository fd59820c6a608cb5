"""The customer-service database through SQLAlchemy: SQLite here, Postgres through ``postgres_url``."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from assets.sparkify import customers as db


def _tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    table = pd.DataFrame(
        {
            "user_id": ["1", "2", "3", "10"],
            "first_name": ["Ada", "Bob", "Cy", "Ada"],
            "last_name": ["Lovelace", "O'Brien", "100%_Sure", "Byron"],
            "level": ["paid", "free", "free", "paid"],
            "state": ["CA", "TX", "CA", "NY"],
            "churn_probability": [0.9, 0.2, 0.6, 0.4],
            "prediction": [1, 0, 1, 0],
            "cancelled": [0, 0, 0, 1],
            "registration": [1540558108796, 1540558108796, None, 1540558108796],
            "risk_drivers": [json.dumps([{"feature": "n_adverts", "value": 9, "push": 1.5}])] * 4,
        }
    )
    table["name"] = table["first_name"] + " " + table["last_name"]
    table["name_lower"] = table["name"].str.lower()
    daily = pd.DataFrame({"user_id": ["1", "1", "2"], "day": ["2018-11-01", "2018-11-02", "2018-11-01"],
                          "events": [10, 4, 2], "songs": [8, 3, 0]})  # fmt: skip
    return table, daily


def check_database(url: str) -> None:
    table, daily = _tables()
    assert db.write_customers(url, table, daily) == {"customers": 4, "daily_rows": 3}
    assert db.write_customers(url, table, daily)["customers"] == 4  # a re-run replaces, never duplicates
    assert db.count(url) == 4
    assert db.search(url, "ada")["user_id"].tolist() == ["1", "10"]  # case-insensitive, riskiest first
    assert db.search(url, "2")["user_id"].tolist() == ["2"]  # by id
    assert db.search(url, "100%")["user_id"].tolist() == ["3"]  # LIKE wildcards are literal
    assert db.search(url, "o'brien")["user_id"].tolist() == ["2"]
    one = db.customer(url, "1")
    assert one["name"] == "Ada Lovelace" and one["risk_drivers"][0]["feature"] == "n_adverts"
    assert one["registration"] == 1540558108796  # ms fit (BigInteger)
    assert db.customer(url, "nobody") is None
    assert db.activity(url, "1")["events"].tolist() == [10, 4]
    risky = db.at_risk(url, min_risk=0.3)
    assert risky["user_id"].tolist() == ["1", "3"]  # the cancelled user is left out
    assert db.at_risk(url, level="free", state="CA")["user_id"].tolist() == ["3"]
    assert db.states(url) == ["CA", "NY", "TX"]


def test_customers_sqlite(tmp_path: Path) -> None:
    check_database(f"sqlite:///{tmp_path / 'customers.db'}")


def test_customers_postgres(postgres_url) -> None:
    check_database(postgres_url)
