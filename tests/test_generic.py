from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dacr.io import read_parquet_metadata
from dacr.routerbench import run_long_form, to_long
from tests.generic_data import PATH, generic_table, write_generic_dataset


def test_the_committed_fixture_is_what_the_helper_writes(tmp_path):
    assert write_generic_dataset(tmp_path / "g.csv").read_bytes() == PATH.read_bytes()


def test_a_generic_table_becomes_the_long_form(tmp_path):
    long = run_long_form(PATH, tmp_path / "long.parquet")
    assert sorted(long["model"].unique()) == ["large-x", "medium-70b", "small-8b", "tiny-1b"]
    assert sorted(long["domain"].unique()) == ["arithmetic", "chitchat", "python"]
    assert long.groupby("qid")["model"].nunique().eq(4).all()
    assert {"latency_s", "prompt_tokens", "completion_tokens"} <= set(long.columns)
    assert long["quality"].between(0, 1).all() and (long["quality"] % 1 != 0).any()
    assert read_parquet_metadata(tmp_path / "long.parquet")["dataset"] == "custom"


def test_five_line_example_with_no_optional_column():
    table = pd.DataFrame(
        {
            "qid": ["q1", "q1", "q2", "q2"],
            "prompt": ["2+2?", "2+2?", "hi", "hi"],
            "domain": ["math", "math", "chat", "chat"],
            "model": ["a", "b", "a", "b"],
            "quality": [1.0, 0.0, 0.5, 1.0],
            "cost": [0.001, 0.0001, 0.001, 0.0001],
        }
    )
    long = to_long(table, where="mine.csv")
    assert long["response"].eq("").all() and len(long) == 4


BASE = generic_table(4)


def broken(**edits) -> pd.DataFrame:
    table = BASE.astype({c: object for c in edits})
    for column, (row, value) in edits.items():
        table.loc[row, column] = value
    return table


@pytest.mark.parametrize(
    "table,match",
    [
        (BASE.drop(columns="cost"), r"missing column\(s\) \['cost'\]; a dataset table needs"),
        (
            BASE.loc[BASE["model"] == "tiny-1b"],
            r"column 'model': only \['tiny-1b'\] found; routing needs at least two",
        ),
        (pd.concat([BASE, BASE.iloc[[0]]]), r"column 'qid': 2 rows repeat a \(qid, model\) pair"),
        (
            broken(quality=(3, np.nan)),
            r"column 'quality': 1 bad value\(s\), e\.g\. \[\{'qid': 'ari-000', 'model': "
            r"'large-x', 'quality': nan\}\]; quality must be a number in \[0, 1\]",
        ),
        (broken(quality=(1, 1.5)), r"column 'quality': 1 bad value.*1\.5.*in \[0, 1\]"),
        (broken(cost=(2, -0.01)), r"column 'cost': 1 bad value.*-0\.01.*>= 0"),
        (broken(quality=(0, "high")), r"column 'quality': 1 value\(s\) are not numbers.*'high'"),
        (
            BASE.drop(index=[5]),
            r"column 'model': 1 queries lack some of the 4 models.*'missing': \['small-8b'\]",
        ),
        (broken(domain=(0, "poetry")), r"column 'domain': 1 queries have more than one domain"),
        (broken(latency_s=(0, -1.0)), r"column 'latency_s': 1 bad value.*> 0"),
        (broken(model=(0, " ")), r"column 'model': 1 empty value"),
    ],
    ids=[
        "column",
        "one model",
        "duplicate",
        "nan",
        "range",
        "negative cost",
        "text",
        "incomplete",
        "two domains",
        "latency",
        "empty",
    ],
)
def test_every_bad_table_names_the_file_column_value_and_rule(table, match):
    with pytest.raises(ValueError, match=r"mine\.csv: " + match):
        to_long(table.reset_index(drop=True), where="mine.csv")
