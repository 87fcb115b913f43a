"""The store (``inference/store``) on both databases it supports: SQLite (a file) and PostgreSQL
(a throwaway cluster from Debian's package, ``tests/helpers/postgres.py``). Votes survive a
restart, 16 concurrent voters lose none, forged votes are refused, the schema migrates, shared
comparisons expire; the tally's arithmetic against known values."""

from __future__ import annotations

import itertools
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from inference.errors import DemoError
from inference.store import db as store_db
from inference.store.db import MIGRATIONS, VERSION, Store, VoteRefused
from inference.store.tally import Tally, wilson
from tests.helpers import postgres

pytestmark = pytest.mark.cpu_set  # SQLAlchemy 2.1 on the CPU set, 2.0 on 3.10: the store on both

SIDES = ("FP8", "BF16")
_names = itertools.count()


@pytest.fixture(scope="session")
def pg_server():
    with postgres.cluster() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    """A fresh, empty database of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'demo.sqlite'}"
    server = request.getfixturevalue("pg_server")
    name = f"t{next(_names)}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f"CREATE DATABASE {name}"))
    admin.dispose()
    return sa.make_url(server).set(database=name).render_as_string(hide_password=False)


@pytest.fixture
def store(url):
    s = Store(url)
    yield s
    s.close()


def test_the_schema_is_created_and_its_version_recorded(store):
    assert store.version == VERSION
    tables = set(sa.inspect(store.engine).get_table_names())
    assert {"schema_version", "blind_turns", "votes", "shares"} <= tables


def test_an_older_schema_is_migrated_and_keeps_its_votes(url):
    old = sa.create_engine(url)
    with old.begin() as c:  # the schema as version 1 made it, with a vote in it
        store_db.schema_version.create(c)
        for table in MIGRATIONS[1]:
            table.create(c)
        c.execute(store_db.schema_version.insert().values(version=1, applied=0.0))
    old.dispose()
    first = Store(url)
    assert first.version == VERSION  # migrated
    turn = first.show("viewer", SIDES, "FP8")
    first.vote(turn.id, "viewer", "tie", "A")
    first.close()
    store = Store(url)
    assert store.migrate() == VERSION  # nothing left to do
    assert store.tally().votes == 1
    assert store.shared(store.share({"x": 1}, days=1)) == {"x": 1}  # the table version 2 added
    store.close()


def test_votes_survive_a_restart(url):
    first = Store(url)
    turn = first.show("viewer-1", SIDES, "FP8")
    cast = first.vote(turn.id, "viewer-1", "A", "B")
    first.close()
    again = Store(url)  # the app restarted: a new store on the same URL
    tally = again.tally(SIDES)
    assert (tally.votes, tally.correct) == (1, int(cast.correct))
    assert tally.preferences[turn.labels[0]] == 1
    with pytest.raises(VoteRefused, match="already voted"):
        again.vote(turn.id, "viewer-1", "B", "A")
    again.close()


def test_sixteen_concurrent_voters_lose_no_vote(url):
    stores = [Store(url) for _ in range(4)]  # as several replicas would
    start = threading.Barrier(16)

    def voter(i: int):
        s = stores[i % 4]
        turn = s.show(f"viewer-{i}", SIDES, "FP8")
        start.wait(timeout=60)  # every vote lands at the same moment
        return s.vote(turn.id, f"viewer-{i}", ("A", "B", "tie", "both bad")[i % 4], "AB"[i % 2])

    with ThreadPoolExecutor(16) as pool:
        cast = list(pool.map(voter, range(16)))
    tally = Store(url).tally(SIDES)
    assert tally.votes == 16
    assert tally.correct == sum(v.correct for v in cast)
    assert tally.preferences["tie"] == tally.preferences["both bad"] == 4
    assert tally.preferences["FP8"] + tally.preferences["BF16"] == 8
    for s in stores:
        s.close()


def test_a_forged_vote_is_refused(store):
    mine = store.show("viewer-1", SIDES, "FP8")
    theirs = store.show("viewer-2", SIDES, "FP8")
    with pytest.raises(VoteRefused, match="not shown"):
        store.vote(theirs.id, "viewer-1", "A", "A")  # a turn shown to someone else
    with pytest.raises(VoteRefused, match="not shown"):
        store.vote("made-up-turn-id", "viewer-1", "A", "A")
    with pytest.raises(VoteRefused, match="a preference"):
        store.vote(mine.id, "viewer-1", "FP8", "A")  # a label, not a letter: the page never sends it
    store.vote(mine.id, "viewer-1", "A", "A")
    with pytest.raises(VoteRefused, match="already voted"):
        store.vote(mine.id, "viewer-1", "B", "B")
    assert store.tally().votes == 1


def test_two_votes_on_one_turn_at_once_count_once(store):
    turn = store.show("viewer", SIDES, "FP8")
    start = threading.Barrier(8)

    def vote(_):
        start.wait(timeout=60)
        try:
            store.vote(turn.id, "viewer", "A", "A")
            return True
        except VoteRefused:
            return False

    with ThreadPoolExecutor(8) as pool:
        counted = list(pool.map(vote, range(8)))
    assert counted.count(True) == 1
    assert store.tally().votes == 1


def test_the_order_is_random_and_the_guess_scored_by_label(store):
    turns = [store.show("viewer", SIDES, "FP8") for _ in range(64)]
    assert {t.labels for t in turns} == {("FP8", "BF16"), ("BF16", "FP8")}  # 2 * 2**-64 to fail by chance
    assert len({t.id for t in turns}) == 64 and all(len(t.id) >= 32 for t in turns)
    for t in turns[:8]:
        fp8 = "AB"[t.labels.index("FP8")]
        assert store.vote(t.id, "viewer", fp8, fp8).correct
        assert store.turn(t.id).labels == t.labels
    for t in turns[8:12]:
        assert not store.vote(t.id, "viewer", "tie", "AB"[t.labels.index("BF16")]).correct
    tally = store.tally(SIDES)
    assert (tally.votes, tally.correct, tally.preferences["FP8"], tally.preferences["tie"]) == (12, 8, 8, 4)


def test_the_prompt_is_stored_only_when_given(store):
    quiet = store.show("viewer", SIDES, "FP8")
    told = store.show("viewer", SIDES, "FP8", prompt="what is in the picture?")
    for t in (quiet, told):
        store.vote(t.id, "viewer", "A", "A")
    with store.engine.connect() as c:
        prompts = dict(c.execute(sa.select(store_db.turns.c.id, store_db.turns.c.prompt)).all())
    assert prompts == {quiet.id: None, told.id: "what is in the picture?"}
    rows = store.csv().splitlines()
    assert rows[0].split(",")[:3] == ["voted_utc", "turn", "a"] and len(rows) == 3
    assert "viewer" not in store.csv()  # the viewer key stays in the database
    assert rows[2].endswith("what is in the picture?") and rows[1].endswith(",")


def test_a_shared_comparison_reads_back_until_it_expires(url):
    now = [1_000_000.0]
    store = Store(url, max_share_bytes=10_000, clock=lambda: now[0])
    body = {"sides": ["FP8", "BF16"], "answers": ["ä ✓", "b"]}
    share_id = store.share(body, days=2)
    assert len(share_id) >= 32 and store.shared(share_id) == body
    assert store.shared("not-an-id") is None
    now[0] += 2 * 86400 + 1
    assert store.shared(share_id) is None
    store.share({"later": True}, days=1)  # sharing deletes what expired
    with store.engine.connect() as c:
        assert c.scalar(sa.select(sa.func.count()).select_from(store_db.shares)) == 1
    with pytest.raises(DemoError, match="too large to share"):
        store.share({"thumbnail": "x" * 20_000}, days=1)
    store.close()


def test_wilson_interval_against_known_values():
    assert wilson(0, 0) == (0.0, 1.0)
    low, high = wilson(0, 10)
    assert low == 0.0 and high == pytest.approx(0.2775, abs=1e-4)
    low, high = wilson(81, 263)  # Wilson (1927) as worked in Newcombe (1998), table I: 0.2553-0.3662
    assert (low, high) == (pytest.approx(0.2553, abs=1e-4), pytest.approx(0.3662, abs=1e-4))
    with pytest.raises(ValueError, match="k=3, n=2"):
        wilson(3, 2)


def test_the_tally_says_in_one_sentence_whether_viewers_could_tell():
    assert Tally().sentence().startswith("No votes yet")
    # the interval in words, never a share alone (one right guess is not "100 %")
    one = "Too few votes: the share of right guesses could be anywhere from 21 % to 100 % "
    one += "(1 of 1 vote guessed FP8 right)."
    assert Tally(1, 1).sentence() == one
    assert "anywhere from 0 % to 79 %" in Tally(1, 0).sentence()
    even = Tally(240, 122, {"FP8": 100, "BF16": 90, "tie": 40, "both bad": 10})
    assert even.sentence().startswith("Viewers could not tell them apart: right guesses anywhere from 45 % to 57 %")
    told = Tally(100, 80, {"FP8": 50, "BF16": 50})
    assert told.sentence().startswith("Viewers could tell them apart: right guesses anywhere from 71 % to 87 %")
    assert "FP8 100 (42%)" in even.markdown() and "95 % interval 45%–57%" in even.markdown()


def test_the_app_opens_sqlite_in_its_data_dir_or_its_url_and_a_bad_one_stops_it_with_one_sentence(tmp_path):
    import app

    store = app.open_store(app.parse_args([], environ={"DEMO_DATA_DIR": str(tmp_path / "data")}))
    assert store.version == VERSION and (tmp_path / "data" / "demo.sqlite").exists()
    store.close()
    url = f"sqlite:///{tmp_path / 'elsewhere.sqlite'}"
    app.open_store(app.parse_args(["--database", url], environ={})).close()
    assert (tmp_path / "elsewhere.sqlite").exists()
    with pytest.raises(SystemExit) as stop:
        app.open_store(app.parse_args(["--database", "nosuchdb://host/x"], environ={}))
    assert str(stop.value).startswith("--database nosuchdb://host/x: cannot open it (")
    with pytest.raises(SystemExit) as stop:  # no server there: the password stays out of the sentence
        app.open_store(app.parse_args(["--database", "postgresql+psycopg://u:secret@/x?host=/nowhere"], environ={}))
    said = str(stop.value)
    assert said.startswith("--database postgresql+psycopg://u:***@/x?host=%2Fnowhere: cannot open it (")
    assert "secret" not in said and "\n" not in said and said.endswith(").")
