"""The seed's path rule for stacks named in metadata (paths.resolve_data_path)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cryolike_hydra.core.errors import InputError, InputFileNotFoundError
from cryolike_hydra.readers import paths
from cryolike_hydra.readers.paths import resolve_data_path


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def test_relative_to_current_directory(in_tmp: Path) -> None:
    target = touch(in_tmp / "data" / "a.mrcs")
    found = resolve_data_path("data/a.mrcs", None, metadata_file=in_tmp / "meta" / "p.star", row=0)
    assert found == target
    assert found.is_absolute()


def test_relative_to_metadata_folder_when_not_in_current_directory(tmp_path: Path, monkeypatch) -> None:
    target = touch(tmp_path / "project" / "data" / "a.mrcs")
    elsewhere = tmp_path / "run"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    found = resolve_data_path("data/a.mrcs", None, metadata_file=tmp_path / "project" / "p.star", row=0)
    assert found == target


def test_current_directory_wins_over_metadata_folder(in_tmp: Path) -> None:
    in_cwd = touch(in_tmp / "data" / "a.mrcs")
    touch(in_tmp / "project" / "data" / "a.mrcs")
    found = resolve_data_path("data/a.mrcs", None, metadata_file=in_tmp / "project" / "p.star", row=0)
    assert found == in_cwd


def test_absolute_recorded_path(tmp_path: Path) -> None:
    target = touch(tmp_path / "abs" / "a.mrcs")
    assert resolve_data_path(str(target), None, metadata_file="p.star", row=0) == target


def test_cryosparc_prefix_is_stripped(in_tmp: Path) -> None:
    target = touch(in_tmp / "J1" / "imported" / "a.mrcs")
    found = resolve_data_path(">J1/imported/a.mrcs", None, metadata_file=in_tmp / "p.cs", row=3)
    assert found == target


def test_folder_uses_only_the_file_name(in_tmp: Path) -> None:
    touch(in_tmp / "J1" / "imported" / "a.mrcs")  # the recorded path exists too, but is ignored
    in_folder = touch(in_tmp / "stacks" / "a.mrcs")
    found = resolve_data_path(">J1/imported/a.mrcs", in_tmp / "stacks", metadata_file="p.cs", row=0)
    assert found == in_folder


def test_folder_with_windows_separators(tmp_path: Path) -> None:
    in_folder = touch(tmp_path / "stacks" / "a.mrcs")
    found = resolve_data_path("C:\\data\\a.mrcs", str(tmp_path / "stacks"), metadata_file="p.star", row=0)
    assert found == in_folder


def test_missing_file_lists_every_path_tried_and_suggests_folder_mrc(tmp_path: Path, monkeypatch) -> None:
    run = tmp_path / "run"
    run.mkdir()
    monkeypatch.chdir(run)
    star = tmp_path / "meta" / "p.star"
    with pytest.raises(InputFileNotFoundError) as info:
        resolve_data_path("data/a.mrcs", None, metadata_file=star, row=7)
    error = info.value
    assert error.tried == [str(run / "data" / "a.mrcs"), str(tmp_path / "meta" / "data" / "a.mrcs")]
    message = str(error)
    assert str(star) in message and "row 7" in message and "data/a.mrcs" in message
    assert "folder_mrc" in message
    for tried in error.tried:
        assert tried in message


def test_missing_file_of_cs_suggests_folder_cryosparc(in_tmp: Path) -> None:
    with pytest.raises(InputFileNotFoundError, match="folder_cryosparc"):
        resolve_data_path(">J1/a.mrcs", None, metadata_file=in_tmp / "p.cs", row=0)


def test_missing_file_in_folder_names_the_folder(tmp_path: Path) -> None:
    folder = tmp_path / "stacks"
    folder.mkdir()
    with pytest.raises(InputFileNotFoundError) as info:
        resolve_data_path("x/a.mrcs", folder, metadata_file="p.star", row=2)
    assert info.value.tried == [str(folder / "a.mrcs")]
    assert "folder_mrc" in str(info.value) and str(folder) in str(info.value) and "row 2" in str(info.value)


def test_empty_path_is_an_error_naming_the_row() -> None:
    with pytest.raises(InputError, match="row 4.*empty"):
        resolve_data_path(">", None, metadata_file="p.cs", row=4)


def test_paths_are_cached_per_recorded_path(tmp_path: Path, monkeypatch) -> None:
    for name in ("a", "b", "c"):
        touch(tmp_path / f"{name}.mrcs")
    calls = []
    original = paths.file_status

    def counting_file_status(path: str | Path) -> str | None:
        calls.append(path)
        return original(path)

    monkeypatch.setattr(paths, "file_status", counting_file_status)
    for row in range(3000):
        name = "abc"[row % 3]
        resolve_data_path(f"{name}.mrcs", tmp_path, metadata_file="p.star", row=row)
    assert len(calls) == 3


def test_failed_lookups_are_not_cached(tmp_path: Path) -> None:
    with pytest.raises(InputFileNotFoundError):
        resolve_data_path("a.mrcs", tmp_path, metadata_file="p.star", row=0)
    target = touch(tmp_path / "a.mrcs")
    assert resolve_data_path("a.mrcs", tmp_path, metadata_file="p.star", row=0) == target


def test_empty_folder_string_means_unset(in_tmp: Path) -> None:
    target = touch(in_tmp / "data" / "a.mrcs")
    assert resolve_data_path("data/a.mrcs", "", metadata_file="p.star", row=0) == target
