"""iana-ports ingest pipeline: fetch -> parse -> model -> build."""

IANA_URL = (
    "https://www.iana.org/assignments/service-names-port-numbers/"
    "service-names-port-numbers.csv"
)
