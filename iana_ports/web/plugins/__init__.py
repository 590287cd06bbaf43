"""The Datasette plugins of the site, registered as entry points in pyproject.toml (group datasette)."""
