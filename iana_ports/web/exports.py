"""/exports/*: every build as files (iana_ports.exports), served with the build's ETag."""

ROUTES = ()
