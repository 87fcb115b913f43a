"""Hugging Face sign-in where the README claims it: off by default; ``--hf-sign-in`` adds Gradio's
``gr.LoginButton``, so Gradio attaches its OAuth routes and session (``blocks.expects_oauth``), and
a signed-in person is one user in every browser.

Off a Space Gradio serves its own mocked OAuth routes (``gradio.oauth._add_mocked_oauth_routes``):
the sign-in goes through the same ``/login/huggingface`` → ``/login/callback`` → session cookie
path, with the profile ``_get_mocked_oauth_info`` gives (it normally asks the Hub who the machine's
token belongs to: here it is replaced by a fixed profile, the only stand-in). The app around it is
real, with fake engines (``inference.engines.fake``).
"""

from __future__ import annotations

import time

import httpx
import pytest

import app
from inference.inputs.chat import GenerationSettings
from tests.helpers.clients import VIEWER_COOKIE, client, notice
from tests.helpers.servers import serve_fake

PROFILE = {
    "access_token": "mock-oauth-token-for-local-dev",
    "token_type": "bearer",
    "expires_in": 3600,
    "scope": "openid profile",
    "expires_at": int(time.time()) + 3600,
    "userinfo": {"sub": "1", "name": "Ada Lovelace", "preferred_username": "ada", "picture": ""},
}


@pytest.fixture
def gradio_oauth(monkeypatch):
    import gradio.oauth

    monkeypatch.setattr(gradio.oauth, "_get_mocked_oauth_info", lambda: dict(PROFILE))
    monkeypatch.delenv("SPACE_ID", raising=False)  # off a Space: Gradio's mocked routes


def test_sign_in_is_off_by_default_and_the_flag_or_its_variable_turns_it_on():
    assert app.parse_args([], environ={}).network.hf_sign_in is False
    assert app.parse_args(["--hf-sign-in"], environ={}).network.hf_sign_in is True
    assert app.parse_args([], environ={"DEMO_HF_SIGN_IN": "1"}).network.hf_sign_in is True


def sign_in(url: str) -> str:
    """Gradio's sign-in, as the button's link runs it: the session cookie it ends with."""
    start = httpx.get(url + "login/huggingface", follow_redirects=False, timeout=30)
    assert start.status_code in (302, 307), start.text
    back = httpx.get(url + start.headers["location"].lstrip("/"), follow_redirects=False, timeout=30)
    assert back.status_code in (302, 307), back.text
    return back.cookies["session"]


def browser(url: str, session: str | None) -> object:
    """A new browser (its own viewer cookie from a page load), signed in with ``session`` if given."""
    page = httpx.get(url, timeout=30)
    cookies = {VIEWER_COOKIE: page.cookies[VIEWER_COOKIE], **({"session": session} if session else {})}
    return client(url, None, cookies)


def test_without_the_option_there_is_no_sign_in_fake_engines(gradio_oauth):
    with serve_fake(GenerationSettings(max_tokens=2)) as (url, _):
        assert httpx.get(url + "login/huggingface", follow_redirects=False, timeout=30).status_code == 404


def test_a_signed_in_person_is_one_user_in_two_browsers_fake_engines(gradio_oauth):
    limits = {"user_running": 0, "user_per_minute": 1}  # LimitOptions fields
    with serve_fake(GenerationSettings(max_tokens=2), **limits, hf_sign_in=True) as (url, _):
        config = httpx.get(url + "config", timeout=30).json()
        assert any(c.get("props", {}).get("elem_id") == "sign-in" for c in config["components"])
        session = sign_in(url)
        first = browser(url, session).predict({"text": "hello", "files": []}, api_name="/respond")
        assert notice(first) == ""
        second = browser(url, session).predict({"text": "again", "files": []}, api_name="/respond")  # same person
        assert "You sent 1 turn in the last minute" in notice(second)
        stranger = browser(url, None).predict({"text": "hi", "files": []}, api_name="/respond")  # not signed in
        assert notice(stranger) == ""
