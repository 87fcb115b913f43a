"""Paired statistics (``inference.evaluation.stats``) on crafted answers and log-probabilities whose
figures are known in closed form: flips and McNemar's exact test, the coarsened KL with its rest
bucket, top-1 agreement, percentiles, bootstrap intervals and the detectable effects. No engine."""

from __future__ import annotations

import math

import pytest

from inference.compare.scores import TokenScore
from inference.evaluation.stats import (
    Paired,
    bootstrap,
    coarse_kl,
    mcnemar_exact,
    mde,
    min_flips,
    positions,
    ratio,
    summarize,
)

L = math.log


def test_coarse_kl_pools_the_tokens_one_engine_did_not_report_into_one_rest_bucket():
    # reference: token 1 at .5, token 2 at .3, token 3 at .1; side: 1 at .4, 2 at .4, 4 at .1
    ref = TokenScore(1, L(0.5), ((1, L(0.5)), (2, L(0.3)), (3, L(0.1))))
    side = TokenScore(1, L(0.4), ((1, L(0.4)), (2, L(0.4)), (4, L(0.1))))
    kl, tail = coarse_kl(ref, side)
    # known in both: {1, 2}; rest: .2 on each side (token 3 and 4 are pooled with the unseen rest)
    assert kl == pytest.approx(0.5 * L(0.5 / 0.4) + 0.3 * L(0.3 / 0.4) + 0.2 * L(0.2 / 0.2), abs=1e-12)
    assert tail == pytest.approx(0.2, abs=1e-12)


def test_coarse_kl_is_the_exact_kl_when_the_whole_vocabulary_is_known_and_a_lower_bound_otherwise():
    p, q = [0.6, 0.3, 0.1], [0.2, 0.5, 0.3]
    full = sum(a * L(a / b) for a, b in zip(p, q, strict=True))
    every = TokenScore(0, L(0.6), tuple((i, L(x)) for i, x in enumerate(p)))
    other = TokenScore(0, L(0.2), tuple(sorted(((i, L(x)) for i, x in enumerate(q)), key=lambda t: -t[1])))
    assert coarse_kl(every, other) == pytest.approx((full, 0.0), abs=1e-12)
    top1 = coarse_kl(TokenScore(0, L(0.6), ((0, L(0.6)),)), TokenScore(0, L(0.2), ((1, L(0.5)),)))
    assert top1[0] == pytest.approx(0.6 * L(0.6 / 0.2) + 0.4 * L(0.4 / 0.8)) and top1[0] < full


def test_the_same_distribution_gives_kl_zero_and_top1_agreement():
    s = [TokenScore(t, L(0.7), ((t, L(0.7)), (9, L(0.2)))) for t in (3, 4, 5)]
    pair = positions(s, s)
    assert pair.kl == (0.0, 0.0, 0.0) and pair.top1 == (True, True, True)
    assert pair.tail == pytest.approx((0.1, 0.1, 0.1))
    with pytest.raises(ValueError, match="not of the same tokens"):
        positions(s, [*s[:2], TokenScore(6, 0.0, ((6, 0.0),))])


def test_top1_agreement_counts_positions_whose_best_tokens_differ():
    ref = [TokenScore(1, L(0.6), ((1, L(0.6)), (2, L(0.3)))), TokenScore(2, L(0.5), ((2, L(0.5)), (1, L(0.4))))]
    side = [TokenScore(1, L(0.3), ((2, L(0.6)), (1, L(0.3)))), TokenScore(2, L(0.5), ((2, L(0.5)), (1, L(0.4))))]
    pair = positions(ref, side)
    assert pair.top1 == (False, True)
    assert pair.kl[0] == pytest.approx(0.6 * L(0.6 / 0.3) + 0.3 * L(0.3 / 0.6) + 0.1 * L(0.1 / 0.1))
    assert pair.kl[1] == 0.0


def test_mcnemar_exact_is_the_two_sided_binomial_test_on_the_discordant_pairs():
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(3, 3) == 1.0
    assert mcnemar_exact(6, 0) == 2 / 64  # 0.03125: significant
    assert mcnemar_exact(5, 0) == 2 / 32  # 0.0625: not
    assert mcnemar_exact(7, 2) == pytest.approx(2 * (1 + 9 + 36) / 512)
    assert mcnemar_exact(2, 7) == mcnemar_exact(7, 2)
    assert min_flips() == 6


def crafted() -> list[Paired]:
    """Ten prompts: reference right on 8, side right on 7; two lost, one gained; KL known."""
    refs = [True] * 8 + [False] * 2
    sides = [True] * 6 + [False, False] + [True, False]  # prompts 6, 7 lost; prompt 8 gained
    return [
        Paired(r, s, kl=(0.1 * i, 0.0), top1=(i % 2 == 0, True), tail=(0.0, 0.0))
        for i, (r, s) in enumerate(zip(refs, sides, strict=True))
    ]


def test_summary_of_crafted_answers_gives_exact_accuracy_recovery_flips_and_kl():
    s = summarize(crafted(), resamples=200)
    assert (s["prompts"], s["checked"]) == (10, 10)
    assert s["ref_accuracy"] == 0.8 and s["side_accuracy"] == 0.7
    assert s["recovery"] == pytest.approx(87.5)
    assert (s["flips_lost"], s["flips_gained"]) == (2, 1) and s["flip_rate"] == pytest.approx(0.3)
    assert s["flips_p_value"] == 1.0  # 2 against 1: the exact test sees nothing
    assert s["min_detectable_accuracy_gap"] == pytest.approx(0.6)  # 6 one-way flips of 10
    kl = [0.1 * i for i in range(10)] + [0.0] * 10  # 20 positions: 0, .1, ..., .9 and ten zeros
    assert s["positions"] == 20 and s["kl_mean"] == pytest.approx(sum(kl) / 20)
    assert s["kl_max"] == pytest.approx(0.9)
    assert s["kl_p50"] == 0.0  # sorted: eleven 0s, then .1 ... .9; rank 9.5 falls among the zeros
    assert s["kl_p90"] == pytest.approx(0.71)  # linear: rank 17.1 between .7 and .8
    assert s["top1_agreement"] == pytest.approx(15 / 20)
    assert s["tail_mass_mean"] == 0.0
    means = [0.05 * i for i in range(10)]  # per prompt mean KL
    sd = math.sqrt(sum((m - sum(means) / 10) ** 2 for m in means) / 9)
    assert s["mde_kl_mean"] == pytest.approx((1.959963984540054 + 0.8416212335729143) * sd / math.sqrt(10))
    for key in ("ref_accuracy", "side_accuracy", "recovery", "top1_agreement", "kl_mean", "kl_p90", "kl_p99"):
        lo, hi = s["ci"][key]
        assert lo <= s[key] <= hi, key


def test_bootstrap_is_seeded_and_collapses_on_a_constant_sample():
    pairs = crafted()
    assert bootstrap(pairs, resamples=100, seed=3) == bootstrap(pairs, resamples=100, seed=3)
    assert bootstrap(pairs, resamples=100, seed=3) != bootstrap(pairs, resamples=100, seed=4)
    same = [Paired(True, True, kl=(0.2,), top1=(True,), tail=(0.0,))] * 5
    ci = bootstrap(same, resamples=50)
    assert ci["kl_mean"] == [0.2, 0.2] and ci["side_accuracy"] == [1.0, 1.0] and ci["recovery"] == [100.0, 100.0]


def test_the_same_answers_on_both_sides_give_no_flips_kl_zero_and_full_agreement():
    pairs = [Paired(c, c, kl=(0.0, 0.0), top1=(True, True), tail=(0.1, 0.1)) for c in (True, False, True, None)]
    s = summarize(pairs, resamples=50)
    assert s["flips_lost"] == s["flips_gained"] == 0 and s["flips_p_value"] == 1.0
    assert s["kl_mean"] == s["kl_max"] == s["kl_p99"] == 0.0 and s["top1_agreement"] == 1.0
    assert s["recovery"] == 100.0 and s["checked"] == 3
    assert s["mde_kl_mean"] == 0.0


def test_unscored_and_unchecked_prompts_leave_their_figures_empty():
    s = summarize([Paired(), Paired()], resamples=20)
    assert s["ref_accuracy"] is None and s["recovery"] is None and s["kl_mean"] is None
    assert s["ci"]["kl_mean"] is None and s["min_detectable_accuracy_gap"] is None and s["mde_kl_mean"] is None
    assert mde([0.5]) is None
    assert ratio(0.2, 0.1) == pytest.approx(2.0) and ratio(0.2, 0.0) is None and ratio(None, 1.0) is None


def test_reasoning_length_difference_is_the_mean_of_the_paired_differences():
    pairs = [Paired(ref_reasoning=10, side_reasoning=14), Paired(ref_reasoning=20, side_reasoning=18), Paired()]
    assert summarize(pairs, resamples=20)["reasoning_tokens_diff"] == pytest.approx(1.0)


# --- a prompt's reference answer: patterns, the exact reply, a choice letter ---------------------


def test_a_reference_can_be_patterns_the_exact_reply_or_a_choice_letter():
    from inference.evaluation.prompts import Prompt, chosen_letter

    assert Prompt("p", "t", answer="Paris").correct("  paris. ") is True
    assert Prompt("p", "t", answer="Paris").correct("It is Paris.") is False  # exact, not contained
    choice = Prompt("p", "t", choice="B")
    assert [choice.correct(r) for r in ("B", "(B) a cat", "The answer is (b).", "A. dog", "I think B")] == [
        True,
        True,
        True,
        False,
        False,  # no letter is given in a form that can be read: wrong, not a guess
    ]
    assert chosen_letter("I think so") is None and chosen_letter("Answer: c") == "C"
    both = Prompt("p", "t", expect=("cat",), choice="C")
    assert both.correct("C. the cat") is True and both.correct("C. the dog") is False
    assert Prompt("p", "t").correct("anything") is None


def test_a_bad_answer_or_choice_in_a_set_is_refused_with_its_line(tmp_path):
    from inference.errors import DemoError
    from inference.evaluation.prompts import load_prompts

    path = tmp_path / "set.jsonl"
    path.write_text('{"text": "a", "choice": "b", "answer": "x"}\n')
    (p,) = load_prompts(path)
    assert (p.choice, p.answer) == ("B", "x")
    for line, says in (('{"text": "a", "choice": "BB"}', "one letter"), ('{"text": "a", "answer": 3}', "strings")):
        path.write_text(line + "\n")
        with pytest.raises(DemoError, match=says):
            load_prompts(path)
