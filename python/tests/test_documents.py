"""Documents are plain dicts, both ways; bad values are InvalidArgument naming the path."""

import math

import numpy as np
import pytest

import sddb


def roundtrip(db, docs, doc):
    db.execute(docs.insert_one(doc))
    return db.execute(docs.find_one({"_id": doc["_id"]}))


def test_every_type_round_trips(db, docs):
    doc = {
        "_id": "a",
        "s": "héllo ✓",
        "i": -(2**63),
        "big": 2**63 - 1,
        "f": 1.5,
        "whole_float": 2.0,
        "t": True,
        "no": False,
        "none": None,
        "b": b"\x00\xffbytes",
        "empty_bytes": b"",
        "list": [1, "two", [3.0], {"four": 4}],
        "nested": {"a": {"b": {"c": [None]}}},
    }
    back = roundtrip(db, docs, doc)
    assert back == doc
    assert type(back["whole_float"]) is float and type(back["i"]) is int
    assert list(back) == list(doc)  # member order is kept


def test_tuples_bytearray_and_numpy_become_plain_values(db, docs):
    back = roundtrip(db, docs, {
        "_id": "n",
        "t": (1, 2),
        "ba": bytearray(b"xy"),
        "vec": np.array([1.5, 2.5], dtype=np.float32),
        "ints": np.arange(3),
        "f32": np.float32(0.5),
        "i64": np.int64(7),
        "flag": np.bool_(True),
    })
    assert back == {"_id": "n", "t": [1, 2], "ba": b"xy", "vec": [1.5, 2.5], "ints": [0, 1, 2],
                    "f32": 0.5, "i64": 7, "flag": True}


def test_ids_are_generated_and_returned(db, docs):
    r = db.execute(docs.insert_many([{"x": 1}, {"x": 2}]))
    assert len(r.inserted_ids) == 2 and len(set(r.inserted_ids)) == 2
    got = {d["_id"] for d in db.execute(docs.find())}
    assert got == set(r.inserted_ids)


@pytest.mark.parametrize("value, words", [
    ({1, 2}, ["'a.b'", "set"]),
    (float("nan"), ["'a.b'", "NaN"]),
    (math.inf, ["'a.b'", "NaN and infinities"]),
    (2**64, ["'a.b'", "64 bits"]),
    (object(), ["'a.b'", "object"]),
])
def test_bad_values_name_the_path(db, docs, value, words):
    with pytest.raises(sddb.InvalidArgument) as e:
        docs.insert_many([{"ok": 1}, {"a": {"b": value}}])
    msg = str(e.value)
    assert "document 1" in msg
    for w in words:
        assert w in msg


def test_non_str_keys_and_non_dicts_are_refused(docs):
    with pytest.raises(sddb.InvalidArgument, match="keys must be str"):
        docs.insert_one({1: "x"})
    with pytest.raises(sddb.InvalidArgument, match="document 0 is a 'list', not a dict"):
        docs.insert_many([[1, 2]])
    with pytest.raises(sddb.InvalidArgument, match="one dict"):
        docs.insert_many({"a": 1})


def test_update_replace_delete(db, docs):
    db.execute(docs.insert_many([{"_id": str(i), "n": i} for i in range(10)]))
    r = db.execute(docs.update_many({"n": {"$lt": 5}}, {"$inc": {"n": 100}}))
    assert (r.matched, r.modified) == (5, 5)
    assert db.execute(docs.count({"n": {"$gte": 100}})) == 5
    r = db.execute(docs.update_one({"_id": "x"}, {"$set": {"n": -1}}, upsert=True))
    assert r.upserted_id == "x"
    r = db.execute(docs.replace_one({"_id": "9"}, {"n": 9, "new": True}))
    assert r.modified == 1
    assert db.execute(docs.find_one({"_id": "9"})) == {"_id": "9", "n": 9, "new": True}
    assert db.execute(docs.find_one({"_id": "nope"})) is None
    r = db.execute(docs.delete_many({"n": {"$gte": 100}}))
    assert r.deleted == 5 and len(r.deleted_ids) == 5
    assert db.execute(docs.delete_one({"_id": "x"})).deleted == 1
    assert db.execute(docs.count()) == 5


def test_sort_skip_limit_project(db, docs):
    db.execute(docs.insert_many([{"n": i, "s": str(i)} for i in range(20)]))
    got = db.execute(docs.find({}, {"n": 1, "_id": 0}).sort("n", -1).skip(2).limit(3)).to_list()
    assert got == [{"n": 17}, {"n": 16}, {"n": 15}]
    got = db.execute(docs.find().sort([("n", 1)]).limit(2).project({"s": 1, "_id": 0}))
    assert [d["s"] for d in got] == ["0", "1"]


def test_write_without_filter_is_refused(db, docs):
    db.execute(docs.insert_one({"n": 1}))
    with pytest.raises(sddb.InvalidArgument):
        db.execute(docs.delete_many(None))
    assert db.execute(docs.count()) == 1


def test_keys_vary_between_documents(db, docs):
    shapes = [{"a": 1, "b": 2}, {"b": 1, "a": 2}, {"x": {"a": 1, "é": [{"b": 0}]}},
              {"a": {"a": {"a": 1}}}, {}, {"a" * 100: 1, "b": 2}, {"a": 1, "b": 2}]
    db.execute(docs.insert_many([dict(s, _id=str(i)) for i, s in enumerate(shapes)]))
    got = db.execute(docs.find().sort("_id")).to_list()
    assert got == [dict(s, _id=str(i)) for i, s in enumerate(shapes)]
    assert [list(d) for d in got] == [list(dict(s, _id=str(i))) for i, s in enumerate(shapes)]


def test_bad_sort_is_invalid_argument(docs):
    with pytest.raises(sddb.InvalidArgument, match="list of \\(path, direction\\) pairs"):
        docs.find().sort([("n", "up")])
    with pytest.raises(sddb.InvalidArgument, match="list of \\(path, direction\\) pairs"):
        docs.find().sort(5)
