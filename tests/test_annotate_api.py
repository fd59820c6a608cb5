"""The annotation page's JSON API through Starlette's TestClient, over the real SQLite store."""

from __future__ import annotations

import base64
import io
import json
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
    return TestClient(app)


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
        "3,,,z\n"  # empty text
        "4,robots,unknown-label,z\n"
        "1,duplicate id,,x\n"
        ",no id,,x\n"
        "5,LLM agents,relevant,w\n"
    )
    files = {"file": ("tweets.csv", data.encode(), "text/csv")}
    response = client.post("/api/tweets/upload", files=files, data={"annotator": "importer"}, headers=AUTH)
    assert response.status_code == 200, response.text
    report = response.json()["files"][0]
    assert report["rows"] == 7 and report["kept"] == 3 and report["rejected"] == 4
    assert report["enqueued"] == 1 and report["labelled"] == 2
    reasons = {r["row"]: r["reason"] for r in report["rejections"]}
    assert (
        reasons[3] == "text is empty" and reasons[5] == "duplicate id in file" and reasons[6] == "id is empty"
    )
    assert reasons[4].startswith("label: unknown label")

    assert [q["sample_id"] for q in store.queue("tweets")] == ["1"]
    assert store.queue("tweets")[0]["payload"] == {"text": "AI model beats benchmark", "author": "x"}
    labels = {row["sample_id"]: row for row in store.labels("tweets")}
    assert labels["2"]["label"] == "irrelevant" and labels["2"]["source"] == "upload"
    assert labels["5"]["annotator"] == "importer"

    again = client.post("/api/tweets/upload", files=files, headers=AUTH).json()["files"][0]
    assert again["enqueued"] == 0 and again["already_queued"] == 1


def test_upload_parquet_multilabel_and_unusable_files(client: TestClient, store: AnnotationStore) -> None:
    frame = pd.DataFrame(
        {
            "id": [10, 11, 12, 13],
            "text": ["need water", "food please", "hello", "lava everywhere"],
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

    no_id = {"file": ("x.csv", b"text\nhello\n", "text/csv")}
    assert client.post("/api/disaster/upload", files=no_id, headers=AUTH).status_code == 422
    not_table = {"file": ("x.xlsx", b"PK\x03\x04", "application/zip")}
    assert client.post("/api/disaster/upload", files=not_table, headers=AUTH).status_code == 422
    broken = {"file": ("x.parquet", b"PAR1garbage", "application/octet-stream")}
    assert client.post("/api/disaster/upload", files=broken, headers=AUTH).status_code == 422
    # one unusable file in a request stores nothing from the good one either
    mixed = [("file", ("ok.csv", b"id,text\n20,fine\n", "text/csv")), ("file", no_id["file"])]
    assert client.post("/api/disaster/upload", files=mixed, headers=AUTH).status_code == 422
    assert "20" not in {q["sample_id"] for q in store.queue("disaster")}
    assert client.post("/api/disaster/upload", json={"id": 1}, headers=AUTH).status_code == 415


def test_upload_size_and_row_limits(store: AnnotationStore) -> None:
    app = create_app(store, TOKEN, {"tweets": LabelSet("tweets", ["a"])}, max_upload_bytes=1000, max_rows=2)
    client = TestClient(app)
    big = {"file": ("big.csv", b"id,text\n" + b"1,xxxxxxxxxx\n" * 200, "text/csv")}
    assert client.post("/api/tweets/upload", files=big, headers=AUTH).status_code == 413
    many = {"file": ("many.csv", b"id,text\n1,a\n2,b\n3,c\n", "text/csv")}
    response = client.post("/api/tweets/upload", files=many, headers=AUTH)
    assert response.status_code == 422 and "at most 2 rows" in response.json()["error"]


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
    restarted = label_sets_from_store_or_config(store, ["tweets", "churn"], saved_path=saved)
    assert restarted["tweets"].labels == ["hype", "news", "spam"]
    assert restarted["churn"].labels == []  # nothing known yet: the page asks for a labels file
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
        made = client.post(
            "/api/tweets/labels",
            json={"sample_id": sample_id, "label": label, "annotator": "ana"},
            headers=AUTH,
        )
        assert made.status_code == 201, made.text
        return made.json()

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
    assert lookup.active_label(store, "tweets", confirmed["label_id"])["accepted_suggestion"] is True

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
        made = client.post(
            "/api/disaster/labels",
            json={"sample_id": sample_id, "label": label, "annotator": "a"},
            headers=AUTH,
        )
        assert made.status_code == 201, made.text
        return made.json()

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
