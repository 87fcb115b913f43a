"""The demo's database: blind turns shown, votes on them, shared comparisons, behind one SQLAlchemy URL.

Contract: ``Store(url)`` opens SQLite (``sqlite:///path``; the folder is made) or any SQLAlchemy URL
(``postgresql+psycopg://…`` for several app replicas) and creates or migrates the schema to
``VERSION`` (``MIGRATIONS``, recorded in ``schema_version``; on PostgreSQL under an advisory lock, so
replicas starting together migrate once). ``show(viewer, labels, candidate)`` records a blind turn
with its sides in a random order (``secrets``) under an unguessable id; ``vote(turn, viewer, …)``
counts one vote per turn, only from the viewer that turn was shown to (``VoteRefused`` otherwise);
``tally()`` and ``csv()`` read the votes; ``share(body, days)`` keeps a finished comparison (JSON,
at most ``max_share_bytes``) under an unguessable id until it expires, ``shared(id)`` reads it back
(``expires(id)``: until when). ``kept`` says in a sentence where votes live and what loses them.
SQLite needs POSIX file locks and in-place page writes: a folder without them (a Hugging Face storage
bucket mount: no file locking, append-only writes, files only overwritten whole) is refused at
open with one sentence (``sqlite_folder_problem``) rather than corrupting votes later.
Nothing about a prompt is stored unless ``show`` is given one (the host's choice). Every method
blocks: call it from a thread (``asyncio.to_thread``) in a server loop.
"""

from __future__ import annotations

import csv
import errno
import fcntl
import io
import json
import os
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from inference.errors import DemoError
from inference.store.tally import BOTH_BAD, TIE, Tally

LETTERS = ("A", "B")  # the blind sides as the page names them
PREFERENCES = (*LETTERS, TIE, BOTH_BAD)
MAX_SHARE_BYTES = 4 * 2**20  # a shared comparison, thumbnails included
LOCK_KEY = 0x51E3D  # PostgreSQL advisory lock held while migrating

meta = sa.MetaData()
schema_version = sa.Table(
    "schema_version", meta, sa.Column("version", sa.Integer, primary_key=True), sa.Column("applied", sa.Float)
)
turns = sa.Table(
    "blind_turns",
    meta,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("viewer", sa.String(200), nullable=False),
    sa.Column("shown", sa.Float, nullable=False),
    sa.Column("labels", sa.String(400), nullable=False),  # JSON: the sides' labels in A, B order
    sa.Column("candidate", sa.String(200), nullable=False),  # the label viewers guess (FP8)
    sa.Column("prompt", sa.Text),  # only when the host stores prompts
)
votes = sa.Table(
    "votes",
    meta,
    sa.Column("turn", sa.String(64), sa.ForeignKey("blind_turns.id"), primary_key=True),  # one vote per turn
    sa.Column("viewer", sa.String(200), nullable=False),
    sa.Column("voted", sa.Float, nullable=False),
    sa.Column("preference", sa.String(200), nullable=False),  # the preferred side's label, "tie" or "both bad"
    sa.Column("guess", sa.String(200), nullable=False),  # the label guessed to be the candidate
    sa.Column("correct", sa.Boolean, nullable=False),
)
shares = sa.Table(
    "shares",
    meta,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("expires", sa.Float, nullable=False, index=True),
    sa.Column("body", sa.Text, nullable=False),  # JSON
)
# version -> the tables it adds; a later change of a table is a new version with its ALTER statements
MIGRATIONS: dict[int, Sequence[sa.Table]] = {1: (turns, votes), 2: (shares,)}
VERSION = max(MIGRATIONS)


class VoteRefused(DemoError):
    """A vote the store does not count: a turn not shown to this viewer, a second vote, a bad choice."""


@dataclass(frozen=True)
class BlindTurn:
    id: str  # unguessable; the page keeps it on the server
    labels: tuple[str, str]  # the sides' labels in A, B order
    candidate: str


@dataclass(frozen=True)
class Vote:
    turn: BlindTurn
    preference: str  # the preferred side's label, TIE or BOTH_BAD
    guess: str  # the label guessed to be the candidate
    correct: bool


def sqlite_url(folder: Path) -> str:
    """The default database: ``demo.sqlite`` in the app's data folder."""
    return f"sqlite:///{Path(folder).resolve() / 'demo.sqlite'}"


def shown_url(url: str) -> str:
    """``url`` fit for a message or a log: its password hidden."""
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy can parse: say it as given
        return url


def sqlite_folder_problem(folder: Path) -> str | None:
    """Why SQLite cannot live in ``folder`` (``None``: it can): it takes POSIX locks (``fcntl``) on
    its files and rewrites pages in place, which a storage-bucket mount does not allow."""
    probe = Path(folder) / f".sqlite-probe-{os.getpid()}"
    try:
        fd = os.open(probe, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError as err:
        return f"cannot create a file there ({os.strerror(err.errno or errno.EIO)})"
    try:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.lockf(fd, fcntl.LOCK_UN)
        except OSError as err:
            return f"it has no file locking ({os.strerror(err.errno or errno.ENOLCK)})"
        try:
            os.write(fd, b"\0" * 4096)
            os.pwrite(fd, b"\1" * 512, 1024)  # a page rewritten in place, as SQLite does
            os.fsync(fd)
        except OSError as err:
            return f"it does not rewrite a file in place ({os.strerror(err.errno or errno.EIO)})"
        return None
    finally:
        os.close(fd)
        probe.unlink(missing_ok=True)


class Store:
    """The demo's database behind one SQLAlchemy URL: blind turns, votes and shared comparisons
    (the module's contract). Every method blocks."""

    def __init__(self, url: str, *, max_share_bytes: int = MAX_SHARE_BYTES, clock: Callable[[], float] = time.time):
        self.url = sa.make_url(url)
        self.max_share_bytes = max_share_bytes
        self._clock = clock
        options: dict[str, Any] = {"pool_pre_ping": True}
        if self.url.get_backend_name() == "sqlite":
            if self.url.database and self.url.database != ":memory:":
                folder = Path(self.url.database).parent
                folder.mkdir(parents=True, exist_ok=True)
                if problem := sqlite_folder_problem(folder):
                    raise DemoError(
                        f"SQLite cannot keep votes in {folder}: {problem}; a storage bucket cannot hold it. "
                        "Put --data-dir on local disk, or give --database a PostgreSQL URL."
                    )
            options["connect_args"] = {"timeout": 60}  # writers wait for each other instead of failing
        self.engine = sa.create_engine(self.url, **options)
        if self.url.get_backend_name() == "sqlite":
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        self.migrate()

    @property
    def kept(self) -> str:
        """Where votes and shared links live, and what loses them, for the page."""
        if self.url.get_backend_name() == "sqlite":
            return (
                "Votes and shared links are kept in a SQLite file on this machine's disk: they go when "
                "that disk goes (on a Hugging Face Space, at every restart) unless the host sets `--database`."
            )
        return f"Votes and shared links are kept in the host's {self.url.get_backend_name()} database."

    # --- schema ------------------------------------------------------------------------------

    def migrate(self) -> int:
        """Bring the schema to ``VERSION``; the version it found (0: an empty database)."""
        with self.engine.begin() as db:
            if db.dialect.name == "postgresql":
                db.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
            schema_version.create(db, checkfirst=True)
            found = db.scalar(sa.select(sa.func.max(schema_version.c.version))) or 0
            for version in sorted(v for v in MIGRATIONS if v > found):
                for table in MIGRATIONS[version]:
                    table.create(db, checkfirst=True)
                db.execute(schema_version.insert().values(version=version, applied=self._clock()))
        return found

    @property
    def version(self) -> int:
        with self.engine.connect() as db:
            return db.scalar(sa.select(sa.func.max(schema_version.c.version))) or 0

    def close(self) -> None:
        self.engine.dispose()

    # --- the blind test ----------------------------------------------------------------------

    def show(self, viewer: str, labels: Sequence[str], candidate: str, prompt: str | None = None) -> BlindTurn:
        """Record a blind turn shown to ``viewer``: its two sides in a random order under a new id."""
        if len(labels) != 2 or candidate not in labels:
            raise ValueError(f"a blind turn needs two sides, one of them {candidate!r}: got {list(labels)}")
        order = list(labels)
        secrets.SystemRandom().shuffle(order)
        turn = BlindTurn(secrets.token_urlsafe(24), (order[0], order[1]), candidate)
        row = {"id": turn.id, "viewer": viewer, "shown": self._clock(), "labels": json.dumps(order)}
        with self.engine.begin() as db:
            db.execute(turns.insert().values(**row, candidate=candidate, prompt=prompt))
        return turn

    def turn(self, turn_id: str) -> BlindTurn | None:
        with self.engine.connect() as db:
            row = db.execute(sa.select(turns).where(turns.c.id == turn_id)).first()
        return None if row is None else BlindTurn(row.id, tuple(json.loads(row.labels)), row.candidate)

    def vote(self, turn_id: str, viewer: str, preference: str, guess: str) -> Vote:
        """Count ``viewer``'s vote on a turn shown to them: ``preference`` A, B, "tie" or "both bad",
        ``guess`` the letter (A or B) they take for the candidate. ``VoteRefused`` for a turn not
        shown to this viewer, a second vote, or a choice outside those."""
        if preference not in PREFERENCES or guess not in LETTERS:
            raise VoteRefused(
                f"A vote needs a preference ({', '.join(PREFERENCES)}) and a guess (A or B); "
                f"got {preference!r}, {guess!r}."
            )
        with self.engine.connect() as db:
            row = db.execute(sa.select(turns).where(turns.c.id == turn_id, turns.c.viewer == viewer)).first()
        if row is None:
            raise VoteRefused("This vote is for an answer pair this page was not shown; it was not counted.")
        turn = BlindTurn(row.id, tuple(json.loads(row.labels)), row.candidate)
        picked = turn.labels[LETTERS.index(preference)] if preference in LETTERS else preference
        guessed = turn.labels[LETTERS.index(guess)]
        vote = Vote(turn, picked, guessed, guessed == turn.candidate)
        values = {"turn": turn.id, "viewer": viewer, "voted": self._clock(), "preference": picked}
        try:
            with self.engine.begin() as db:
                db.execute(votes.insert().values(**values, guess=guessed, correct=vote.correct))
        except IntegrityError as err:
            raise VoteRefused("You have already voted on this answer pair; a vote counts once.") from err
        return vote

    def tally(self, sides: Sequence[str] = (), candidate: str = "FP8") -> Tally:
        """Every vote counted: guesses of ``candidate``, and preferences (``sides`` first, in order)."""
        with self.engine.connect() as db:
            total, right = db.execute(
                sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(sa.case((votes.c.correct, 1), else_=0)), 0))
            ).one()
            split: dict[str, int] = dict(
                db.execute(sa.select(votes.c.preference, sa.func.count()).group_by(votes.c.preference)).all()
            )
        order = [*sides, *sorted(set(split) - {*sides, TIE, BOTH_BAD}), TIE, BOTH_BAD]
        return Tally(int(total), int(right), {name: int(split.get(name, 0)) for name in order}, candidate)

    def csv(self) -> str:
        """Every vote as CSV (the host's export): time, turn, sides, preference, guess, whether right,
        and the prompt where the host stored it. The viewer key is left out."""
        query = sa.select(votes, turns.c.labels, turns.c.candidate, turns.c.prompt).join(turns).order_by(votes.c.voted)
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["voted_utc", "turn", "a", "b", "candidate", "preference", "guess", "correct", "prompt"])
        with self.engine.connect() as db:
            for r in db.execute(query):
                a, b = json.loads(r.labels)
                when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(r.voted))
                row = [when, r.turn, a, b, r.candidate, r.preference, r.guess, int(r.correct), r.prompt or ""]
                writer.writerow(row)
        return out.getvalue()

    # --- shared comparisons ------------------------------------------------------------------

    def share(self, body: dict[str, Any], days: float) -> str:
        """Keep ``body`` (JSON-able) for ``days`` under a new unguessable id, which it returns; a body
        over ``max_share_bytes`` is refused with ``DemoError``. Expired entries are deleted here."""
        text = json.dumps(body, separators=(",", ":"))
        if len(text.encode()) > self.max_share_bytes:
            raise DemoError(
                f"This comparison is too large to share ({len(text.encode()) / 2**20:.1f} MB with its thumbnails; "
                f"at most {self.max_share_bytes / 2**20:.0f} MB): export it instead."
            )
        now, share_id = self._clock(), secrets.token_urlsafe(24)
        with self.engine.begin() as db:
            db.execute(shares.delete().where(shares.c.expires <= now))
            db.execute(shares.insert().values(id=share_id, created=now, expires=now + days * 86400, body=text))
        return share_id

    def shared(self, share_id: str) -> dict[str, Any] | None:
        """A shared comparison's body; ``None`` when there is none by that id or it has expired."""
        with self.engine.connect() as db:
            row = db.execute(sa.select(shares).where(shares.c.id == share_id)).first()
        if row is None or row.expires <= self._clock():
            return None
        body: dict[str, Any] = json.loads(row.body)
        return body

    def expires(self, share_id: str) -> float | None:
        """When a shared comparison expires (seconds since the epoch); ``None`` when there is none."""
        with self.engine.connect() as db:
            return db.scalar(sa.select(shares.c.expires).where(shares.c.id == share_id))


def _sqlite_pragmas(connection: Any, _record: object) -> None:
    """WAL lets readers go on while one writer writes; foreign keys are off in SQLite unless asked."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
