"""Plain modules the tests share (never fixtures: those stay in ``tests/conftest.py``). A test
module imports from ``tests`` only these; no helper imports a test module, and ``bench`` shares
nothing with them (``tests/test_layout.py``)."""
