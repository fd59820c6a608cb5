"""The kits' shared Spark cleaning and training tables: every row lands kept or quarantined with the
documented reason, columns match by name, and labeling functions label only what they vote on."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from resources.spark import SparkResource


@pytest.fixture(scope="module")
def spark():
    return SparkResource(master="local[2]").spark_session


def _write(path: Path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


def _reasons(result) -> list[str]:
    return sorted(r["reason"] for r in result.quarantine.collect())


def test_text_cleaning_reads_columns_by_name_and_quarantines_each_bad_row(spark, tmp_path: Path) -> None:
    from assets.kits.text_cleaning import clean_text_csv

    first = _write(
        tmp_path / "a.csv", 'id,text,label\n1,"hello, world",ham\n2,   ,ham\n,no id,spam\n3,win now,eggs\n'
    )
    second = _write(
        tmp_path / "b.csv", 'label,id,text\nspam,4,"a ""quoted""\nline"\n,5,not labelled\nham,1,dup\n'
    )
    broken = _write(tmp_path / "c.csv", 'id,text,label\n6,"never closed,ham\n')
    result = clean_text_csv(spark, [first, second, broken], labels=("ham", "spam"))
    kept = {r["id"]: (r["text"], r["label"]) for r in result.kept.collect()}
    assert kept == {
        "1": ("hello, world", "ham"),
        "4": ('a "quoted"\nline', "spam"),
        "5": ("not labelled", None),
    }
    assert _reasons(result) == ["duplicate_id", "empty_text", "malformed_row", "missing_id", "unknown_label"]
    counts = result.counts
    assert counts["rows_in"] == counts["rows_kept"] + counts["rows_quarantined"] == 8
    assert counts["rows_labelled"] == 2 and counts["quarantined_duplicate_id"] == 1


def test_a_file_without_the_format_s_columns_is_refused_by_name(spark, tmp_path: Path) -> None:
    from assets.kits.text_cleaning import clean_text_csv

    wrong = _write(tmp_path / "wrong.csv", "key,body\n1,x\n")
    with pytest.raises(ValueError, match=r"wrong.csv: header \['key', 'body'\] lacks \['id', 'text'\]"):
        clean_text_csv(spark, [wrong])


def test_multilabel_text_keeps_label_lists_and_none_of_them(spark, tmp_path: Path) -> None:
    from assets.kits.text_cleaning import clean_text_csv

    path = _write(tmp_path / "m.csv", "id,text,labels\n1,a,food; sport\n2,b,-\n3,c,\n4,d,food;weather\n")
    result = clean_text_csv(spark, [path], labels=("food", "sport"), multilabel=True)
    kept = {r["id"]: r["labels"] for r in result.kept.collect()}
    assert kept == {"1": ["food", "sport"], "2": [], "3": None}
    assert _reasons(result) == ["unknown_label"]


def test_tabular_cleaning_parses_features_and_quarantines_non_numbers(spark, tmp_path: Path) -> None:
    from assets.kits.tabular_cleaning import clean_tabular_csv

    path = _write(tmp_path / "t.csv", "id,b,a,label,extra\n1,2.5,,x,zz\n2,oops,1,y,zz\n3,1e3,-2,,zz\n")
    result = clean_tabular_csv(spark, [path], ("a", "b"))
    kept = sorted((r["id"], r["a"], r["b"], r["label"]) for r in result.kept.collect())
    assert kept == [("1", None, 2.5, "x"), ("3", -2.0, 1000.0, None)]
    assert _reasons(result) == ["not_a_number"]


def test_window_cleaning_reads_windows_and_their_content(spark, tmp_path: Path) -> None:
    from assets.kits.window_cleaning import clean_window_csv
    from assets.trainers.window_values import canonical

    rows = 'id,values,label\nw1,1;2;3;4,up\nw2,"1, 2, 3, x",up\nw3,1 2,down\nw4,4;3;2;1,\nw5,1;inf;2;3,up\n'
    result = clean_window_csv(spark, [_write(tmp_path / "w.csv", rows)], min_length=4)
    kept = {r["id"]: (list(r["values"]), r["label"]) for r in result.kept.collect()}
    assert kept == {"w1": ([1.0, 2.0, 3.0, 4.0], "up"), "w4": ([4.0, 3.0, 2.0, 1.0], None)}
    assert _reasons(result) == ["not_a_number", "not_a_number", "too_short"]
    assert canonical(kept["w1"][0]) == canonical("1;2;3;4") == "1.000000;2.000000;3.000000;4.000000"


def _png(value: int, size: tuple[int, int] = (12, 8)) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", size, color=value).save(buffer, format="PNG")
    return buffer.getvalue()


def test_image_cleaning_labels_by_folder_and_hashes_what_the_record_hook_hashes(
    spark, tmp_path: Path
) -> None:
    from assets.kits.image_cleaning import clean_image_files
    from assets.kits.images import stream_record

    files = {
        "pics/cat/a.png": _png(10),
        "pics/dog/b.png": _png(200),
        "pics/unlabelled/c.png": _png(90),
        "pics/dog/a.png": _png(30),  # a second "a": duplicate id
        "pics/cat/broken.png": b"\x89PNG\r\n\x1a\nnot really",
    }
    pairs = []
    for key, data in files.items():
        path = tmp_path / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        pairs.append((key, str(path)))
    result = clean_image_files(spark, pairs)
    kept = {r["id"]: r for r in result.kept.collect()}
    assert {i: r["label"] for i, r in kept.items()} == {"a": "cat", "b": "dog", "c": None}
    assert _reasons(result) == ["duplicate_id", "not_an_image"]
    record = stream_record({"id": "x", "image": base64.b64encode(files["pics/dog/b.png"]).decode()})
    assert (
        record["content_key"] == kept["b"]["content_key"]
        and base64.b64decode(kept["b"]["image"]) == files["pics/dog/b.png"]
    )
    with pytest.raises(ValueError, match="not_base64"):
        stream_record({"id": "y", "image": "%%%"})


def _kit(**fields) -> SimpleNamespace:
    defaults = {"name": "kit", "labels": None, "multilabel": False, "labeling_functions": None}
    return SimpleNamespace(**{**defaults, **fields})


def test_weak_labels_cover_only_rows_a_labeling_function_voted_on(tmp_path: Path, monkeypatch) -> None:
    from assets.kits import labels

    def spammy(text: str) -> str | None:
        return "spam" if "prize" in text else None

    def hammy(text: str) -> str | None:
        return "ham" if "meeting" in text else ("eggs" if "eggs" in text else None)  # "eggs": not a class

    monkeypatch.setattr(labels, "resolve", lambda _ref: [spammy, hammy])
    clean = pd.DataFrame(
        {
            "id": [f"i{i}" for i in range(8)],
            "text": ["prize", "meeting", "prize meeting", "nothing", "eggs", "a prize", "our meeting", "x"],
            "label": ["spam", "ham", None, None, None, None, None, "ham"],
        }
    )
    table, meta = labels.weak_table(_kit(labeling_functions="x:y"), clean, tmp_path)
    frame = table.read().set_index("id")
    assert table.labels == ("ham", "spam") and meta["ground_truth"] == 3
    weak = frame[frame["label_source"] == "weak"]
    assert sorted(weak.index) == ["i2", "i5", "i6"]  # "nothing" and "eggs" got no vote: not labelled
    assert weak.loc["i5", "label"] == "spam" and weak.loc["i6", "label"] == "ham"
    assert np.isclose(weak.loc["i2", "p_spam"], 0.5)  # one vote each: a tie, by vote shares
    problems, _summary = labels.lf_problems(_kit(), tmp_path)
    assert problems == []


def test_a_labelled_set_of_one_class_is_refused_with_a_reason(tmp_path: Path) -> None:
    from assets.kits.labels import ground_truth_table

    clean = pd.DataFrame({"id": ["1", "2"], "text": ["a", "b"], "label": ["x", "x"]})
    with pytest.raises(ValueError, match=r"two classes in the labelled rows; found \['x'\]"):
        ground_truth_table(_kit(), clean, tmp_path)


def _waves(rows: int, rng: np.random.Generator) -> pd.DataFrame:
    fast = rng.random(rows) < 0.5
    values = [
        np.sin(np.arange(int(rng.integers(30, 90))) * (0.6 if f else 0.15)) + rng.normal(scale=0.3, size=1)
        for f in fast
    ]
    return pd.DataFrame(
        {"id": [f"w{i}" for i in range(rows)], "values": values, "label": np.where(fast, "fast", "slow")}
    )


def test_window_trainers_learn_from_windows_of_any_length_and_pickle(tmp_path: Path) -> None:
    import pickle

    from assets.trainers.timeseries import (
        FEATURES,
        WindowTask,
        baseline_trainers,
        window_features,
        window_trainers,
    )

    rng = np.random.default_rng(0)
    train, test = _waves(200, rng), _waves(60, rng)
    features = window_features(pd.DataFrame({"values": [[1, 2, 3, 4], "4;3;2;1", None]}))
    assert list(features.columns) == list(FEATURES) and features["slope"].round(6).tolist()[:2] == [1.0, -1.0]
    assert features.loc[2, "length"] == 0 and np.isnan(features.loc[2, "mean"])
    task = WindowTask(metric="f1")
    model = pickle.loads(pickle.dumps(window_trainers(task)["features_hist_gbm"](train, ["fast", "slow"], 0)))
    out = model.predict(None, test[["id", "values"]])
    assert list(out.columns) == ["fast", "slow", "prediction"]
    assert (out["prediction"].to_numpy() == test["label"].to_numpy()).mean() > 0.9
    majority = baseline_trainers(task)["majority"](train, ["fast", "slow"], 0).predict(
        None, test[["id", "values"]]
    )
    assert majority["prediction"].nunique() == 1


def test_image_trainers_learn_stripes_and_give_unreadable_images_the_rates() -> None:
    from PIL import Image

    from assets.trainers.image import ImageTask, image_trainers

    rng = np.random.default_rng(1)

    def stripes(vertical: bool) -> str:
        pixels = rng.normal(0.5, 0.1, (20, 20))
        pixels[(slice(None), slice(None, None, 4)) if vertical else (slice(None, None, 4), slice(None))] += (
            0.4
        )
        buffer = io.BytesIO()
        Image.fromarray((np.clip(pixels, 0, 1) * 255).astype("uint8")).save(buffer, format="PNG")
        return base64.b64encode(buffer.getvalue()).decode()

    kinds = rng.random(120) < 0.5
    frame = pd.DataFrame({"image": [stripes(v) for v in kinds], "label": np.where(kinds, "v", "h")})
    model = image_trainers(ImageTask(side=16))["pixels_logreg"](frame.iloc[:80], ["h", "v"], 0)
    held = frame.iloc[80:]
    out = model.predict(None, pd.concat([held[["image"]], pd.DataFrame({"image": ["bm90IGFuIGltYWdl"]})]))
    assert (out["prediction"].iloc[:-1].to_numpy() == held["label"].to_numpy()).mean() > 0.9
    assert np.isclose(out[["h", "v"]].iloc[-1].sum(), 1.0)  # unreadable: a distribution, not an error


def test_the_annotation_page_shows_kit_images_and_windows_not_their_content_keys() -> None:
    from PIL import Image

    from apps.annotate.render import kind_of, render_payload
    from assets.kits.images import stream_record as image_record
    from assets.kits.windows import stream_record as window_record

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), color=(200, 10, 10)).save(buffer, format="JPEG")
    picture = image_record({"id": "p", "image": base64.b64encode(buffer.getvalue()).decode()})
    assert kind_of(picture) == "image"
    assert 'src="data:image/jpeg;base64,' in render_payload(picture)
    window = window_record({"id": "w", "values": "1;3;2;5"})
    html = render_payload(window)
    assert kind_of(window) == "values" and "<polyline" in html and "window of 4 values" in html


def test_files_whose_names_need_escaping_keep_their_landing_keys(spark, tmp_path: Path) -> None:
    """Spark names a CSV percent-encoded and a binary file as it is: both map back to the key."""
    from assets.kits.cleaning import with_landing_keys
    from assets.kits.image_cleaning import clean_image_files
    from assets.kits.text_cleaning import clean_text_csv

    csv = _write(tmp_path / "my data.csv", "id,text,label\n1,hi,a\n1,dup,a\n")
    text = with_landing_keys(clean_text_csv(spark, [csv]), {csv: "uc/my data.csv"})
    assert {r["source_file"] for r in text.quarantine.collect()} == {"uc/my data.csv"}
    picture = tmp_path / "uc" / "cat" / "a cat.png"
    picture.parent.mkdir(parents=True)
    picture.write_bytes(_png(40))
    images = clean_image_files(spark, [("uc/cat/a cat.png", str(picture))])
    assert [(r["id"], r["label"], r["source_file"]) for r in images.kept.collect()] == [
        ("a cat", "cat", "uc/cat/a cat.png")
    ]
