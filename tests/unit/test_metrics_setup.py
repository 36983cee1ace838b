"""METRICS_DIR: `serve --workers N` clears only prometheus-client's own value files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.settings import IsolatedSettings
from users_service.adapters.metrics.prometheus import MULTIPROCESS_VARIABLE
from users_service.entrypoints.process.metrics_setup import MetricsFolderError, prepare_multiprocess


def test_only_the_clients_value_files_are_deleted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(MULTIPROCESS_VARIABLE, raising=False)
    folder = tmp_path / "metrics"
    (folder / "keep").mkdir(parents=True)
    (folder / "keep" / "gauge_livesum_1.db").write_text("nested: not ours to touch")
    (folder / "counter_123.db").write_text("stale")
    (folder / "histogram_456.db").write_text("stale")
    (folder / "notes.txt").write_text("an operator's file")
    settings = IsolatedSettings(metrics_dir=str(folder))

    assert prepare_multiprocess(settings, workers=2) == folder

    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")) == [
        "keep",
        "keep/gauge_livesum_1.db",
        "notes.txt",
    ]
    assert os.environ[MULTIPROCESS_VARIABLE] == str(folder)


def test_a_missing_folder_is_made(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MULTIPROCESS_VARIABLE, raising=False)
    folder = tmp_path / "new" / "metrics"
    assert prepare_multiprocess(IsolatedSettings(metrics_dir=str(folder)), workers=2) == folder
    assert folder.is_dir()


def test_a_path_that_is_not_a_folder_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(MULTIPROCESS_VARIABLE, raising=False)
    file = tmp_path / "metrics.db"
    file.write_text("an operator's file")
    with pytest.raises(MetricsFolderError, match="not a folder"):
        prepare_multiprocess(IsolatedSettings(metrics_dir=str(file)), workers=2)
    assert file.read_text() == "an operator's file"


def test_one_worker_needs_no_folder(tmp_path: Path) -> None:
    settings = IsolatedSettings(metrics_dir=str(tmp_path / "unused"))
    assert prepare_multiprocess(settings, workers=1) is None
    assert not (tmp_path / "unused").exists()
