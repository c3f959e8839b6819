"""Shared fixtures. The suite imports the `sddb` on sys.path: scripts/run_tests and
`make python` point PYTHONPATH at the build tree (build/python).

Every test that opens a database takes it from `db_uri` (or `db`, built on it), which runs the
test once per backend: SQLite in the test's own folder, and PostgreSQL in a schema of its own on
the server named by SDDB_TEST_POSTGRES_URI, dropped after the test (as tests/testing/postgres.h
does for the C++ tests). Without that variable the PostgreSQL variants skip, saying why, except
under CI=true, where they fail: CI always starts a server (scripts/postgres_test_server.sh), and
a skip there would hide that nothing ran."""

import contextlib
import gc
import itertools
import os
import shutil
import subprocess

import pytest

import sddb

BACKENDS = ["sqlite", "postgres"]

_schema_counter = itertools.count()


def _postgres_base_uri():
    uri = os.environ.get("SDDB_TEST_POSTGRES_URI", "")
    if uri:
        return uri
    if os.environ.get("CI") == "true":
        pytest.fail("CI=true but SDDB_TEST_POSTGRES_URI is unset (.ci/run starts the server)")
    pytest.skip("needs PostgreSQL: SDDB_TEST_POSTGRES_URI is unset (`make test` starts a "
                "server; see scripts/postgres_test_server.sh)")


def _drop_schema(base, name):
    # sddb has no way to drop a schema, and psycopg2 is not a dependency: psql, from the same
    # Debian packages as the server. A DB that outlives its test (pytest holds fixture values
    # until their teardown) keeps only idle connections, which hold no locks; lock_timeout makes
    # one left inside a transaction an error rather than a hang.
    psql = shutil.which("psql")
    if psql is None:
        return  # a developer's server without the client tools: the schema is left behind
    subprocess.run(
        [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", base, "-c",
         f'SET lock_timeout = \'30s\'; DROP SCHEMA IF EXISTS "{name}" CASCADE'],
        check=True, capture_output=True, text=True, timeout=120)


@contextlib.contextmanager
def backend_uri(backend, folder):
    """A URI of an empty database on `backend` for one test (or one module's fixture): a file in
    `folder` for SQLite, a new schema for PostgreSQL, removed on exit."""
    if backend == "sqlite":
        yield f"sqlite://{folder}/data.db"
        return
    base = _postgres_base_uri()
    name = f"py_{os.getpid()}_{next(_schema_counter)}"
    yield base + ("&" if "?" in base else "?") + "schema=" + name
    gc.collect()  # closes the DBs nothing refers to any more (and their connections)
    _drop_schema(base, name)


@pytest.fixture(params=BACKENDS)
def db_uri(request, tmp_path):
    """The URI of an empty database, once per backend."""
    with backend_uri(request.param, tmp_path) as uri:
        yield uri


@pytest.fixture
def db(db_uri):
    """A fresh database on each backend."""
    yield sddb.superduper(db_uri)


@pytest.fixture
def docs():
    return sddb.Collection("docs")


WORDS = [
    "apple banana fruit sweet",
    "car engine wheel road",
    "banana smoothie fruit sweet",
    "engine oil car road",
    "fruit salad apple sweet",
    "truck engine road wheel",
]


def corpus(n):
    """n small documents over two topics (fruit, vehicles), alternating n = 0, 1."""
    return [{"text": WORDS[i % len(WORDS)], "n": i % 2, "i": i} for i in range(n)]
