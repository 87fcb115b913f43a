"""A prompt set: a JSONL file, its media beside it or in a zip, checked once for the command line and the tab.

Contract: ``load_prompts(path, media=None, unpack_to=None, beside=True)`` reads a JSONL prompt set
(one object a line: ``text``, optional ``id``, ``files``: media names, and what a correct reply
holds: ``expect``, regular expressions it matches as whole words, case-insensitive (RE2's syntax,
matched in time linear in the reply, so a visitor's pattern cannot run away: at most
``MAX_PATTERNS`` per prompt of ``MAX_PATTERN_CHARS`` each); ``answer``, the exact reply, compared
without case, surrounding space and final punctuation; ``choice``, the letter of a multiple-choice
answer, read by ``chosen_letter``) and returns its ``Prompt``s
with absolute media paths, or raises one ``DemoError`` naming the file, the line and what to do.
Media names are looked up in ``media`` (a zip, unpacked by ``unpack_media`` into ``unpack_to``)
when one is given, else next to the JSONL file (``beside=True``: the command line) or nowhere
(``beside=False``: the page, where an upload's folder holds nothing else). ``unpack_media`` is a
safe extraction: no absolute or ``..`` names, no links, only the image and video types the app
accepts, at most ``ZipLimits`` files and bytes (the sizes the zip's central directory declares
are checked before anything is written, and the bytes are counted again while writing, since a
zip may lie). ``python -m inference.evaluation`` and the Evaluation tab both call
``load_prompts``, so both refuse a bad set with the same sentences.
"""

from __future__ import annotations

import json
import re
import shutil
import stat
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any

import re2

from inference.errors import DemoError
from inference.inputs.media import IMAGE_SUFFIXES, VIDEO_SUFFIXES, media_kind

MAX_SET_BYTES = 4 * 2**20  # the JSONL file itself
MAX_PROMPTS = 1000
MAX_PATTERNS = 8  # expect patterns per prompt
MAX_PATTERN_CHARS = 200  # characters per expect pattern
SKIPPED = ("__MACOSX/", ".DS_Store")  # what macOS's Finder adds to every zip it makes
CHUNK = 2**20


@dataclass(frozen=True)
class ZipLimits:
    files: int = 500
    file_bytes: int = 500 * 2**20  # the app's default --max-file-size for one upload
    total_bytes: int = 2 * 2**30


@dataclass(frozen=True)
class Prompt:
    id: str
    text: str
    files: tuple[str, ...] = ()  # absolute paths
    expect: tuple[str, ...] = ()  # patterns a correct reply matches (whole words, any case); empty: unchecked
    answer: str = ""  # the exact reply (any case, no final punctuation); empty: unchecked
    choice: str = ""  # the correct choice letter, "A"-"Z"; empty: unchecked

    @property
    def kind(self) -> str:
        """ "text", "image", "video" or "image+video"."""
        kinds = sorted({media_kind(f) for f in self.files})
        return "+".join(kinds) or "text"

    def correct(self, reply: str) -> bool | None:
        """Whether ``reply`` meets every reference the prompt gives; ``None`` when it gives none."""
        if not (self.expect or self.answer or self.choice):
            return None
        ok = all(match_expected(p, reply) for p in self.expect)
        if self.answer:
            ok = ok and _plain(reply) == _plain(self.answer)
        if self.choice:
            ok = ok and chosen_letter(reply) == self.choice.upper()
        return ok


def _plain(text: str) -> str:
    return " ".join(text.split()).strip().rstrip(".!。").casefold()


CHOICE = re.compile(r"(?i:answer)(?:\s+is)?\s*[:：]?\s*\(?([A-Za-z])\b|^\s*\(([A-Z])\)|^\s*([A-Z])(?:[).:]|$)")


def chosen_letter(reply: str) -> str | None:
    """The choice letter a reply gives: after "answer (is)", else a letter opening the reply
    ("B", "(B) text", "B. text"); ``None`` when it gives none ("I think…" gives none)."""
    m = CHOICE.search(reply.strip())
    return next(g for g in m.groups() if g).upper() if m else None


def match_expected(pattern: str, text: str) -> bool:
    """Whether ``text`` holds ``pattern`` as whole words, any case: the one place a visitor's
    pattern is matched (so making it safe happens here)."""
    return _whole_word(pattern).search(text) is not None


@lru_cache(maxsize=4096)
def _whole_word(pattern: str) -> Any:  # an re2 pattern (re2 ships no types)
    """``pattern`` as a whole word, any case, compiled by RE2 (linear time; ``\\b`` is an ASCII
    word boundary there); ``re2.error`` for what RE2 does not take (back-references, look-arounds)."""
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False
    return re2.compile(rf"\b(?:{pattern})\b", options)


def _size(n: int) -> str:
    return f"{n / 2**20:.0f} MiB" if n >= 2**20 else f"{n} bytes"


def unpack_media(archive: Path, folder: Path, limits: ZipLimits = ZipLimits()) -> Path:
    """Extract ``archive``'s images and videos into ``folder`` (created); ``folder``. Refuses the
    whole zip, with one sentence, at the first entry that is unsafe, of another type or too large."""
    name = archive.name
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as err:
        raise DemoError(f"{name}: not a zip file ({err}); zip the prompt set's media and upload that.") from err
    with zf:
        entries = [e for e in zf.infolist() if not e.is_dir() and not e.filename.startswith(SKIPPED)]
        entries = [e for e in entries if not e.filename.endswith(SKIPPED)]
        if len(entries) > limits.files:
            raise DemoError(f"{name}: {len(entries)} files, more than the {limits.files} a prompt set may have.")
        for entry in entries:  # what the central directory declares, before a byte is written
            if entry.file_size > limits.file_bytes:
                raise DemoError(f"{name}: {entry.filename} is over {_size(limits.file_bytes)} unpacked; refused.")
        if sum(e.file_size for e in entries) > limits.total_bytes:
            raise DemoError(f"{name}: the media are over {_size(limits.total_bytes)} unpacked; refused.")
        made = not folder.exists()  # removed again on a refusal (a folder that was there is left)
        folder.mkdir(parents=True, exist_ok=True)
        root, total = folder.resolve(), 0
        for entry in entries:
            inner = PurePosixPath(entry.filename.replace("\\", "/"))
            target = (root / inner).resolve()
            if inner.is_absolute() or ".." in inner.parts or not target.is_relative_to(root):
                raise DemoError(f"{name}: {entry.filename} would land outside the media folder; refused.")
            if stat.S_ISLNK(entry.external_attr >> 16):
                raise DemoError(f"{name}: {entry.filename} is a link; put the file itself in the zip.")
            if inner.suffix.lower() not in IMAGE_SUFFIXES | VIDEO_SUFFIXES:
                accepted = ", ".join(sorted(IMAGE_SUFFIXES | VIDEO_SUFFIXES))
                raise DemoError(f"{name}: {entry.filename} is not an image or video the app takes ({accepted}).")
            written = 0
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                with zf.open(entry) as src, open(target, "wb") as dst:
                    while block := src.read(CHUNK):
                        written, total = written + len(block), total + len(block)
                        if written > limits.file_bytes:
                            raise DemoError(
                                f"{name}: {entry.filename} is over {_size(limits.file_bytes)} unpacked; refused."
                            )
                        if total > limits.total_bytes:
                            over = _size(limits.total_bytes)
                            raise DemoError(f"{name}: the media are over {over} unpacked; refused.")
                        dst.write(block)
            except DemoError:
                if made:
                    shutil.rmtree(folder, ignore_errors=True)
                raise
            except (zipfile.BadZipFile, OSError, RuntimeError, EOFError) as err:  # corrupt, encrypted
                if made:
                    shutil.rmtree(folder, ignore_errors=True)
                raise DemoError(f"{name}: {entry.filename} cannot be read from the zip ({err}).") from err
    return folder


def _strings(item: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = item.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise DemoError(f"{where}: {key!r} must be a list of strings.")
    return tuple(value)


def _media_path(name: str, folder: Path, where: str, media: Path | None, confined: bool) -> str:
    """``name`` resolved in ``folder``; it must exist (and lie inside ``folder`` when ``confined``)."""
    path = (folder / name).resolve()
    if confined and not path.is_relative_to(folder.resolve()):
        raise DemoError(f"{where}: {name} is outside the media folder; name files as they lie in the zip.")
    if not path.is_file():
        place = f"in {media.name}" if media is not None else "next to the prompt set"
        raise DemoError(f"{where}: no file {name} {place}.")
    media_kind(path)  # an unsupported type, named
    return str(path)


def load_prompts(
    path: Path, media: Path | None = None, unpack_to: Path | None = None, *, beside: bool = True
) -> list[Prompt]:
    """The prompt set in a JSONL file; media from the ``media`` zip (unpacked into ``unpack_to``),
    else next to the file when ``beside``."""
    try:
        size = path.stat().st_size
        if size > MAX_SET_BYTES:
            raise DemoError(f"{path.name}: {_size(size)}, more than a prompt set's {_size(MAX_SET_BYTES)}.")
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise DemoError(f"{path.name}: not UTF-8 text; save the prompt set as UTF-8 JSON Lines.") from err
    except OSError as err:
        raise DemoError(f"{path.name}: cannot be read ({err.strerror or err}).") from err
    folder = unpack_media(media, unpack_to or path.parent / f"{media.stem}-media") if media is not None else path.parent
    prompts, seen = [], set()
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path.name}, line {n}"
        try:
            item = json.loads(line)
        except json.JSONDecodeError as err:
            raise DemoError(f"{where}: not JSON ({err}).") from err
        if not isinstance(item, dict) or not isinstance(item.get("text"), str):
            raise DemoError(f"{where}: each line needs an object with a 'text' string.")
        names = _strings(item, "files", where)
        if names and media is None and not beside:
            raise DemoError(f"{where}: names {names[0]}, but no media zip was given; add one with the files.")
        files = tuple(_media_path(f, folder, where, media, media is not None) for f in names)
        expect = _strings(item, "expect", where)
        if len(expect) > MAX_PATTERNS:
            raise DemoError(f"{where}: {len(expect)} expect patterns; a prompt may have at most {MAX_PATTERNS}.")
        for pattern in expect:
            if len(pattern) > MAX_PATTERN_CHARS:
                shown = pattern[:40]
                raise DemoError(
                    f"{where}: the expect pattern {shown!r}… is {len(pattern)} characters; at most {MAX_PATTERN_CHARS}."
                )
            try:
                _whole_word(pattern)
            except re2.error as err:
                why = "RE2's syntax: no back-references or look-arounds"
                said = err.args[0].decode() if err.args and isinstance(err.args[0], bytes) else str(err)
                raise DemoError(
                    f"{where}: expect pattern {pattern!r} is not a regular expression in {why} ({said})."
                ) from err
        refs = {k: item.get(k, "") for k in ("answer", "choice")}
        if not all(isinstance(v, str) for v in refs.values()):
            raise DemoError(f"{where}: 'answer' and 'choice' must be strings.")
        if refs["choice"] and not re.fullmatch(r"[A-Za-z]", refs["choice"]):
            raise DemoError(f"{where}: choice {refs['choice']!r} must be one letter, A to Z.")
        pid = str(item.get("id") or f"p{n}")
        if pid in seen:
            raise DemoError(f"{where}: the id {pid!r} is used twice.")
        seen.add(pid)
        prompts.append(Prompt(pid, item["text"], files, expect, refs["answer"], refs["choice"].upper()))
        if len(prompts) > MAX_PROMPTS:
            raise DemoError(f"{path.name}: more than {MAX_PROMPTS} prompts; split the set.")
    if not prompts:
        raise DemoError(f"{path.name}: no prompts.")
    return prompts
