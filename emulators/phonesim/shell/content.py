"""The ``content`` command: query, insert, update and delete rows of PhoneSim's content providers.

Arguments and output follow Android 14's ``content`` tool: ``--uri``, ``--projection a:b``, ``--where``,
``--sort``, ``--bind name:TYPE:value`` (TYPE one of s, i, l, b, f, d, n); query rows print as
``Row: 0 _id=1, display_name=Ana Diaz`` and an empty result as ``No result found.``.
"""

from __future__ import annotations

from emulators.phonesim.shell.base import CommandIO, ShellContext
from emulators.phonesim.shell.errors import CommandFailed
from emulators.phonesim.shell.providers import Provider, ProviderError, providers
from emulators.phonesim.shell.sql import Row, SqlError, Value, parse_sort, parse_where, sort_rows

_USAGE = ("usage: adb shell content [subcommand] [options]\n"
          "  content query --uri <URI> [--projection <PROJECTION>] [--where <WHERE>] [--sort <SORT_ORDER>]\n"
          "  content insert --uri <URI> --bind <BINDING> [--bind <BINDING>...]\n"
          "  content update --uri <URI> [--where <WHERE>] --bind <BINDING> [--bind <BINDING>...]\n"
          "  content delete --uri <URI> [--where <WHERE>]\n"
          "<BINDING>: <COLUMN_NAME>:<TYPE>:<COLUMN_VALUE> where <TYPE> is one of "
          "b (boolean), s (string), i (integer), l (long), f (float), d (double), n (null)")
_OPTIONS = {"query": {"--uri", "--user", "--projection", "--where", "--sort"},
            "insert": {"--uri", "--user", "--bind"},
            "update": {"--uri", "--user", "--where", "--bind"},
            "delete": {"--uri", "--user", "--where"}}
PROVIDERS = providers()


def _usage_error(message: str) -> CommandFailed:
    return CommandFailed(f"[ERROR] {message}\n{_USAGE}")


def parse_binding(argument: str) -> tuple[str, Value]:
    """``name:TYPE:value`` as Android's ``content`` reads it (the value may contain colons)."""
    column, sep1, rest = argument.partition(":")
    kind, sep2, text = rest.partition(":")
    if not (sep1 and sep2 and column):
        raise _usage_error(f"Binding not well formed: {argument}")
    kind = kind.lower()
    try:
        if kind == "s":
            return column, text
        if kind == "b":
            return column, int(text.lower() == "true")
        if kind in ("i", "l"):
            return column, int(text, 10)
        if kind in ("f", "d"):
            return column, float(text)
    except ValueError as e:
        raise CommandFailed(f"Error while accessing provider\njava.lang.NumberFormatException: "
                            f"For input string: \"{text}\"") from e
    if kind == "n":
        return column, None
    raise _usage_error(f"Unsupported type: {kind}")


def _parse_args(verb: str, args: list[str]) -> tuple[dict[str, str], dict[str, Value]]:
    options: dict[str, str] = {}
    binds: dict[str, Value] = {}
    i = 0
    while i < len(args):
        name = args[i]
        if name not in _OPTIONS[verb]:
            raise _usage_error(f"Unsupported argument: {name}")
        if i + 1 >= len(args):
            raise _usage_error(f"Argument expected after \"{name}\"")
        if name == "--bind":
            column, value = parse_binding(args[i + 1])
            binds[column] = value
        else:
            options[name] = args[i + 1]
        i += 2
    if "--uri" not in options:
        raise _usage_error("Content provider URI not specified. Did you specify --uri argument?")
    if verb in ("insert", "update") and not binds:
        raise _usage_error("Bindings not specified. Did you specify --bind argument(s)?")
    return options, binds


def _resolve(uri: str) -> tuple[Provider, int | None]:
    """The provider of a ``content://`` URI and the row id at its end, if any."""
    if not uri.startswith("content://"):
        raise CommandFailed(f"Error while accessing provider:{uri}\n"
                            f"java.lang.IllegalArgumentException: Invalid URI: {uri}")
    path = uri[len("content://"):].rstrip("/")
    row_id = None
    head, _, last = path.rpartition("/")
    if head and last.isdigit():
        path, row_id = head, int(last)
    provider = PROVIDERS.get(path)
    if provider is None:
        authority = path.split("/", 1)[0]
        known = any(key.split("/", 1)[0] == authority for key in PROVIDERS)
        detail = f"Unknown URI {uri}" if known else f"Could not find provider: {authority}"
        raise CommandFailed(f"Error while accessing provider:{authority}\n"
                            f"java.lang.IllegalArgumentException: {detail}")
    return provider, row_id


def _matching(ctx: ShellContext, provider: Provider, row_id: int | None, where: str) -> list[Row]:
    predicate = parse_where(where, set(provider.columns))
    return [r for r in provider.rows(ctx.state)
            if predicate(r) and (row_id is None or r.get("_id") == row_id)]


def _format(value: Value) -> str:
    return "NULL" if value is None else str(value)


def _query(ctx: ShellContext, provider: Provider, row_id: int | None, options: dict[str, str],
           io: CommandIO) -> None:
    columns = set(provider.columns)
    projection = list(provider.columns)
    if "--projection" in options:
        projection = [c for c in options["--projection"].split(":") if c]
        unknown = [c for c in projection if c not in columns]
        if unknown or not projection:
            raise SqlError(f"no such column: {unknown[0] if unknown else '(empty projection)'}")
    rows = _matching(ctx, provider, row_id, options.get("--where", ""))
    if "--sort" in options:
        rows = sort_rows(rows, parse_sort(options["--sort"], columns))
    if not rows:
        io.out("No result found.\n")
        return
    for n, row in enumerate(rows):
        io.out(f"Row: {n} " + ", ".join(f"{c}={_format(row.get(c))}" for c in projection) + "\n")


def content(ctx: ShellContext, args: list[str], io: CommandIO) -> int:
    if not args or args[0] not in _OPTIONS:
        raise _usage_error(f"Unsupported operation: {args[0]}" if args else "No command specified")
    verb = args[0]
    options, binds = _parse_args(verb, args[1:])
    uri = options["--uri"]
    provider, row_id = _resolve(uri)
    try:
        if verb == "query":
            _query(ctx, provider, row_id, options, io)
        elif verb == "insert":
            provider.check_columns(binds, "insert")
            provider.insert(ctx.state, binds)
        else:
            rows = _matching(ctx, provider, row_id, options.get("--where", ""))
            if verb == "update":
                provider.check_columns(binds, "update")
                for row in rows:
                    provider.update(ctx.state, row, binds)
            else:
                provider.delete(ctx.state, rows)
    except SqlError as e:
        raise CommandFailed(f"Error while accessing provider:{uri}\nandroid.database.sqlite."
                            f"SQLiteException: {e} (code 1 SQLITE_ERROR)") from e
    except ProviderError as e:
        raise CommandFailed(f"Error while accessing provider:{uri}\n"
                            f"java.lang.IllegalArgumentException: {e}") from e
    return 0


CONTENT_COMMANDS = {"content": content}
