"""The library under the page: no UI, no command-line or environment reading (``app.py`` does that).

Packages by role, each importing only those before it in this list (``tests/test_layout.py``):

* top level: the shared vocabulary: ``spec`` (a side's model and engine arguments), ``errors``
  (the one error users see), ``compat`` (Python 3.10 stand-ins);
* ``inputs``: what a user sends, made ready for any engine: media files decoded, visual tokens
  planned, chat turns prepared; the project's own sample media;
* ``compare``: the sides' streams merged and measured: metrics, transcript, divergence, scores,
  reasoning split, export;
* ``engines``: the backend contract (``base``), its three backends and the pool that runs them;
* ``evaluation``: a prompt set through every side, and its report;
* ``deploy`` (beside the others, on the top level only): the GPU probe, the memory plan, per-user limits;
* ``checkpoints``: build-time tools (the tiny pair, the FP8 recipe): never imported by the app.
"""
