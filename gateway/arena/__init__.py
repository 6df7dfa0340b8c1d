"""The Model Arena: battles between models, votes, AI judgments and rankings (issue 13).

* ``outcomes``/``elo``/``bradley_terry``: pure verdict arithmetic (no I/O).
* ``store``: the battle rows and the rankings, in PostgreSQL.
* ``runner``: a battle's models answering in parallel through the proxy's own steps.
* ``judge`` and ``second_opinion``: one more model reviewing answers.
"""
