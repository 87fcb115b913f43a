"""Every test has a time limit, and one that runs past it says where and on what CPU (tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

pytest_plugins = ["pytester"]


def test_a_test_past_its_limit_fails_with_a_sentence_naming_the_slow_part(pytester, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    pytester.makepyfile(
        test_slow="""
        import time, pytest

        def slow_part():
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:  # busy, like a slow kernel
                pass

        @pytest.mark.timeout(1)
        def test_slow():
            slow_part()
        """
    )
    result = pytester.runpytest_subprocess("-p", "tests.conftest", "--rootdir", str(pytester.path))
    out = result.stdout.str()
    assert result.ret != 0
    assert "ran past its 1 s limit during call" in out
    assert "outside the project" in out  # the test file lies outside the checkout here
    assert "decode rate" in out


def test_the_limit_is_in_force_for_the_suite():
    text = (ROOT / "pyproject.toml").read_text()
    assert "\ntimeout = " in text and "\nsession_timeout = " in text
    assert "pytest-timeout==" in (ROOT / "requirements" / "cpu.txt").read_text()
