"""The annotation page's JSON API through Starlette's TestClient, over the real SQLite store."""

from __future__ import annotations

import base64
import csv
import http.client
import io
import json
import random
from pathlib import Path

import pandas as pd
import pytest
from starlette.testclient import TestClient

from apps.annotate import lookup, render
from apps.annotate.labelsets import LabelSet, label_sets_from_store_or_config
from apps.annotate.server import create_app
from orchestration.settings import Settings
from resources.annotation_store import AnnotationStore

TOKEN = "test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
DISASTER = ["related", "request", "water", "food"]
BASE_URL = "http://127.0.0.1:8765"  # the Host a browser sends to `flywheel annotate`; others are refused


@pytest.fixture
def store(flywheel_env: Settings) -> AnnotationStore:
    return AnnotationStore(flywheel_env.database_url)


@pytest.fixture
def client(store: AnnotationStore, flywheel_env: Settings) -> TestClient:
    label_sets = {
        "tweets": LabelSet("tweets", ["relevant", "irrelevant"], multilabel=False),
        "disaster": LabelSet("disaster", DISASTER, multilabel=True),
        "gravityspy": LabelSet("gravityspy", ["Blip", "Whistle"]),
    }
    app = create_app(
        store,
        TOKEN,
        label_sets,
        label_sets_path=flywheel_env.home / "annotate" / "label_sets.json",
        media_roots=[flywheel_env.home],
    )
    return TestClient(app, base_url=BASE_URL)


def _queue(store: AnnotationStore, use_case: str = "tweets") -> None:
    store.enqueue(
        use_case,
        [
            {"sample_id": "low", "payload": {"text": "nice weather"}, "score": 0.1},
            {"sample_id": "high", "payload": {"text": "<script>alert(1)</script> AI news"}, "score": 0.9},
            {"sample_id": "mid", "payload": {"text": "GPT release"}, "score": 0.5, "strategy": "entropy"},
        ],
    )


def test_reads_and_pages_are_open_and_hold_no_token(client: TestClient, store: AnnotationStore) -> None:
    _queue(store)
    assert client.get("/api/health").json() == {
        "status": "ok",
        "use_cases": ["disaster", "gravityspy", "tweets"],
    }
    index = client.get("/")
    assert index.status_code == 200 and 'href="/tweets"' in index.text
    page = client.get("/tweets")
    assert page.status_code == 200 and TOKEN not in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert client.get("/nope").status_code == 404
    assert client.get("/static/annotate.js").status_code == 200

    body = client.get("/api/tweets/queue", params={"limit": 2}).json()
    assert [i["sample_id"] for i in body["items"]] == ["high", "mid"]  # most uncertain first
    assert body["labels"] == ["relevant", "irrelevant"] and body["counts"]["queued"] == 3
    assert body["items"][0]["kind"] == "text" and "<script>" not in body["items"][0]["html"]


def test_writes_without_the_right_token_are_refused(client: TestClient, store: AnnotationStore) -> None:
    _queue(store)
    label = {"sample_id": "high", "label": "relevant", "annotator": "ana"}
    assert client.post("/api/tweets/labels", json=label).status_code == 401
    wrong = client.post("/api/tweets/labels", json=label, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
    assert client.post("/api/tweets/skip", json={"sample_id": "high"}).status_code == 401
    assert client.post("/api/tweets/undo", json={"label_id": 1}).status_code == 401
    assert client.put("/api/tweets/labelset", json={"labels": ["a"]}).status_code == 401
    csv = {"file": ("d.csv", b"id,text\nx,hello\n", "text/csv")}
    assert client.post("/api/tweets/upload", files=csv).status_code == 401
    assert client.get("/api/auth").status_code == 401 and client.get("/api/auth", headers=AUTH).json() == {
        "ok": True
    }
    assert store.labels("tweets") == [] and store.counts("tweets")["queued"] == 3

    other_header = client.post("/api/tweets/labels", json=label, headers={"X-Flywheel-Token": TOKEN})
    assert other_header.status_code == 201


def test_label_skip_undo(client: TestClient, store: AnnotationStore) -> None:
    _queue(store)
    made = client.post(
        "/api/tweets/labels",
        json={"sample_id": "high", "label": "relevant", "annotator": "ana"},
        headers=AUTH,
    )
    assert made.status_code == 201
    label_id = made.json()["label_id"]
    assert made.json()["counts"] == {"queued": 2, "labelled": 1, "skipped": 0, "labels": 1}

    skipped = client.post("/api/tweets/skip", json={"sample_id": "mid"}, headers=AUTH)
    assert skipped.json()["status"] == "skipped"
    assert [i["sample_id"] for i in client.get("/api/tweets/queue").json()["items"]] == ["low"]
    assert client.post("/api/tweets/skip", json={"sample_id": "high"}, headers=AUTH).status_code == 409

    # a label id from another use case cannot be undone through this one
    assert client.post("/api/disaster/undo", json={"label_id": label_id}, headers=AUTH).status_code == 404
    undone = client.post("/api/tweets/undo", json={"label_id": label_id}, headers=AUTH)
    assert undone.status_code == 200 and undone.json()["sample_id"] == "high"
    assert [i["sample_id"] for i in client.get("/api/tweets/queue").json()["items"]] == ["high", "low"]
    assert client.post("/api/tweets/undo", json={"label_id": label_id}, headers=AUTH).status_code == 404
    assert store.labels("tweets") == []


@pytest.mark.parametrize(
    ("use_case", "body", "status"),
    [
        ("nope", {"sample_id": "high", "label": "relevant", "annotator": "a"}, 404),
        ("tweets", {"sample_id": "high", "label": "relevent", "annotator": "a"}, 422),
        ("tweets", {"sample_id": "high", "label": ["relevant"], "annotator": "a"}, 422),
        ("tweets", {"sample_id": "high", "label": "relevant"}, 422),
        ("tweets", {"sample_id": "high", "label": "relevant", "annotator": "a", "extra": 1}, 422),
        ("tweets", {"sample_id": "", "label": "relevant", "annotator": "a"}, 422),
        ("tweets", {"sample_id": 7, "label": "relevant", "annotator": "a"}, 422),
        ("tweets", {"sample_id": "x" * 300, "label": "relevant", "annotator": "a"}, 422),
        ("tweets", {"sample_id": "ghost", "label": "relevant", "annotator": "a"}, 404),
        ("tweets", ["not", "an", "object"], 422),
        ("disaster", {"sample_id": "high", "label": "water", "annotator": "a"}, 422),
        ("disaster", {"sample_id": "high", "label": ["water", "water"], "annotator": "a"}, 422),
        ("disaster", {"sample_id": "high", "label": ["water", "lava"], "annotator": "a"}, 422),
    ],
)
def test_label_validation(
    client: TestClient, store: AnnotationStore, use_case: str, body, status: int
) -> None:
    _queue(store, "tweets")
    _queue(store, "disaster")
    response = client.post(f"/api/{use_case}/labels", json=body, headers=AUTH)
    assert response.status_code == status, response.text
    assert "error" in response.json()
    assert store.labels("tweets") == [] and store.labels("disaster") == []


def test_other_bad_requests(client: TestClient, store: AnnotationStore) -> None:
    _queue(store, "disaster")
    bad_json = client.post("/api/disaster/labels", content=b"{nope", headers=AUTH)
    assert bad_json.status_code == 400
    huge = client.post("/api/disaster/skip", content=b"x" * 70_000, headers=AUTH)
    assert huge.status_code == 413
    assert client.post("/api/disaster/undo", json={"label_id": True}, headers=AUTH).status_code == 422
    assert client.post("/api/disaster/undo", json={"label_id": "1"}, headers=AUTH).status_code == 422
    assert client.get("/api/disaster/queue", params={"limit": 0}).status_code == 422
    assert client.get("/api/disaster/queue", params={"limit": "x"}).status_code == 422
    assert client.get("/api/disaster/labels", params={"format": "xml"}).status_code == 422

    ok = client.post(
        "/api/disaster/labels",
        json={"sample_id": "mid", "label": ["water", "related"], "annotator": "a"},
        headers=AUTH,
    )
    assert ok.status_code == 201 and ok.json()["label"] == ["related", "water"]  # label-set order
    none = client.post(
        "/api/disaster/labels", json={"sample_id": "low", "label": [], "annotator": "a"}, headers=AUTH
    )
    assert none.status_code == 201  # "none of these" is an answer


def test_upload_csv_keeps_good_rows_and_reports_bad_ones(client: TestClient, store: AnnotationStore) -> None:
    data = (
        "id,text,label,author\n"
        "1,AI model beats benchmark,,x\n"
        "2,cat pictures,irrelevant,y\n"
        "4,robots,unknown-label,z\n"
        "1,duplicate id,,x\n"
        ",no id,,x\n"
        "5,LLM agents,relevant,w\n"
    )
    files = {"file": ("tweets.csv", data.encode(), "text/csv")}
    response = client.post("/api/tweets/upload", files=files, data={"annotator": "importer"}, headers=AUTH)
    assert response.status_code == 200, response.text
    report = response.json()["files"][0]
    assert report["rows"] == 6 and report["kept"] == 3 and report["rejected"] == 3
    assert report["enqueued"] == 1 and report["labelled"] == 2
    reasons = {r["row"]: r["reason"] for r in report["rejections"]}
    assert reasons[4] == "duplicate id in file" and reasons[5] == "id is empty"
    assert reasons[3].startswith("label: unknown label")

    assert [q["sample_id"] for q in store.queue("tweets")] == ["1"]
    assert store.queue("tweets")[0]["payload"] == {"text": "AI model beats benchmark", "author": "x"}
    labels = {row["sample_id"]: row for row in store.labels("tweets")}
    assert labels["2"]["label"] == "irrelevant" and labels["2"]["source"] == "upload"
    assert labels["5"]["annotator"] == "importer"

    again = client.post("/api/tweets/upload", files=files, headers=AUTH).json()["files"][0]
    assert again["enqueued"] == 0 and again["already_queued"] == 1
    assert again["labelled"] == 0 and again["already_labelled"] == 2  # the same labels are not new labels


def test_upload_parquet_multilabel_and_unusable_files(client: TestClient, store: AnnotationStore) -> None:
    frame = pd.DataFrame(
        {
            "id": [10, 11, 12, 13],
            "message": ["need water", "food please", "hello", "lava everywhere"],
            "label": [None, "water|request", '["food"]', "lava"],
            "score": [0.3, 0.0, 0.0, 0.0],
        }
    )
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    files = {"file": ("batch.parquet", buffer.getvalue(), "application/octet-stream")}
    report = client.post("/api/disaster/upload", files=files, headers=AUTH).json()["files"][0]
    assert (report["enqueued"], report["labelled"], report["rejected"]) == (1, 2, 1)
    assert store.queue("disaster")[0]["score"] == 0.3
    labels = {row["sample_id"]: row["label"] for row in store.labels("disaster")}
    assert labels == {"11": ["request", "water"], "12": ["food"]}

    no_id = {"file": ("x.csv", b"message\nhello\n", "text/csv")}
    assert client.post("/api/disaster/upload", files=no_id, headers=AUTH).status_code == 422
    not_table = {"file": ("x.xlsx", b"PK\x03\x04", "application/zip")}
    assert client.post("/api/disaster/upload", files=not_table, headers=AUTH).status_code == 422
    broken = {"file": ("x.parquet", b"PAR1garbage", "application/octet-stream")}
    assert client.post("/api/disaster/upload", files=broken, headers=AUTH).status_code == 422
    # one unusable file in a request stores nothing from the good one either
    mixed = [("file", ("ok.csv", b"id,message\n20,fine\n", "text/csv")), ("file", no_id["file"])]
    assert client.post("/api/disaster/upload", files=mixed, headers=AUTH).status_code == 422
    assert "20" not in {q["sample_id"] for q in store.queue("disaster")}
    assert client.post("/api/disaster/upload", json={"id": 1}, headers=AUTH).status_code == 415


def test_upload_size_and_row_limits(store: AnnotationStore) -> None:
    app = create_app(store, TOKEN, {"tweets": LabelSet("tweets", ["a"])}, max_upload_bytes=1000, max_rows=2)
    client = TestClient(app, base_url=BASE_URL)
    big = {"file": ("big.csv", b"id,text\n" + b"1,xxxxxxxxxx\n" * 200, "text/csv")}
    assert client.post("/api/tweets/upload", files=big, headers=AUTH).status_code == 413
    many = {"file": ("many.csv", b"id,text\n1,a\n2,b\n3,c\n", "text/csv")}
    response = client.post("/api/tweets/upload", files=many, headers=AUTH)
    assert response.status_code == 413 and "at most 2 rows" in response.json()["error"]


def test_download_labels_json_and_csv(client: TestClient, store: AnnotationStore) -> None:
    _queue(store, "disaster")
    first = client.post(
        "/api/disaster/labels", json={"sample_id": "high", "label": ["food"], "annotator": "bo"}, headers=AUTH
    ).json()["label_id"]
    client.post(
        "/api/disaster/labels", json={"sample_id": "mid", "label": [], "annotator": "bo"}, headers=AUTH
    )

    body = client.get("/api/disaster/labels").json()
    assert (
        body["count"] == 2
        and body["labels"][0]["label"] == ["food"]
        and body["labels"][0]["annotator"] == "bo"
    )
    later = client.get("/api/disaster/labels", params={"after_id": first}).json()
    assert [r["sample_id"] for r in later["labels"]] == ["mid"]

    response = client.get("/api/disaster/labels", params={"format": "csv"})
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = pd.read_csv(io.StringIO(response.text), dtype=str, keep_default_na=False)
    assert list(rows.columns) == [
        "label_id",
        "sample_id",
        "label",
        "annotator",
        "source",
        "created_at",
        "suggested_by_version",
        "suggested_label",
        "accepted_suggestion",
        "text",
    ]
    assert json.loads(rows.loc[0, "label"]) == ["food"] and "AI news" in rows.loc[0, "text"]
    assert rows.loc[0, "accepted_suggestion"] == "" and rows.loc[0, "suggested_by_version"] == ""


def test_labels_file_sets_the_label_set_and_survives_a_restart(
    client: TestClient, store: AnnotationStore, flywheel_env: Settings
) -> None:
    _queue(store, "tweets")
    labels_file = b"lable,index\nnews,1\nhype,0\nspam,2\n"  # the seed tagger's column spelling
    files = {"file": ("labels.csv", labels_file, "text/csv")}
    response = client.put("/api/tweets/labelset", files=files, data={"multilabel": "false"}, headers=AUTH)
    assert response.json() == {"use_case": "tweets", "labels": ["hype", "news", "spam"], "multilabel": False}
    assert client.get("/api/tweets/labelset").json()["labels"] == ["hype", "news", "spam"]
    good = client.post(
        "/api/tweets/labels", json={"sample_id": "high", "label": "spam", "annotator": "a"}, headers=AUTH
    )
    assert good.status_code == 201
    old = client.post(
        "/api/tweets/labels", json={"sample_id": "mid", "label": "relevant", "annotator": "a"}, headers=AUTH
    )
    assert old.status_code == 422

    bad = client.put("/api/tweets/labelset", json={"labels": ["a", "a"]}, headers=AUTH)
    assert bad.status_code == 422
    assert client.put("/api/tweets/labelset", json={"labels": ["a|b"]}, headers=AUTH).status_code == 422
    assert client.put("/api/tweets/labelset", json={"labels": "a"}, headers=AUTH).status_code == 422

    saved = flywheel_env.home / "annotate" / "label_sets.json"
    restarted = label_sets_from_store_or_config(store, ["tweets", "newcase"], saved_path=saved)
    assert restarted["tweets"].labels == ["hype", "news", "spam"]
    assert restarted["newcase"].labels == []  # nothing known yet: the page asks for a labels file
    configured = label_sets_from_store_or_config(store, ["tweets"], {"tweets": ["x", "y"]}, saved_path=saved)
    assert configured["tweets"].labels == ["x", "y"]  # the caller (trained model) wins
    from_store = label_sets_from_store_or_config(store, ["tweets"])
    assert from_store["tweets"].labels == ["spam"]  # labels already given, when nothing else is known


def _png(path: Path | None = None) -> bytes:
    data = base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
    )
    if path is not None:
        path.write_bytes(data)
    return data


def test_render_fits_each_payload() -> None:
    window = {"stamp": "2020-01-01 10:00:00.000"}
    for signal in ("user_acceleration", "rotation_rate"):
        for axis in "xyz":
            window.update({f"{signal}_{axis}_{i}": (i % 7) / 7 for i in range(100)})
    window["rotation_rate_x_5"] = None  # a gap splits the line rather than dropping to zero
    assert render.kind_of(window) == "window"
    svg = render.render_payload(window)
    assert svg.count("<polyline") == 7 and "<svg" in svg and "2020-01-01" in svg

    text = render.render_payload({"message": "<img src=x onerror=alert(1)>", "genre": "direct"})
    assert "&lt;img" in text and "<img" not in text and "direct" in text

    png = base64.b64encode(_png()).decode()
    assert render.render_payload({"image_png": png}).startswith(
        '<img class="sample-image" alt="sample image" src="data:'
    )
    assert render.kind_of({"image_png": base64.b64encode(b"not a png").decode()}) == "table"
    assert render.kind_of({"image_url": "javascript:alert(1)"}) == "table"
    assert render.kind_of({"image_path": "/x.png"}) == "table"  # no media URL, nothing to show
    table = render.render_payload({"a": 1, "b": {"nested": True}})
    assert "<table" in table and "nested" in table


def test_image_path_is_served_only_from_media_roots(
    client: TestClient, store: AnnotationStore, flywheel_env: Settings, tmp_path: Path
) -> None:
    inside = flywheel_env.home / "glitch.png"
    outside = tmp_path / "secret.png"
    _png(inside)
    _png(outside)
    store.enqueue(
        "gravityspy",
        [
            {"sample_id": "g/1", "payload": {"image_path": str(inside), "ifo": "H1"}, "score": 0.9},
            {"sample_id": "g2", "payload": {"image_path": str(outside)}, "score": 0.1},
        ],
    )
    item = client.get("/api/gravityspy/queue").json()["items"][0]
    assert item["kind"] == "image" and "/api/gravityspy/media/g%2F1" in item["html"]
    served = client.get("/api/gravityspy/media/g%2F1")
    assert served.status_code == 200 and served.content == _png()
    assert client.get("/api/gravityspy/media/g2").status_code == 404


def _post_label(client: TestClient, use_case: str, sample_id: str, label, annotator: str) -> dict:
    """A label through the API, which must store it (201); the stored label's JSON."""
    made = client.post(
        f"/api/{use_case}/labels",
        json={"sample_id": sample_id, "label": label, "annotator": annotator},
        headers=AUTH,
    )
    assert made.status_code == 201, made.text
    return made.json()


def _suggest(prediction, probabilities: dict[str, float]) -> dict:
    return {"prediction": prediction, "probabilities": probabilities}


def test_queue_shows_the_suggestion_and_the_label_records_it(
    client: TestClient, store: AnnotationStore
) -> None:
    store.enqueue(
        "tweets",
        [
            {
                "sample_id": "s1",
                "payload": {"text": "new LLM paper"},
                "score": 0.9,
                "strategy": "margin",
                "model_version": 7,
                "suggestion": _suggest("relevant", {"relevant": 0.87, "irrelevant": 0.13}),
            },
            {
                "sample_id": "s2",
                "payload": {"text": "lunch"},
                "score": 0.8,
                "model_version": "7",
                "suggestion": _suggest("irrelevant", {"relevant": 0.4, "irrelevant": 0.6}),
            },
            # a class the page no longer accepts is never pre-selected; its probability is not shown
            {
                "sample_id": "s3",
                "payload": {"text": "buy now"},
                "score": 0.7,
                "model_version": "6",
                "suggestion": _suggest("spam", {"spam": 0.5, "relevant": 0.3, "irrelevant": 0.2}),
            },
            {"sample_id": "old", "payload": {"text": "queued before suggestions"}, "score": 0.1},
        ],
    )
    items = {i["sample_id"]: i for i in client.get("/api/tweets/queue").json()["items"]}
    assert items["s1"]["suggestion"] == {
        "prediction": "relevant",
        "probabilities": {"relevant": 0.87, "irrelevant": 0.13},
    }
    assert items["s1"]["model_version"] == "7"
    assert items["s3"]["suggestion"] == {
        "prediction": None,
        "probabilities": {"relevant": 0.3, "irrelevant": 0.2},
    }
    assert items["old"]["suggestion"] is None

    def post(sample_id: str, label: str) -> dict:
        return _post_label(client, "tweets", sample_id, label, "ana")

    confirmed = post("s1", "relevant")  # the suggestion, unchanged
    assert (confirmed["suggested_by_version"], confirmed["accepted_suggestion"]) == ("7", True)
    corrected = post("s2", "relevant")
    assert (corrected["suggested_by_version"], corrected["accepted_suggestion"]) == ("7", False)
    unshown = post("s3", "irrelevant")  # suggestion "spam" could not be shown, but it was the guess
    assert (unshown["suggested_by_version"], unshown["accepted_suggestion"]) == ("6", False)
    plain = post("old", "irrelevant")
    assert (plain["suggested_by_version"], plain["accepted_suggestion"]) == (None, None)

    stored = {row["sample_id"]: row for row in store.labels("tweets")}
    assert stored["s1"]["suggested_by_version"] == "7" and stored["s1"]["accepted_suggestion"] is True
    assert stored["s1"]["suggested_label"] == "relevant"
    assert stored["s2"]["suggested_label"] == "irrelevant" and stored["s2"]["accepted_suggestion"] is False
    assert stored["old"]["suggested_by_version"] is None and stored["old"]["accepted_suggestion"] is None

    # a relabel that departs from the suggestion is recorded as not accepted; the first stays audited
    relabel = post("s1", "irrelevant")
    assert (relabel["suggested_by_version"], relabel["accepted_suggestion"]) == ("7", False)
    latest = {row["sample_id"]: row for row in store.labels("tweets")}["s1"]
    assert latest["id"] == relabel["label_id"] and latest["accepted_suggestion"] is False
    assert lookup.label_by_id(store, "tweets", confirmed["label_id"])["accepted_suggestion"] is True

    body = {r["sample_id"]: r for r in client.get("/api/tweets/labels").json()["labels"]}
    assert {k: body["s2"][k] for k in ("suggested_by_version", "suggested_label", "accepted_suggestion")} == {
        "suggested_by_version": "7",
        "suggested_label": "irrelevant",
        "accepted_suggestion": False,
    }
    assert body["old"]["accepted_suggestion"] is None
    csv_text = client.get("/api/tweets/labels", params={"format": "csv"}).text
    rows = pd.read_csv(io.StringIO(csv_text), dtype=str, keep_default_na=False).set_index("sample_id")
    assert rows.loc["s2", "suggested_by_version"] == "7" and rows.loc["s2", "accepted_suggestion"] == "false"
    assert rows.loc["s2", "suggested_label"] == "irrelevant"
    assert rows.loc["old", "accepted_suggestion"] == "" and rows.loc["old", "suggested_label"] == ""

    # undoing the corrected label and confirming the suggestion this time records it as accepted
    client.post("/api/tweets/undo", json={"label_id": corrected["label_id"]}, headers=AUTH)
    again = post("s2", "irrelevant")
    assert again["accepted_suggestion"] is True


def test_multilabel_suggestion_is_a_set_in_label_set_order(
    client: TestClient, store: AnnotationStore
) -> None:
    proba = {"related": 0.95, "request": 0.71, "water": 0.88, "food": 0.12, "lava": 0.9}
    store.enqueue(
        "disaster",
        [
            {
                "sample_id": f"m{i}",
                "payload": {"message": "we need water", "genre": "direct"},
                "score": 0.5 - i / 10,
                "model_version": "3",
                "suggestion": _suggest(["water", "related", "request"], proba),
            }
            for i in range(3)
        ]
        + [
            {
                "sample_id": "none",
                "payload": {"message": "hello"},
                "score": 0.01,
                "model_version": "3",
                "suggestion": _suggest([], {"related": 0.2}),
            }
        ],
    )
    items = {i["sample_id"]: i for i in client.get("/api/disaster/queue").json()["items"]}
    assert items["m0"]["suggestion"] == {
        "prediction": ["related", "request", "water"],  # label-set order, unknown "lava" dropped
        "probabilities": {"related": 0.95, "request": 0.71, "water": 0.88, "food": 0.12},
    }
    assert items["none"]["suggestion"] == {"prediction": [], "probabilities": {"related": 0.2}}

    def post(sample_id: str, label: list[str]) -> dict:
        return _post_label(client, "disaster", sample_id, label, "a")

    assert post("m0", ["request", "water", "related"])["accepted_suggestion"] is True  # same set
    assert post("m1", ["related", "water"])["accepted_suggestion"] is False  # one unchecked
    assert post("m2", ["related", "request", "water", "food"])["accepted_suggestion"] is False
    assert post("none", [])["accepted_suggestion"] is True  # "none of these", as suggested
    stored = {row["sample_id"]: row for row in store.labels("disaster")}
    assert stored["m0"]["label"] == ["related", "request", "water"]
    assert stored["m1"]["suggested_label"] == ["water", "related", "request"]  # as the model gave it
    assert {row["suggested_by_version"] for row in stored.values()} == {"3"}


def test_uploaded_labels_never_claim_a_suggestion_was_accepted(
    client: TestClient, store: AnnotationStore
) -> None:
    store.enqueue(
        "tweets",
        [
            {
                "sample_id": "9",
                "payload": {"text": "AI chip"},
                "score": 0.5,
                "model_version": "2",
                "suggestion": _suggest("relevant", {"relevant": 0.9, "irrelevant": 0.1}),
            }
        ],
    )
    files = {"file": ("t.csv", b"id,text,label\n9,AI chip,relevant\n", "text/csv")}
    assert client.post("/api/tweets/upload", files=files, headers=AUTH).status_code == 200
    (row,) = store.labels("tweets")
    assert row["source"] == "upload" and row["label"] == "relevant"
    assert (row["suggested_by_version"], row["accepted_suggestion"]) == (None, None)


def test_page_has_a_probability_slot_per_label_and_says_enter_confirms(client: TestClient) -> None:
    page = client.get("/tweets").text
    assert page.count('<span class="proba"></span>') == 2 and "Enter confirms" in page
    multi = client.get("/disaster").text
    assert multi.count('<span class="proba"></span>') == len(DISASTER) and "pre-checked" in multi


# -- undo: the label in force before the undone one ------------------------------------------------------


def _label(client: TestClient, use_case: str, sample_id: str, label, annotator: str = "ana") -> int:
    made = client.post(
        f"/api/{use_case}/labels",
        json={"sample_id": sample_id, "label": label, "annotator": annotator},
        headers=AUTH,
    )
    assert made.status_code == 201, made.text
    return made.json()["label_id"]


def _undo(client: TestClient, use_case: str, label_id: int) -> dict:
    undone = client.post(f"/api/{use_case}/undo", json={"label_id": label_id}, headers=AUTH)
    assert undone.status_code == 200, undone.text
    return undone.json()


def _readers(client: TestClient, store: AnnotationStore, use_case: str) -> dict[str, dict]:
    """What each reader says every sample is labelled: the page's download, the training rows
    (``labelled_samples``, the ``<uc>_annotations`` asset) and ``labels`` (the retrain sensor). All
    three must agree; the common answer is returned as ``sample_id -> {"id", "label"}``."""
    page = {r["sample_id"]: {"id": r["label_id"], "label": r["label"]} for r in _download(client, use_case)}
    training = {
        r["sample_id"]: {"id": r["id"], "label": r["label"]} for r in store.labelled_samples(use_case)
    }
    sensor = {r["sample_id"]: {"id": r["id"], "label": r["label"]} for r in store.labels(use_case)}
    assert page == training == sensor
    return page


def _download(client: TestClient, use_case: str) -> list[dict]:
    return client.get(f"/api/{use_case}/labels").json()["labels"]


def _queued(client: TestClient, use_case: str) -> list[str]:
    return [
        i["sample_id"] for i in client.get(f"/api/{use_case}/queue", params={"limit": 200}).json()["items"]
    ]


def test_undoing_a_relabel_restores_the_earlier_label_everywhere(
    client: TestClient, store: AnnotationStore
) -> None:
    _queue(store)
    first = _label(client, "tweets", "high", "relevant", "ana")
    second = _label(client, "tweets", "high", "irrelevant", "bo")  # e.g. a second tab on the same sample
    assert _readers(client, store, "tweets")["high"] == {"id": second, "label": "irrelevant"}

    undone = _undo(client, "tweets", second)
    assert undone["status"] == "labelled"
    assert {k: undone["active_label"][k] for k in ("label_id", "label", "annotator")} == {
        "label_id": first,
        "label": "relevant",
        "annotator": "ana",
    }
    # the page, the training rows and the retrain sensor all read the earlier label again
    assert _readers(client, store, "tweets")["high"] == {"id": first, "label": "relevant"}
    assert store.active_label("tweets", "high")["id"] == first
    assert "high" not in _queued(client, "tweets")  # still labelled, so not offered again
    assert undone["counts"] == {"queued": 2, "labelled": 1, "skipped": 0, "labels": 1}
    assert lookup.sample_status(store, "tweets", "high") == "labelled"
    assert store.labels("tweets", after_id=first) == []  # nothing new for the sensor since the first label
    assert client.post("/api/tweets/skip", json={"sample_id": "high"}, headers=AUTH).status_code == 409

    # undoing the only label left returns the sample to the queue, most uncertain first again
    last = _undo(client, "tweets", first)
    assert (last["status"], last["active_label"]) == ("queued", None)
    assert _readers(client, store, "tweets") == {}
    assert _queued(client, "tweets") == ["high", "mid", "low"]
    assert last["counts"] == {"queued": 3, "labelled": 0, "skipped": 0, "labels": 0}
    assert client.post("/api/tweets/undo", json={"label_id": first}, headers=AUTH).status_code == 404


def test_undoing_a_superseded_label_keeps_the_newer_one(client: TestClient, store: AnnotationStore) -> None:
    _queue(store, "disaster")
    older = _label(client, "disaster", "mid", ["water"])
    newer = _label(client, "disaster", "mid", ["water", "food"])
    undone = _undo(client, "disaster", older)  # e.g. the first tab undoing its own, older label
    assert undone["status"] == "labelled" and undone["active_label"]["label_id"] == newer
    assert _readers(client, store, "disaster") == {"mid": {"id": newer, "label": ["water", "food"]}}
    assert "mid" not in _queued(client, "disaster")


def test_label_relabel_and_undo_in_any_order_keep_every_reader_consistent(
    client: TestClient, store: AnnotationStore
) -> None:
    """A random walk of labels and undos against a model of the rule (a sample's label is its newest
    one not undone; without one it is queued): after every step the queue, the counts and every
    reader agree with the model."""
    rng = random.Random(11)
    samples = [f"s{i}" for i in range(4)]
    store.enqueue(
        "tweets", [{"sample_id": s, "payload": {"text": s}, "score": i} for i, s in enumerate(samples)]
    )
    history: dict[str, list[list]] = {s: [] for s in samples}  # [label_id, label, undone]
    for _ in range(60):
        sample = rng.choice(samples)
        live = [entry for entry in history[sample] if not entry[2]]
        if live and rng.random() < 0.45:
            entry = rng.choice(live)
            _undo(client, "tweets", entry[0])
            entry[2] = True
        else:
            label = rng.choice(["relevant", "irrelevant"])
            history[sample].append([_label(client, "tweets", sample, label), label, False])
        expected = {
            s: {"id": live[-1][0], "label": live[-1][1]}
            for s, entries in history.items()
            if (live := [e for e in entries if not e[2]])
        }
        assert _readers(client, store, "tweets") == expected
        queued = {s for s in samples if s not in expected}
        assert set(_queued(client, "tweets")) == queued
        counts = client.get("/api/tweets/queue").json()["counts"]
        assert counts == {
            "queued": len(queued),
            "labelled": len(expected),
            "skipped": 0,
            "labels": len(expected),
        }


# -- uploads: payload conflicts, record schemas, Parquet bounds ------------------------------------------


def _upload(client: TestClient, use_case: str, *files: tuple[str, bytes]):
    parts = [("file", (name, data, "application/octet-stream")) for name, data in files]
    return client.post(f"/api/{use_case}/upload", files=parts, headers=AUTH)


def test_an_id_stored_with_another_payload_is_refused_and_the_same_payload_is_idempotent(
    client: TestClient, store: AnnotationStore
) -> None:
    store.enqueue("disaster", [{"sample_id": "k1", "payload": {"message": "from kafka", "genre": "news"}}])
    first = _upload(client, "disaster", ("a.csv", b"id,message,label\n1,need water,water\n2,hello,\n"))
    assert first.status_code == 200, first.text
    assert (first.json()["files"][0]["enqueued"], first.json()["files"][0]["labelled"]) == (1, 1)
    labels_before = store.last_label_id("disaster")

    same = _upload(client, "disaster", ("a.csv", b"id,message,label\n1,need water,water\n2,hello,\n"))
    assert same.status_code == 200
    report = same.json()["files"][0]
    assert (report["enqueued"], report["already_queued"], report["labelled"], report["already_labelled"]) == (
        0,
        1,
        0,
        1,
    )
    assert store.last_label_id("disaster") == labels_before  # no new label rows, nothing for the sensor

    changed = _upload(
        client, "disaster", ("b.csv", b"id,message,label\n3,new row,\n2,goodbye,\n1,need food,food\n")
    )
    assert changed.status_code == 409, changed.text
    body = changed.json()
    assert body["detail"] == {"conflicts": ["1", "2"], "count": 2}
    assert "'1'" in body["error"] and "'2'" in body["error"] and "nothing was stored" in body["error"]
    kafka = _upload(client, "disaster", ("c.csv", b"id,message,genre\nk1,from kafka,direct\n"))
    assert kafka.status_code == 409 and kafka.json()["detail"]["conflicts"] == ["k1"]
    # the same record as the scorer queued it is no conflict (values compare as JSON, key order aside)
    assert (
        _upload(client, "disaster", ("d.csv", b"id,genre,message\nk1,news,from kafka\n")).status_code == 200
    )

    # two files of one request that disagree about an id are refused too
    split = _upload(client, "disaster", ("e.csv", b"id,message\n9,one\n"), ("f.csv", b"id,message\n9,two\n"))
    assert split.status_code == 409 and split.json()["detail"]["conflicts"] == ["9"]

    queued = {q["sample_id"]: q["payload"] for q in store.queue("disaster")}
    assert queued == {"2": {"message": "hello"}, "k1": {"message": "from kafka", "genre": "news"}}
    assert {r["sample_id"]: r["label"] for r in store.labels("disaster")} == {"1": ["water"]}
    assert store.last_label_id("disaster") == labels_before


def test_uploaded_records_must_fit_the_use_cases_schema(
    client: TestClient, store: AnnotationStore, flywheel_env: Settings
) -> None:
    no_column = _upload(client, "disaster", ("d.csv", b"id,text\n1,need water\n"))
    assert no_column.status_code == 422 and "message" in no_column.json()["error"]
    assert no_column.json()["detail"]["missing_fields"] == ["message"]

    empty = _upload(
        client, "disaster", ("d.csv", b"id,message,genre\n1,need water,direct\n7,,news\n8, ,news\n")
    )
    assert empty.status_code == 422
    assert empty.json()["error"] == (
        "d.csv: row 2 (id '7'): field 'message' is missing or empty (1 more problem(s) in detail)"
    )
    assert [(p["row"], p["id"], p["field"]) for p in empty.json()["detail"]["problems"]] == [
        (2, "7", "message"),
        (3, "8", "message"),
    ]
    tweets = _upload(client, "tweets", ("t.csv", b"id,text\n1,fine\n2,\n"))
    assert tweets.status_code == 422 and "row 2 (id '2'): field 'text'" in tweets.json()["error"]
    assert store.counts("disaster")["queued"] == store.counts("tweets")["queued"] == 0  # nothing stored

    # activity windows: a stamp and 600 numeric signals, as the scorer's records carry them
    from assets.activity.schema import ACTIVITY_SIGNALS

    activity = create_app(store, TOKEN, {"activity": LabelSet("activity", ["walk", "sit"])})
    window = {"id": "w1", "stamp": "2020-01-01 10:00:00.000", **{c: "0.25" for c in ACTIVITY_SIGNALS}}
    frame = pd.DataFrame([window, {**window, "id": "w2", "label": "sit"}])
    good = _upload(
        TestClient(activity, base_url=BASE_URL), "activity", ("w.csv", frame.to_csv(index=False).encode())
    )
    assert good.status_code == 200, good.text
    payload = store.queue("activity")[0]["payload"]
    assert payload["user_acceleration_x_1"] == 0.25 and payload["stamp"] == "2020-01-01 10:00:00.000"
    bad = frame.assign(id=["w3", "w4"], rotation_rate_z_7=["0.1", "fast"])
    refused = _upload(
        TestClient(activity, base_url=BASE_URL), "activity", ("w.csv", bad.to_csv(index=False).encode())
    )
    assert refused.status_code == 422
    assert (
        refused.json()["error"]
        == "w.csv: row 2 (id 'w4'): field 'rotation_rate_z_7' is not a number ('fast')"
    )
    no_stamp = pd.DataFrame([{k: v for k, v in window.items() if k != "stamp"}])
    buffer = io.BytesIO()
    no_stamp.astype({c: float for c in ACTIVITY_SIGNALS}).to_parquet(buffer)
    missing = _upload(TestClient(activity, base_url=BASE_URL), "activity", ("w.parquet", buffer.getvalue()))
    assert missing.status_code == 422 and missing.json()["detail"]["missing_fields"] == ["stamp"]
    assert {q["sample_id"] for q in store.queue("activity")} == {"w1"}


def test_the_definitions_use_the_schemas_the_page_checks(flywheel_env: Settings) -> None:
    """One schema per use case: the scorer's (``LoopSpec.schema``) is the one uploads are checked with,
    and the app reads it from the use case's own module, which imports neither Dagster nor pandas."""
    import subprocess
    import sys

    from orchestration.use_cases import load_use_cases, record_schemas

    by_definitions = {name: uc.loop.schema for name, uc in load_use_cases().items() if uc.loop}
    schemas = record_schemas()
    assert by_definitions == schemas and len(schemas) >= 6
    assert schemas["disaster"].required == ("message",)
    assert schemas["tweets"].required == ("text",)
    assert len(schemas["activity"].numeric) == 600
    probe = (
        "import sys\nfrom orchestration.use_cases import record_schemas\nrecord_schemas()\n"
        "print(sorted({'dagster', 'pandas', 'sqlalchemy'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _parquet(frame: pd.DataFrame, **options) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False, **options)
    return buffer.getvalue()


def test_parquet_uploads_are_bounded_by_their_footer_before_decoding(
    store: AnnotationStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pyarrow.parquet as pq

    app = create_app(
        store,
        TOKEN,
        {"tweets": LabelSet("tweets", ["relevant", "irrelevant"])},
        max_rows=10,
        max_row_groups=3,
        max_decoded_bytes=200_000,
    )
    client = TestClient(app, base_url=BASE_URL)
    decoded: list[int] = []
    original = pq.ParquetFile.read_row_group
    monkeypatch.setattr(
        pq.ParquetFile,
        "read_row_group",
        lambda self, i, *a, **k: decoded.append(i) or original(self, i, *a, **k),
    )

    def rows(n: int, text: str = "a tweet") -> pd.DataFrame:
        return pd.DataFrame({"id": [str(i) for i in range(n)], "text": [f"{text} {i}" for i in range(n)]})

    too_many = _upload(client, "tweets", ("many.parquet", _parquet(rows(11))))
    assert too_many.status_code == 413 and too_many.json()["detail"] == {"rows": 11, "limit": 10}
    groups = _upload(client, "tweets", ("groups.parquet", _parquet(rows(8), row_group_size=2)))
    assert groups.status_code == 413 and groups.json()["detail"] == {"row_groups": 4, "limit": 3}
    # a bomb: 1 MB of one repeated character compresses to a few kB, below every byte limit as sent
    bomb = _parquet(rows(2, "x" * 1_000_000), compression="zstd")
    assert len(bomb) < 20_000
    exploded = _upload(client, "tweets", ("bomb.parquet", bomb))
    assert exploded.status_code == 413 and exploded.json()["detail"]["limit"] == 200_000
    assert "decoded_bytes" in exploded.json()["detail"]
    assert decoded == []  # all three refused from the footer: no column chunk was decoded

    fine = _upload(client, "tweets", ("fine.parquet", _parquet(rows(6), row_group_size=2)))
    assert fine.status_code == 200 and fine.json()["files"][0]["enqueued"] == 6
    assert decoded == [0, 1, 2]
    assert store.counts("tweets")["queued"] == 6


# -- exports: no formulas ---------------------------------------------------------------------------------


def test_csv_export_neutralises_formula_cells(client: TestClient, store: AnnotationStore) -> None:
    texts = {
        "eq": '=HYPERLINK("http://evil.example","click")',
        "plus": "+1+1",
        "minus": "-2+3",
        "at": "@SUM(A1:A9)",
        "tab": "\t=1+1",
        "cr": "\r=1+1",
        "plain": "flood in town; 3 = three",
    }
    store.enqueue("tweets", [{"sample_id": k, "payload": {"text": v}} for k, v in texts.items()])
    store.enqueue("tweets", [{"sample_id": "-7", "payload": {"text": "negative id"}}])
    for sample_id in [*texts, "-7"]:
        _label(client, "tweets", sample_id, "relevant", annotator="=cmd|' /C calc'!A0")

    response = client.get("/api/tweets/labels", params={"format": "csv"})
    rows = {r["sample_id"]: r for r in csv.DictReader(io.StringIO(response.text))}
    assert rows["'-7"]["text"] == "negative id"
    for key, text in texts.items():
        expected = text if key == "plain" else "'" + text
        assert rows[key]["text"] == expected
        assert rows[key]["annotator"] == "'=cmd|' /C calc'!A0"
    assert rows["eq"]["label"] == "relevant" and rows["eq"]["created_at"][:2] == "20"
    # the JSON download carries the values as they are: only spreadsheets need the quote
    body = {r["sample_id"]: r for r in _download(client, "tweets")}
    assert body["-7"]["annotator"] == "=cmd|' /C calc'!A0"


# -- the Host header: DNS-rebinding protection -------------------------------------------------------------


def test_requests_for_other_hosts_are_refused(client: TestClient, store: AnnotationStore) -> None:
    _queue(store)
    assert client.get("/api/health").status_code == 200  # Host: 127.0.0.1:8765
    assert client.get("/api/health", headers={"Host": "localhost:8765"}).status_code == 200
    assert client.get("/api/health", headers={"Host": "[::1]:8765"}).status_code == 200
    for host in ("rebind.example:8765", "localhost:9999", "127.0.0.1.nip.io:8765", "", "a b"):
        refused = client.get("/api/health", headers={"Host": host})
        assert refused.status_code == 400, host
        assert "Host" in refused.json()["error"]
    page = client.get("/tweets", headers={"Host": "rebind.example:8765"})
    assert page.status_code == 400 and TOKEN not in page.text
    assert page.headers["x-frame-options"] == "DENY"  # the refusal carries the security headers too
    label = {"sample_id": "high", "label": "relevant", "annotator": "a"}
    write = client.post("/api/tweets/labels", json=label, headers={**AUTH, "Host": "rebind.example:8765"})
    assert write.status_code == 400 and store.labels("tweets") == []

    proxied = create_app(
        store, TOKEN, {"tweets": LabelSet("tweets", ["a"])}, hosts=["Annotate.Example.org", "lab:8443"]
    )
    behind = TestClient(proxied, base_url="https://annotate.example.org")
    assert behind.get("/api/health").status_code == 200
    assert behind.get("/api/health", headers={"Host": "lab:8443"}).status_code == 200
    assert behind.get("/api/health", headers={"Host": "lab:8444"}).status_code == 400
    assert behind.get("/api/health", headers={"Host": "other.example.org"}).status_code == 400
    with pytest.raises(ValueError, match="not a host name"):
        create_app(store, TOKEN, {}, hosts=["http://annotate.example.org/"])


def test_a_real_server_answers_only_its_own_host(store: AnnotationStore) -> None:
    from browser import served

    def get(port: int, host: str) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            connection.request("GET", "/api/health", headers={"Host": host})
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    app = create_app(store, TOKEN, {"tweets": LabelSet("tweets", ["a"])})
    with served(app) as url:
        port = int(url.rsplit(":", 1)[1])
        assert get(port, f"127.0.0.1:{port}")[0] == 200
        assert get(port, f"localhost:{port}")[0] == 200
        status, body = get(port, f"rebind.example:{port}")
        assert status == 400 and json.loads(body)["detail"] == {"host": f"rebind.example:{port}"}


def test_the_command_line_adds_allowed_hosts(flywheel_env: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn
    from click.testing import CliRunner

    from apps.annotate.cli import annotate_command

    started: dict = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: started.update(app=app, **options))
    env = {"FLYWHEEL_ANNOTATE_HOSTS": "lab.example.org,annotate.example.org:443"}
    result = CliRunner().invoke(annotate_command, ["--token", TOKEN, "--host", "10.1.2.3"], env=env)
    assert result.exit_code == 0, result.output
    app = started["app"]
    for host in ("127.0.0.1:8765", "10.1.2.3:8765", "lab.example.org:8765", "annotate.example.org:443"):
        assert (
            TestClient(app, base_url=BASE_URL).get("/api/health", headers={"Host": host}).status_code == 200
        )
    assert (
        TestClient(app, base_url=BASE_URL).get("/api/health", headers={"Host": "evil:8765"}).status_code
        == 400
    )

    bad = CliRunner().invoke(annotate_command, ["--token", TOKEN, "--allowed-host", "no/such host"])
    assert bad.exit_code == 2 and "--allowed-host" in bad.output
