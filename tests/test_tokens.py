"""tiktoken's cl100k_base works offline from the packaged vocabulary, verified by sha256."""

from __future__ import annotations

import hashlib

import pytest

from ingest import tokens


def test_fill_cache_writes_the_file_tiktoken_expects(tmp_path):
    target = tokens.fill_cache(tmp_path)
    assert target.name == hashlib.sha1(tokens.CL100K_URL.encode()).hexdigest()
    assert hashlib.sha256(target.read_bytes()).hexdigest() == tokens.CL100K_SHA256


def test_corrupt_cache_file_is_replaced(tmp_path):
    target = tokens.fill_cache(tmp_path)
    target.write_bytes(b"garbage")
    assert tokens.fill_cache(tmp_path) == target
    assert hashlib.sha256(target.read_bytes()).hexdigest() == tokens.CL100K_SHA256


def test_tampered_package_file_is_refused(tmp_path, monkeypatch):
    fake = tmp_path / "cl100k_base.tiktoken"
    fake.write_bytes(b"not the vocabulary")
    monkeypatch.setattr(tokens, "packaged_vocabulary", lambda: fake)
    with pytest.raises(tokens.ModelUnavailableError, match="does not match"):
        tokens.fill_cache(tmp_path / "cache")


def test_encoding_counts_tokens_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "tk"))

    def no_network(*_args, **_kwargs):
        raise AssertionError("tiktoken tried to download")

    monkeypatch.setattr("tiktoken.load.read_file", no_network)
    tokens.encoding.cache_clear()
    enc = tokens.encoding(str(tmp_path / "unused"))
    assert enc.name == "cl100k_base"
    assert enc.encode("hello world") == [15339, 1917]
    tokens.encoding.cache_clear()
