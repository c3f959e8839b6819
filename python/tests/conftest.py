"""Shared fixtures. The suite imports the `sddb` on sys.path: scripts/run_tests and
`make python` point PYTHONPATH at the build tree (build/python)."""

import pytest

import sddb


@pytest.fixture
def db(tmp_path):
    """A fresh embedded database in this test's own folder."""
    return sddb.superduper(f"sqlite://{tmp_path}/data.db")


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
