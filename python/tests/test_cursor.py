"""Cursors are lazy: iterating 100k documents converts one at a time and holds none of them."""

import tracemalloc

import pytest

import sddb
from sddb import Collection

from conftest import BACKENDS, backend_uri

N = 100_000


@pytest.fixture(scope="module", params=BACKENDS)
def big(request, tmp_path_factory):
    with backend_uri(request.param, tmp_path_factory.mktemp("big")) as uri:
        db = sddb.superduper(uri)
        docs = Collection("big")
        for start in range(0, N, 20_000):
            db.execute(docs.insert_many(
                [{"i": i, "text": f"document number {i}", "tags": ["a", "b"]}
                 for i in range(start, start + 20_000)]))
        yield db, docs


def peak_python_bytes(fn):
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_iterates_everything_without_holding_it(big):
    db, docs = big
    seen = 0
    total = 0

    def walk():
        nonlocal seen, total
        for d in db.execute(docs.find()):
            seen += 1
            total += d["i"]

    lazy_peak = peak_python_bytes(walk)
    assert seen == N and total == N * (N - 1) // 2

    held = []
    held_peak = peak_python_bytes(lambda: held.extend(db.execute(docs.find())))
    assert len(held) == N
    # Holding every document costs tens of megabytes; walking them costs a few documents.
    assert lazy_peak * 50 < held_peak


def test_a_cursor_is_an_iterator(big):
    db, docs = big
    cur = db.execute(docs.find({"i": {"$lt": 3}}).sort("i"))
    assert iter(cur) is cur
    assert next(cur)["i"] == 0
    assert [d["i"] for d in cur] == [1, 2]
    with pytest.raises(StopIteration):
        next(cur)
    assert cur.to_list() == []


def test_abandoned_cursor_and_the_db_outliving_its_name(db_uri):
    db = sddb.superduper(db_uri)
    db.execute(Collection("c").insert_many([{"i": i} for i in range(10)]))
    cur = db.execute(Collection("c").find())
    del db  # the cursor keeps the DB alive
    assert len(cur.to_list()) == 10
    db2 = sddb.superduper(db_uri)
    first = db2.execute(Collection("c").find())
    next(first)
    del first  # dropped half-read
    assert db2.execute(Collection("c").count()) == 10
