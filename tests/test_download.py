"""Tests for dacr.download against a fake Hugging Face hub on 127.0.0.1.

huggingface_hub reads ``HF_ENDPOINT``, ``HF_HOME``, ``HF_HUB_OFFLINE`` and the token path into
``huggingface_hub.constants`` when it is imported, so setting the environment inside a test is
not enough: the ``hub_env`` fixture sets the variables (for any code that reads them later)
*and* patches the constants the client reads at call time. No test reaches beyond loopback.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from huggingface_hub import constants as hf_constants

from dacr.download import (
    DEFAULT_REPO_ID,
    DownloadError,
    fetch_routerbench,
    known_sha256,
    sha256_file,
)
from dacr.profile import load_profile
from tests.hub_server import FakeHub, closed_port_url

PINNED = load_profile()["files"]["hf_revision"]
CONTENT = b"routerbench test bytes\n" * 100
CONTENT_SHA = hashlib.sha256(CONTENT).hexdigest()
FILENAME = "routerbench_sample.pkl"  # not in the profile, so no default digest applies
RESOLVE = f"/datasets/{DEFAULT_REPO_ID}/resolve/{PINNED}/{FILENAME}"


def point_client_at(monkeypatch: pytest.MonkeyPatch, endpoint: str) -> None:
    """Aim huggingface_hub at ``endpoint`` (env for later readers, constants for the client)."""
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    monkeypatch.setattr(hf_constants, "ENDPOINT", endpoint)
    monkeypatch.setattr(
        hf_constants,
        "HUGGINGFACE_CO_URL_TEMPLATE",
        endpoint + "/{repo_id}/resolve/{revision}/{filename}",
    )


def set_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    """A running fake hub serving FILENAME (plain) and an LFS copy, both at PINNED."""
    with FakeHub() as server:
        server.add_file(DEFAULT_REPO_ID, FILENAME, CONTENT, commit=PINNED)
        server.add_file(DEFAULT_REPO_ID, "lfs/" + FILENAME, CONTENT, commit=PINNED, lfs=True)
        yield server


@pytest.fixture
def hub_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, hub: FakeHub) -> FakeHub:
    """Point the client at ``hub``, with HF_HOME, cache and token under tmp_path, online."""
    hf_home = tmp_path / "hf_home"
    point_client_at(monkeypatch, hub.url)
    monkeypatch.setenv("HF_HOME", str(hf_home))
    monkeypatch.setattr(hf_constants, "HF_HOME", str(hf_home))
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(hf_home / "hub"))
    # No token from the developer's machine may reach the fake hub (or change gated answers).
    monkeypatch.setattr(hf_constants, "HF_TOKEN_PATH", str(hf_home / "token"))
    monkeypatch.setattr(hf_constants, "HF_STORED_TOKENS_PATH", str(hf_home / "stored_tokens"))
    # The client may cache its agent-harness registry here; keep it out of the real HF_HOME.
    monkeypatch.setattr(
        hf_constants, "AGENT_HARNESSES_PATH", str(hf_home / ".agent_harnesses.json")
    )
    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
    return hub


@pytest.fixture
def local_dir(tmp_path: Path) -> Path:
    return tmp_path / "resources"


def test_download_lands_in_local_dir_with_served_bytes(hub_env: FakeHub, local_dir: Path) -> None:
    path = fetch_routerbench(DEFAULT_REPO_ID, FILENAME, PINNED, local_dir)

    assert path == (local_dir / FILENAME).resolve()
    assert path.read_bytes() == CONTENT
    assert RESOLVE in hub_env.paths("HEAD")
    assert hub_env.paths("GET", prefix="/datasets/") == [RESOLVE]


def test_lfs_file_is_fetched_from_redirect_target(hub_env: FakeHub, local_dir: Path) -> None:
    path = fetch_routerbench(DEFAULT_REPO_ID, "lfs/" + FILENAME, PINNED, local_dir)

    assert path.read_bytes() == CONTENT
    assert hub_env.paths("GET", server="cdn") == [f"/blobs/{CONTENT_SHA}"]


def test_branch_name_resolves_through_server(hub_env: FakeHub, local_dir: Path) -> None:
    path = fetch_routerbench(DEFAULT_REPO_ID, FILENAME, "main", local_dir)

    assert path.read_bytes() == CONTENT
    assert f"/datasets/{DEFAULT_REPO_ID}/resolve/main/{FILENAME}" in hub_env.paths("HEAD")


def test_correct_sha256_passes(hub_env: FakeHub, local_dir: Path) -> None:
    path = fetch_routerbench(DEFAULT_REPO_ID, FILENAME, PINNED, local_dir, sha256=CONTENT_SHA)

    assert sha256_file(path) == CONTENT_SHA


def test_sha256_is_case_insensitive(hub_env: FakeHub, local_dir: Path) -> None:
    path = fetch_routerbench(
        DEFAULT_REPO_ID, FILENAME, PINNED, local_dir, sha256=CONTENT_SHA.upper()
    )

    assert path.is_file()


def test_wrong_sha256_names_both_digests_and_leaves_no_file(
    hub_env: FakeHub, local_dir: Path
) -> None:
    wrong = "0" * 64

    with pytest.raises(ValueError, match="SHA-256 mismatch") as info:
        fetch_routerbench(DEFAULT_REPO_ID, FILENAME, PINNED, local_dir, sha256=wrong)

    message = str(info.value)
    assert FILENAME in message
    assert wrong in message
    assert CONTENT_SHA in message
    assert not (local_dir / FILENAME).exists()


def test_corrupt_bytes_from_mirror_are_rejected(hub_env: FakeHub, local_dir: Path) -> None:
    published = b"the published bytes\n" * 50
    published_sha = hashlib.sha256(published).hexdigest()
    hub_env.add_file(DEFAULT_REPO_ID, "bad.pkl", published, commit=PINNED, lfs=True, corrupt=True)

    with pytest.raises(ValueError, match=published_sha):
        fetch_routerbench(DEFAULT_REPO_ID, "bad.pkl", PINNED, local_dir, sha256=published_sha)

    assert not (local_dir / "bad.pkl").exists()


def test_profile_digest_is_checked_by_default(hub_env: FakeHub, local_dir: Path) -> None:
    # A tiny file published under the real name cannot match the real file's digest.
    hub_env.add_file(DEFAULT_REPO_ID, "routerbench_0shot.pkl", CONTENT, commit=PINNED)

    with pytest.raises(
        ValueError, match=load_profile()["files"]["routerbench_0shot.pkl"]["sha256"]
    ):
        fetch_routerbench(DEFAULT_REPO_ID, "routerbench_0shot.pkl", PINNED, local_dir)

    assert not (local_dir / "routerbench_0shot.pkl").exists()


def test_unknown_digest_is_logged_as_not_verified(
    hub_env: FakeHub, local_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="dacr.download"):
        path = fetch_routerbench(DEFAULT_REPO_ID, FILENAME, PINNED, local_dir)

    assert "not verified" in caplog.text
    assert CONTENT_SHA in caplog.text
    assert path.is_file()


def test_malformed_sha256_is_rejected_before_any_request(hub_env: FakeHub, local_dir: Path) -> None:
    with pytest.raises(ValueError, match="64 hexadecimal"):
        fetch_routerbench(DEFAULT_REPO_ID, FILENAME, PINNED, local_dir, sha256="abc")

    assert hub_env.requests == []


def test_known_sha256_equals_profile_digest() -> None:
    files = load_profile()["files"]

    assert known_sha256("routerbench_0shot.pkl") == files["routerbench_0shot.pkl"]["sha256"]
    assert known_sha256("routerbench_5shot.pkl") == files["routerbench_5shot.pkl"]["sha256"]


def test_known_sha256_is_none_without_published_digest() -> None:
    assert known_sha256("routerbench_raw.pkl") is None
    assert known_sha256("hf_revision") is None


def _assert_offline_help(message: str, filename: str = FILENAME) -> None:
    assert DEFAULT_REPO_ID in message
    assert filename in message
    assert PINNED in message
    assert "dataset.source: file" in message
    assert "dataset.path: /path/to/routerbench_0shot.pkl" in message
    assert "snakemake --cores 2 --configfile config/demo.yaml" in message


def test_unreachable_endpoint_raises_offline_help(
    hub_env: FakeHub, monkeypatch: pytest.MonkeyPatch, local_dir: Path
) -> None:
    point_client_at(monkeypatch, closed_port_url())

    with pytest.raises(DownloadError, match="unreachable") as info:
        fetch_routerbench(DEFAULT_REPO_ID, FILENAME, PINNED, local_dir)

    assert isinstance(info.value, RuntimeError)
    _assert_offline_help(str(info.value))
    assert not (local_dir / FILENAME).exists()


def test_unreachable_endpoint_reuses_file_already_in_local_dir(
    hub_env: FakeHub, monkeypatch: pytest.MonkeyPatch, local_dir: Path
) -> None:
    local_dir.mkdir()
    (local_dir / FILENAME).write_bytes(CONTENT)
    point_client_at(monkeypatch, closed_port_url())

    path = fetch_routerbench(DEFAULT_REPO_ID, FILENAME, PINNED, local_dir, sha256=CONTENT_SHA)

    assert path.read_bytes() == CONTENT


def test_hub_outage_fails_after_one_request(hub_env: FakeHub, local_dir: Path) -> None:
    hub_env.outage = 503

    with pytest.raises(DownloadError, match="HTTP 503") as info:
        fetch_routerbench(DEFAULT_REPO_ID, FILENAME, PINNED, local_dir)

    _assert_offline_help(str(info.value))
    # hf_hub_download alone would retry five times with back-off; the probe does not.
    assert hub_env.paths(prefix="/datasets/") == [RESOLVE]


def test_missing_file_names_file_and_valid_names(hub_env: FakeHub, local_dir: Path) -> None:
    with pytest.raises(DownloadError, match="'nope.pkl' was not found") as info:
        fetch_routerbench(DEFAULT_REPO_ID, "nope.pkl", PINNED, local_dir)

    assert PINNED in str(info.value)
    assert "routerbench_0shot.pkl" in str(info.value)


def test_missing_revision_names_revision_and_pinned_one(hub_env: FakeHub, local_dir: Path) -> None:
    with pytest.raises(DownloadError, match="revision 'v9' was not found") as info:
        fetch_routerbench(DEFAULT_REPO_ID, FILENAME, "v9", local_dir)

    assert PINNED in str(info.value)


def test_missing_repo_names_repo_and_mentions_token(hub_env: FakeHub, local_dir: Path) -> None:
    with pytest.raises(DownloadError, match="repo 'someone/else' was not found") as info:
        fetch_routerbench("someone/else", FILENAME, PINNED, local_dir)

    assert "HF_TOKEN" in str(info.value)


def test_gated_repo_mentions_token(hub_env: FakeHub, local_dir: Path) -> None:
    hub_env.add_file("gated/bench", FILENAME, CONTENT, commit=PINNED)
    hub_env.gate("gated/bench")

    with pytest.raises(DownloadError, match="gated") as info:
        fetch_routerbench("gated/bench", FILENAME, PINNED, local_dir)

    assert "HF_TOKEN" in str(info.value)


def test_offline_mode_without_local_file_raises_offline_help(
    hub_env: FakeHub, monkeypatch: pytest.MonkeyPatch, local_dir: Path
) -> None:
    set_offline(monkeypatch)

    with pytest.raises(DownloadError, match="HF_HUB_OFFLINE") as info:
        fetch_routerbench(DEFAULT_REPO_ID, FILENAME, PINNED, local_dir)

    _assert_offline_help(str(info.value))
    assert hub_env.requests == []


def test_offline_mode_returns_previous_download(
    hub_env: FakeHub, monkeypatch: pytest.MonkeyPatch, local_dir: Path
) -> None:
    first = fetch_routerbench(DEFAULT_REPO_ID, FILENAME, PINNED, local_dir, sha256=CONTENT_SHA)
    seen = len(hub_env.requests)
    set_offline(monkeypatch)

    again = fetch_routerbench(DEFAULT_REPO_ID, FILENAME, PINNED, local_dir, sha256=CONTENT_SHA)

    assert again == first
    assert again.read_bytes() == CONTENT
    assert len(hub_env.requests) == seen


def test_offline_mode_returns_file_copied_into_local_dir(
    hub_env: FakeHub, monkeypatch: pytest.MonkeyPatch, local_dir: Path
) -> None:
    local_dir.mkdir()
    (local_dir / FILENAME).write_bytes(CONTENT)
    set_offline(monkeypatch)

    path = fetch_routerbench(DEFAULT_REPO_ID, FILENAME, PINNED, local_dir, sha256=CONTENT_SHA)

    assert path.read_bytes() == CONTENT
    assert hub_env.requests == []


def test_offline_copy_with_wrong_bytes_is_rejected(
    hub_env: FakeHub, monkeypatch: pytest.MonkeyPatch, local_dir: Path
) -> None:
    local_dir.mkdir()
    (local_dir / FILENAME).write_bytes(b"stale")
    set_offline(monkeypatch)

    with pytest.raises(ValueError, match=CONTENT_SHA):
        fetch_routerbench(DEFAULT_REPO_ID, FILENAME, PINNED, local_dir, sha256=CONTENT_SHA)

    assert not (local_dir / FILENAME).exists()
