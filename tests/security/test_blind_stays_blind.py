"""Break 2 of issue 27: the blind test could be unmasked before voting. Blind turns used the greedy
defaults, so the same prompt in the labelled Comparison tab returned identical texts (4 of 4
guesses right); and the open ``/metrics`` showed per-side answer-token counters whose deltas
matched the A/B lengths.

Now a blind turn samples with a seed drawn on the server for that turn, and ``/metrics`` answers
only this machine (or the host's key). The replay attack runs on the real tiny pair (the engines'
sampling is what is under test) through ``gradio_client``, as an outside script would.
"""

from __future__ import annotations

import httpx
import pytest

from inference.inputs.chat import GenerationSettings
from inference.spec import cpu_pair
from inference.store.db import Store
from tests.helpers.clients import answers, client, split
from tests.helpers.fake_app import serve_fake
from tests.helpers.servers import serve

TURNS = 8  # the lean attack right on all 8 by chance: below 1/256 (ties do not count)
TOKENS = 24
PROMPTS = [f"Tell me a short story about the number {i}." for i in range(TURNS)]


def _common(a: str, b: str) -> int:
    """How many characters two texts share from their start."""
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))


@pytest.mark.engine
def test_a_replay_in_the_labelled_tab_guesses_the_blind_sides_no_better_than_chance(tiny_dir, tmp_path):
    """The attacker sends each blind prompt again in the labelled tab, then tries two guesses. The
    exact one: a blind answer that is, word for word, the labelled answer of one side gives that side
    away. With greedy blind turns (the old code) both blind answers were the labelled ones, so the
    first prompt unmasked the test, whether or not the two sides' answers differed; sampled with a
    seed drawn on the server, no blind answer may be one. The lean one: the blind answer closer to
    the labelled FP8 answer (and farther from BF16's) is FP8. Where neither blind answer leans (the
    usual case: a sampled answer shares a character or two with either labelled one), the attacker
    can only toss a coin, and a coin is right on all 8 prompts once in 256 runs; so a guess counts
    only where the two answers lean differently, and being right on every prompt that way fails."""
    store = Store(f"sqlite:///{tmp_path / 'demo.sqlite'}")
    settings = GenerationSettings(max_tokens=TOKENS, ignore_eos=True)
    try:
        with serve(cpu_pair(tiny_dir), settings, store=store) as (url, comparison):
            fp8 = comparison.labels.index(comparison.labels[1 - comparison.reference])
            bf16 = comparison.reference
            blind, labelled = client(url), client(url)
            right = telling = longest = 0
            for prompt in PROMPTS:
                _box, pane_a, pane_b, *_ = blind.predict({"text": prompt, "files": []}, api_name="/blind_ask")
                shown = ["".join(answers(pane_a)), "".join(answers(pane_b))]
                assert all(shown), shown
                replay = split(labelled.predict({"text": prompt, "files": []}, api_name="/respond"))[1]
                labels = ["".join(answers(replay[fp8])), "".join(answers(replay[bf16]))]
                telling += labels[0] != labels[1]
                exact = [text for text in shown if text in labels]
                assert not exact, f"a blind answer is a labelled one word for word: {exact[0]!r}"
                longest = max(longest, *(_common(text, label) for text in shown for label in labels))
                lean = [_common(text, labels[0]) - _common(text, labels[1]) for text in shown]
                guess = "B" if lean[1] > lean[0] else "A"
                said, *_ = blind.predict("tie", guess, api_name="/blind_vote")
                assert said.startswith(("Your guess was right", "Your guess was wrong")), said
                right += lean[0] != lean[1] and said.startswith("Your guess was right")  # a tie is a coin toss
                labelled.predict(api_name="/clear")
            print(
                f"replay attack: {right} of {TURNS} guesses right by leaning; "
                f"the labelled answers differed in {telling}; "
                f"the longest start a blind answer shared with a labelled one: {longest} characters"
            )
            assert right < TURNS, f"{right} of {TURNS} right: the replay unmasks the blind test"
    finally:
        store.close()


def test_metrics_answer_the_host_alone(tmp_path):
    with serve_fake(tmp_path) as (url, _store):
        local = httpx.get(f"{url}metrics", timeout=30)
        assert local.status_code == 200 and "demo_answer_tokens_total" in local.text  # this machine, no proxy
        proxied = httpx.get(f"{url}metrics", headers={"X-Forwarded-For": "198.51.100.4"}, timeout=30)
        assert proxied.status_code == 403 and "--metrics-key-env" in proxied.text
        assert "side=" not in proxied.text
    with serve_fake(tmp_path, metrics_key="metrics-key-17") as (url, _store):
        assert httpx.get(f"{url}metrics", timeout=30).status_code == 401
        wrong = httpx.get(f"{url}metrics", headers={"Authorization": "Bearer nope"}, timeout=30)
        assert wrong.status_code == 401 and "Authorization: Bearer KEY" in wrong.text
        good = httpx.get(f"{url}metrics", headers={"Authorization": "Bearer metrics-key-17"}, timeout=30)
        assert good.status_code == 200 and 'side="FP8"' in good.text
