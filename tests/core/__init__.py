# A package, so tests/core/test_exports.py and tests/web/test_exports.py can share a file name.
