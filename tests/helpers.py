"""What the tests share besides fixtures: the checkout's paths, Chromium, a Datasette configured as
`iana-ports serve` configures it. Real servers and builds come from deploy.harness."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
# Headless, and quiet: this network refuses Chromium's background connections.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def make_datasette(db_path: Path, **settings):
    """A real Datasette on db_path, configured as `iana-ports serve` (and so `make serve`)
    configures it: the package's configuration directory (settings.json, metadata.yml,
    templates/, static/), the plugins from their entry points."""
    from datasette.app import Datasette

    from iana_ports.web.render import CONFIG

    ds = Datasette([], immutables=[str(db_path)], config_dir=CONFIG)
    ds._settings.update(settings)
    return ds


def served(db_path: Path):
    import asyncio

    ds = make_datasette(db_path)
    # What `datasette serve` does before it accepts a request: load the build.
    asyncio.run(ds.invoke_startup())
    yield ds
    for db in ds.databases.values():
        db.close()
