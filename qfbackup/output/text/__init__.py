"""Text renderers: one module per command group, each function turning a command's JSON document (see
``output/document.py``) into what a person reads. They take the document, not library objects, so text and
``--json`` always say the same thing."""
