"""The options a test's page is built with (``tests/helpers/servers.py``) are the app's own schema
(``inference.deploy.options.Options``): the app's defaults but for the limits a test must not meet
by accident, and a change names a schema field or fails."""

from __future__ import annotations

from dataclasses import asdict

import pytest

from inference.deploy.options import Options
from tests.helpers.servers import TEST_OPTIONS, options


def differences(a: Options, b: Options) -> dict[str, tuple]:
    flat_a, flat_b = ({k: v for part in asdict(o).values() for k, v in part.items()} for o in (a, b))
    return {k: (flat_a[k], flat_b[k]) for k in flat_a if flat_a[k] != flat_b[k]}


def test_a_tests_page_has_the_apps_defaults_but_no_stall_expiry_cap_or_per_user_limits():
    assert set(differences(Options(), TEST_OPTIONS)) == {
        "stall_seconds",
        "max_tokens",
        "cache_hours",
        "user_running",
        "user_per_minute",
        "ip_running",
        "ip_cookies_per_minute",
    }
    assert TEST_OPTIONS.limits.user_limits().running == 0 and TEST_OPTIONS.generation.max_tokens == 8192


def test_a_change_lands_in_the_concern_that_holds_the_field_and_an_unknown_name_fails():
    changed = options(max_queue=1, hf_sign_in=True, max_video_seconds=10)
    assert (changed.limits.max_queue, changed.network.hf_sign_in, changed.generation.max_video_seconds) == (1, True, 10)
    assert differences(TEST_OPTIONS, changed).keys() == {"max_queue", "hf_sign_in", "max_video_seconds"}
    assert options(Options(), blind=True).limits == Options().limits  # another base, kept but for the change
    with pytest.raises(TypeError, match="no option 'sign_in'"):
        options(sign_in=True)
