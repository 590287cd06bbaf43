"""The web front: Datasette plugins' code. Everything else in iana_ports stays free of Datasette."""
