from __future__ import annotations

import io
import pickle

import numpy as np
import pandas as pd
import pytest

from dacr.io import (
    UnsafePickleError,
    atomic_path,
    load_pickle,
    read_parquet_metadata,
    read_table,
    sha256_file,
    write_parquet,
)
from tests.conftest import DATA


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_real_format_pickles_load_through_the_allow_list():
    wide = load_pickle(DATA / "routerbench_0shot_7rows.pkl")
    raw = load_pickle(DATA / "routerbench_raw_7rows.pkl")
    assert wide.shape == (7, 37)
    assert wide["claude-v2"].dtype == object
    assert raw.shape == (77, 8)


@pytest.mark.parametrize("string_dtype", ["object", "str"])
def test_pickle_written_by_current_pandas_loads(tmp_path, string_dtype):
    df = pd.read_pickle(DATA / "routerbench_raw_7rows.pkl")
    df["prompt"] = df["prompt"].astype(string_dtype)
    path = tmp_path / "current.pkl"
    df.to_pickle(path)
    out = load_pickle(path)
    assert out["prompt"].tolist() == df["prompt"].tolist()


def test_pickle_with_an_extra_global_is_refused(tmp_path):
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"df": _Evil()}))
    with pytest.raises(UnsafePickleError, match=r"builtins\.print"):
        load_pickle(path)


def test_dataframe_carrying_an_extra_global_is_refused(tmp_path):
    df = pd.DataFrame({"a": [1]})
    df.attrs["payload"] = _Evil()
    path = tmp_path / "evil_df.pkl"
    with path.open("wb") as fh:
        pickle.dump(df, fh)
    with pytest.raises(UnsafePickleError, match="trust_pickle"):
        load_pickle(path)


def test_trusted_pickle_loads_any_global(tmp_path):
    path = tmp_path / "set.pkl"
    path.write_bytes(pickle.dumps(pd.DataFrame({"a": [frozenset({1})]})))
    with pytest.raises(UnsafePickleError, match="refused to unpickle global"):
        load_pickle(path)
    assert load_pickle(path, trust=True)["a"].iloc[0] == frozenset({1})


def test_empty_file_is_a_clear_error(tmp_path):
    path = tmp_path / "empty.pkl"
    path.touch()
    with pytest.raises(ValueError, match="empty.pkl: file is empty"):
        read_table(path)


def test_truncated_pickle_is_a_clear_error(tmp_path):
    path = tmp_path / "cut.pkl"
    path.write_bytes((DATA / "routerbench_raw_7rows.pkl").read_bytes()[:500])
    with pytest.raises(ValueError, match="cut.pkl: not a readable pickle"):
        read_table(path)


def test_non_dataframe_pickle_is_refused(tmp_path):
    path = tmp_path / "dict.pkl"
    path.write_bytes(pickle.dumps({"a": [1, 2]}))
    with pytest.raises(TypeError, match="expected a pandas DataFrame, found builtins.dict"):
        read_table(path)


def test_unknown_suffix_and_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pkl"):
        read_table(tmp_path / "nope.pkl")
    bad = tmp_path / "data.json"
    bad.write_text("a\n1\n")
    with pytest.raises(ValueError, match=r"'\.json'.*\.pkl, \.pickle, \.parquet, \.csv or \.tsv"):
        read_table(bad)


def test_parquet_round_trip_keeps_metadata(tmp_path):
    df = pd.DataFrame({"model": pd.Categorical(["a", "b", "a"]), "x": [1.0, 2.0, 3.0]})
    path = write_parquet(df, tmp_path / "t.parquet", metadata={"dataset": "synthetic"})
    assert read_parquet_metadata(path) == {"dataset": "synthetic"}
    assert pd.read_parquet(path)["x"].tolist() == [1.0, 2.0, 3.0]


def test_atomic_path_leaves_nothing_when_the_writer_fails(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("partial")
        raise RuntimeError("boom")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_sha256_file_matches_hashlib(tmp_path):
    import hashlib

    path = tmp_path / "b.bin"
    payload = bytes(range(256)) * 1000
    path.write_bytes(payload)
    assert sha256_file(path, chunk_bytes=1000) == hashlib.sha256(payload).hexdigest()


def test_restricted_loader_reads_from_any_buffer():
    # numpy.core names must resolve under NumPy 2 without touching the deprecated module path.
    data = (DATA / "routerbench_0shot_7rows.pkl").read_bytes()
    from dacr.io import _RestrictedUnpickler

    df = _RestrictedUnpickler(io.BytesIO(data), DATA / "x.pkl").load()
    assert df["gpt-4-1106-preview|total_cost"].dtype == np.float64


def test_written_files_honour_the_umask(tmp_path):
    import os

    from dacr.io import write_json, write_table

    old = os.umask(0o022)
    try:
        a = write_json({"a": 1}, tmp_path / "a.json")
        b = write_table(pd.DataFrame({"x": [1]}), tmp_path / "b.parquet", dataset="synthetic")
        os.umask(0o077)
        c = write_json({"a": 1}, tmp_path / "c.json")
    finally:
        os.umask(old)
    assert oct(a.stat().st_mode & 0o777) == oct(0o644) == oct(b.stat().st_mode & 0o777)
    assert oct(c.stat().st_mode & 0o777) == oct(0o600)


def test_a_table_says_which_data_made_it(tmp_path):
    from dacr.io import read_parquet_metadata, write_table

    path = write_table(pd.DataFrame({"x": [1, 2]}), tmp_path / "t.parquet", dataset="custom")
    assert read_parquet_metadata(path)["dataset"] == "custom"
    assert pd.read_parquet(path)["dataset"].tolist() == ["custom", "custom"]
    csv = write_table(pd.DataFrame({"x": [1]}), tmp_path / "t.csv", dataset="synthetic")
    assert pd.read_csv(csv)["dataset"].tolist() == ["synthetic"]
