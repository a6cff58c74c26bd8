"""Reading and writing dacr's files: restricted pickle loading, parquet, JSONL, npz, JSON.

All writers go through a temporary file in the target folder and ``os.replace`` so that a crash
never leaves a partial file under the final name.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import pickle
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.json as pa_json
import pyarrow.parquet as pq

log = logging.getLogger(__name__)

# The globals referenced by the real RouterBench pickles (pandas 2.x, NumPy 1.x, protocol 5) ...
_ROUTERBENCH_GLOBALS = {
    ("pandas.core.frame", "DataFrame"),
    ("pandas.core.internals.managers", "BlockManager"),
    ("pandas._libs.internals", "_unpickle_block"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("builtins", "slice"),
    ("pandas.core.indexes.base", "_new_Index"),
    ("pandas.core.indexes.base", "Index"),
    ("pandas.core.indexes.range", "RangeIndex"),
}
# ... and their names in current releases: NumPy 2 moved numpy.core to numpy._core; pandas 3
# pickles public names and may store strings as Arrow-backed arrays.
_CURRENT_GLOBALS = {
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy.dtypes", "Float64DType"),
    ("numpy.dtypes", "Int64DType"),
    ("numpy.dtypes", "ObjectDType"),
    ("pandas", "DataFrame"),
    ("pandas", "Index"),
    ("pandas", "RangeIndex"),
    ("pandas", "StringDtype"),
    ("pandas.arrays", "ArrowStringArray"),
    ("pandas.arrays", "StringArray"),
    ("pyarrow.lib", "_restore_array"),
    ("pyarrow.lib", "type_for_alias"),
    ("pyarrow.lib", "py_buffer"),
}
ALLOWED_PICKLE_GLOBALS = frozenset(_ROUTERBENCH_GLOBALS | _CURRENT_GLOBALS)

_NUMPY_CORE_RENAMES = {
    "numpy.core.multiarray": "numpy._core.multiarray",
    "numpy.core.numeric": "numpy._core.numeric",
}

LONG_META_KEY = b"dacr"


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle references a global outside the RouterBench allow-list."""


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file: IO[bytes], source: Path) -> None:
        super().__init__(file)
        self._source = source

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in ALLOWED_PICKLE_GLOBALS:
            raise UnsafePickleError(
                f"{self._source}: refused to unpickle global {module}.{name}; only the pandas/"
                "NumPy globals used by the RouterBench files are allowed. If you trust this file, "
                "set dataset.trust_pickle: true."
            )
        # numpy.core.* still imports under NumPy 2 but warns; load the new location directly.
        module = _NUMPY_CORE_RENAMES.get(module, module)
        try:
            __import__(module)
        except ModuleNotFoundError:
            module = module.replace("numpy._core", "numpy.core")  # NumPy 1.x
        return super().find_class(module, name)


def load_pickle(path: str | Path, *, trust: bool = False) -> Any:
    """Load a pickle, by default through an allow-list of pandas/NumPy globals.

    Parameters
    ----------
    path
        Pickle file.
    trust
        Allow any global (full unpickling). Only for files you trust: unpickling can run code.

    Raises
    ------
    UnsafePickleError
        The file references a global outside :data:`ALLOWED_PICKLE_GLOBALS`.
    ValueError
        The file is empty or not a pickle.
    """
    path = Path(path)
    if path.stat().st_size == 0:
        raise ValueError(f"{path}: file is empty; expected a pickled pandas DataFrame")
    with path.open("rb") as fh:
        try:
            if trust:
                return pd.read_pickle(fh)
            return _RestrictedUnpickler(fh, path).load()
        except UnsafePickleError:
            raise
        except (pickle.UnpicklingError, EOFError) as exc:
            raise ValueError(f"{path}: not a readable pickle ({exc})") from exc


def read_table(path: str | Path, *, trust_pickle: bool = False) -> pd.DataFrame:
    """Read a dataset table from a ``.pkl``/``.pickle``, ``.parquet``, ``.csv`` or ``.tsv``
    file (text files: ``qid`` and ``model`` read as text)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"dataset file not found: {path}")
    suffix = path.suffix.lower()
    if suffix in {".pkl", ".pickle"}:
        obj = load_pickle(path, trust=trust_pickle)
    elif suffix == ".parquet":
        try:
            obj = pd.read_parquet(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise ValueError(f"{path}: not a readable parquet file ({exc})") from exc
    elif suffix in {".csv", ".tsv"}:
        try:
            obj = pd.read_csv(
                path, sep="\t" if suffix == ".tsv" else ",", dtype={"qid": str, "model": str}
            )
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise ValueError(f"{path}: not a readable {suffix[1:].upper()} file ({exc})") from exc
    else:
        raise ValueError(
            f"{path}: unsupported file type {suffix!r}; expected .pkl, .pickle, .parquet, "
            ".csv or .tsv"
        )
    if not isinstance(obj, pd.DataFrame):
        raise TypeError(
            f"{path}: expected a pandas DataFrame, found {type(obj).__module__}."
            f"{type(obj).__name__}"
        )
    return obj


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place only if the block succeeds."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OSError(exc.errno, f"{path}: cannot create its folder ({exc})") from exc
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise OSError(f"{path}: cannot create a file in {path.parent} ({exc})") from exc
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp makes files private (0600); results are shared like any other file
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, path)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES):
            raise OSError(exc.errno, f"{path}: could not be written ({exc.strerror})") from exc
        raise
    finally:
        tmp_path.unlink(missing_ok=True)


def _umask() -> int:
    """The process umask (read by setting and restoring it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_parquet(df: pd.DataFrame, path: str | Path, *, metadata: dict | None = None) -> Path:
    """Write ``df`` as zstd parquet with dictionary-encoded strings and dacr metadata."""
    table = pa.Table.from_pandas(df, preserve_index=False)
    if metadata is not None:
        merged = dict(table.schema.metadata or {})
        merged[LONG_META_KEY] = json.dumps(metadata, sort_keys=True).encode()
        table = table.replace_schema_metadata(merged)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd", use_dictionary=True)
    return Path(path)


def write_table(
    df: pd.DataFrame,
    path: str | Path,
    *,
    dataset: str,
    metadata: dict | None = None,
    index: bool = False,
) -> Path:
    """Write a results table, CSV or parquet by suffix, saying which data made it: a
    ``dataset`` column (``synthetic``, ``routerbench`` or ``custom``) and, in parquet, the
    label in dacr's metadata as well."""
    df = df.assign(dataset=str(dataset))
    if Path(path).suffix == ".parquet":
        return write_parquet(df, path, metadata={**(metadata or {}), "dataset": str(dataset)})
    return write_with(lambda tmp: df.to_csv(tmp, index=index), path)


_REBUILD = (
    "it is truncated or corrupt (a full disk, a killed job?): delete it and rebuild it with "
    "snakemake <that path>, or rerun its rule with --forcerun <rule>"
)


def _unreadable(path: Path, exc: BaseException) -> ValueError:
    return ValueError(f"{path}: unreadable ({type(exc).__name__}: {exc}); {_REBUILD}")


def _existing(path: str | Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: not found; the rule that writes it must run first")
    return path


def read_parquet(path: str | Path, columns: list[str] | None = None) -> pd.DataFrame:
    """A parquet file dacr wrote; a missing, truncated or corrupt one, or one without the
    ``columns`` asked for, is an error naming it and the way out."""
    path = _existing(path)
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise _unreadable(path, exc) from exc
    missing = [c for c in columns or () if c not in schema.names]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; found {schema.names}")
    try:
        return pd.read_parquet(path, columns=columns)
    except (pa.ArrowInvalid, OSError) as exc:
        raise _unreadable(path, exc) from exc


def read_csv(path: str | Path) -> pd.DataFrame:
    """A CSV table dacr wrote (metrics, calibration, ...), with the same errors as
    :func:`read_parquet`."""
    path = _existing(path)
    try:
        return pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise _unreadable(path, exc) from exc


def read_parquet_metadata(path: str | Path) -> dict:
    """Return the dacr metadata dict stored in a parquet file written by :func:`write_parquet`."""
    meta = pq.read_schema(path).metadata or {}
    if LONG_META_KEY not in meta:
        raise ValueError(f"{path}: no dacr metadata; was it written by dacr?")
    return json.loads(meta[LONG_META_KEY])


def sha256_file(path: str | Path, chunk_bytes: int = 1 << 22) -> str:
    """SHA-256 hex digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while block := fh.read(chunk_bytes):
            digest.update(block)
    return digest.hexdigest()


def write_jsonl(records: Iterable[dict], path: str | Path) -> Path:
    """Write dicts as JSON lines, atomically."""
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8") as fh:
        for rec in records:
            fh.write(json.dumps(rec, ensure_ascii=False))
            fh.write("\n")
    return Path(path)


def write_frame_jsonl(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a DataFrame as JSON lines (one object per row), atomically and vectorised."""
    with atomic_path(path) as tmp:
        df.to_json(tmp, orient="records", lines=True, force_ascii=False, double_precision=15)
    return Path(path)


def read_jsonl(path: str | Path, *, required: Iterable[str] = ()) -> pd.DataFrame:
    """Read a JSONL file into a DataFrame and check that ``required`` columns exist."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"file not found: {path}")
    if path.stat().st_size == 0:
        df = pd.DataFrame()
    else:
        try:
            # Arrow's reader: several times faster and leaner than pandas' JSON parser.
            df = pa_json.read_json(path).to_pandas()
        except pa.ArrowInvalid as exc:
            raise ValueError(f"{path}: not valid JSON lines ({exc})") from exc
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; found {list(df.columns)}")
    return df


def write_with(writer: Callable[[Path], None], path: str | Path) -> Path:
    """Run ``writer(tmp_path)`` and move the result to ``path`` only on success."""
    with atomic_path(path) as tmp:
        writer(tmp)
    return Path(path)


def _npz_path(path: str | Path) -> Path:
    path = Path(path)
    if path.suffix != ".npz":
        raise ValueError(f"{path}: feature and prediction files must end in .npz")
    return path


def write_npz(arrays: dict[str, np.ndarray], path: str | Path) -> Path:
    """Write arrays as an uncompressed ``.npz`` (no pickled objects), atomically.

    ``np.savez`` appends '.npz' to names without it, so it writes to an open file instead.
    """

    def writer(tmp: Path) -> None:
        with tmp.open("wb") as fh:
            np.savez(fh, **arrays)

    return write_with(writer, _npz_path(path))


def load_npz(path: str | Path) -> dict[str, np.ndarray]:
    """Every array of a ``.npz`` written by dacr (no pickled objects).

    A missing, truncated or corrupt file is an error naming it and the way out.
    """
    import zipfile

    path = _existing(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (zipfile.BadZipFile, EOFError, ValueError, OSError) as exc:
        raise _unreadable(path, exc) from exc


def write_json(obj: dict, path: str | Path) -> Path:
    """Write a JSON document (sorted keys, indented), atomically."""
    text = json.dumps(obj, indent=2, sort_keys=True, allow_nan=True) + "\n"
    return write_with(lambda tmp: tmp.write_text(text), path)


def read_json(path: str | Path) -> dict:
    """Read a JSON document written by :func:`write_json`."""
    return json.loads(Path(path).read_text())
