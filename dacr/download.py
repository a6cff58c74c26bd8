"""Download RouterBench files from the Hugging Face hub and verify their SHA-256 digests.

This is the only module of ``dacr`` that touches the network. It calls the real client
(:func:`huggingface_hub.hf_hub_download`), so ``HF_ENDPOINT``, ``HF_HOME``, ``HF_HUB_OFFLINE``,
``HF_TOKEN`` and the timeout variables ``HF_HUB_ETAG_TIMEOUT`` / ``HF_HUB_DOWNLOAD_TIMEOUT`` work
as documented by huggingface_hub. huggingface_hub reads them when it is imported, so set them
before the process starts (as Snakemake does for a job), not from Python afterwards.

Failing fast
------------
When the hub cannot be reached and the file is not already in ``local_dir``,
``hf_hub_download`` (huggingface_hub 2.4.0) retries the metadata request five times with a
60 s timeout and 1+2+4+8+8 s of back-off: 23 s against a refused port, minutes against a
host that drops packets. That retry uses a hard-coded timeout and cannot be bounded through
the environment, so :func:`fetch_routerbench` first makes one metadata request without retries
(:func:`huggingface_hub.get_hf_file_metadata`, timeout ``HF_HUB_ETAG_TIMEOUT``, 10 s by default)
and turns its failure into a :class:`DownloadError` that says how to run offline.
"""

from __future__ import annotations

import importlib
import logging
import re
from pathlib import Path

from huggingface_hub import constants as hf_constants
from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url
from huggingface_hub.errors import (
    EntryNotFoundError,
    FileMetadataError,
    GatedRepoError,
    HfHubHTTPError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from dacr.io import sha256_file
from dacr.profile import load_profile

logger = logging.getLogger(__name__)

DEFAULT_REPO_ID = "withmartian/routerbench"
ROUTERBENCH_FILES = ("routerbench_raw.pkl", "routerbench_0shot.pkl", "routerbench_5shot.pkl")

# 8 MiB: few enough reads for a 1.1 GB file, small enough to keep memory flat.
_CHUNK_BYTES = 8 * 1024 * 1024
_SHA256_RE = re.compile(r"[0-9a-f]{64}")

OFFLINE_HELP = (
    "To run without the network, point the workflow at a local copy of the file (set "
    "`dataset.source: file` and `dataset.path: /path/to/routerbench_0shot.pkl` in the config), "
    "or run the demo, which uses the embedded synthetic RouterBench: "
    "`snakemake --cores 2 --configfile config/demo.yaml`."
)
TOKEN_HELP = (
    "If the repo is private or gated, accept its terms on the hub and set HF_TOKEN "
    "(or run `hf auth login`) with a token that has read access."
)


class DownloadError(RuntimeError):
    """A RouterBench file could not be downloaded from the hub.

    Parameters
    ----------
    message : str
        What went wrong and what to do about it.
    repo_id, filename, revision : str
        The dataset repo, file and revision that were requested.
    """

    user_facing = True  # its message says what happened and what to do

    def __init__(self, message: str, *, repo_id: str, filename: str, revision: str) -> None:
        super().__init__(message)
        self.repo_id = repo_id
        self.filename = filename
        self.revision = revision


def _transport_errors() -> tuple[type[BaseException], ...]:
    """Exception classes the installed HTTP stack raises when the endpoint cannot be reached."""
    found: list[type[BaseException]] = [OfflineModeIsEnabled, ConnectionError, TimeoutError]
    # huggingface_hub 2.x talks through httpx2, 1.x through httpx, 0.x through requests.
    for module_name, attr in (
        ("httpx2", "TransportError"),
        ("httpx", "TransportError"),
        ("requests", "ConnectionError"),
        ("requests", "Timeout"),
    ):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        found.append(getattr(module, attr))
    return tuple(found)


_TRANSPORT_ERRORS = _transport_errors()
_HUB_ERRORS = (
    *_TRANSPORT_ERRORS,
    HfHubHTTPError,
    EntryNotFoundError,
    FileMetadataError,
)


def known_sha256(filename: str) -> str | None:
    """Return the published SHA-256 digest of a RouterBench file, if the profile has one.

    Parameters
    ----------
    filename : str
        File name in the dataset repo, e.g. ``"routerbench_0shot.pkl"``.

    Returns
    -------
    str or None
        Lower-case hex digest from ``load_profile()["files"][filename]["sha256"]``, or ``None``
        when the profile records no digest for that file (``routerbench_raw.pkl``).
    """
    entry = load_profile()["files"].get(filename)
    if not isinstance(entry, dict) or not entry.get("sha256"):
        return None
    return str(entry["sha256"]).lower()


def _normalise_sha256(sha256: str, filename: str) -> str:
    value = sha256.strip().lower()
    if not _SHA256_RE.fullmatch(value):
        raise ValueError(
            f"sha256 for {filename!r} is {sha256!r}; expected 64 hexadecimal characters "
            "(the output of `sha256sum`), or None to use the digest known from the profile."
        )
    return value


def _describe(repo_id: str, filename: str, revision: str) -> str:
    return (
        f"{filename!r} from dataset repo {repo_id!r} at revision {revision!r} "
        f"(endpoint {hf_constants.ENDPOINT})"
    )


def _translate_error(
    exc: BaseException, *, repo_id: str, filename: str, revision: str, local_dir: Path
) -> DownloadError:
    """Turn a huggingface_hub / transport error into a :class:`DownloadError` with advice."""
    what = _describe(repo_id, filename, revision)
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if isinstance(exc, GatedRepoError):
        message = f"Cannot download {what}: the repo is gated and no accepted token was sent. "
        message += TOKEN_HELP
    elif isinstance(exc, RepositoryNotFoundError):
        message = (
            f"Cannot download {what}: repo {repo_id!r} was not found (or it is private and no "
            f"valid token was sent). The RouterBench repo is {DEFAULT_REPO_ID!r}. {TOKEN_HELP}"
        )
    elif isinstance(exc, RevisionNotFoundError):
        message = (
            f"Cannot download {what}: revision {revision!r} was not found in the repo. Use a "
            "branch, a tag or a 40-character commit hash; the pinned RouterBench revision is "
            f"{load_profile()['files']['hf_revision']!r}."
        )
    elif isinstance(exc, EntryNotFoundError) and not isinstance(exc, LocalEntryNotFoundError):
        message = (
            f"Cannot download {what}: file {filename!r} was not found in the repo at that "
            f"revision. RouterBench files are {', '.join(ROUTERBENCH_FILES)}."
        )
    elif isinstance(exc, HfHubHTTPError) and status in (401, 403):
        message = f"Cannot download {what}: the hub refused access (HTTP {status}). {TOKEN_HELP}"
    elif isinstance(exc, OfflineModeIsEnabled) or hf_constants.HF_HUB_OFFLINE:
        message = (
            f"Cannot download {what}: HF_HUB_OFFLINE is set and the file is not in "
            f"{str(local_dir)!r}. {OFFLINE_HELP}"
        )
    elif isinstance(exc, HfHubHTTPError):
        message = (
            f"Cannot download {what}: the hub answered HTTP {status} ({exc}). "
            f"Retry later, or run offline. {OFFLINE_HELP}"
        )
    elif isinstance(exc, FileMetadataError):
        message = (
            f"Cannot download {what}: the endpoint does not answer like a Hugging Face hub "
            f"({exc}). Check HF_ENDPOINT and any proxy. {OFFLINE_HELP}"
        )
    else:
        message = (
            f"Cannot download {what}: the hub is unreachable ({type(exc).__name__}: {exc}). "
            f"Check the network or HF_ENDPOINT. {OFFLINE_HELP}"
        )
    return DownloadError(message, repo_id=repo_id, filename=filename, revision=revision)


def _probe_hub(repo_id: str, filename: str, revision: str) -> None:
    """One metadata request without retries, so an unreachable hub fails in seconds."""
    url = hf_hub_url(repo_id, filename, repo_type="dataset", revision=revision)
    get_hf_file_metadata(url, timeout=hf_constants.HF_HUB_ETAG_TIMEOUT)


def fetch_routerbench(
    repo_id: str,
    filename: str,
    revision: str,
    local_dir: str | Path,
    sha256: str | None = None,
) -> Path:
    """Download one file of a Hugging Face dataset repo and verify its SHA-256 digest.

    Parameters
    ----------
    repo_id : str
        Dataset repo, e.g. ``"withmartian/routerbench"`` (:data:`DEFAULT_REPO_ID`).
    filename : str
        File in the repo, e.g. ``"routerbench_0shot.pkl"`` (see :data:`ROUTERBENCH_FILES`).
    revision : str
        Branch, tag or commit hash. Pin a commit (``load_profile()["files"]["hf_revision"]``)
        for reproducible results.
    local_dir : str or Path
        Directory the file is placed in (as ``local_dir / filename``). A file already there is
        reused when the hub confirms it is current, or when the hub cannot be reached.
    sha256 : str, optional
        Expected hex digest. Defaults to :func:`known_sha256` of ``filename``; when neither is
        known the file is returned unverified and a warning is logged.

    Returns
    -------
    Path
        Local path of the verified file.

    Raises
    ------
    DownloadError
        The hub is unreachable or offline mode is on and the file is not in ``local_dir``; or
        the repo, revision or file does not exist; or access was refused.
    ValueError
        ``sha256`` is malformed, or the file's digest differs from the expected one (the file
        is then deleted).
    """
    local_dir = Path(local_dir)
    expected = _normalise_sha256(sha256, filename) if sha256 is not None else None
    if expected is None:
        expected = known_sha256(filename)
    logger.info("Fetching %s into %s", _describe(repo_id, filename, revision), local_dir.resolve())
    try:
        if not (local_dir / filename).is_file():
            _probe_hub(repo_id, filename, revision)
        path = Path(
            hf_hub_download(
                repo_id=repo_id,
                filename=filename,
                repo_type="dataset",
                revision=revision,
                local_dir=local_dir,
            )
        )
    except _HUB_ERRORS as exc:
        raise _translate_error(
            exc, repo_id=repo_id, filename=filename, revision=revision, local_dir=local_dir
        ) from exc
    _verify(path, expected, source=_describe(repo_id, filename, revision))
    return path


def _verify(path: Path, expected: str | None, *, source: str) -> None:
    """Check the digest of a downloaded file; delete it and raise on mismatch."""
    size = path.stat().st_size
    actual = sha256_file(path)
    if expected is None:
        logger.warning(
            "Fetched %s to %s (%d bytes, sha256 %s): not verified, no known SHA-256 for it",
            source,
            path,
            size,
            actual,
        )
        return
    if actual != expected:
        # Leave nothing behind that a later rule could mistake for a good download.
        path.unlink(missing_ok=True)
        raise ValueError(
            f"SHA-256 mismatch for {path.name} (downloaded to {path}, now deleted): expected "
            f"{expected}, got {actual}. The mirror may serve a different revision or a corrupt "
            "file; check HF_ENDPOINT and the revision, or pass the right sha256."
        )
    logger.info("Fetched %s to %s (%d bytes, sha256 %s, verified)", source, path, size, actual)
