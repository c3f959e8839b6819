"""Every sddb::Error code arrives as its own class under sddb.Error, with the same message."""

import pytest

import sddb
from sddb import Collection, Listener, Model

CODES = {
    "InvalidArgument": "invalid_argument",
    "NotFound": "not_found",
    "AlreadyExists": "already_exists",
    "FailedPrecondition": "failed_precondition",
    "Conflict": "conflict",
    "Unavailable": "unavailable",
    "Corruption": "corruption",
    "IoError": "io_error",
    "NotSupported": "not_supported",
    "InternalError": "internal",
}


@pytest.mark.parametrize("name, code", sorted(CODES.items()))
def test_one_class_per_code(name, code):
    cls = getattr(sddb, name)
    assert issubclass(cls, sddb.Error)
    assert cls.code == code
    assert cls.__module__ == "sddb" and cls.__name__ == name


def test_builtin_bases_for_idiomatic_except():
    assert issubclass(sddb.InvalidArgument, ValueError)
    assert issubclass(sddb.NotFound, LookupError)
    assert issubclass(sddb.IoError, OSError)
    assert issubclass(sddb.NotSupported, NotImplementedError)


def test_invalid_filter(db):
    with pytest.raises(sddb.InvalidArgument) as e:
        db.execute(Collection("docs").find({"a": {"$nope": 1}}))
    assert str(e.value) == "unknown operator $nope at 'a'"
    assert e.value.code == "invalid_argument"


def test_bad_uri():
    with pytest.raises(sddb.InvalidArgument, match="nosuch"):
        sddb.superduper("nosuch://x")


def test_duplicate_id(db):
    docs = Collection("docs")
    db.execute(docs.insert_one({"_id": "a"}))
    with pytest.raises(sddb.AlreadyExists) as e:
        db.execute(docs.insert_one({"_id": "a"}))
    assert str(e.value) == "duplicate _id 'a' in collection 'docs'"
    # PostgreSQL names the _id inside text of its own: an _id that looks like that text too.
    odd = "b) already exists. (Key (_id)=(c"
    db.execute(docs.insert_many([{"_id": odd}]))
    with pytest.raises(sddb.AlreadyExists) as e:
        db.execute(docs.insert_many([{"_id": "d"}, {"_id": odd}]))
    assert str(e.value) == f"duplicate _id '{odd}' in collection 'docs'"
    assert db.execute(docs.count()) == 2


def test_missing_component(db):
    with pytest.raises(sddb.NotFound, match="nope"):
        db.load("model", "nope")
    with pytest.raises(sddb.NotFound, match="nope"):
        db.add(Listener(Collection("docs").find(), key="text", model="nope"))


def test_in_use_needs_force(db):
    docs = Collection("docs")
    db.execute(docs.insert_one({"text": "x"}))
    db.add(Model("m", object=lambda x: [1.0, 2.0], dim=2))
    db.add(Listener(docs.find(), key="text", model="m"))
    with pytest.raises(sddb.FailedPrecondition, match="listener/m/text/0"):
        db.remove("model", "m")
    db.remove("model", "m", force=True)


def test_unloaded_model():
    with pytest.raises(sddb.FailedPrecondition, match="'ft' is not fitted or loaded"):
        Model.fasttext("ft").predict("x")


def test_load_of_an_unknown_type(db):
    with pytest.raises(sddb.InvalidArgument, match="type_id 'widget'"):
        db.load("widget", "w")
