"""iana-ports ingest pipeline: fetch -> parse -> model -> diff -> build -> history."""
