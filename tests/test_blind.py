"""The blind test through the served page (``ui/blind.py``): ``gradio_client`` and Chromium.

The engines are fakes (``Spelling`` in ``tests/helpers/fake_app.py``, named so): each side spells
its answer with its own word, so a test can tell which side a pane shows, while the page must not.
The store is a real SQLite file. What is checked: a blind turn's outputs carry no label, scheme or figure; the order
differs between turns; the vote reveals the side behind each letter (the one whose word the pane
showed) and redraws the tally; a second vote, a vote with no turn and an incomplete vote are
refused with a sentence; the host's CSV has every vote; in Chromium a turn, a vote, the reveal and
the tally (screenshot ``docs/screenshot-blind.png`` under ``make docs-pictures``).
"""

from __future__ import annotations

import json
import re

import httpx
import pytest

from tests.helpers.browser import chromium, open_app
from tests.helpers.clients import answers, client
from tests.helpers.fake_app import WORDS, serve_fake

TELLS = re.compile(r"FP8|BF16|tok/s|TTFT|weights|KV cache|scheme|W8A8", re.IGNORECASE)
QUESTION = "which one do you think is FP8"  # the question names the side to guess, not where it is


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with serve_fake(tmp_path_factory.mktemp("blind")) as s:
        yield s


def ask(c, text: str = "Which is better?"):
    """Every update of one blind turn, and the last."""
    job = c.submit({"text": text, "files": []}, api_name="/blind_ask")
    updates = list(job)
    return updates, job.result()


def side_of(pane) -> str:
    """Which side's words a pane shows."""
    text = " ".join(answers(pane))
    found = [label for label, word in WORDS.items() if word in text]
    assert len(found) == 1, text
    return found[0]


def test_a_blind_turn_shows_neither_label_nor_figure_until_the_vote_reveals_them(served):
    url, _ = served
    c = client(url, "10.1.0.1")
    updates, last = ask(c)
    for update in updates:  # nothing the API sends before the vote names a side or measures one
        assert not TELLS.search(json.dumps(update, ensure_ascii=False).replace(QUESTION, "")), update
    _box, pane_a, pane_b, notice, _reveal = last  # (the vote controls are a layout block: not in the API)
    assert "Your vote reveals them" in notice
    order = side_of(pane_a), side_of(pane_b)
    assert sorted(order) == ["BF16", "FP8"]
    said, label_a, label_b, reveal, tally = c.predict("A", "B", api_name="/blind_vote")
    right = order[1] == "FP8"
    assert said.startswith(f"Your guess was {'right' if right else 'wrong'}")
    assert f"**A was {order[0]}**" in reveal and f"**B was {order[1]}**" in reveal
    assert "TTFT" in reveal and "tok/s" in reveal  # the figures come with the reveal
    assert label_a["label"].startswith(f"A: {order[0]}") and label_b["label"].startswith(f"B: {order[1]}")
    assert re.search(r"anywhere from \d+ % to \d+ % \(\d+ of \d+ votes?", tally)


def test_the_order_is_drawn_again_for_every_turn(served):
    url, _ = served
    c = client(url, "10.1.0.2")
    firsts = {side_of(ask(c, f"turn {i}")[1][1]) for i in range(12)}
    assert firsts == {"FP8", "BF16"}  # fails by chance with probability 2 * 2**-12


def test_a_second_vote_a_vote_without_a_turn_and_an_incomplete_vote_are_refused(served):
    url, store = served
    c = client(url, "10.1.0.3")
    said, *_ = c.predict("A", "A", api_name="/blind_vote")
    assert said == "⚠️ There is no answer pair to vote on yet: send a turn first."
    ask(c)
    said, *_ = c.predict("tie", None, api_name="/blind_vote")
    assert said.startswith("⚠️ Pick the better answer and which one you think is FP8")
    before = store.tally().votes
    said, *_, tally = c.predict("tie", "A", api_name="/blind_vote")
    assert said.startswith("Your guess was") and store.tally().votes == before + 1
    assert f"of {before + 1} vote" in tally  # the page's tally has it at once
    said, *_ = c.predict("B", "B", api_name="/blind_vote")
    assert said == "⚠️ You have already voted on this answer pair; a vote counts once."
    assert store.tally().votes == before + 1


def test_only_the_host_downloads_every_vote_as_csv_with_the_key(tmp_path, served):
    assert httpx.get(served[0] + "votes.csv", timeout=30).status_code == 404  # no --votes-key-env: no download
    with serve_fake(tmp_path, votes_key="host-key-4711") as (url, store):
        c = client(url, "10.1.0.4")
        ask(c)
        c.predict("both bad", "B", api_name="/blind_vote")
        assert "/blind_csv" not in c.view_api(return_format="dict", print_info=False)["named_endpoints"]
        for headers in ({}, {"Authorization": "Bearer guess"}, {"Authorization": "host-key-4711"}):
            refused = httpx.get(url + "votes.csv", headers=headers, timeout=30)
            assert refused.status_code == 401 and "for the host" in refused.text and "voted_utc" not in refused.text
        got = httpx.get(url + "votes.csv", headers={"Authorization": "Bearer host-key-4711"}, timeout=30)
        assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
        rows = got.text.splitlines()
        assert rows[0].startswith("voted_utc,turn,a,b,candidate,preference,guess,correct")
        assert len(rows) == 1 + store.tally().votes == 2 and ",both bad," in rows[1]
        assert "10.1.0" not in got.text  # no viewer key leaves the database


@pytest.mark.browser
def test_browser_blind_turn_vote_reveal_and_tally(tmp_path, pictures):
    with serve_fake(tmp_path, blind=True) as (url, store), chromium() as browser:
        tab = open_app(browser, url, (1280, 1100), ready="#blind-tally", timeout=120_000)
        assert "No votes yet" in tab.inner_text("#blind-tally")
        tab.fill("#blind-box textarea", "Describe a sunset in one line.")
        tab.press("#blind-box textarea", "Enter")
        tab.wait_for_selector("#blind-vote", state="visible", timeout=120_000)
        panes = {letter: tab.inner_text(f"#blind-pane-{letter}") for letter in "AB"}
        shown = " ".join(panes.values()) + tab.inner_text("#blind-pane-A") + tab.inner_text("#blind-notice")
        assert not TELLS.search(shown.replace(QUESTION, ""))
        pictures.shoot(tab, "blind-before-vote.png", full_page=True)
        tab.locator("#blind-preference").get_by_label("A", exact=True).check()
        tab.locator("#blind-guess").get_by_label("B", exact=True).check()
        tab.click("#blind-vote-button")
        tab.wait_for_function("() => /was/.test(document.querySelector('#blind-reveal').innerText)", timeout=120_000)
        reveal = tab.inner_text("#blind-reveal")
        fp8 = "A" if WORDS["FP8"] in panes["A"] else "B"
        assert f"{fp8} was FP8" in reveal
        tally = "document.querySelector('#blind-tally').innerText"
        tallied = f"() => /Too few votes: .*anywhere from .* [(]. of 1 vote/.test({tally})"
        tab.wait_for_function(tallied, timeout=120_000)
        assert store.tally().votes == 1
        pictures.shoot(tab, "blind-revealed.png", docs="screenshot-blind.png", full_page=True)


@pytest.mark.engine
def test_a_blind_turn_on_the_real_tiny_pair_hides_what_the_reveal_shows(tiny_dir, tmp_path, media):
    """The real engines know their weights, FP8 scheme and KV cache: none of it, nor any speed,
    reaches the page before the vote; the reveal shows it for both sides."""
    from gradio_client import handle_file

    from inference.inputs.chat import GenerationSettings
    from inference.spec import cpu_pair
    from inference.store.db import Store
    from tests.helpers.servers import serve

    store = Store(f"sqlite:///{tmp_path / 'demo.sqlite'}")
    settings = GenerationSettings(max_tokens=24, ignore_eos=True)
    with serve(cpu_pair(tiny_dir), settings, store=store) as (url, comparison):
        c = client(url, "10.3.0.1")
        job = c.submit({"text": "What is this?", "files": [handle_file(str(media["image"]))]}, api_name="/blind_ask")
        updates = list(job)
        for update in updates:
            assert not TELLS.search(json.dumps(update, ensure_ascii=False).replace(QUESTION, "")), update
        _box, pane_a, pane_b, notice, _reveal = job.result()
        assert "Your vote reveals them" in notice
        assert all(answers(p) and answers(p)[-1] for p in (pane_a, pane_b))  # both answered, shown together
        said, _a, _b, reveal, _tally = c.predict("tie", "A", api_name="/blind_vote")
        assert said.startswith("Your guess was")
        for spec in comparison.pool.specs:
            assert f"was {spec.label}**" in reveal
        assert reveal.count("tok/s") == 2 and reveal.count("weights") == 2 and "KV cache" in reveal
        scheme = comparison.pool.engines[comparison.labels.index("FP8")].footprint.scheme
        assert scheme and scheme in reveal
    assert Store(f"sqlite:///{tmp_path / 'demo.sqlite'}").tally().votes == 1  # kept after the app is gone
    store.close()
