"""Spark cleaning of the disaster data: every quarantine reason, the row invariant, the real files."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from assets.disaster.cleaning import REASONS, clean_disaster, parse_categories
from resources.spark import SparkResource

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "disaster_response"
LABELS = ["related", "request", "water", "child_alone"]  # deliberately not alphabetical

MESSAGES_A = '''id,message,original,genre
1,"Help, we need water
and food",,direct
2,plain message,"orig, with ""quotes""",news
abc,unparseable id,,social
4,,,direct
5,too,many,fields,here,direct
6,nobody annotated me,,news
7,too few categories,,direct
8,a category is not a number,,direct
9,annotators disagreed,,news
10,a label is three,,social
2,second copy of two,,news
13,,,direct
'''
MESSAGES_B = """id,message,original,genre
1,copy of one in a later file,,direct
11,categories in another order,,social
13,valid after an empty first copy,,news
14,"  	 ",,news
"""
CATEGORIES = """id,categories
1,related-1;request-1;water-1;child_alone-0
1,related-0;request-0;water-0;child_alone-0
2,related-1;request-0;water-0;child_alone-0
4,related-1;request-0;water-0;child_alone-0
7,related-1;request-0;water-0
8,related-1;request-x;water-0;child_alone-0
9,related-2;request-0;water-0;child_alone-0
10,related-1;request-3;water-0;child_alone-0
11,water-1;related-1;child_alone-0;request-0
13,related-0;request-0;water-0;child_alone-0
99,related-1;request-0;water-0;child_alone-0
x1,related-1;request-0;water-0;child_alone-0
"""


@pytest.fixture(scope="session")
def spark():
    return SparkResource(master="local[2]").spark_session


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory, spark):
    tmp_path = tmp_path_factory.mktemp("disaster-csv")
    paths = {}
    for name, text in [("a.csv", MESSAGES_A), ("b.csv", MESSAGES_B), ("categories.csv", CATEGORIES)]:
        paths[name] = tmp_path / name
        paths[name].write_text(text)
    # Passed in reverse order: precedence follows the file path, not the argument order.
    return clean_disaster(spark, [str(paths["b.csv"]), str(paths["a.csv"])], [str(paths["categories.csv"])])


def test_every_reason_counted_and_rows_conserved(synthetic) -> None:
    counts = synthetic.counts
    assert counts["rows_in"] == 16
    assert counts["rows_in"] == counts["rows_kept"] + counts["rows_quarantined"]
    assert synthetic.kept.count() == counts["rows_kept"] == 4
    assert synthetic.quarantine.count() == counts["rows_quarantined"]
    assert {r: counts[f"quarantined_{r}"] for r in REASONS} == {
        "malformed_row": 5,
        "no_categories": 1,
        "malformed_categories": 2,
        "related_2": 1,
        "non_binary_label": 1,
        "duplicate": 2,
    }
    assert counts["orphan_category_rows"] == 2  # id 99 and the unparseable x1; not records


def test_each_record_gets_the_first_matching_reason(synthetic) -> None:
    rows = synthetic.quarantine.collect()
    by_reason: dict[str, list] = {}
    for row in rows:
        by_reason.setdefault(row["reason"], []).append(row)
    assert sorted(r["id"] for r in by_reason["malformed_row"] if r["id"] is not None) == [4, 5, 13, 14]
    assert [r["id"] for r in by_reason["malformed_row"] if r["id"] is None] == [None]  # "abc"
    assert [r["id"] for r in by_reason["no_categories"]] == [6]
    assert sorted(r["id"] for r in by_reason["malformed_categories"]) == [7, 8]
    assert [r["id"] for r in by_reason["related_2"]] == [9]
    assert [r["id"] for r in by_reason["non_binary_label"]] == [10]
    duplicates = {(r["id"], json.loads(r["raw"])["message"]) for r in by_reason["duplicate"]}
    assert duplicates == {(2, "second copy of two"), (1, "copy of one in a later file")}
    corrupt = next(r for r in by_reason["malformed_row"] if r["id"] == 5)
    assert "too,many,fields,here" in json.loads(corrupt["raw"])["_corrupt_record"]
    assert corrupt["source_file"].endswith("a.csv")
    assert json.loads(by_reason["related_2"][0]["raw"])["categories"].startswith("related-2;")


def test_kept_frame_labels_types_and_values(synthetic) -> None:
    assert synthetic.labels == LABELS
    assert synthetic.kept.dtypes == [
        ("id", "bigint"),
        ("message", "string"),
        ("original", "string"),
        ("genre", "string"),
        *[(name, "int") for name in LABELS],
    ]
    assert synthetic.quarantine.dtypes == [
        ("id", "bigint"),
        ("source_file", "string"),
        ("reason", "string"),
        ("raw", "string"),
    ]
    kept = {r["id"]: r.asDict() for r in synthetic.kept.collect()}
    assert sorted(kept) == [1, 2, 11, 13]
    assert kept[1]["message"] == "Help, we need water\nand food"  # quoted comma and newline survive
    assert [kept[1][n] for n in LABELS] == [1, 1, 1, 0]  # the first categories row for id 1
    assert kept[2]["original"] == 'orig, with "quotes"'
    assert [kept[11][n] for n in LABELS] == [1, 0, 1, 0]  # matched by name, not position
    assert kept[13]["message"] == "valid after an empty first copy"


def test_real_files(spark) -> None:
    result = clean_disaster(
        spark, [str(DATA / "disaster_messages.csv")], [str(DATA / "disaster_categories.csv")]
    )
    counts = result.counts
    assert counts["rows_in"] == len(pd.read_csv(DATA / "disaster_messages.csv"))
    assert counts["rows_in"] == counts["rows_kept"] + counts["rows_quarantined"]
    assert len(result.labels) == 36 and result.labels[0] == "related"
    assert counts["quarantined_related_2"] > 0
    assert counts["quarantined_duplicate"] > 0
    kept = result.kept.select("id", *result.labels).toPandas()
    assert kept["id"].is_unique and len(kept) == counts["rows_kept"]
    assert set(pd.unique(kept[result.labels].to_numpy().ravel())) <= {0, 1}


def test_parse_categories_matches_names_and_values() -> None:
    parsed = parse_categories(pd.Series(["related-1;request-0;offer-2", "related-0;request-1;offer-0"]))
    assert list(parsed.columns) == ["related", "request", "offer"]
    assert parsed.to_numpy().tolist() == [[1, 0, 2], [0, 1, 0]]
