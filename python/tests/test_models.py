"""Python models: functions and objects with predict, numpy in and out, stored with
(cloud)pickle, reloaded in a new process, run by listeners on inserts."""

import os
import subprocess
import sys

import numpy as np
import pytest

import sddb
from sddb import Listener, Model, VectorIndex


def topic(text):
    """A 2-d 'embedding': how fruity and how vehicular a text is."""
    fruit = sum(text.count(w) for w in ("apple", "banana", "fruit"))
    road = sum(text.count(w) for w in ("car", "engine", "road"))
    return np.array([fruit, road], dtype=np.float32)


class Scaler:
    dim = 3

    def __init__(self, k):
        self.k = k

    def predict(self, x):
        return [self.k * x, 0.0, 1.0]


def test_function_model_numpy_out(db):
    ref = db.add(Model("topic", object=topic, dim=2))
    assert ref.created and ref.version == 0
    m = db.load("model", "topic")
    out = m.predict("apple fruit car")
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    assert out.tolist() == [2.0, 1.0]
    batch = m.predict_batch(["apple", "car car"])
    assert batch.shape == (2, 2) and batch.tolist() == [[1.0, 0.0], [0.0, 2.0]]


def test_object_with_predict_and_dim_attribute(db):
    db.add(Model("scale", object=Scaler(2.0)))
    assert db.load("model", "scale").predict(4).tolist() == [8.0, 0.0, 1.0]


def test_numpy_inputs_reach_the_model_as_lists(db, docs):
    def norm(v):
        return np.asarray(v, dtype=np.float32) / np.linalg.norm(v)

    db.add(Model("norm", object=norm, dim=2))
    db.execute(docs.insert_many([{"v": np.array([3.0, 4.0])}, {"v": np.array([0.0, 2.0])}]))
    db.add(Listener(docs.find(), key="v", model="norm"))
    db.add(VectorIndex("vi", indexing_listener="norm/v", measure="dot"))
    hits = db.execute(docs.like({"v": np.array([0.0, 1.0])}, vector_index="vi", n=1)).to_list()
    assert hits[0]["v"] == [0.0, 2.0]
    assert hits[0]["_score"] == pytest.approx(1.0)


def test_batch_model(db):
    calls = []

    def many(xs):
        calls.append(len(xs))
        return np.stack([topic(x) for x in xs])

    db.add(Model("many", object=many, dim=2, batch=True))
    out = db.load("model", "many").predict_batch(["apple", "road", "fruit car"])
    assert out.tolist() == [[1, 0], [0, 1], [1, 1]]
    assert calls == [3]


def test_listener_runs_the_model_on_inserts(db, docs):
    db.execute(docs.insert_many([{"text": "apple banana"}, {"text": "car engine road"}]))
    db.add(Model("topic", object=topic, dim=2))
    db.add(Listener(docs.find(), key="text", model="topic"))
    db.add(VectorIndex("ti", indexing_listener="topic/text", measure="cosine"))
    db.execute(docs.insert_one({"text": "fruit fruit apple", "late": True}))
    hits = db.execute(docs.like({"text": "banana"}, vector_index="ti", n=3)).to_list()
    assert {h["text"] for h in hits[:2]} == {"apple banana", "fruit fruit apple"}
    assert hits[2]["text"] == "car engine road"


def test_same_function_adds_nothing_a_changed_one_a_version(db):
    assert db.add(Model("m", object=topic, dim=2)).created
    assert not db.add(Model("m", object=topic, dim=2)).created
    assert db.add(Model("m", object=lambda x: [0.0, 0.0], dim=2)).version == 1
    assert db.show("model", "m") == [0, 1]


def test_bad_models_are_clear_errors(db, docs):
    with pytest.raises(sddb.InvalidArgument, match="give dim=N"):
        Model("m", object=topic)
    with pytest.raises(sddb.InvalidArgument, match="function or an object with a predict"):
        Model("m", object=42, dim=1)
    with pytest.raises(sddb.InvalidArgument, match="cannot be pickled"):
        Model("m", object=Unpicklable(), dim=1)

    def boom(x):
        raise RuntimeError("kaboom")

    m = db.load("model", db.add(Model("boom", object=boom, dim=2)).identifier)
    with pytest.raises(sddb.InvalidArgument, match="model 'boom' .*RuntimeError: kaboom"):
        m.predict("x")
    wrong = db.load("model", db.add(Model("wrong", object=lambda x: [1.0], dim=2)).identifier)
    with pytest.raises(sddb.InvalidArgument, match="vector of 1 numbers .* dimension is 2"):
        wrong.predict("x")
    db.execute(docs.insert_one({"text": "x"}))
    with pytest.raises(sddb.InvalidArgument, match="kaboom"):
        db.add(Listener(docs.find(), key="text", model="boom"))


class Unpicklable:
    def __call__(self, x):
        return [0.0]

    def __reduce__(self):
        raise TypeError("not today")


ADD = """
import numpy as np, sddb
from sddb import Collection, Listener, Model, VectorIndex
FRUIT = ("apple", "banana", "fruit")
def embed(text):  # defined in __main__: cloudpickle stores it by value, with FRUIT
    return np.array([sum(text.count(w) for w in FRUIT), len(text) % 3 + 1], dtype=np.float32)
db = sddb.superduper({uri!r})
docs = Collection("docs")
db.execute(docs.insert_many([{{"text": "apple pie"}}, {{"text": "road trip"}}]))
db.add(Model("embed", object=embed, dim=2))
db.add(Listener(docs.find(), key="text", model="embed"))
db.add(VectorIndex("ei", indexing_listener="embed/text", measure="l2"))
print(db.load("model", "embed").predict("banana fruit").tolist())
"""

USE = """
import sddb
from sddb import Collection
db = sddb.superduper({uri!r})
docs = Collection("docs")
assert db.show("model", "embed") == [0]
db.execute(docs.insert_one({{"text": "banana fruit"}}))  # the listener runs the reloaded model
hit = db.execute(docs.like({{"text": "apple banana fruit"}}, vector_index="ei", n=1)).to_list()
print(hit[0]["text"])
print(db.load("model", "embed").predict("banana fruit").tolist())
print([j["status"] for j in db.jobs()])
"""


def run_python(code, tmp_path):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=env, cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr
    return r.stdout.splitlines()


def test_model_round_trip_across_processes(db_uri, tmp_path):
    first = run_python(ADD.format(uri=db_uri), tmp_path)
    assert first == ["[2.0, 1.0]"]
    second = run_python(USE.format(uri=db_uri), tmp_path)
    assert second[0] == "banana fruit"
    assert second[1] == "[2.0, 1.0]"
    assert "failed" not in second[2]


def test_listener_follows_updates_and_deletes(db, docs):
    db.add(Model("topic", object=topic, dim=2))
    ids = db.execute(docs.insert_many([{"text": "apple"}, {"text": "car"}])).inserted_ids
    db.add(Listener(docs.find(), key="text", model="topic"))
    db.add(VectorIndex("ti", indexing_listener="topic/text", measure="cosine"))

    def nearest_to_fruit():
        return db.execute(docs.like({"text": "fruit"}, vector_index="ti", n=1)).to_list()[0]

    assert nearest_to_fruit()["_id"] == ids[0]
    db.execute(docs.update_one({"_id": ids[0]}, {"$set": {"text": "road"}}))
    db.execute(docs.update_one({"_id": ids[1]}, {"$set": {"text": "banana"}}))
    assert nearest_to_fruit()["_id"] == ids[1]
    db.execute(docs.delete_one({"_id": ids[1]}))
    assert nearest_to_fruit()["_id"] == ids[0]
