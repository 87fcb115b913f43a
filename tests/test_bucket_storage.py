"""Votes on storage that survives a Space: SQLite refuses, with one sentence, a folder where it
would corrupt them later (a storage bucket mount: no file locking, append-only writes), and the page
says where votes live and what loses them.

A bucket mount cannot be made here, so its two refusals are simulated at the system calls SQLite
itself depends on (``fcntl`` locks, in-place ``pwrite``): each raises the error such a mount gives.
"""

from __future__ import annotations

import errno
import os

import pytest

import app
from inference.errors import DemoError
from inference.store import db


def test_a_local_folder_holds_sqlite(tmp_path):
    assert db.sqlite_folder_problem(tmp_path) is None
    assert list(tmp_path.iterdir()) == []  # the probe leaves nothing behind


@pytest.fixture
def no_locks(monkeypatch):
    def refuse(*_args):
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr(db.fcntl, "lockf", refuse)


@pytest.fixture
def append_only(monkeypatch):
    def refuse(*_args):
        raise OSError(errno.EPERM, os.strerror(errno.EPERM))

    monkeypatch.setattr(db.os, "pwrite", refuse)


def test_a_folder_without_file_locking_is_refused_before_any_vote(tmp_path, no_locks):
    assert db.sqlite_folder_problem(tmp_path) == f"it has no file locking ({os.strerror(errno.ENOLCK)})"
    with pytest.raises(DemoError, match=r"storage bucket cannot hold it.*--database"):
        db.Store(db.sqlite_url(tmp_path))
    assert list(tmp_path.iterdir()) == []  # no database file was made


def test_an_append_only_folder_is_refused(tmp_path, append_only):
    assert db.sqlite_folder_problem(tmp_path).startswith("it does not rewrite a file in place")
    with pytest.raises(DemoError):
        db.Store(db.sqlite_url(tmp_path))


def test_the_app_stops_with_one_sentence_naming_the_folder_and_the_way_out(tmp_path, no_locks):
    args = app.parse_args([], environ={"DEMO_DATA_DIR": str(tmp_path / "bucket")})
    with pytest.raises(SystemExit) as stopped:
        app.open_store(args)
    said = str(stopped.value.code)
    assert str(tmp_path / "bucket") in said and "no file locking" in said and "--database" in said
    assert "\n" not in said


def test_the_page_is_told_sqlite_votes_go_with_the_disk(tmp_path):
    kept = db.Store(db.sqlite_url(tmp_path)).kept
    assert "restart" in kept and "`--database`" in kept
