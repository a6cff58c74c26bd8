"""The train and test splits of an experiment as (queries x models) matrices.

The test split is the stream's ``test`` events in stream order; the train split is every query
labelled ``train`` in ``split.parquet``. Every stage that needs matrices reads them from here,
so all of them agree on rows and model order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from dacr.io import load_npz, read_parquet
from dacr.stream import read_stream


@dataclass(frozen=True)
class SplitMatrices:
    """One split as matrices: rows are queries (test: in stream order), columns ``models``."""

    qids: np.ndarray
    domains: np.ndarray
    prompts: np.ndarray
    quality: np.ndarray
    cost: np.ndarray


def _pivot(long: pd.DataFrame, qids: np.ndarray, models: list[str], column: str) -> np.ndarray:
    wide = long.pivot(index="qid", columns="model", values=column)
    return wide.reindex(index=pd.Index(qids, dtype=object), columns=models).to_numpy(float)


def split_matrices(
    long: pd.DataFrame, qids: Sequence[str], models: list[str], name: str
) -> SplitMatrices:
    """Quality and cost matrices of ``qids``; a model missing for some query is an error."""
    qids = np.asarray(qids, dtype=object)
    if len(qids) == 0:
        raise ValueError(f"the {name} split is empty")
    sub = long.loc[long["qid"].isin(qids)]
    quality = _pivot(sub, qids, models, "quality")
    cost = _pivot(sub, qids, models, "cost")
    missing = np.isnan(quality)
    if missing.any():
        rows, cols = np.nonzero(missing)
        examples = [(qids[r], models[c]) for r, c in zip(rows[:5], cols[:5], strict=True)]
        raise ValueError(
            f"{name} split: {int(missing.sum())} (qid, model) pairs have no quality, e.g. "
            f"{examples}; every query needs every model (drop incomplete queries upstream)"
        )
    if (cost < 0).any():
        raise ValueError(f"{name} split: negative costs, min {cost.min()}")
    first = sub.drop_duplicates("qid").set_index("qid").reindex(qids)
    return SplitMatrices(
        qids=qids,
        domains=first["domain"].astype(str).to_numpy(),
        prompts=first["prompt"].astype(str).to_numpy(),
        quality=quality,
        cost=cost,
    )


def load_splits(
    long_path: str | Path,
    split_path: str | Path,
    stream_path: str | Path,
    experiment: str,
    domain_labels: str = "dataset",
) -> tuple[SplitMatrices, SplitMatrices, pd.DataFrame, list[str]]:
    """Train matrices, test matrices (stream order), the test events, and the model order.

    The test split is the stream's ``test`` events, in stream order; the train split is every
    query labelled ``train`` in ``split.parquet``. A qid in both is an error. With
    ``domain_labels="llm"`` the test queries' domain is the stream's ``llm_domain`` label
    (rule label_domain), which DACR's corrections and the per-domain tables then use.
    """
    long = read_parquet(long_path, columns=["qid", "prompt", "domain", "model", "quality", "cost"])
    long = long.astype({"qid": str, "model": str, "domain": str})
    models = sorted(long["model"].unique())
    split = read_parquet(split_path)
    train_qids = split.loc[split["split"] == "train", "qid"].astype(str).to_numpy()
    events = read_stream(stream_path)
    events = events.loc[events["split"] == "test"].reset_index(drop=True)
    if events.empty:
        raise ValueError(
            f"experiment {experiment!r}: the stream {stream_path} has no test events; "
            "set stream.split to test or all"
        )
    if events["qid"].duplicated().any():
        raise ValueError(f"{stream_path}: a qid appears twice among the test events")
    leak = np.intersect1d(train_qids, events["qid"].to_numpy())
    if len(leak):
        raise ValueError(
            f"experiment {experiment!r}: {len(leak)} test qids are also in train, e.g. {leak[:3]}"
        )
    train = split_matrices(long, train_qids, models, f"experiment {experiment!r} train")
    test = split_matrices(long, events["qid"].to_numpy(), models, f"experiment {experiment!r} test")
    if domain_labels == "llm":
        if "llm_domain" not in events:
            raise ValueError(
                f"experiment {experiment!r}: domain_labels is llm but {stream_path} has no "
                "llm_domain column; give it the labelled stream (stream_labeled.jsonl)"
            )
        test = replace(test, domains=events["llm_domain"].astype(str).to_numpy())
    elif domain_labels != "dataset":
        raise ValueError(f"domain_labels={domain_labels!r} is not valid; choose dataset or llm")
    return train, test, events, models


def embeddings_for(embeddings_path: str | Path, qids: np.ndarray) -> np.ndarray:
    """Rows of the cached sentence embeddings (``run_embeddings``) for ``qids``, in order."""
    data = load_npz(embeddings_path)
    index = pd.Index(data["qids"])
    pos = index.get_indexer(qids.astype(str))
    if (pos < 0).any():
        missing = qids[pos < 0][:3]
        raise ValueError(
            f"{embeddings_path}: no embedding for qids {list(missing)}; rerun embed_prompts"
        )
    return data["embeddings"][pos]


def strong_and_weak(train: SplitMatrices) -> tuple[int, int, np.ndarray]:
    """(strong, weak, cost order): best mean train quality (ties -> cheaper), cheapest mean
    train cost (ties -> better), and all models by mean train cost."""
    mean_q = train.quality.mean(axis=0)
    mean_c = train.cost.mean(axis=0)
    strong = int(np.lexsort((mean_c, -mean_q))[0])
    weak = int(np.lexsort((-mean_q, mean_c))[0])
    return strong, weak, np.lexsort((-mean_q, mean_c))
