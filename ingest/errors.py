class IngestError(Exception):
    """An expected failure: shown to the user as one line, no traceback."""
