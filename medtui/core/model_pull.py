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

if TYPE_CHECKING:  # huggingface_hub is imported only when a pull runs
    from huggingface_hub.hf_api import ModelInfo

Progress = Callable[[int, int | None], None]  # (bytes done, total or None), restarting with each phase
Phase = Callable[[str], None]  # "downloading FILE", "verifying FILE"

DEFAULT_QUANT = "Q4_K_M"  # when a repo holds several GGUFs and neither --file nor --quant names one
_SPLIT = re.compile(r"-(\d{5})-of-(\d{5})\.gguf$", re.IGNORECASE)
_QUANT = re.compile(r"(?:^|[-._])(I?Q\d(?:_[A-Z0-9]+)*|TQ\d_\d|BF16|FP16|F16|F32)$", re.IGNORECASE)
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
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


def by_hand_error(repo: str, reason: str, file: str | None = None, name: str | None = None) -> MedtuiError:
    """The one line for a pull that needs the Hub and cannot reach it: how to get the file by hand."""
    target = file or "FILE.gguf"
    fix = (
        f"download {hub.endpoint()}/{repo}/resolve/main/{target} by hand (files: {hub.endpoint()}/{repo}/tree/main), "
        f"then `medtui models add {name or 'NAME'} {PurePosixPath(target).name}`"
    )
    return hub.unreachable_error(reason, repo, fix)


def list_repo(
    repo: str, cache_dir: Path | None = None, file: str | None = None, name: str | None = None
) -> tuple[list[RepoFile], str | None, bool]:
    """(files, commit, online). Online: the Hub's listing with sizes and LFS SHA-256s. Offline (chosen,
    or the Hub unreachable): what the local cache holds of the repo's `main`, with each blob's name
    as its SHA-256. An unknown repo, a gated one and an uncached one offline are one-line errors
    (`file` and `name` complete the by-hand instructions)."""
    reason = hub.check()
    if reason is None and not hub.offline():
        return (*_list_online(repo), True)
    files, commit = _list_cached(repo, cache_dir)
    if not files:
        raise by_hand_error(repo, reason or "offline mode is on", file, name)
    return files, commit, False


def _list_online(repo: str) -> tuple[list[RepoFile], str | None]:
    from huggingface_hub import HfApi
    from huggingface_hub.errors import GatedRepoError, HTTPError, RepositoryNotFoundError

    try:
        info = HfApi().model_info(repo, files_metadata=True)
    except GatedRepoError:
        raise _gated(repo) from None
    except RepositoryNotFoundError:
        raise MedtuiError(
            f"no model repo {repo} on the Hub (or it is private: log in with `hf auth login` or set HF_TOKEN)"
        ) from None
    except (HTTPError, OSError) as e:  # HTTPError: the HTTP client's, so a dropped connection too
        raise by_hand_error(repo, _first_line(e)) from None
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


def default_name(repo: str, choice: Choice) -> str:
    """`unsloth/DeepSeek-R1-Distill-Qwen-1.5B-GGUF` at Q4_K_M -> `deepseek-r1-distill-qwen-1.5b-q4_k_m`."""
    base = re.sub(r"[-_.]?gguf$", "", repo.split("/", 1)[1], flags=re.IGNORECASE)
    suffix = f"-{choice.quant}" if choice.quant else ""
    return re.sub(r"[^A-Za-z0-9._-]", "-", base + suffix).lower()


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
    """Download (or find in the cache) the chosen GGUF of `repo`, check every part's SHA-256, and
    register the first part under `name` (default: the repo and quant, see `default_name`)."""
    from huggingface_hub import hf_hub_download, try_to_load_from_cache
    from huggingface_hub.errors import GatedRepoError, HTTPError, LocalEntryNotFoundError

    started = time.monotonic()
    registry = registry or Registry()
    files, commit, online = list_repo(repo, cache_dir, file, name)
    try:
        choice = choose(group(files), repo, file, quant)
    except MedtuiError as e:
        if online:
            raise
        raise by_hand_error(repo, f"offline mode is on, and the cache holds no match: {e}", file, name) from None
    name = check_name("model", name or default_name(repo, choice))  # before a download, not after
    if any(spec.name == name for spec in registry.all()):
        raise MedtuiError(f"model {name!r} already exists: pass another --name, or `medtui models remove {name}` first")

    missing = [p for p in choice.parts if not isinstance(try_to_load_from_cache(repo, p.path, cache_dir, commit), str)]
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
            reason = "offline mode is on" if hub.offline() else _first_line(e)
            raise by_hand_error(repo, reason, part.path, name) from None
        except (HTTPError, OSError) as e:
            raise by_hand_error(repo, _first_line(e), part.path, name) from None
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
