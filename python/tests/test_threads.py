"""Several Python threads at once: the bindings release the GIL for database work, and Python
models (which take it back) run on inserts from any thread."""

import threading

import numpy as np

from sddb import Collection, Listener, Model, VectorIndex

THREADS = 4


def run_threads(fn):
    errors = []

    def guarded(k):
        try:
            fn(k)
        except BaseException as e:  # noqa: B902 - reported below
            errors.append(e)

    ts = [threading.Thread(target=guarded, args=(k,)) for k in range(THREADS)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert errors == []


def test_concurrent_inserts_and_reads(db):
    docs = Collection("docs")

    def work(k):
        for batch in range(5):
            db.execute(docs.insert_many(
                [{"k": k, "b": batch, "i": i} for i in range(200)]))
            n = sum(1 for _ in db.execute(docs.find({"k": k})))
            assert n == (batch + 1) * 200

    run_threads(work)
    assert db.execute(docs.count()) == THREADS * 5 * 200


def test_python_model_listener_under_concurrent_inserts(db):
    docs = Collection("docs")
    db.add(Model("onehot", object=lambda x: np.eye(THREADS, dtype=np.float32)[x["k"]],
                 dim=THREADS))
    db.add(Listener(docs.find(), key="tag", model="onehot"))
    db.add(VectorIndex("oh", indexing_listener="onehot/tag", measure="dot"))

    def work(k):
        for i in range(25):
            db.execute(docs.insert_one({"tag": {"k": k}, "i": i}))

    run_threads(work)
    for k in range(THREADS):
        hits = db.execute(docs.like({"tag": {"k": k}}, vector_index="oh", n=25)).to_list()
        assert len(hits) == 25
        assert all(h["tag"]["k"] == k and h["_score"] == 1.0 for h in hits)


def test_shared_cursor_between_threads(db):
    docs = Collection("docs")
    db.execute(docs.insert_many([{"i": i} for i in range(4000)]))
    cur = db.execute(docs.find())
    seen = [[] for _ in range(THREADS)]

    def work(k):
        for d in cur:
            seen[k].append(d["i"])

    run_threads(work)
    everything = sorted(i for s in seen for i in s)
    assert everything == list(range(4000))


def test_training_releases_the_gil(db):
    """While fastText trains on another thread, this thread keeps running Python."""
    from sddb import Model

    from conftest import corpus

    docs = Collection("docs")
    db.execute(docs.insert_many(corpus(3000)))
    ticks = 0
    seen = []

    def fit():
        db.add(Model.fasttext("ft", dim=16, epochs=5, min_count=1, threads=1, seed=1)
               .fit(docs.find(), key="text"),
               progress=lambda done, total: seen.append(ticks))

    t = threading.Thread(target=fit)
    t.start()
    while t.is_alive():
        ticks += 1
    t.join()
    assert len(seen) >= 2
    # The counter moved between progress reports: this thread ran while the model trained.
    assert seen[-1] > seen[0]
