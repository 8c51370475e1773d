"""After-the-fact reports of a run: statistics (``stats``), the bucket downsample
(``downsample``), the report's data model (``model``) and the offline HTML file (``html``).

Pure library code: it depends on ``engine.errors`` and numpy only, never on the
runner or the journal; the command line fills the model from a journal.
"""
