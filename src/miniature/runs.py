"""Run folder, content-hashed artifact keys, atomic writes: nothing half-written is ever kept."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from miniature.exceptions import ConfigError
from miniature.files import SPECIAL, kind, read_json_file
from miniature.version import __version__

T = TypeVar("T")


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no whitespace, the input of every content hash."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def content_key(obj: Any, length: int = 16) -> str:
    """Hex digest of everything that determines an artifact."""
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()[:length]


def inputs_meta(paths: Sequence[str | Path]) -> list[dict]:
    """Provenance of a command's input files: each path and its SHA-256."""
    return [{"path": str(p), "sha256": sha256_file(p)} for p in paths if Path(p).is_file()]


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def file_stamp(source: str | Path) -> tuple[int, int] | None:
    """(size, mtime_ns) of a file, None for anything else: part of an in-memory cache key, so an
    edited file is read again."""
    try:
        st = os.stat(source)
    except (OSError, ValueError):
        return None
    return (st.st_size, st.st_mtime_ns)


def temp_prefix(name: str) -> str:
    """The start of a temporary's name beside `name`: hidden, and tagged with this process's id,
    so that a later run can tell one a killed process left (`sweep_stale_temps`)."""
    return f".{name}.pid{os.getpid()}."


_TEMP = re.compile(r"^\..+\.pid(\d+)\..*\.tmp(\.npy)?$")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's: alive
        return True
    return True


def sweep_stale_temps(root: str | Path, recursive: bool = True) -> list[Path]:
    """Delete the temporaries under `root` (or, not `recursive`, directly in it) whose process is
    gone (a `kill -9` mid-write leaves them; they are never taken as finished, but they take room).
    Returns what was removed."""
    removed: list[Path] = []
    for folder, dirs, files in os.walk(root):
        if not recursive and Path(folder) != Path(root):
            break
        for name in [*dirs, *files]:
            m = _TEMP.match(name)
            if m is None or _alive(int(m.group(1))):
                continue
            path = Path(folder) / name
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
                dirs.remove(name)
            else:
                path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def umask() -> int:
    """This process's umask (read without changing it where /proc says it, else set and restored)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


def publish_mode(path: str | Path, folder: bool = False) -> None:
    """Give a temporary (mkstemp's 0600, mkdtemp's 0700) the mode a plain open() or mkdir() would
    have given it under the user's umask, before it is renamed into place."""
    os.chmod(path, (0o777 if folder else 0o666) & ~umask())


def check_output_file(path: str | Path, error: type[Exception] = ConfigError) -> None:
    """An output file may replace a regular file (or a link to one), never a folder, a FIFO or a
    device: a one-line error before anything is written."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    except OSError as e:
        raise error(f"{path}: cannot be written ({e.strerror or e}); choose another output path") from None
    if kind(st.st_mode) == "a folder":
        raise error(f"{path}: is a folder, where a file would be written; remove it or choose another output path")
    if kind(st.st_mode) == SPECIAL:
        raise error(f"{path}: is not a regular file ({SPECIAL}), so miniature will not replace it; choose another "
                    "output path")


def _name_the_file(e: BaseException, tmp: str | Path, path: Path) -> None:
    """An OSError raised while writing a temporary (a full disk says no file) names the output."""
    if isinstance(e, OSError) and e.filename in (None, str(tmp)):
        e.filename = str(path)


@contextmanager
def atomic_file(path: str | Path, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary file's name beside `path` (tagged with this process, `temp_prefix`) for
    the block to write; rename it over `path` if the block succeeds, delete it if not. The file
    gets the umask's mode; a `path` that is a folder, FIFO or device is refused."""
    path = Path(path)
    check_output_file(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path.name), suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        publish_mode(tmp)
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        _name_the_file(e, tmp, path)
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write to a temporary file in the same folder, fsync, then rename over `path`."""
    with atomic_file(path) as tmp, open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return Path(path)


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")


@contextmanager
def atomic_dir(final: str | Path) -> Iterator[Path]:
    """Yield a scratch folder beside `final`; rename it to `final` only if the block succeeds. The
    folder gets the umask's mode; a `final` that exists and is not a folder is refused."""
    final = Path(final)
    if final.exists() and not final.is_dir():
        raise ConfigError(f"{final}: is not a folder, where miniature writes one; remove it or choose another "
                          "run folder")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(final.name), suffix=".tmp", dir=final.parent))
    try:
        publish_mode(tmp, folder=True)
        yield tmp
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException as e:
        _name_the_file(e, tmp, final)
        raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def write_outputs(folder: str | Path, write: Callable[[Path], dict[str, Path]], what: str) -> dict[str, Path]:
    """A command's several output files, all or none: `write` fills a hidden staging folder inside
    `folder` (returning name -> path, as the writers do); only when it has written everything are
    the files moved into `folder`, same names and sub-folders, each by an atomic rename. A failure
    midway leaves `folder` as it was (not there, if it was not); a killed run's staging folder is
    swept by the next one. The files the last `what` command wrote there and this one did not (an
    error set of a model since dropped) are removed, by the list a hidden manifest keeps; nothing
    else in `folder` is touched. Returns the paths where the files now are."""
    folder = Path(folder)
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    sweep_stale_temps(folder, recursive=False)
    stage = Path(tempfile.mkdtemp(prefix=temp_prefix("results"), suffix=".tmp", dir=folder))
    try:
        paths = write(stage)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        if created:
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    manifest = folder / f".miniature-{what}-outputs.json"
    try:
        written = sorted(p.relative_to(stage).as_posix() for p in stage.rglob("*") if p.is_file())
        for name in written:  # all checked before any is moved: a FIFO or folder in the way refuses all
            check_output_file(folder / name)
        for name in written:
            dest = folder / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(stage / name, dest)
        before = read_json_file(manifest).get("files", []) if manifest.is_file() else []
        for name in sorted(set(before) - set(written)):
            stale = folder / name
            if stale.resolve().is_relative_to(folder.resolve()) and stale.is_file():
                stale.unlink()
                with contextlib.suppress(OSError):  # a sub-folder it leaves empty
                    if stale.parent != folder:
                        stale.parent.rmdir()
        atomic_write_json(manifest, {"files": written})
        return {name: folder / Path(p).relative_to(stage) for name, p in paths.items()}
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def check_writable_dir(folder: str | Path, what: str, fix: str, create: bool = True) -> None:
    """`folder` must be creatable and writable before any work starts; else a one-line error
    naming `what` it is and how to `fix` it. With `create` False nothing is made: the nearest
    existing folder on the way must be writable."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{what} {folder} is {kind(os.stat(folder).st_mode)}, not a folder; {fix}")
    if not create:
        near = folder.absolute()
        while not near.exists():
            near = near.parent
        if not near.is_dir():
            raise ConfigError(f"{what} {folder} cannot be made: {near} is a file; {fix}")
        if not os.access(near, os.W_OK | os.X_OK):
            raise ConfigError(f"{what} {folder} is not writable ({near} is read-only to this user); {fix}")
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test.", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise ConfigError(f"{what} {folder} is not writable ({e.strerror or e}); {fix}") from None


def file_stems(names: list[str], limit: int = 100) -> list[str]:
    """File names for model labels, one each, distinct: characters other than letters, digits and
    . _ + - become _, no leading dot, at most `limit` characters (a hub id's owner/name stays one
    file, never a folder or a path outside the output folder)."""
    stems: list[str] = []
    for name in names:
        stem = re.sub(r"[^\w.+-]", "_", name).lstrip(".")[:limit] or "model"
        base, n = stem, 1
        while stem in stems:
            n += 1
            stem = f"{base[: limit - 1 - len(str(n))]}-{n}"
        stems.append(stem)
    return stems


def git_commit() -> str | None:
    """The commit of the checkout miniature runs from, if it is one."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def meta_block(**extra: Any) -> dict[str, Any]:
    """The `meta` block every result file carries."""
    meta: dict[str, Any] = {
        "package": "miniature",
        "version": __version__,
        "git_commit": git_commit(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    meta.update(extra)
    return meta


class RunDir:
    """The run folder: every cached artifact lives under `root/<kind>/<key>`."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path(self, kind: str, key: str) -> Path:
        return self.root / kind / key

    def work(self, kind: str, key: str) -> Path:
        """Scratch space for an artifact in progress (training checkpoints), kept for resume."""
        return self.root / "work" / kind / key


DONE = "miniature.json"  # written last into a finished artifact's folder, with what determined it


def finished(marker: Path, key: str | None = None) -> bool:
    """Whether `marker` (a finished artifact's record, written last) is there, recording `key`
    where one is asked for."""
    if not marker.is_file():
        return False
    return key is None or read_json_file(marker).get("key") == key


def cached(kind: str, path: Path, what: str, compute: Callable[[], T], load: Callable[[], T], *,
           marker: Path, key: str | None = None) -> T:
    """One artifact of the run folder, made once: where it is finished (its `marker`, the record
    written last, e.g. `path / DONE`, or the file itself, is there and records `key` where one is
    given) `load()` returns it and the ledger notes it reused; else `compute()` makes it,
    publishing atomically so that a half-written artifact is never taken as finished, and the
    ledger notes its time. Every cached artifact of a study goes through here."""
    if finished(marker, key):
        reused(kind, path, what)
        return load()
    with computing(kind, path, what):
        return compute()


@dataclass(frozen=True)
class Activity:
    """One cached artifact a study needed: computed now, or taken from the run folder."""

    kind: str  # "qa checkpoint", "predictions", "embeddings", ...
    path: str
    computed: bool
    seconds: float = 0.0


@dataclass
class Ledger:
    """What a study computed and what it reused, in order; `echo` prints a stage line for each."""

    echo: Callable[[str], None] | None = None
    events: list[Activity] = field(default_factory=list)

    @property
    def computed(self) -> list[Activity]:
        return [a for a in self.events if a.computed]

    @property
    def reused(self) -> list[Activity]:
        return [a for a in self.events if not a.computed]


_LEDGER: ContextVar[Ledger | None] = ContextVar("miniature_ledger", default=None)


@contextmanager
def recording(ledger: Ledger) -> Iterator[Ledger]:
    """Record every cached artifact the block computes or reuses into `ledger`."""
    token = _LEDGER.set(ledger)
    try:
        yield ledger
    finally:
        _LEDGER.reset(token)


def reused(kind: str, path: str | Path, what: str) -> None:
    """Note that an artifact was found finished in the run folder (a no-op outside `recording`)."""
    ledger = _LEDGER.get()
    if ledger is not None:
        ledger.events.append(Activity(kind, str(path), False))
        if ledger.echo:
            ledger.echo(f"  cached   {what}")


@contextmanager
def computing(kind: str, path: str | Path, what: str) -> Iterator[None]:
    """Wrap the computation of an artifact: a stage line before it, its time after it."""
    ledger = _LEDGER.get()
    if ledger is not None and ledger.echo:
        ledger.echo(f"  running  {what}")
    start = time.perf_counter()
    yield
    if ledger is not None:
        seconds = time.perf_counter() - start
        ledger.events.append(Activity(kind, str(path), True, seconds))
        if ledger.echo:
            ledger.echo(f"  done     {what} ({format_seconds(seconds)})")


def format_seconds(seconds: float) -> str:
    """12.3 s, 4m05s, 1h02m."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    m, s = divmod(round(seconds), 60)
    if m < 60:
        return f"{m}m{s:02d}s"
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m"
