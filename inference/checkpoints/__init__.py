"""Build-time tools, run by ``make tiny``: the tiny random Qwen3.5 (``tiny``, with its
``chat_template.jinja``) and the FP8 recipe (``quantize``, in its own environment). The app never
imports them."""
