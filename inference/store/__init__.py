"""What the demo keeps: blind turns, votes and shared comparisons in a SQL database (``db``: SQLite
by default, any SQLAlchemy URL such as PostgreSQL for several replicas), and the blind test's tally
(``tally``: pure arithmetic). No gradio, no engine; blocking calls, which the page runs in a thread."""
