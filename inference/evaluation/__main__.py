"""``python -m inference.evaluation``: the evaluation's command line (``evaluate.main``)."""

from inference.evaluation.evaluate import main

if __name__ == "__main__":
    main()
