"""A small dataset of one's own in the generic long layout: 4 models, 3 domains.

``write_generic_dataset`` writes ``tests/data/generic_4models_3domains.csv`` (committed; a test
checks the committed copy is what this writes). Quality depends on the domain and on words in
the prompt, cost on prompt and completion tokens at per-model prices, latency on completion
tokens and a per-model speed: enough structure for routers to learn and for every output.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

PATH = Path(__file__).parent / "data" / "generic_4models_3domains.csv"
MODELS = {  # name: (skill per domain, USD per 1k tokens in / out, tokens per second)
    "tiny-1b": ({"arithmetic": 0.35, "python": 0.25, "chitchat": 0.7}, (0.0001, 0.0002), 120.0),
    "small-8b": ({"arithmetic": 0.55, "python": 0.5, "chitchat": 0.8}, (0.0003, 0.0006), 80.0),
    "medium-70b": ({"arithmetic": 0.75, "python": 0.7, "chitchat": 0.85}, (0.001, 0.002), 40.0),
    "large-x": ({"arithmetic": 0.9, "python": 0.85, "chitchat": 0.9}, (0.005, 0.015), 20.0),
}
WORDS = {
    "arithmetic": ["sum", "product", "apples", "divide", "percent", "train", "minutes"],
    "python": ["function", "list", "sort", "string", "recursion", "dictionary", "class"],
    "chitchat": ["weekend", "movie", "weather", "favourite", "coffee", "holiday", "music"],
}


def generic_table(n_per_domain: int = 60, seed: int = 7) -> pd.DataFrame:
    """The dataset as a DataFrame, one row per (query, model)."""
    rng = np.random.default_rng(seed)
    rows = []
    for domain, words in WORDS.items():
        for i in range(n_per_domain):
            hard = rng.random() < 0.4
            picked = rng.choice(words, size=rng.integers(4, 9))
            prompt = (
                f"{domain} question {i}: " + " ".join(picked) + (" step by step" if hard else "")
            )
            prompt_tokens = len(prompt.split()) * 2
            for model, (skill, (p_in, p_out), speed) in MODELS.items():
                p = np.clip(skill[domain] - (0.25 if hard else 0.0), 0.02, 0.98)
                quality = (
                    float(rng.random() < p)
                    if domain != "chitchat"
                    else round(float(rng.beta(8 * p, 8 * (1 - p))), 2)
                )
                completion = int(rng.integers(20, 60) * (3 if hard else 1))
                rows.append(
                    {
                        "qid": f"{domain[:3]}-{i:03d}",
                        "prompt": prompt,
                        "domain": domain,
                        "model": model,
                        "quality": quality,
                        "cost": round((prompt_tokens * p_in + completion * p_out) / 1000, 8),
                        "response": f"answer from {model}: " + " ".join(rng.choice(words, size=3)),
                        "latency_s": round(
                            0.2 + completion / speed * float(rng.lognormal(0, 0.1)), 4
                        ),
                        "prompt_tokens": prompt_tokens,
                        "completion_tokens": completion,
                    }
                )
    return pd.DataFrame(rows)


def write_generic_dataset(path: Path = PATH) -> Path:
    """Write the fixture CSV (deterministic bytes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    generic_table().to_csv(path, index=False, lineterminator="\n")
    return path


if __name__ == "__main__":
    print(write_generic_dataset())
