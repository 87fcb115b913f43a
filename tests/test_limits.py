"""Per-user turn limits (``inference.deploy.limits``), with a clock the test moves."""

from __future__ import annotations

import pytest

from inference.deploy.limits import Admission, UserLimits
from inference.errors import DemoError


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_user_may_run_only_so_many_turns_at_once_and_the_slot_frees_on_exit():
    admission = Admission(UserLimits(running=2, per_minute=0))
    with admission.admit("a"), admission.admit("a"):
        refused = pytest.raises(DemoError, match=r"already have 2 turns .* limit per user is 2")
        with refused, admission.admit("a"):
            pass
        with admission.admit("b"):  # another user is not affected
            pass
    with admission.admit("a"), admission.admit("a"):  # both slots free again
        pass


def test_a_slot_frees_when_the_turn_fails():
    admission = Admission(UserLimits(running=1, per_minute=0))
    with pytest.raises(RuntimeError), admission.admit("a"):
        raise RuntimeError("the turn failed")
    with admission.admit("a"):
        pass


def test_turns_per_minute_count_a_sliding_window_and_say_when_to_retry():
    clock = Clock()
    admission = Admission(UserLimits(running=0, per_minute=3), clock)
    for step in range(3):
        clock.now += 10 * step
        with admission.admit("a"):
            pass
    clock.now += 5  # the first turn was 35 s ago: it leaves the window in 25 s
    with pytest.raises(DemoError, match=r"3 turns in the last minute .* retry in 25 s"), admission.admit("a"):
        pass
    with admission.admit("b"):
        pass
    clock.now += 25
    with admission.admit("a"):
        pass


def test_zero_means_no_limit():
    admission = Admission(UserLimits(running=0, per_minute=0))
    for _ in range(100):
        with admission.admit("a"):
            pass
    slots = [admission.admit("a") for _ in range(50)]
    for s in slots:
        s.__enter__()
    for s in slots:
        s.__exit__(None, None, None)


def test_idle_users_are_forgotten():
    clock = Clock()
    admission = Admission(UserLimits(running=1, per_minute=5), clock)
    with admission.admit("a"):
        clock.now += 61
        admission.forget_idle()
        assert "a" in admission._started  # still running: kept
    admission.forget_idle()
    assert not admission._started and not admission._running


def test_the_flood_limit_counts_turns_per_address_and_says_so():
    clock = Clock()
    flood = Admission.flood(2, clock)
    for _ in range(2):
        with flood.admit("203.0.113.7"):
            pass
    with pytest.raises(DemoError) as refused, flood.admit("203.0.113.7"):
        pass
    assert str(refused.value).startswith("Your network address sent 2 turns in the last minute (the limit per address")
    assert refused.value.reason == "address_per_minute"
    with flood.admit("198.51.100.1"):  # another address
        pass
    with Admission.flood(0).admit("203.0.113.7"):  # 0: off
        pass
