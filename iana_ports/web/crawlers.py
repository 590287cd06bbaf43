"""/robots.txt and the sitemaps: what crawlers may fetch, and every port and service page."""

ROUTES = ()
