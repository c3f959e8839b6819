"""The AI layer from Python: fastText fit, listeners, vector indexes, like(), components."""

import pytest

import sddb
from sddb import Collection, Dataset, Encoder, Listener, Model, VectorIndex

from conftest import corpus


@pytest.fixture
def ai_db(db, docs):
    db.execute(docs.insert_many(corpus(240)))
    seen = []
    db.add(Model.fasttext("ft", dim=8, epochs=2, min_count=1, threads=1, seed=1)
           .fit(docs.find(), key="text"), progress=lambda done, total: seen.append((done, total)))
    assert seen and seen[-1][0] == seen[-1][1] > 0
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    db.add(Listener(docs.find(), key="text", model="ft"))
    db.add(VectorIndex("idx", indexing_listener="ft/text", measure="cosine", type="hnsw", m=8))
    return db


def test_like_with_filter_both_ways(ai_db, docs):
    a = ai_db.execute(docs.like({"text": "road engine"}, vector_index="idx", n=7)
                      .find({"n": 0})).to_list()
    b = ai_db.execute(docs.find({"n": 0}).like({"text": "road engine"}, vector_index="idx", n=7))
    b = b.to_list()
    assert len(a) == 7 and [d["_id"] for d in a] == [d["_id"] for d in b]
    assert all(d["n"] == 0 for d in a)


def test_listener_follows_inserts(ai_db, docs):
    ai_db.execute(docs.insert_one({"text": "zebra", "n": 5}))
    hits = ai_db.execute(docs.like({"text": "zebra"}, vector_index="idx", n=1)
                         .find({"n": 5})).to_list()
    assert [h["text"] for h in hits] == ["zebra"]


def test_components(ai_db, docs):
    assert ai_db.show() == ["listener", "model", "vector_index"]
    assert ai_db.show("listener") == ["ft/text"]
    rec = ai_db.show("model", "ft", 0)
    assert rec["type_id"] == "model" and rec["body"]["kind"] == "fasttext"
    assert ai_db.load("listener", "ft/text").model == "ft"
    assert ai_db.load("vector_index", "idx").measure == "cosine"
    ai_db.add(Encoder("vec8", 8))
    ai_db.add(Dataset("sample", docs.find({"i": {"$lt": 3}})))
    assert [d["i"] for d in ai_db.load("dataset", "sample")] == [0, 1, 2]
    assert any(j["kind"] == "listener_backfill" for j in ai_db.jobs())
    with pytest.raises(sddb.FailedPrecondition):
        ai_db.remove("listener", "ft/text")
    ai_db.remove("vector_index", "idx")
    ai_db.remove("listener", "ft/text")
    ai_db.remove("model", "ft")
    assert ai_db.show("model") == []


def test_bad_component_arguments(db):
    with pytest.raises(sddb.InvalidArgument, match="measure"):
        VectorIndex("v", indexing_listener="x", measure="manhattan")
    with pytest.raises(sddb.InvalidArgument, match="progress"):
        db.add(Model("m", object=lambda x: [0.0], dim=1), progress="yes")
    with pytest.raises(sddb.InvalidArgument, match="fit needs a key"):
        Model.fasttext("ft").fit(Collection("d").find(), key="")


def test_vector_index_storage(ai_db, docs):
    assert VectorIndex("x", indexing_listener="ft/text").measure == "cosine"
    ai_db.add(VectorIndex("half", indexing_listener="ft/text", type="hnsw", storage="f16"))
    assert ai_db.show("vector_index", "half", 0)["body"]["storage"] == "f16"
    a = ai_db.execute(docs.like({"text": "road engine"}, vector_index="half", n=5)).to_list()
    b = ai_db.execute(docs.like({"text": "road engine"}, vector_index="idx", n=5)).to_list()
    # Re-ranked on the exact vectors: the scores are the exact ones.
    assert [round(d["_score"], 4) for d in a] == [round(d["_score"], 4) for d in b]
    with pytest.raises(sddb.InvalidArgument, match="storage"):
        ai_db.add(VectorIndex("odd", indexing_listener="ft/text", storage="int4"))
