"""The type stubs describe what the module has: every public name, and every method."""

import ast
import pathlib

import sddb
from sddb import _sddb

STUB = pathlib.Path(_sddb.__file__).with_name("_sddb.pyi")


def stub_tree():
    return ast.parse(STUB.read_text())


def test_stub_names_match_the_module():
    tree = stub_tree()
    names = {n.name for n in tree.body if isinstance(n, (ast.ClassDef, ast.FunctionDef))}
    public = {n for n in dir(_sddb) if not n.startswith("_")}
    assert names == public
    assert set(sddb.__all__) == public


def test_stub_methods_exist():
    for cls in (n for n in stub_tree().body if isinstance(n, ast.ClassDef)):
        real = getattr(_sddb, cls.name)
        for item in cls.body:
            if isinstance(item, ast.FunctionDef) and item.name != "__init__":
                assert hasattr(real, item.name), f"{cls.name}.{item.name}"
