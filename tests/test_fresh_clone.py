"""A bare clone runs the tests: bundled data is complete, and the one non-redistributable data set
(SocioPatterns) is skipped with a reason without ../shared, but fails under CI."""

from pathlib import Path

import conftest
import pytest

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"


def test_every_bundled_file_is_documented_in_the_sample_readme():
    readme = (SAMPLE / "README.md").read_text()
    files = [
        p.relative_to(SAMPLE).as_posix()
        for p in SAMPLE.rglob("*")
        if p.is_file() and p.name != "README.md"
    ]
    assert len(files) >= 12
    missing = [f for f in files if f"`{f}`" not in readme]
    assert not missing, f"sample_data/README.md does not list {missing}"


def test_shared_folder_from_environment(monkeypatch, tmp_path):
    (tmp_path / "datasets").mkdir()
    monkeypatch.setenv("EXPLORER_SHARED", str(tmp_path))
    assert conftest.find_shared_datasets() == tmp_path / "datasets"


def test_missing_shared_folder_skips_with_one_line(monkeypatch, tmp_path):
    monkeypatch.setenv("EXPLORER_SHARED", str(tmp_path / "nowhere"))
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception) as e:
        conftest.find_shared_datasets()
    assert "\n" not in str(e.value) and "EXPLORER_SHARED" in str(e.value)


def test_missing_shared_folder_fails_under_ci(monkeypatch, tmp_path):
    monkeypatch.setenv("EXPLORER_SHARED", str(tmp_path / "nowhere"))
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        conftest.find_shared_datasets()
