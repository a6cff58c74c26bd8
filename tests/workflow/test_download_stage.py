from __future__ import annotations

import hashlib

import pandas as pd
import pytest

from dacr.io import read_parquet_metadata
from tests.hub_server import FakeHub
from tests.workflow.conftest import ROOT, run_snakemake, write_config

pytestmark = pytest.mark.workflow
PAYLOAD = (ROOT / "tests" / "data" / "routerbench_0shot_7rows.pkl").read_bytes()
REVISION = "0123456789abcdef0123456789abcdef01234567"
LONG = "results/data/routerbench_long.parquet"


@pytest.fixture
def hub():
    with FakeHub() as server:
        server.add_file(
            "withmartian/routerbench", "routerbench_0shot.pkl", PAYLOAD, commit=REVISION
        )
        yield server


def _config(tmp_path, sha256):
    dataset = {
        "source": "huggingface",
        "hf_file": "routerbench_0shot.pkl",
        "revision": REVISION,
        "sha256": sha256,
    }
    return write_config(tmp_path, {"dataset": dataset})


def _env(hub, tmp_path):
    return {"HF_ENDPOINT": hub.url, "HF_HOME": str(tmp_path / "hf_home"), "HF_HUB_OFFLINE": "0"}


def test_download_rule_uses_the_real_client_against_a_loopback_hub(hub, tmp_path):
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    run_snakemake(
        tmp_path, LONG, "--configfile", _config(tmp_path, digest), env=_env(hub, tmp_path)
    )
    cached = tmp_path / "resources" / "routerbench" / REVISION / "routerbench_0shot.pkl"
    assert cached.read_bytes() == PAYLOAD
    assert any(REVISION in p for p in hub.paths("GET"))
    long = pd.read_parquet(tmp_path / LONG)
    assert len(long) == 77
    meta = read_parquet_metadata(tmp_path / LONG)
    assert meta["dataset"] == "routerbench"
    assert meta["source"]["revision"] == REVISION


def test_a_digest_mismatch_fails_and_leaves_no_file(hub, tmp_path):
    proc = run_snakemake(
        tmp_path,
        LONG,
        "--configfile",
        _config(tmp_path, "0" * 64),
        env=_env(hub, tmp_path),
        check=False,
    )
    assert proc.returncode != 0
    log = (tmp_path / "logs" / "data" / "download_routerbench.log").read_text()
    assert "0" * 64 in log and hashlib.sha256(PAYLOAD).hexdigest() in log
    assert not (
        tmp_path / "resources" / "routerbench" / REVISION / "routerbench_0shot.pkl"
    ).exists()
    assert not (tmp_path / LONG).exists()
