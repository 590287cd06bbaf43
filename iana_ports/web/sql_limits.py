"""Resource limits on the connections visitors' SQL runs on.

SQLite's own limits hold per function call, where Datasette's time limit
cannot (`printf('%.*c', 200000000, 'x')` is one call); a byte budget bounds
what one query may return; `pragma_database_list` (the served file's path,
the server's pid in its pin's name) cannot be read.
"""

import re
import sqlite3
import threading

# Longest value a visitor's SQL may make, and the most one query may return.
MAX_VALUE = 1_000_000
MAX_RESULT = 16_000_000
LIMITS = {
    sqlite3.SQLITE_LIMIT_LENGTH: MAX_VALUE,
    sqlite3.SQLITE_LIMIT_SQL_LENGTH: 100_000,
    sqlite3.SQLITE_LIMIT_COLUMN: 100,
    sqlite3.SQLITE_LIMIT_LIKE_PATTERN_LENGTH: 1_000,
    sqlite3.SQLITE_LIMIT_EXPR_DEPTH: 200,
    sqlite3.SQLITE_LIMIT_COMPOUND_SELECT: 50,
}
# Process-wide ceiling on SQLite's own memory (sorting, temporary tables).
HEAP_LIMIT = 256 * 1024 * 1024
# Tables a visitor's SQL may not read: pragma_database_list names the served file.
UNREADABLE = frozenset({"pragma_database_list"})


class ResultTooLarge(sqlite3.DataError):
    pass


class ResultBudget:
    """A row factory that gives up once one query has returned MAX_RESULT bytes.

    It makes the sqlite3.Row objects Datasette expects; one per connection,
    and a connection runs one query at a time.
    """

    def __init__(self):
        self.cursor = None
        self.used = 0

    def __call__(self, cursor, row):
        if cursor is not self.cursor:
            self.cursor, self.used = cursor, 0
        self.used += sum(len(v) for v in row if isinstance(v, (str, bytes))) + 8 * len(row)
        if self.used > MAX_RESULT:
            raise ResultTooLarge(f"the result is over {MAX_RESULT // 1_000_000} MB; ask for fewer or shorter rows")
        return sqlite3.Row(cursor, row)


# A printf conversion: flags, width, precision, type (SQLite's printf, a C printf dialect).
_PRINTF_SPEC = re.compile(r"%[-+ #0,!]*(\*|[0-9]+)?(?:\.(\*|[0-9]+))?(.)")
_printf = threading.local()


class PrintfTooWide(ValueError):
    pass


def checked_printf(fmt, *args):
    """SQLite's printf(), refusing a width or precision over MAX_VALUE.

    SQLite 3.40 stops such a string at the length limit but still spins
    through the whole count (0.8 s for 200,000,000) and then returns NULL as
    if nothing were wrong; here the visitor gets an error at once instead.
    """
    if isinstance(fmt, str):
        rest = list(args)
        for width, precision, kind in _PRINTF_SPEC.findall(fmt):
            if kind == "%":
                continue
            for part in (width, precision):
                n = (rest.pop(0) if rest else 0) if part == "*" else (int(part) if part else 0)
                if isinstance(n, (int, float)) and abs(n) > MAX_VALUE:
                    raise PrintfTooWide(f"printf width or precision over {MAX_VALUE:,}")
            if rest and kind != "%":
                rest.pop(0)
    conn = getattr(_printf, "conn", None)
    if conn is None:
        conn = _printf.conn = sqlite3.connect(":memory:", check_same_thread=False)
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE)
    placeholders = ", ".join("?" * (1 + len(args)))
    return conn.execute(f"select printf({placeholders})", (fmt, *args)).fetchone()[0]


def _authorize(action, table, column, database, trigger):
    if action == sqlite3.SQLITE_READ and table in UNREADABLE:
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


def limit(conn: sqlite3.Connection) -> None:
    for category, value in LIMITS.items():
        conn.setlimit(category, value)
    conn.execute(f"pragma hard_heap_limit = {HEAP_LIMIT}")
    # Datasette's own `PRAGMA database_list` (the database page's attached databases) reads
    # no table, so it is untouched; the table-valued function a query would use is refused.
    conn.set_authorizer(_authorize)
    for name in ("printf", "format"):
        conn.create_function(name, -1, checked_printf, deterministic=True)
    conn.row_factory = ResultBudget()
