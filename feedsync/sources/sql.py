"""SQL databases as product masters, through SQLAlchemy.

`source: {url: "sqlite:///catalog.db", table: products}` or `query: "SELECT ..."`. Rows are
streamed with a server-side cursor (`stream_results` + `yield_per`) so a million-row table
is read in constant memory; a SourceRow's number is the row's position in the result (1 =
first row). Credentials belong in `${VAR}`s; no message ever contains the password: URLs
are shown with it hidden and driver messages are scrubbed of it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

from feedsync.errors import ConfigError, SourceError
from feedsync.sources.base import SourceRow
from feedsync.sources.cells import CellFormatter

BATCH_ROWS = 1000


class SqlSource:
    """A table, view or SELECT of a database, streamed."""

    def __init__(self, url: str, *, table: str | None = None, query: str | None = None,
                 base_dir: Path | None = None, locale: str | None = None) -> None:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            authority = url.partition("://")[2].split("/", 1)[0]
            if authority.count("@") > 1:  # a raw @ in the password: the host would be wrong
                raise ValueError("ambiguous user-info")
            parsed = make_url(url)
        except (ArgumentError, ValueError):
            # Never the library's message: with an `@` or `:` in the password it quotes a
            # piece of it ("invalid literal for int(): 'word@host'").
            raise ConfigError("source.url is not a database URL (expected e.g. "
                              "sqlite:///catalog.db or postgresql://user:password@host/db; "
                              "write @ and : in a password as %40 and %3A)") from None
        self.password = parsed.password
        if parsed.drivername == "postgresql":
            # psycopg (3) is the driver feedsync installs; SQLAlchemy 2.0 would pick psycopg2.
            parsed = parsed.set(drivername="postgresql+psycopg")
        if parsed.get_backend_name() == "sqlite":
            parsed = _resolve_sqlite(parsed, base_dir)
        self.url = parsed
        self.where = parsed.render_as_string(hide_password=True)
        self.table = table
        self.query = query
        self.name = f"{table or 'query'} in {self.where}"
        self.format = CellFormatter(locale)
        self._engine = self._create_engine()
        self._columns: list[str] | None = None
        self._table: Any = None
        self._statement = self._build_statement()

    def _create_engine(self) -> Any:
        from sqlalchemy import create_engine
        from sqlalchemy.exc import NoSuchModuleError

        try:
            return create_engine(self.url)
        except NoSuchModuleError as exc:
            raise ConfigError(f"feedsync has no driver for {self.url.drivername} databases "
                              "(supported: sqlite, postgresql)") from exc
        except ImportError as exc:
            hint = ("pip install 'feedsync[postgres]'" if self.url.get_backend_name() ==
                    "postgresql" else "install it with pip")
            raise SourceError(f"the database driver for {self.where} is not installed "
                              f"({exc.name}); {hint}") from exc

    def _build_statement(self) -> Any:
        from sqlalchemy import MetaData, Table, select, text
        from sqlalchemy.exc import NoSuchTableError

        if self.query:
            return text(self.query)
        assert self.table is not None
        schema, _, name = self.table.rpartition(".")
        try:
            with self._connect() as connection:
                table = Table(name, MetaData(), schema=schema or None,
                              autoload_with=connection)
        except NoSuchTableError as exc:
            raise SourceError(f"the database {self.where} has no table {self.table!r}") from exc
        except SourceError:
            raise
        except Exception as exc:
            raise self._error(exc) from exc
        self._columns = [c.name for c in table.columns]
        self._table = table
        # A stable order (the primary key), so row numbers mean the same thing from one run
        # to the next; without one, the database's own order (write a `query:` to fix it).
        keys = list(table.primary_key.columns)
        return select(table).order_by(*keys) if keys else select(table)

    def unique_integer_columns(self) -> frozenset[str]:
        """Columns whose values the database itself keeps unique and integer: a table's
        single-column integer primary key (in SQLite only a rowid alias, `INTEGER PRIMARY
        KEY` in a rowid table, since another integer column may hold text). Their text is
        unique too, so a build needs no memory of the ids it has seen. A query: none."""
        if self._table is None:
            return frozenset()
        keys = list(self._table.primary_key.columns)
        if len(keys) != 1:
            return frozenset()
        key = keys[0]
        backend = self.url.get_backend_name()
        try:
            integer = key.type.python_type is int
        except NotImplementedError:
            return frozenset()
        if not integer or backend not in ("sqlite", "postgresql"):
            return frozenset()
        if backend == "sqlite" and not self._sqlite_rowid_alias(key.name):
            return frozenset()
        return frozenset({key.name})

    def _sqlite_rowid_alias(self, column: str) -> bool:
        """`column` is declared exactly `INTEGER PRIMARY KEY` in a rowid table (SQLAlchemy
        reflects `INT` as INTEGER too, but only the exact spelling makes an alias)."""
        schema, _, name = (self.table or "").rpartition(".")
        prefix = f'"{schema}".' if schema else ""
        try:
            with self._connect() as connection:
                declared = {row[1]: str(row[2]) for row in connection.exec_driver_sql(
                    f'PRAGMA {prefix}table_info("{name}")')}
                sql = connection.exec_driver_sql(
                    f"SELECT sql FROM {prefix}sqlite_master WHERE type = 'table' AND "
                    "name = ?", (name,)).scalar()
        except Exception:  # an optimisation only: without the answer, ids are checked
            return False
        return (declared.get(column, "").upper() == "INTEGER" and bool(sql)
                and "WITHOUT ROWID" not in str(sql).upper())

    def _connect(self) -> Any:
        try:
            return self._engine.connect()
        except Exception as exc:
            raise self._error(exc) from exc

    def count_rows(self) -> int | None:
        """How many rows the read will yield (COUNT(*) of the table or query), for a
        progress bar; None when the database will not say."""
        from sqlalchemy import func, select

        try:
            counted = select(func.count()).select_from(self._statement.subquery()) \
                if not self.query else select(func.count()).select_from(
                    self._statement.columns().subquery())
            with self._connect() as connection:
                return int(connection.execute(counted).scalar_one())
        except Exception:  # only an estimate: the run itself reports what is wrong
            return None

    @property
    def columns(self) -> list[str]:
        if self._columns is None:
            with self._connect() as connection:
                try:
                    result = connection.execution_options(stream_results=True).execute(
                        self._statement)
                    self._columns = list(result.keys())
                    result.close()
                except Exception as exc:
                    raise self._error(exc) from exc
        return self._columns

    def rows(self) -> Iterator[SourceRow]:
        with self._connect() as connection:
            try:
                result = connection.execution_options(
                    stream_results=True, yield_per=BATCH_ROWS).execute(self._statement)
                names = list(result.keys())
                self._columns = names
                text = self.format.text
                for position, record in enumerate(result, start=1):
                    values = {n: text(v) for n, v in zip(names, record, strict=False)}
                    yield SourceRow(position, values)
            except SourceError:
                raise
            except Exception as exc:
                raise self._error(exc) from exc

    def raw_rows(self) -> Iterator[tuple[Any, ...]]:
        """Every record as the driver gives it (no text conversion), in `columns` order:
        a sync comparing a million stock rows with its snapshot only needs them equal or
        not, and this is several times faster than `rows()`."""
        names = self.columns
        sql = str(self._statement.compile(self._engine))
        connection = self._engine.raw_connection()
        try:
            cursor = connection.cursor()
            cursor.execute(sql)
            if [d[0] for d in cursor.description or []] != names:
                raise SourceError(f"{self.name} changed its columns while being read")
            while batch := cursor.fetchmany(BATCH_ROWS * 5):
                yield from batch
            cursor.close()
        except SourceError:
            raise
        except Exception as exc:
            raise self._error(exc) from exc
        finally:
            connection.close()

    def rows_where_in(self, column: str, values: Collection[str]) -> Iterator[SourceRow]:
        """The rows whose `column` is one of `values` (a table: asked of the database in
        chunks; a query: filtered here), converted as `rows()` converts them."""
        if self._table is None or column not in self._table.c:
            yield from (r for r in self.rows() if (r.data.get(column) or "").strip() in values)
            return
        from sqlalchemy import select

        keys = list(self._table.primary_key.columns)
        text = self.format.text
        chunk = 5_000
        ordered = sorted(values)
        position = 0
        with self._connect() as connection:
            try:
                for start in range(0, len(ordered), chunk):
                    statement = select(self._table).where(
                        self._table.c[column].in_(ordered[start:start + chunk]))
                    if keys:
                        statement = statement.order_by(*keys)
                    result = connection.execute(statement)
                    names = list(result.keys())
                    for record in result:
                        position += 1
                        yield SourceRow(position, {n: text(v) for n, v in
                                                   zip(names, record, strict=False)})
            except SourceError:
                raise
            except Exception as exc:
                raise self._error(exc) from exc

    def _error(self, exc: Exception) -> SourceError:
        """One sentence for a database failure, without the password."""
        from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError

        detail = str(getattr(exc, "orig", None) or exc).strip()
        lowered = detail.lower()
        if "password authentication failed" in lowered or "access denied" in lowered:
            user = self.url.username or "?"
            message = (f"the database {self.where} refused the login for user {user!r} "
                       "(wrong user name or password)")
        elif "connection refused" in lowered or "could not connect" in lowered or (
                "timeout expired" in lowered):
            message = (f"cannot connect to the database {self.where}: the connection was "
                       "refused (is the server running and listening there?)")
        elif "does not exist" in lowered and "database" in lowered:
            message = f"the database {self.where} does not exist"
        elif isinstance(exc, (OperationalError, ProgrammingError)) and (
                "no such table" in lowered or "undefined" in lowered or "does not exist"
                in lowered):
            message = (f"the query on {self.where} failed: "
                       f"{detail.splitlines()[0] if detail else type(exc).__name__}")
        elif isinstance(exc, DBAPIError):
            message = (f"reading the database {self.where} failed: "
                       f"{detail.splitlines()[0] if detail else type(exc).__name__}")
        else:
            message = f"reading the database {self.where} failed: {type(exc).__name__}"
        return SourceError(scrub(message, self.password))


def scrub(message: str, password: str | None) -> str:
    """The message with the password (and its URL-encoded form) replaced by ***."""
    if not password:
        return message
    from urllib.parse import quote

    for form in {password, quote(password, safe="")}:
        if form:
            message = message.replace(form, "***")
    return message


def _resolve_sqlite(url: Any, base_dir: Path | None) -> Any:
    """Relative SQLite paths are relative to the config file; a missing file is an error
    (SQLite would otherwise silently create an empty database)."""
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return url
    path = Path(database).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    if not path.is_file():
        raise SourceError(f"the SQLite database {path} does not exist")
    return url.set(database=str(path))
