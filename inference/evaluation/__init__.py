"""Batch evaluation: a prompt set through every side (``evaluate``) and its report (``report``).

python -m inference.evaluation --builtin --out DIR      # the command line (``evaluate.main``)
"""
