"""Pull a GGUF from a Hugging Face Hub repo into the Hub's own cache, check it, register it.

The download is `huggingface_hub`'s (its cache, its resume, its offline resolution), so a file
fetched by `hf download` or by another tool is found again and never fetched twice. What medtui
adds: choosing the file by quant word, every part of a split GGUF, a disk check first, and a
SHA-256 check against what the Hub records (offline, a cached LFS blob is named by its SHA-256),
so a truncated or damaged file is never registered.
"""

import hashlib
import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from tqdm import tqdm

from medtui.core import hub
from medtui.core.engines.base import CancelToken
from medtui.core.errors import MedtuiError
from medtui.core.formatting import format_size
from medtui.core.registry import ModelSpec, Registry, spec_from_source
from medtui.core.text import check_name

if TYPE_CHECKING:  # huggingface_hub is imported only when a pull runs; the catalogue imports this module
    from huggingface_hub.hf_api import ModelInfo

    from medtui.core.model_catalog import CatalogEntry

Progress = Callable[[int, int | None], None]  # (bytes done, total or None), restarting with each phase
Phase = Callable[[str], None]  # "downloading FILE", "verifying FILE"

DEFAULT_QUANT = "Q4_K_M"  # when a repo holds several GGUFs and neither --file nor --quant names one
_SPLIT = re.compile(r"-(\d{5})-of-(\d{5})\.gguf$", re.IGNORECASE)
_QUANT = re.compile(r"(?:^|[-._])(I?Q\d(?:_[A-Z0-9]+)*|TQ\d_\d|BF16|FP16|F16|F32)$", re.IGNORECASE)
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_REPO = re.compile(r"^[\w.-]+/[\w.-]+$")
_URL = re.compile(r"^https?://[^/]+/")
_CHUNK = 8 << 20


class PullCancelled(MedtuiError):
    """The caller's cancel token was set; what was downloaded stays in the cache for the next pull."""


@dataclass(frozen=True)
class RepoFile:
    path: str  # inside the repo
    size: int | None = None
    sha256: str | None = None  # as the Hub records it (LFS); offline, the cached blob's name


@dataclass(frozen=True)
class Choice:
    """One model: a single GGUF, or every part of a split one, in order."""

    quant: str | None
    parts: tuple[RepoFile, ...]
    expected_parts: int = 1

    @property
    def first(self) -> RepoFile:
        return self.parts[0]

    @property
    def size(self) -> int | None:
        sizes = [p.size for p in self.parts]
        return None if None in sizes else sum(s for s in sizes if s is not None)


@dataclass(frozen=True)
class PullResult:
    spec: ModelSpec
    files: list[Path]  # the cache paths, the first part first
    size: int
    seconds: float
    already: bool = False  # the file was registered before, under spec.name: nothing was added


@dataclass(frozen=True)
class Request:
    """What a pull asks for, once a catalogue name or a Hub URL is turned into org/repo."""

    repo: str
    file: str | None
    quant: str | None
    name: str | None  # as given
    entry: "CatalogEntry | None"  # the catalogue's entry for the repo

    def known_file(self) -> str | None:
        """The file the pull will fetch, when --file, the URL or the catalogue names it."""
        if self.file or not self.entry:
            return self.file
        found = self.entry.files.get((self.quant or DEFAULT_QUANT).upper())
        return found.file if found else None

    def name_for(self, file: str | None, quant: str | None) -> str:
        """--name, else the catalogue's name for its entry's own quant (so `catalog` and the switcher
        see it pulled) and that name and the quant for its other quants, else the repo and quant."""
        if self.name:
            return self.name
        if self.entry and file == self.entry.files[self.entry.smallest_quant()].file:
            return self.entry.name
        if self.entry and quant and file in {f.file for f in self.entry.files.values()}:
            return f"{self.entry.name}-{quant.lower()}"
        return default_name(self.repo, quant)


def request(repo: str, file: str | None = None, quant: str | None = None, name: str | None = None) -> Request:
    """Read REPO as org/repo, a Hub URL (`…/tree/main`; `…/resolve/main/FILE` and `…/blob/main/FILE`
    name the file) or a catalogue name (its repo, and the quant `models catalog` shows), and refuse
    --file and --quant together, or a --file that is no GGUF, before anything is fetched."""
    from medtui.core.model_catalog import load_catalog

    parts = _URL.sub("", repo.strip()).split("?")[0].strip("/").split("/")
    if len(parts) >= 5 and parts[2] in ("resolve", "blob"):
        file = file or "/".join(parts[4:])
    catalog = load_catalog()
    entry = next((e for e in catalog if e.name == parts[0].lower()), None) if len(parts) == 1 else None
    full = entry.gguf_repo if entry else "/".join(parts[:2])
    if not _REPO.match(full) or (len(parts) > 2 and parts[2] not in ("tree", "resolve", "blob")):
        raise MedtuiError(
            f"{repo!r} is not a Hub repo: give org/repo (e.g. bartowski/Qwen2.5-1.5B-Instruct-GGUF) or its "
            f"{hub.endpoint()}/org/repo URL, or a name from `medtui models catalog`"
        )
    entry = entry or next((e for e in catalog if e.gguf_repo.lower() == full.lower()), None)
    if file and quant:
        raise MedtuiError(f"both a file ({file}) and --quant {quant} pick the GGUF: give one of them")
    if file and not file.lower().endswith(".gguf"):
        raise MedtuiError(f"{file} is not a .gguf file: name one of the repo's GGUF files (a split one's first part)")
    if entry and not file and not quant:
        quant = entry.smallest_quant()
    return Request(entry.gguf_repo if entry else full, file, quant, name, entry)


def quant_of(path: str) -> str | None:
    """The quant word ending a GGUF's name (`…-Q4_K_M.gguf`, `….q8_0.gguf`, `…-F16-00001-of-00002.gguf`), upper-case."""
    name = PurePosixPath(path).name
    stem = _SPLIT.sub("", name)
    stem = stem[: -len(".gguf")] if stem.lower().endswith(".gguf") else stem
    match = _QUANT.search(stem)
    return match.group(1).upper() if match else None


def group(files: list[RepoFile]) -> list[Choice]:
    """The repo's models: GGUF files (not vision projectors), split parts gathered under their first."""
    parts: dict[str, list[RepoFile]] = {}
    counts: dict[str, int] = {}
    for f in sorted(files, key=lambda f: f.path):
        name = PurePosixPath(f.path).name
        if not name.lower().endswith(".gguf") or "mmproj" in name.lower():
            continue
        split = _SPLIT.search(f.path)
        key = _SPLIT.sub("", f.path) if split else f.path
        parts.setdefault(key, []).append(f)
        counts[key] = int(split.group(2)) if split else 1
    return [Choice(quant_of(key), tuple(fs), counts[key]) for key, fs in sorted(parts.items())]


def available_quants(choices: list[Choice]) -> list[str]:
    return sorted({c.quant for c in choices if c.quant})


def choose(choices: list[Choice], repo: str, file: str | None = None, quant: str | None = None) -> Choice:
    """The model that --file or --quant names (case-insensitive), else the only one, else DEFAULT_QUANT."""
    if not choices:
        raise MedtuiError(f"{repo} holds no GGUF file: pull from a repo of GGUFs (its name often ends in -GGUF)")
    quants = ", ".join(available_quants(choices)) or "none recognised"
    if file is not None:
        found = [c for c in choices if any(file in (p.path, PurePosixPath(p.path).name) for p in c.parts)]
        if not found:
            names = ", ".join(c.first.path for c in choices)
            raise MedtuiError(f"{repo} has no GGUF file {file!r}: its GGUF files are {names}")
        chosen = found[0]
    else:
        wanted = quant or (DEFAULT_QUANT if len(choices) > 1 else None)
        if wanted is None:
            chosen = choices[0]
        else:
            found = [c for c in choices if c.quant and c.quant == wanted.upper()]
            if not found:
                how = "" if quant else f" (the default, {DEFAULT_QUANT})"
                raise MedtuiError(
                    f"{repo} has no {wanted.upper()} GGUF{how}: pick one of its quants with --quant: {quants}"
                )
            if len(found) > 1:
                names = ", ".join(c.first.path for c in found)
                raise MedtuiError(f"{repo} has several {wanted.upper()} GGUFs ({names}): name one with --file")
            chosen = found[0]
    if len(chosen.parts) != chosen.expected_parts:
        raise MedtuiError(
            f"{repo}: {chosen.first.path} is split in {chosen.expected_parts} parts but only "
            f"{len(chosen.parts)} are listed: the repo is incomplete, pick another quant"
        )
    return chosen


def by_hand_error(req: Request, reason: str, file: str | None = None) -> MedtuiError:
    """The one line for a pull that needs the Hub and cannot reach it: how to get the file by hand,
    naming the file (else its quant) and the name a pull would register."""
    base = f"{hub.endpoint()}/{req.repo}"
    file = file or req.known_file()
    quant = (quant_of(file) if file else None) or (req.quant or DEFAULT_QUANT).upper()
    name = req.name_for(file, quant)
    if file:
        get = f"download {base}/resolve/main/{file} by hand (files: {base}/tree/main)"
        add = f"`medtui models add {name} {PurePosixPath(file).name}`"
    else:
        get = f"download the …-{quant}.gguf file listed at {base}/tree/main by hand"
        add = f"`medtui models add {name}` followed by the file's path"
    return hub.unreachable_error(reason, req.repo, f"{get}, then {add}")


def list_repo(req: Request, cache_dir: Path | None = None) -> tuple[list[RepoFile], str | None, bool]:
    """(files, commit, online). Online: the Hub's listing with sizes and LFS SHA-256s. Offline (chosen,
    or the Hub unreachable): what the local cache holds of the repo's `main`, with each blob's name
    as its SHA-256. An unknown repo, a gated one and an uncached one offline are one-line errors."""
    if hub.check() is None and not hub.offline():
        return (*_list_online(req), True)
    files, commit = _list_cached(req.repo, cache_dir)
    if not files:
        raise by_hand_error(req, hub.offline_reason())
    return files, commit, False


def _list_online(req: Request) -> tuple[list[RepoFile], str | None]:
    from huggingface_hub import HfApi
    from huggingface_hub.errors import GatedRepoError, HTTPError, RepositoryNotFoundError

    repo = req.repo
    try:
        info = HfApi().model_info(repo, files_metadata=True)
    except GatedRepoError:
        raise _gated(repo) from None
    except RepositoryNotFoundError:
        raise MedtuiError(
            f"no model repo {repo} on the Hub (or it is private: log in with `hf auth login` or set HF_TOKEN)"
        ) from None
    except (HTTPError, OSError) as e:  # HTTPError: the HTTP client's, so a dropped connection too
        raise by_hand_error(req, _first_line(e)) from None
    return repo_files(info), info.sha


def repo_files(info: "ModelInfo") -> list[RepoFile]:
    """The files of `model_info(files_metadata=True)`, with the SHA-256 the Hub records for LFS files."""
    return [
        RepoFile(
            s.rfilename,
            s.size if s.size is not None else (s.lfs.size if s.lfs else None),
            s.lfs.sha256 if s.lfs else None,
        )
        for s in info.siblings or []
    ]


def _first_line(error: BaseException) -> str:
    return str(error).splitlines()[0] if str(error).strip() else type(error).__name__


def _gated(repo: str) -> MedtuiError:
    return MedtuiError(
        f"{repo} is gated: accept its terms on {hub.endpoint()}/{repo}, then log in with `hf auth login` "
        "or set HF_TOKEN, and pull again"
    )


def _list_cached(repo: str, cache_dir: Path | None) -> tuple[list[RepoFile], str | None]:
    """The files of the repo's `main` revision in the local cache, read with huggingface_hub's own scanner."""
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    try:
        cache = scan_cache_dir(cache_folder(cache_dir))  # its own default is fixed when it is imported
    except CacheNotFound:
        return [], None
    for cached in cache.repos:
        if cached.repo_id != repo or cached.repo_type != "model":
            continue
        for revision in cached.revisions:
            if "main" in revision.refs:
                files = [
                    RepoFile(
                        f.file_path.relative_to(revision.snapshot_path).as_posix(),
                        f.size_on_disk,
                        f.blob_path.name if _SHA256.match(f.blob_path.name) else None,
                    )
                    for f in revision.files
                ]
                return files, revision.commit_hash
    return [], None


def cache_folder(cache_dir: Path | None = None) -> Path:
    from huggingface_hub import constants

    return Path(cache_dir or constants.HF_HUB_CACHE)


def check_disk(folder: Path, need: int, free: int | None = None) -> None:
    """Refuse before downloading when `need` bytes do not fit; `free` overrides the measured space."""
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free if free is None else free
    if need > free:
        raise MedtuiError(
            f"not enough disk space in {folder}: the download needs {format_size(need)}, {format_size(free)} free: "
            "free some space, or set HF_HUB_CACHE to a folder on a bigger disk"
        )


def default_name(repo: str, quant: str | None) -> str:
    """`unsloth/DeepSeek-R1-Distill-Qwen-1.5B-GGUF` at Q4_K_M -> `deepseek-r1-distill-qwen-1.5b-q4_k_m`."""
    base = re.sub(r"[-_.]?gguf$", "", repo.split("/", 1)[1], flags=re.IGNORECASE)
    suffix = f"-{quant}" if quant else ""
    return re.sub(r"[^A-Za-z0-9._-]", "-", base + suffix).lower()


def _registered(registry: Registry, path: Path) -> ModelSpec | None:
    """The plain GGUF model registered for this file, by the file it resolves to (its cache blob)."""
    target = path.resolve()
    return next(
        (s for s in registry.all() if s.kind == "gguf" and not s.adapter and Path(s.source).resolve() == target), None
    )


def _offset(progress: Progress | None, base: int, total: int | None) -> Callable[[int], None]:
    """Bytes of one part reported as bytes of the whole model (parts before it count as done)."""
    return (lambda n: progress(base + n, total)) if progress else (lambda n: None)


def _progress_bar(report: Callable[[int], None], cancel: CancelToken | None) -> type[tqdm]:
    """A tqdm class for `hf_hub_download` that forwards bytes to `report` and stops on `cancel`."""

    class _Forward(tqdm):
        def __init__(self, *args: object, **kwargs: object) -> None:
            kwargs["disable"] = True  # nothing printed: the fronts draw their own bar
            self._done = int(kwargs.get("initial") or 0)  # type: ignore[call-overload]
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]
            report(self._done)

        def update(self, n: float | None = 1) -> bool | None:
            if cancel is not None and cancel.is_set():
                raise PullCancelled("pull stopped: run it again to resume the download")
            self._done += int(n or 0)
            report(self._done)
            return None

    return _Forward


def sha256_of(path: Path, progress: Callable[[int], None] | None = None, cancel: CancelToken | None = None) -> str:
    """Read in chunks, so a multi-GB file reports progress and can be stopped."""
    digest = hashlib.sha256()
    done = 0
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            if cancel is not None and cancel.is_set():
                raise PullCancelled("pull stopped before the check finished: run it again")
            digest.update(chunk)
            done += len(chunk)
            if progress:
                progress(done)
    return digest.hexdigest()


def _verify(repo: str, part: RepoFile, local: Path, report: Callable[[int], None], cancel: CancelToken | None) -> None:
    """Hash the cached file; a mismatch removes it from the cache (blob and link) so the next pull fetches it again."""
    if part.sha256 is None:
        raise MedtuiError(
            f"{repo}/{part.path}: the Hub records no SHA-256 for it, so it cannot be checked: "
            f"download it by hand and `medtui models add` it"
        )
    actual = sha256_of(local.resolve(), report, cancel)
    if actual != part.sha256.lower():
        # The repo's own blob entry, not what it may link to (a store shared with other repos).
        blob = Path(os.path.normpath(local.parent / os.readlink(local))) if local.is_symlink() else local
        local.unlink(missing_ok=True)
        blob.unlink(missing_ok=True)
        raise MedtuiError(
            f"{part.path} from {repo} failed its SHA-256 check (damaged or truncated download; "
            f"expected {part.sha256[:12]}…, got {actual[:12]}…): removed it from the cache, pull again"
        )


def pull(
    repo: str,
    *,
    file: str | None = None,
    quant: str | None = None,
    name: str | None = None,
    progress: Progress | None = None,
    phase: Phase | None = None,
    cancel: CancelToken | None = None,
    cache_dir: Path | None = None,
    registry: Registry | None = None,
) -> PullResult:
    """Download (or find in the cache) the chosen GGUF of `repo` (see `request`), check every part's
    SHA-256, and register the first part under `name` (default: see `Request.name_for`). A file
    registered already is not registered again unless `name` asks for a new name."""
    from huggingface_hub import hf_hub_download, try_to_load_from_cache
    from huggingface_hub.errors import GatedRepoError, HTTPError, LocalEntryNotFoundError

    started = time.monotonic()
    registry = registry or Registry()
    req = request(repo, file, quant, name)
    repo = req.repo
    files, commit, online = list_repo(req, cache_dir)
    try:
        choice = choose(group(files), repo, req.file, req.quant)
    except MedtuiError as e:
        if online:
            raise
        raise by_hand_error(req, f"{hub.offline_reason()}, and the cache holds no match: {e}") from None
    name = check_name("model", req.name_for(choice.first.path, choice.quant))  # before a download, not after

    cached = [try_to_load_from_cache(repo, p.path, cache_dir, commit) for p in choice.parts]
    twin = _registered(registry, Path(str(cached[0]))) if all(isinstance(c, str) for c in cached) else None
    if twin and req.name in (None, twin.name):  # another --name registers an alias
        found = [Path(str(c)) for c in cached]
        return PullResult(twin, found, sum(p.stat().st_size for p in found), time.monotonic() - started, True)
    if any(spec.name == name for spec in registry.all()):
        raise MedtuiError(f"model {name!r} already exists: pass another --name, or `medtui models remove {name}` first")
    missing = [p for p, c in zip(choice.parts, cached) if not isinstance(c, str)]
    check_disk(cache_folder(cache_dir), sum(p.size or 0 for p in missing))

    total = choice.size
    local: list[Path] = []
    done_before = 0
    for part in choice.parts:
        if phase:
            phase(f"downloading {part.path}")
        bar = _progress_bar(_offset(progress, done_before, total), cancel)
        try:
            path = hf_hub_download(repo, part.path, revision=commit, cache_dir=cache_dir, tqdm_class=bar)
        except GatedRepoError:
            raise _gated(repo) from None
        except LocalEntryNotFoundError as e:
            reason = hub.offline_reason() if hub.offline() else _first_line(e)
            raise by_hand_error(req, reason, part.path) from None
        except (HTTPError, OSError) as e:
            raise by_hand_error(req, _first_line(e), part.path) from None
        local.append(Path(str(path)))
        done_before += part.size or Path(str(path)).stat().st_size
        if cancel is not None and cancel.is_set():
            raise PullCancelled("pull stopped: run it again to resume the download")

    done_before = 0
    for part, path in zip(choice.parts, local):
        if phase:
            phase(f"verifying {part.path}")
        _verify(repo, part, path, _offset(progress, done_before, total), cancel)
        done_before += path.stat().st_size

    spec = spec_from_source(name, os.fspath(local[0]))
    registry.add(spec)
    return PullResult(spec, local, sum(p.stat().st_size for p in local), time.monotonic() - started)
