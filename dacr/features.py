"""Query features, fit on the training split only.

The default featuriser turns prompts into TF-IDF word and character n-grams, reduces them with
TruncatedSVD, and appends simple prompt statistics. An optional one-hot of the training domains
is all zeros for domains the training split never saw (the OOD case).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

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


class TextFeaturizer(TransformerMixin, BaseEstimator):
    """TF-IDF (word 1-2 grams + char_wb 3-5 grams) -> TruncatedSVD, plus prompt statistics.

    Parameters
    ----------
    svd_dim
        Number of SVD components of the TF-IDF matrix.
    max_features
        Vocabulary cap of each TF-IDF vectoriser.
    char_ngrams
        Add character n-grams (robust to unseen words of held-out domains).
    stats
        Append standardised :func:`prompt_statistics`.
    char_max_chars
        Character n-grams read only the first this many characters of a prompt (its
        instruction and question); words read all of it. Keeps the cost linear in prompts.
    random_state
        Seed of the randomised SVD.
    """

    def __init__(
        self,
        svd_dim: int = 64,
        max_features: int = 30000,
        char_ngrams: bool = True,
        stats: bool = True,
        char_max_chars: int = 1000,
        random_state: int = 0,
    ) -> None:
        self.svd_dim = svd_dim
        self.max_features = max_features
        self.char_ngrams = char_ngrams
        self.stats = stats
        self.char_max_chars = char_max_chars
        self.random_state = random_state

    def _tfidf(self, prompts: Sequence[str], fit: bool) -> sparse.csr_matrix:
        mats = []
        for i, vec in enumerate(self.vectorizers_):
            docs = prompts if i == 0 else [p[: self.char_max_chars] for p in prompts]
            mats.append(vec.fit_transform(docs) if fit else vec.transform(docs))
        return sparse.hstack(mats, format="csr", dtype=np.float32)

    def fit(self, prompts: Sequence[str], y: object = None) -> TextFeaturizer:
        self.fit_transform(prompts)
        return self

    def fit_transform(self, prompts: Sequence[str], y: object = None) -> np.ndarray:
        prompts = list(prompts)
        if not prompts:
            raise ValueError("TextFeaturizer.fit: no training prompts")
        self.vectorizers_ = [
            TfidfVectorizer(
                ngram_range=(1, 2),
                max_features=self.max_features,
                min_df=2,
                sublinear_tf=True,
                dtype=np.float32,
            )
        ]
        if self.char_ngrams:
            self.vectorizers_.append(
                TfidfVectorizer(
                    analyzer="char_wb",
                    ngram_range=(3, 5),
                    max_features=self.max_features,
                    min_df=2,
                    sublinear_tf=True,
                    dtype=np.float32,
                )
            )
        tfidf = self._tfidf(prompts, fit=True)
        n_comp = int(max(1, min(self.svd_dim, tfidf.shape[1] - 1, len(prompts) - 1)))
        self.svd_ = TruncatedSVD(n_components=n_comp, n_iter=4, random_state=self.random_state)
        # Standardised components: the downstream linear models converge in far fewer steps.
        self.svd_scaler_ = StandardScaler()
        parts = [self.svd_scaler_.fit_transform(self.svd_.fit_transform(tfidf)).astype(np.float32)]
        if self.stats:
            self.scaler_ = StandardScaler()
            parts.append(self.scaler_.fit_transform(prompt_statistics(prompts)).astype(np.float32))
        return np.hstack(parts)

    def transform(self, prompts: Sequence[str]) -> np.ndarray:
        check_is_fitted(self, "svd_")
        prompts = list(prompts)
        svd = self.svd_.transform(self._tfidf(prompts, fit=False))
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
    max_features: int = 30000,
    char_ngrams: bool = True,
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
        feat = TextFeaturizer(svd_dim, max_features, char_ngrams, random_state=seed)
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
