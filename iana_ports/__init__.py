"""iana-ports: IANA's service name and port number registry, as a database, a site, a command and an MCP endpoint."""
