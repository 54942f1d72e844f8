"""The outside of the tool: what a command's result looks like to a human and to a machine.

Commands build one JSON-ready document (``document.py``: a version, the command, the data); ``--json`` prints it as
it is, otherwise a text renderer (``text/``) turns the same document into words, so the two can never disagree.
``contract/`` declares every command's JSON (feeding docs/json.md and the test that checks real outputs against
it); ``humanize.py`` is the one way text shows sizes, times and durations; ``progress.py`` draws progress bars.
"""
