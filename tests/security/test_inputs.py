"""Infinite and undecodable inputs: AutoML and the monitor refuse them at once, naming the column
or file and where, and write nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from smdbg.platform.automl import AutoML, AutoMLInputError
from smdbg.platform.monitor import DatasetError, DatasetFormat, DefaultModelMonitor


def _frame(n: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), "y": rng.normal(size=n)})


LATIN1 = "city,x\nOslo,1\nK\xf8benhavn,2\n".encode("latin-1")


@pytest.mark.parametrize(
    "column, value, message",
    [
        ("y", np.inf, r"target column 'y' holds 1 infinite value\(s\) \(rows \[7\], 0-based\)"),
        ("y", -np.inf, r"target column 'y' holds 1 infinite value\(s\)"),
        ("b", np.inf, r"feature column 'b' holds 1 infinite value\(s\) \(rows \[7\], 0-based\)"),
    ],
)
def test_automl_refuses_infinite_values_before_any_candidate(
    tmp_path: Path, column: str, value: float, message: str
) -> None:
    frame = _frame()
    frame.loc[7, column] = value
    out = tmp_path / "out"
    csv = tmp_path / "data.csv"
    frame.to_csv(csv, index=False)  # written as "inf", read back as float inf
    for inputs in (frame, str(csv)):
        with pytest.raises(AutoMLInputError, match=message):
            AutoML("y", output_path=out, max_candidates=1).fit(inputs, job_name="inf", logs=False)
    assert not out.exists()


def test_automl_names_the_place_a_csv_stops_being_utf8(tmp_path: Path) -> None:
    data = tmp_path / "cities.csv"
    data.write_bytes(LATIN1)
    out = tmp_path / "out"
    with pytest.raises(
        AutoMLInputError, match=r"is not UTF-8 text \(byte 0xf8 at line 3, column 1 \('city'\)\)"
    ):
        AutoML("x", output_path=out, max_candidates=1).fit(str(data), logs=False)
    assert not out.exists()


def test_monitor_baseline_refuses_infinite_values(tmp_path: Path) -> None:
    frame = _frame(20)
    frame.loc[4, "a"] = np.inf
    data = tmp_path / "train.csv"
    frame.to_csv(data, index=False)
    out = tmp_path / "baseline"
    with pytest.raises(
        DatasetError, match=r"column 'a' of .*train.csv' holds 1 infinite value\(s\) \(first in data row 5\)"
    ):
        DefaultModelMonitor().suggest_baseline(str(data), DatasetFormat.csv(header=True), str(out))
    assert not out.exists()
    # Text "inf" in a headerless file is caught too; NaN and empty stay "missing".
    (tmp_path / "t.csv").write_text("1.0,2\n,3\nnan,4\n-Infinity,5\n")
    with pytest.raises(DatasetError, match=r"column '_c0' .*first in data row 4"):
        DefaultModelMonitor().suggest_baseline(
            str(tmp_path / "t.csv"), DatasetFormat.csv(header=False), str(out)
        )
    (tmp_path / "ok.csv").write_text("a,b\n1.0,2\n,3\nnan,4\n")
    DefaultModelMonitor().suggest_baseline(str(tmp_path / "ok.csv"), DatasetFormat.csv(header=True), str(out))
    assert (out / "statistics.json").is_file()


def test_monitor_run_refuses_infinite_current_data(tmp_path: Path) -> None:
    (tmp_path / "base.csv").write_text("a,b\n1.0,2\n2.0,3\n3.0,4\n")
    monitor = DefaultModelMonitor()
    monitor.suggest_baseline(str(tmp_path / "base.csv"), DatasetFormat.csv(header=True), str(tmp_path / "b"))
    (tmp_path / "now.csv").write_text("a,b\n1.0,2\ninf,3\n")
    with pytest.raises(DatasetError, match="column 'a' .* holds 1 infinite value"):
        monitor.run(str(tmp_path / "now.csv"), str(tmp_path / "report"), dataset_format=DatasetFormat.csv())
    assert not (tmp_path / "report").exists()


@pytest.mark.parametrize("header, where", [(True, "line 3, column 1 ('city')"), (False, "line 3, column 1")])
def test_monitor_names_the_file_and_place_that_is_not_utf8(tmp_path: Path, header: bool, where: str) -> None:
    data = tmp_path / "cities.csv"
    data.write_bytes(LATIN1 if header else LATIN1.split(b"\n", 1)[1])
    if not header:
        where = "line 2, column 1"
    with pytest.raises(DatasetError) as info:
        DefaultModelMonitor().suggest_baseline(
            str(data), DatasetFormat.csv(header=header), str(tmp_path / "b")
        )
    assert str(info.value).startswith(f"{data} is not UTF-8 text: byte 0xf8 at {where} cannot be decoded")
    assert not (tmp_path / "b").exists()
    lines = tmp_path / "rows.jsonl"
    lines.write_bytes(b'{"a": 1}\n{"a": "K\xf8"}\n')
    with pytest.raises(DatasetError, match=r"rows.jsonl is not UTF-8 text: byte 0xf8 at line 2"):
        DefaultModelMonitor().suggest_baseline(
            str(lines), DatasetFormat.json(lines=True), str(tmp_path / "b")
        )


def test_monitor_names_a_capture_file_that_is_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "base.csv").write_text("a\n1.0\n2.0\n")
    monitor = DefaultModelMonitor()
    monitor.suggest_baseline(str(tmp_path / "base.csv"), DatasetFormat.csv(header=True), str(tmp_path / "b"))
    capture = tmp_path / "capture" / "ep" / "AllTraffic" / "2024" / "05" / "01" / "12"
    capture.mkdir(parents=True)
    (capture / "00-00-000-x.jsonl").write_bytes(b'{"captureData": {}, "note": "\xff"}\n')
    with pytest.raises(DatasetError, match=r"00-00-000-x.jsonl is not UTF-8 text: byte 0xff at line 1"):
        monitor.run(str(tmp_path / "capture"), str(tmp_path / "report"))
