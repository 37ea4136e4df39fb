"""Reading a user's files: one check of the path, UTF-8 with or without a byte-order mark, strict
JSON and YAML (a key given twice is refused), .npy headers; every failure one line naming the file."""

from __future__ import annotations

import errno
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from miniature.exceptions import ConfigError, DataError, MiniatureError

NPY_MAGIC = b"\x93NUMPY"


SPECIAL = "a FIFO, socket or device"


def kind(mode: int) -> str:
    """What a stat mode says stands at a path: "a folder", "a file" or `SPECIAL`."""
    return "a folder" if stat.S_ISDIR(mode) else "a file" if stat.S_ISREG(mode) else SPECIAL


def check_input_file(path: str | Path, what: str = "file", error: type[MiniatureError] = DataError) -> Path:
    """`path` must be a readable regular file (a link to one is fine); else one line saying what it
    is instead (missing, a folder, a link loop, a dangling link, a FIFO or device) and what to do."""
    path = Path(path)
    try:
        st = os.stat(path)
    except OSError as e:
        raise error(f"{path}: {_stat_problem(path, e, what)}") from None
    if kind(st.st_mode) == "a folder":
        raise error(f"{path}: is a folder, not a {what}; give the {what} inside it")
    if kind(st.st_mode) == SPECIAL:
        raise error(f"{path}: is not a regular file ({SPECIAL}); save the {what} to a file and give that")
    if not os.access(path, os.R_OK):
        raise error(f"{path}: is not readable by this user; check its permissions")
    return path


def check_input_dir(path: str | Path, what: str = "folder", error: type[MiniatureError] = DataError) -> Path:
    """`path` must be a folder (a link to one is fine); else one line saying what it is instead."""
    path = Path(path)
    try:
        st = os.stat(path)
    except OSError as e:
        raise error(f"{path}: {_stat_problem(path, e, what)}") from None
    if kind(st.st_mode) != "a folder":
        raise error(f"{path}: is {kind(st.st_mode)}, not a {what}; give the {what} itself")
    return path


def refuse_broken_link(path: str | Path, what: str = "file", error: type[MiniatureError] = DataError) -> None:
    """A name that is a symbolic-link loop or a link to nothing is refused, saying which (a name
    that is not there at all may still be a registered name or a hub id, so it passes)."""
    path = Path(path)
    if path.is_symlink() and not path.exists():
        check_input_file(path, what, error)  # its stat fails, and the message says why


def _stat_problem(path: Path, e: OSError, what: str = "file") -> str:
    """What a failed stat of `path` means, in words."""
    if e.errno == errno.ELOOP:
        return f"is a symbolic-link loop; point the link at a real {what}"
    if e.errno == errno.ENOTDIR:
        return f"no such {what} (a part of the path is a file, not a folder)"
    if e.errno == errno.EACCES:
        return "cannot be reached (permission denied on a folder of its path)"
    if e.errno == errno.ENAMETOOLONG:
        return "the name is too long"
    if e.errno == errno.ENOENT and path.is_symlink():
        return f"is a symbolic link to {os.readlink(path)}, which does not exist"
    if e.errno == errno.ENOENT:
        return f"no such {what}"
    return e.strerror or str(e)


def is_local_source(source: str | Path) -> bool:
    """Whether a data source names a local file (by its suffix, or because it exists) rather than a
    registered or hub dataset."""
    text = str(source)
    return text.endswith((".json", ".jsonl", ".csv")) or Path(text).exists()


def decode(data: bytes, where: str) -> str:
    """UTF-8 text, a leading byte-order mark dropped (as spreadsheets and Windows editors write it)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise DataError(f"{where}: not UTF-8 text (byte 0x{data[e.start]:02x} at line {line}); save it as "
                        "UTF-8") from None


def read_text(path: str | Path, what: str = "file", error: type[MiniatureError] = DataError) -> str:
    """The whole text of a user's file, checked (`check_input_file`) and decoded (`decode`)."""
    path = check_input_file(path, what, error)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise error(f"{path}: cannot be read ({e.strerror or e})") from None
    try:
        return decode(data, str(path))
    except DataError as e:
        raise error(str(e)) from None


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def parse_json(text: str, where: str, line: int | None = None) -> Any:
    """Parse JSON text (the whole of file `where`, or its `line`); bad syntax, a key given twice in
    one object, or nesting too deep for Python is a one-line DataError naming where."""
    at = f"{where}: line {line}" if line is not None else where
    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as e:
        pos = f"column {e.colno}" if line is not None else f"line {e.lineno}, column {e.colno}"
        raise DataError(f"{at} is not valid JSON ({pos}: {e.msg})") from None
    except _DuplicateKey as e:
        raise DataError(f"{at}: key {e.key!r} appears twice in one JSON object; keep one") from None
    except RecursionError:
        raise DataError(f"{at}: JSON nested too deeply to read") from None


def read_json_file(path: str | Path) -> Any:
    """Parse a JSON file (`read_text`, then `parse_json`)."""
    return parse_json(read_text(path), str(path))


def json_lines(path: str | Path) -> Iterator[tuple[int, Any]]:
    """(line number, value) of every non-blank line of a JSONL file."""
    text = read_text(path)
    for n, line in enumerate(text.split("\n"), 1):  # not splitlines: JSON strings may hold U+2028, \x85, ...
        if line.strip():
            yield n, parse_json(line, str(path), n)


class StrictLoader(yaml.SafeLoader):
    """yaml.safe_load's loader, refusing a key given twice in one mapping (PyYAML keeps the last)."""


def _mapping(loader: StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:  # before merges (<<) are flattened in: a merged key may be overridden
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=deep)
        try:
            twice = key in seen
        except TypeError:  # a list or mapping as a key: construct_mapping refuses it below
            break
        if twice:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping", node.start_mark, f"found key {key!r} twice",
                key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def parse_yaml(text: str, where: str, error: type[MiniatureError] = ConfigError) -> Any:
    """Parse YAML safely (no Python objects); a syntax error or a duplicate key is one line with
    its line and column."""
    try:
        return yaml.load(text, Loader=StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        at = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        raise error(f"{where}: not valid YAML ({at}{e.problem or e.context})") from None
    except yaml.YAMLError as e:
        raise error(f"{where}: not valid YAML ({str(e).splitlines()[0]})") from None
    except RecursionError:
        raise error(f"{where}: YAML nested too deeply to read") from None


def check_npy(path: str | Path) -> Path:
    """`path` must be a regular file that starts with NumPy's .npy (or a .npz zip's) signature."""
    path = check_input_file(path, ".npy file")
    with open(path, "rb") as f:
        head = f.read(len(NPY_MAGIC))
    if head != NPY_MAGIC and not head.startswith(b"PK\x03\x04"):
        raise DataError(f"{path}: not a .npy file (it does not start with NumPy's header); save a 2-D float "
                        "array with numpy.save")
    return path
