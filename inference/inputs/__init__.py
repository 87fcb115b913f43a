"""What a user sends, made ready for any engine: media files decoded (``media``), visual tokens
planned (``vision``), chat turns prepared (``chat``); the project's own sample media and the
prompts over them (``samples``). Importing any of it loads no torch."""
