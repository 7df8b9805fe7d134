"""Path normalisation and segment-boundary prefix matching for the gate."""

from __future__ import annotations


def normalise_path(path: str) -> str:
    """Collapse empty, `.` and `..` segments so no spelling can dodge a rule.

    `//a/./b/../c/` becomes `/a/c`; a `..` above the root stays at the root.
    Backslashes count as separators because some servers and browsers treat
    them so. The query string must already be stripped by the caller.
    """
    segments: list[str] = []
    for segment in path.replace("\\", "/").split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if segments:
                segments.pop()
            continue
        segments.append(segment)
    return "/" + "/".join(segments)


def is_under(path: str, prefix: str, *, ignore_case: bool = False) -> bool:
    """Tell whether normalised `path` is `prefix` or below it on a segment boundary."""
    prefix = normalise_path(prefix)
    if ignore_case:
        path, prefix = path.casefold(), prefix.casefold()
    if prefix == "/":
        return True
    return path == prefix or path.startswith(prefix + "/")


def is_under_any(path: str, prefixes: tuple[str, ...] | list[str], *, ignore_case: bool = False) -> bool:
    """Tell whether normalised `path` is under any of `prefixes`."""
    return any(is_under(path, prefix, ignore_case=ignore_case) for prefix in prefixes)
