"""The user's files in a chat pane, addressed so that a streaming render costs Gradio nothing for them.

Contract: ``linker(request)`` returns a function that maps the path of a file the user sent (in
Gradio's upload folder: ``ui.inputs`` checks that before a turn starts) to a Chatbot message
content: a ``FileData`` whose ``url`` is the file's public address on this page (Gradio's own
``/gradio_api/file=`` route, under the root URL Gradio itself would use for this request, built by
``ui.gradio_adapter``), with its MIME type. Without a request (a handler called directly, not
through a page) it maps the path to ``{"path": path}``, which Gradio resolves itself.

Why: Gradio post-processes every output of every streaming render; for a file given by path it
resolves the path against the allowed and blocked folders and looks it up in its cache, twice per
pane, about 2 ms per file each time, so an image in the history cost each render of two panes
~8 ms. A file that already carries an http URL is passed through as it is.
"""

from __future__ import annotations

from typing import Any

from ui.gradio_adapter import file_link, root_url
from ui.views import Link, by_path


def linker(request: Any) -> Link:
    """The content for each user file in this request's renders (see the module's contract)."""
    root = root_url(request)
    if not root:
        return by_path
    return lambda path: file_link(root, path)
