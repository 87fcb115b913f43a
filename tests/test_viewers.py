"""Who a user is (issue 18, item 1): a browser (a signed cookie the page sets) or a signed-in
person, never a forgeable address; the address only as a flood limit, read from the right of
X-Forwarded-For by the trusted proxy hops.

The served tests run the real app (``app.build``/``app.launch``, its middleware, queue and
limits) with fake engines (``inference.engines.fake``: which engine answers does not matter to
who is admitted), through ``gradio_client`` and Debian's Chromium.
"""

from __future__ import annotations

import time
from types import SimpleNamespace

import httpx
import pytest

from inference.inputs.chat import GenerationSettings
from tests.helpers.clients import VIEWER_COOKIE, browser_client, client, notice
from tests.helpers.servers import serve_fake
from ui.viewers import Identity, address, cookie_header, key

PROXY = "203.0.113.7"  # the address a proxy in front of the app saw: one for everybody behind a NAT


def request(state=None, session=None, username=None, host="127.0.0.1"):
    """A Gradio request as the handlers see it: the Starlette request's scope inside."""
    scope = {"state": state or {}, **({"session": session} if session is not None else {})}
    return SimpleNamespace(request=SimpleNamespace(scope=scope), username=username, client=SimpleNamespace(host=host))


# --- pure -------------------------------------------------------------------------------------


def test_only_a_cookie_this_app_signed_names_a_viewer():
    mine, other = Identity(b"secret one"), Identity(b"secret two")
    signed = mine.sign("abc123")
    assert mine.verify(signed) == "abc123"
    assert other.verify(signed) is None  # another secret (another deployment) does not
    viewer, mac = signed.rsplit(".", 1)
    assert mine.verify(f"abd123.{mac}") is None  # a changed id keeps no signature
    assert mine.verify(f"{viewer}.{mac[:-1]}{'B' if mac.endswith('A') else 'A'}") is None  # a changed signature
    for junk in (None, "", ".", "abc123", "abc123.", "a.b.c"):
        assert mine.verify(junk) is None


def test_the_address_is_read_from_the_right_by_the_trusted_hops():
    forged = ["6.6.6.6, 7.7.7.7", "1.2.3.4"]  # two headers; the proxy appended 1.2.3.4
    assert Identity(b"k", 0).address(forged, "10.0.0.2") == "10.0.0.2"  # no proxy: the peer
    assert Identity(b"k", 1).address(forged, "10.0.0.2") == "1.2.3.4"  # what the one proxy saw
    assert Identity(b"k", 2).address(forged, "10.0.0.2") == "1.2.3.4"  # a public address is no proxy of ours
    assert Identity(b"k", 2, trusted_proxies=("10.0.0.0/8", "1.2.3.4")).address(forged, "10.0.0.2") == "7.7.7.7"
    assert Identity(b"k", 1).address(forged, "198.51.100.9") == "198.51.100.9"  # straight to the port: the peer
    assert Identity(b"k", 1).address([], "10.0.0.2") == "10.0.0.2"  # no header: the peer
    assert Identity(b"k", 5).address(["1.2.3.4"], "10.0.0.2") == "1.2.3.4"  # a shorter chain: its start


def test_the_viewer_key_is_the_signed_in_name_then_the_browser_then_the_address():
    oauth = {"oauth_info": {"userinfo": {"preferred_username": "ada"}}}  # Gradio's Hugging Face sign-in
    both = {"viewer": "v1", "address": "1.2.3.4"}
    assert key(request(both, session=oauth)) == "hf:ada"
    assert key(request(both, username="bob")) == "hf:bob"  # Gradio's own auth
    assert key(request(both)) == "browser:v1"
    assert key(request({"address": "1.2.3.4"})) == "address:1.2.3.4"
    assert address(request({"address": "1.2.3.4"})) == "1.2.3.4"
    assert key(request(host="10.9.8.7")) == "address:10.9.8.7"  # no middleware: the peer


def test_the_cookie_works_in_a_spaces_iframe_over_https_and_is_lax_over_http():
    assert "HttpOnly" in cookie_header("v", secure=False) and "SameSite=Lax" in cookie_header("v", secure=False)
    https = cookie_header("v", secure=True)
    assert all(a in https for a in ("HttpOnly", "Secure", "SameSite=None", "Partitioned", "Max-Age=34560000"))


def test_a_negative_proxy_hop_count_stops_the_app_with_one_sentence():
    import app

    for argv, environ in ((["--proxy-hops", "-1"], {}), ([], {"DEMO_PROXY_HOPS": "-1"})):
        with pytest.raises(SystemExit, match=r"--proxy-hops -1: say how many proxies, 0 or more\."):
            app.parse_args(argv, environ)


# --- the served app, fake engines ----------------------------------------------------------------


def test_the_page_load_sets_the_cookie_and_the_api_does_not_fake_engines():
    with serve_fake(GenerationSettings(max_tokens=2)) as (url, _):
        first = httpx.get(url, timeout=30)
        (cookie,) = first.headers.get_list("set-cookie")
        assert cookie.startswith(f"{VIEWER_COOKIE}=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
        assert httpx.get(url + "config", timeout=30).headers.get_list("set-cookie") == []  # what scripts ask
        mine = {VIEWER_COOKIE: first.cookies[VIEWER_COOKIE]}
        assert httpx.get(url, cookies=mine, timeout=30).headers.get_list("set-cookie") == []  # known: kept
        forged = httpx.get(url, cookies={VIEWER_COOKIE: "someone.else"}, timeout=30)
        assert len(forged.headers.get_list("set-cookie")) == 1  # not signed here: a new viewer
        https = httpx.get(url, headers={"X-Forwarded-Proto": "https"}, timeout=30).headers["set-cookie"]
        assert "Secure" in https and "SameSite=None" in https and "Partitioned" in https


def test_forged_addresses_do_not_multiply_a_cookieless_clients_quota_fake_engines():
    """The issue's measurement turned around: 6 concurrent turns from one script, each with an
    invented X-Forwarded-For entry, behind one proxy: 4 (the per-user limit) are admitted."""
    limits = {"user_running": 4, "user_per_minute": 30}  # LimitOptions fields
    settings = GenerationSettings(max_tokens=4000)  # 200 s at 20 tokens/s: only Stop ends them
    with serve_fake(settings, rate=20.0, **limits, identity=Identity(b"k", proxy_hops=1)) as (url, comparison):
        # what the proxy forwards: the client's own invented entry, then the address it saw
        clients = [client(url, f"6.6.6.{i}, {PROXY}") for i in range(6)]
        jobs = [c.submit({"text": f"forged {i}", "files": []}, api_name="/respond") for i, c in enumerate(clients)]
        deadline = time.monotonic() + 60
        while sum(j.done() for j in jobs) + comparison.queue.running < 6:
            assert time.monotonic() < deadline, "the six turns were neither refused nor running"
            time.sleep(0.05)
        refused = [notice(j.result()) for j in jobs if j.done()]
        try:
            assert comparison.queue.running == 4
            assert len(refused) == 2 and all("already have 4 turns being answered" in n for n in refused)
        finally:
            for c, j in zip(clients, jobs, strict=True):
                if not j.done():
                    c.predict(api_name="/stop")
            for j in jobs:
                j.result(timeout=60)


def test_twelve_browsers_behind_one_address_each_get_their_own_quota_fake_engines():
    """Twelve clients that loaded the page (twelve cookies) behind one proxy address, a limit of
    one turn a minute per user: every one is answered; a second tab of the first is refused."""
    limits = {"user_running": 0, "user_per_minute": 1}  # LimitOptions fields
    with serve_fake(GenerationSettings(max_tokens=5), **limits, identity=Identity(b"k", 1)) as (url, _):
        browsers = [browser_client(url, PROXY) for _ in range(12)]
        assert len({b.cookies[VIEWER_COOKIE] for b in browsers}) == 12
        for i, b in enumerate(browsers):
            answered = b.predict({"text": f"hello from {i}", "files": []}, api_name="/respond")
            assert notice(answered) == "" and all("5 tokens" in m for m in answered[3:5]), i
        tab = client(url, PROXY, {VIEWER_COOKIE: browsers[0].cookies[VIEWER_COOKIE]})  # same browser, new tab
        refused = tab.predict({"text": "again", "files": []}, api_name="/respond")
        assert "You sent 1 turn in the last minute" in notice(refused)
        script = client(url, PROXY)  # no cookie: keyed by the proxy's address, its own quota
        assert notice(script.predict({"text": "a script", "files": []}, api_name="/respond")) == ""


def test_the_address_flood_limit_counts_every_browser_behind_it_fake_engines():
    limits = {"user_running": 0, "user_per_minute": 0, "ip_per_minute": 3}  # LimitOptions fields
    with serve_fake(GenerationSettings(max_tokens=2), **limits, identity=Identity(b"k", 1)) as (url, _):
        for _ in range(3):
            assert notice(browser_client(url, PROXY).predict({"text": "hi", "files": []}, api_name="/respond")) == ""
        flood = browser_client(url, PROXY).predict({"text": "one more", "files": []}, api_name="/respond")
        assert "Your network address sent 3 turns in the last minute" in notice(flood)
        assert "retry in" in notice(flood) and flood[0]["value"]["text"] == "one more"  # the message is kept
        other = browser_client(url, "198.51.100.1").predict({"text": "elsewhere", "files": []}, api_name="/respond")
        assert notice(other) == ""


BROWSERS = 4  # Chromium contexts: twice the fake pair's batch, so that some wait (the suite's time, issue 28)
SLOTS = 2  # the fake pair's max_num_seqs here: turns running at once


@pytest.mark.browser
def test_browser_contexts_are_users_each_admitted_and_a_second_tab_is_refused_fake_engines(pictures):
    """One Chromium, four contexts (four browsers, all from 127.0.0.1), fake engines that batch two
    turns, a limit of one running turn per user, answers that never come (fake engines that wait 10
    minutes, so that the pages have nothing to render): all four turns are admitted (2 hold a slot,
    2 wait for one); a second tab of the first context is refused; Stop ends them all. (Twelve
    cookies behind one address: ``test_twelve_browsers_behind_one_address_...`` above.)"""
    from tests.helpers.browser import chromium, goto_app, open_app, send

    limits = {"user_running": 1, "user_per_minute": 0}  # LimitOptions fields
    settings = GenerationSettings(max_tokens=5)
    with (
        serve_fake(settings, delay=600.0, max_num_seqs=SLOTS, **limits) as (url, comparison),
        chromium() as browser,
    ):
        queue = comparison.queue
        assert queue.capacity == SLOTS
        pages = []
        for i in range(BROWSERS):
            pages.append(page := open_app(browser, url, (1200, 900)))
            send(page, f"hello from browser {i}", [])
            wait_for(lambda n=i + 1: queue.running + queue.waiting == n, f"browser {i}'s turn admitted")
            assert "already have" not in page.inner_text("#notice"), i
        assert (queue.running, queue.waiting) == (SLOTS, BROWSERS - SLOTS)
        contexts = [page.context for page in pages]
        cookies = [next(c for c in ctx.cookies() if c["name"] == VIEWER_COOKIE) for ctx in contexts]
        assert len({c["value"] for c in cookies}) == BROWSERS
        assert all(c["httpOnly"] and c["sameSite"] == "Lax" for c in cookies)
        pages.append(tab := contexts[0].new_page())  # the first browser's second tab
        goto_app(tab, url)
        send(tab, "me again", [])
        tab.wait_for_selector("#notice:has-text('already have 1 turn being answered')", timeout=15_000)
        pictures.shoot(tab, "viewers-second-tab.png")
        assert tab.input_value("#box textarea") == "me again"  # nothing typed is lost
        assert next(c for c in contexts[0].cookies() if c["name"] == VIEWER_COOKIE) == cookies[0]
        for page in pages[:BROWSERS]:
            page.click("#stop")
        wait_for(lambda: queue.running + queue.waiting == 0, "every turn stopped")


def wait_for(condition, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"not within {seconds:.0f} s: {what}"
        time.sleep(0.05)
