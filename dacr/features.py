"""Query features, fit on the training split only.

The default featuriser hashes prompts into word and character n-gram counts (stateless, in
parallel chunks), learns TF-IDF weights and a TruncatedSVD on the training prompts, and appends
simple prompt statistics. An optional one-hot of the training domains
is all zeros for domains the training split never saw (the OOD case).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from dacr.io import write_npz
from dacr.splits import embeddings_for, load_splits

log = logging.getLogger(__name__)

FEATURE_KINDS = ("tfidf_svd", "embedding", "tfidf_svd+embedding")


def prompt_statistics(prompts: Sequence[str]) -> np.ndarray:
    """Length and shape statistics per prompt: log chars, log words, newline, digit, code and
    uppercase densities, question marks and multiple-choice markers."""
    s = pd.Series(list(prompts), dtype=object).astype(str)
    chars = s.str.len().to_numpy(dtype=float)
    denom = np.maximum(chars, 1.0)
    stats = np.column_stack(
        [
            np.log1p(chars),
            np.log1p(s.str.count(r"\S+").to_numpy(dtype=float)),
            s.str.count("\n").to_numpy(dtype=float) / denom * 100,
            s.str.count(r"\d").to_numpy(dtype=float) / denom,
            s.str.count(r"[{}()\[\];=_]").to_numpy(dtype=float) / denom,
            s.str.count(r"[A-Z]").to_numpy(dtype=float) / denom,
            s.str.count(r"\?").to_numpy(dtype=float),
            s.str.count(r"(?m)^[A-D]\)").to_numpy(dtype=float),
        ]
    )
    return stats.astype(np.float32)


def _hash_chunk(prompts: list[str], char_ngrams: bool, char_max_chars: int, n_features: int):
    words = HashingVectorizer(
        ngram_range=(1, 2), n_features=n_features, alternate_sign=False, norm=None, dtype=np.float32
    ).transform(prompts)
    if not char_ngrams:
        return words
    chars = HashingVectorizer(
        analyzer="char_wb",
        ngram_range=(3, 5),
        n_features=n_features,
        alternate_sign=False,
        norm=None,
        dtype=np.float32,
    ).transform([p[:char_max_chars] for p in prompts])
    return sparse.hstack([words, chars], format="csr", dtype=np.float32)


def hashed_counts(
    prompts: Sequence[str],
    *,
    char_ngrams: bool = True,
    char_max_chars: int = 300,
    n_features: int = 2**16,
    n_jobs: int = 1,
    chunk_size: int = 4000,
) -> sparse.csr_matrix:
    """Term counts of word 1-2 grams (whole prompt) and char_wb 3-5 grams (its start).

    Hashing is stateless, so chunks run in parallel processes and nothing is learned here;
    TF-IDF weights are learned from the training split afterwards.
    """
    prompts = [str(p) for p in prompts]
    chunks = [prompts[i : i + chunk_size] for i in range(0, len(prompts), chunk_size)] or [[]]
    args = (char_ngrams, char_max_chars, n_features)
    if n_jobs == 1 or len(chunks) == 1:
        mats = [_hash_chunk(c, *args) for c in chunks]
    else:
        mats = Parallel(n_jobs=n_jobs)(delayed(_hash_chunk)(c, *args) for c in chunks)
    return sparse.vstack(mats, format="csr", dtype=np.float32)


class TextFeaturizer(TransformerMixin, BaseEstimator):
    """Hashed word 1-2 grams + char_wb 3-5 grams -> TF-IDF -> TruncatedSVD, plus statistics.

    Parameters
    ----------
    svd_dim
        Number of SVD components of the TF-IDF matrix (standardised afterwards, so the
        downstream linear models converge in few steps).
    char_ngrams
        Add character n-grams (robust to unseen words of held-out domains).
    char_max_chars
        Character n-grams read only the first this many characters of a prompt (its
        instruction and question); words read all of it. Keeps the cost linear in prompts.
    n_features
        Hash buckets per n-gram family.
    stats
        Append standardised :func:`prompt_statistics`.
    max_svd_rows
        Fit the SVD on at most this many (seeded) training rows; transform all.
    n_jobs
        Processes hashing prompt chunks.
    random_state
        Seed of the randomised SVD and of its row sample.
    """

    def __init__(
        self,
        svd_dim: int = 64,
        char_ngrams: bool = True,
        char_max_chars: int = 300,
        n_features: int = 2**16,
        stats: bool = True,
        max_svd_rows: int = 20000,
        n_jobs: int = 1,
        random_state: int = 0,
    ) -> None:
        self.svd_dim = svd_dim
        self.char_ngrams = char_ngrams
        self.char_max_chars = char_max_chars
        self.n_features = n_features
        self.stats = stats
        self.max_svd_rows = max_svd_rows
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _counts(self, prompts: list[str]) -> sparse.csr_matrix:
        return hashed_counts(
            prompts,
            char_ngrams=self.char_ngrams,
            char_max_chars=self.char_max_chars,
            n_features=self.n_features,
            n_jobs=self.n_jobs,
        )

    def fit(self, prompts: Sequence[str], y: object = None) -> TextFeaturizer:
        self.fit_transform(prompts)
        return self

    def fit_transform(self, prompts: Sequence[str], y: object = None) -> np.ndarray:
        prompts = [str(p) for p in prompts]
        if not prompts:
            raise ValueError("TextFeaturizer.fit: no training prompts")
        self.tfidf_ = TfidfTransformer(sublinear_tf=True)
        tfidf = self.tfidf_.fit_transform(self._counts(prompts)).astype(np.float32)
        n_comp = int(max(1, min(self.svd_dim, tfidf.shape[1] - 1, len(prompts) - 1)))
        self.svd_ = TruncatedSVD(n_components=n_comp, n_iter=4, random_state=self.random_state)
        rng = np.random.default_rng([self.random_state, 5])
        if tfidf.shape[0] > self.max_svd_rows:
            rows = np.sort(rng.choice(tfidf.shape[0], self.max_svd_rows, replace=False))
            self.svd_.fit(tfidf[rows])
        else:
            self.svd_.fit(tfidf)
        self.svd_scaler_ = StandardScaler()
        parts = [self.svd_scaler_.fit_transform(self.svd_.transform(tfidf)).astype(np.float32)]
        if self.stats:
            self.scaler_ = StandardScaler()
            parts.append(self.scaler_.fit_transform(prompt_statistics(prompts)).astype(np.float32))
        return np.hstack(parts)

    def transform(self, prompts: Sequence[str]) -> np.ndarray:
        check_is_fitted(self, "svd_")
        prompts = [str(p) for p in prompts]
        svd = self.svd_.transform(self.tfidf_.transform(self._counts(prompts)))
        parts = [self.svd_scaler_.transform(svd).astype(np.float32)]
        if self.stats:
            parts.append(self.scaler_.transform(prompt_statistics(prompts)).astype(np.float32))
        return np.hstack(parts)


def domain_onehot(domains: Sequence[str], train_domains: Sequence[str]) -> np.ndarray:
    """One-hot of ``train_domains`` (sorted); a domain outside them is a row of zeros."""
    cats = pd.Index(sorted(set(train_domains)))
    codes = cats.get_indexer(list(domains))
    out = np.zeros((len(codes), len(cats)), dtype=np.float32)
    seen = codes >= 0
    out[np.nonzero(seen)[0], codes[seen]] = 1.0
    return out


def build_features(
    train_prompts: Sequence[str],
    test_prompts: Sequence[str],
    *,
    train_domains: Sequence[str],
    test_domains: Sequence[str],
    kind: str = "tfidf_svd",
    svd_dim: int = 64,
    char_ngrams: bool = True,
    char_max_chars: int = 300,
    n_jobs: int = 1,
    domain_onehot_features: bool = False,
    embeddings_train: np.ndarray | None = None,
    embeddings_test: np.ndarray | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Feature matrices (train, test), every learned part fit on the training prompts only."""
    if kind not in FEATURE_KINDS:
        raise ValueError(
            f"features.kind={kind!r} is not valid; choose one of {list(FEATURE_KINDS)}"
        )
    train_parts, test_parts = [], []
    if kind in ("tfidf_svd", "tfidf_svd+embedding"):
        feat = TextFeaturizer(
            svd_dim=svd_dim,
            char_ngrams=char_ngrams,
            char_max_chars=char_max_chars,
            n_jobs=n_jobs,
            random_state=seed,
        )
        train_parts.append(feat.fit_transform(train_prompts))
        test_parts.append(feat.transform(test_prompts))
    if kind in ("embedding", "tfidf_svd+embedding"):
        if embeddings_train is None or embeddings_test is None:
            raise ValueError(f"features.kind={kind!r} needs the sentence embeddings")
        train_parts.append(np.asarray(embeddings_train, dtype=np.float32))
        test_parts.append(np.asarray(embeddings_test, dtype=np.float32))
    if domain_onehot_features:
        train_parts.append(domain_onehot(train_domains, train_domains))
        test_parts.append(domain_onehot(test_domains, train_domains))
    return np.hstack(train_parts), np.hstack(test_parts)


def run_features(
    long_path: str | Path,
    split_path: str | Path,
    stream_path: str | Path,
    out_path: str | Path,
    *,
    experiment: str,
    features: dict,
    seed: int,
    embeddings_path: str | Path | None = None,
    n_jobs: int = 1,
) -> None:
    """Rule entry point: query features of both splits, fit on train prompts only."""
    train, test, _, _ = load_splits(long_path, split_path, stream_path, experiment)
    cfg = dict(features)
    emb_train = emb_test = None
    if embeddings_path is not None:
        emb_train = embeddings_for(embeddings_path, train.qids)
        emb_test = embeddings_for(embeddings_path, test.qids)
    X_train, X_test = build_features(
        train.prompts,
        test.prompts,
        train_domains=train.domains,
        test_domains=test.domains,
        kind=cfg.get("kind", "tfidf_svd"),
        svd_dim=cfg.get("svd_dim", 64),
        char_ngrams=cfg.get("char_ngrams", True),
        char_max_chars=cfg.get("char_max_chars", 300),
        n_jobs=n_jobs,
        domain_onehot_features=cfg.get("domain_onehot", False),
        embeddings_train=emb_train,
        embeddings_test=emb_test,
        seed=seed,
    )
    arrays = {
        "X_train": X_train,
        "X_test": X_test,
        "train_qids": train.qids.astype(str),
        "test_qids": test.qids.astype(str),
    }
    write_npz(arrays, out_path)
    log.info("features: train %s, test %s", X_train.shape, X_test.shape)
