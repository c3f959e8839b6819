"""sddb: AI in the database you already have.

The Python face of sddb's C++ core (SuperDuperDB's API)::

    import sddb
    from sddb import Collection, Model, Listener, VectorIndex

    db = sddb.superduper("sqlite://./data.db")
    docs = Collection("docs")
    db.execute(docs.insert_many([{"text": "hello", "n": 1}]))
    for d in db.execute(docs.find({"n": {"$gt": 0}}).limit(10)):
        print(d["text"])

Documents are plain dicts; every error is an ``sddb.Error`` subclass named after its code.
"""

from ._sddb import (  # noqa: F401  (re-exports)
    DB,
    AlreadyExists,
    Collection,
    ComponentRef,
    Conflict,
    Corruption,
    Count,
    Cursor,
    Dataset,
    DeleteMany,
    DeleteResult,
    Encoder,
    Error,
    Find,
    FindOne,
    FailedPrecondition,
    InsertMany,
    InsertResult,
    InternalError,
    InvalidArgument,
    IoError,
    Like,
    Listener,
    Model,
    NotFound,
    NotSupported,
    ReplaceOne,
    Unavailable,
    UpdateMany,
    UpdateResult,
    VectorIndex,
    build_datalayer,
    model_kinds,
    new_id,
    superduper,
)

__version__ = "0.1.0"

__all__ = [
    "DB", "AlreadyExists", "Collection", "ComponentRef", "Conflict", "Corruption", "Count",
    "Cursor", "Dataset", "DeleteMany", "DeleteResult", "Encoder", "Error", "Find", "FindOne",
    "FailedPrecondition", "InsertMany", "InsertResult", "InternalError", "InvalidArgument",
    "IoError", "Like", "Listener", "Model", "NotFound", "NotSupported", "ReplaceOne",
    "Unavailable", "UpdateMany", "UpdateResult", "VectorIndex", "build_datalayer",
    "model_kinds", "new_id", "superduper",
]
