"""What a speed figure does not say, said next to it (``inference.compare.caveats``): in the pane's
figures, the plot's legend, the export and the shared page; and the stakeholder details of issue 25
(a stopped side's "no tokens", the blind panes' shared progress, the evaluation's time left). Plain
values, no engine, no browser."""

from __future__ import annotations

from types import SimpleNamespace

from inference.compare.caveats import TINY, speed_caveat, speed_tag
from inference.compare.export import markdown, record
from inference.compare.metrics import Chunk
from inference.compare.transcript import Exchange
from inference.engines.base import Footprint
from inference.inputs.chat import GenerationSettings, UserTurn
from inference.spec import ModelSpec
from ui import views
from ui.blind import waiting
from ui.evaluation import remaining
from ui.share import page

LABELS = ["FP8", "BF16"]
TINY_SPEC = ModelSpec("FP8", "tiny/fp8", tiny=True)
FULL_SPEC = ModelSpec("FP8", "depop-m1/Qwen3.5-9B-FP8-Dynamic")
EMULATED = SimpleNamespace(weight_bytes=1000, kv_tokens=10, scheme="W8A8 FP8", emulated=True, kernel="emulated-bf16")


def finished(texts=("ab", "ab"), max_tokens=16) -> Exchange:
    ex = Exchange.start(UserTurn("hi"), GenerationSettings(max_tokens=max_tokens), len(texts), now=0.0)
    for i, text in enumerate(texts):
        ids = tuple(map(ord, text))
        ex.answers[i].add(Chunk(text, len(ids), 10, 0, ids, tuple(-0.5 for _ in ids), "stop"), now=0.1)
        ex.answers[i].finish(0.5)
    return ex


def test_a_speed_caveat_names_the_tiny_pair_and_an_emulated_fp8_route_and_nothing_on_native_9b():
    native = Footprint(1000, 10, "W8A8 FP8")  # a footprint without ``emulated`` counts as native
    assert speed_caveat(FULL_SPEC, native) == "" and speed_tag(FULL_SPEC, native) == ""
    assert speed_caveat(TINY_SPEC, native) == TINY and speed_tag(TINY_SPEC, native) == "tiny pair"
    said = speed_caveat(FULL_SPEC, EMULATED)
    assert "emulated" in said and "emulated-bf16" in said and "not FP8's speed" in said
    assert speed_tag(TINY_SPEC, EMULATED) == "emulated FP8, tiny pair"


def test_the_caveat_sits_right_under_the_speed_and_the_weights_against_the_reference():
    line = views.describe(finished(), 0, 1, LABELS, EMULATED, speed_caveat(FULL_SPEC, EMULATED), 2000)
    speed, caveat, size = line.split("  \n")[:3]
    assert "TTFT" in speed and caveat.startswith("⚠️ *FP8 emulated here") and "0.50× BF16's" in size
    plotted = views.plot(finished(), LABELS, [speed_tag(FULL_SPEC, EMULATED), ""])
    assert set(plotted["side"]) == {"FP8 (emulated FP8)", "BF16"}


def test_a_side_stopped_before_its_first_token_says_so_not_zero_tokens_in_seconds():
    ex = Exchange.start(UserTurn("hi"), GenerationSettings(), 2, now=0.0)
    ex.answers[0].finish(6.36, views.STOPPED)
    line = views.describe(ex, 0, 1, LABELS)
    assert "no tokens: ended before its first token" in line and "6.36 s" not in line


def test_the_export_and_the_shared_page_carry_the_caveat_the_verdict_the_divergence_and_a_link_back():
    specs = [TINY_SPEC, ModelSpec("BF16", "tiny/bf16", tiny=True, reference=True)]
    feet = [EMULATED, Footprint(2000, 10)]
    ex = finished(("ab", "ax"))
    rec = record(specs, feet, [ex], 1)
    text = markdown(rec)
    assert "⚠️ *FP8's speed: FP8 emulated here" in text and "the rest stays BF16" in text
    marks = [views.marks(ex, i, 1, lambda ids: "".join(map(chr, ids))) for i in (0, 1)]
    body = {"record": rec, "thumbnails": [[]], "verdict": "**Verdict, latest turn:** <b>same</b>", "marks": [marks]}
    body |= {"series": [views.plot(ex, LABELS, ["tiny pair", "tiny pair"]).to_dict("records")], "demo": "/demo/"}
    html = page(body, "2027-01-01 00:00 UTC")
    assert "Verdict, latest turn:" in html and "&lt;b&gt;same&lt;/b&gt;" in html  # the verdict, escaped
    assert f"<mark title='{views.DIVERGES}'>" in html  # the divergence view
    assert "<svg role='img'" in html and "FP8 (tiny pair)" in html  # the plot, its legend with the caveat
    assert "<a href='/demo/'>Try the demo yourself</a>" in html
    old = page({"record": rec, "thumbnails": [[]]}, "2027-01-01 00:00 UTC")  # a link shared before: still a page
    assert "Try the demo yourself" in old


def test_the_blind_panes_wait_with_the_prompt_and_one_shared_progress_line():
    ex = Exchange.start(UserTurn("Which is which?"), GenerationSettings(max_tokens=10), 2, now=0.0)
    ex.answers[0].add(Chunk("a", 3, 10, 0, (1, 2, 3), (-0.5,) * 3), now=0.1)  # one side far ahead
    a, b = waiting(ex)
    assert a == b  # the same in both panes: neither shows its own side's speed
    assert a[0] == {"role": "user", "content": "Which is which?"}
    assert "answering…" in a[-1]["content"] and "10 %" in a[-1]["content"]  # 3 of 20 tokens, in 10 % steps


def test_the_evaluation_says_roughly_how_long_is_left():
    assert remaining(30.0, 3, 12) == " · about 90 s left" or remaining(30.0, 3, 12) == " · about 2 min left"
    assert remaining(10.0, 2, 4) == " · about 10 s left"
    assert remaining(10.0, 4, 4) == "" and remaining(0.0, 0, 4) == ""
