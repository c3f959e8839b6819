"""The issue's usage example, run as written (on a fresh database of each backend)."""

import sddb
from sddb import Collection, Listener, Model, VectorIndex

from conftest import corpus


def test_seed_example(db_uri):
    db = sddb.superduper(db_uri)
    docs = Collection("docs")
    db.execute(docs.insert_many(corpus(300)))
    texts = [d["text"] for d in db.execute(docs.find({"n": {"$gt": 0}}).limit(10))]
    assert len(texts) == 10
    db.add(Model.fasttext("ft", dim=16, epochs=3, min_count=1, threads=1, seed=1)
           .fit(docs.find(), key="text"))
    db.add(Listener(docs.find(), key="text", model="ft"))
    db.add(VectorIndex("idx", indexing_listener="ft/text", measure="cosine"))
    hits = db.execute(
        docs.like({"text": "sweet fruit apple"}, vector_index="idx", n=5).find({"n": 1})
    ).to_list()
    assert len(hits) == 5
    assert all(h["n"] == 1 for h in hits)
    scores = [h["_score"] for h in hits]
    assert scores == sorted(scores, reverse=True)
    assert all("_id" in h for h in hits)
    # Without the filter, the nearest documents to a fruit question are about fruit.
    near = db.execute(docs.like({"text": "sweet fruit apple"}, vector_index="idx", n=5))
    assert all("fruit" in h["text"] for h in near)

    assert db.show("model") == ["ft"]
    model = db.load("model", "ft")
    assert model.kind == "fasttext" and model.dim == 16
    db.remove("model", "ft", force=True)
    assert db.show("model") == []


def test_build_datalayer_and_db_constructor(db_uri, tmp_path):
    a = sddb.build_datalayer(data_backend=db_uri, vector_search="inmemory://")
    a.execute(Collection("c").insert_one({"x": 1}))
    del a
    # The artifacts in files even when the data is in PostgreSQL.
    b = sddb.DB(db_uri, db_uri, f"file://{tmp_path}/artifacts", "inmemory://")
    assert b.execute(Collection("c").count()) == 1
    assert b.collections() == ["c"]
