from __future__ import annotations

import json
from pathlib import Path

import pytest

from kizami.core import manifest
from kizami.core.errors import ManifestError


def _build(tmp_path: Path, name: str = "b") -> Path:
    out = tmp_path / name
    with manifest.staged_build(out, manifest.Manifest(format="hf", parameters={"bits": 4})) as stage:
        (stage / "model.safetensors").write_bytes(b"\x00" * 100)
        (stage / "sub").mkdir()
        (stage / "sub" / "a.txt").write_text("hello")
    return out


def test_staged_build_hashes_every_file_and_verifies(tmp_path: Path) -> None:
    out = _build(tmp_path)
    m = manifest.load(out)
    assert set(m.files) == {"model.safetensors", "sub/a.txt"}
    assert m.files["sub/a.txt"]["sha256"] == manifest.sha256_file(out / "sub" / "a.txt")
    assert m.parameters == {"bits": 4} and m.created_at and "kizami" in m.versions
    assert manifest.verify(out) == []
    assert not list(tmp_path.glob(".kizami-staging-*"))


def test_verify_reports_each_kind_of_damage(tmp_path: Path) -> None:
    out = _build(tmp_path)
    (out / "sub" / "a.txt").write_text("jello")  # same size, other bytes
    (out / "model.safetensors").unlink()
    (out / "stray.bin").write_bytes(b"x")
    problems = {(p.file, p.issue) for p in manifest.verify(out)}
    assert problems == {("sub/a.txt", "sha256"), ("model.safetensors", "missing"), ("stray.bin", "unlisted")}


def test_a_failed_build_leaves_nothing_and_keeps_the_old_one(tmp_path: Path) -> None:
    out = _build(tmp_path)
    before = (out / manifest.MANIFEST_NAME).read_text()
    with pytest.raises(RuntimeError), manifest.staged_build(out, manifest.Manifest(format="hf"), overwrite=True) as stage:
        (stage / "half.bin").write_bytes(b"x")
        raise RuntimeError("crash mid-write")
    assert (out / manifest.MANIFEST_NAME).read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]
    with pytest.raises(ManifestError, match="already exists"):
        with manifest.staged_build(out, manifest.Manifest(format="hf")):
            pass


@pytest.mark.parametrize(("content", "message"), [
    ("{not json", "not valid JSON"),
    ("[]", "expected a JSON object"),
    ('{"schema": 99, "format": "hf", "files": {}}', "unsupported schema"),
    ('{"schema": 1, "files": {}}', "missing 'format'"),
    ('{"schema": 1, "format": "hf", "files": {"../x": {"size": 1, "sha256": "a"}}}', "relative path"),
    ('{"schema": 1, "format": "hf", "files": {"x": {"size": "1", "sha256": "a"}}}', "integer 'size'"),
])
def test_malformed_manifests_are_rejected_clearly(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / manifest.MANIFEST_NAME).write_text(content)
    with pytest.raises(ManifestError, match=message):
        manifest.load(tmp_path)


def test_checkpoint_digest_is_per_file_and_stable(tmp_path: Path) -> None:
    (tmp_path / "a.safetensors").write_bytes(b"1")
    (tmp_path / "b.safetensors").write_bytes(b"2")
    d1 = manifest.checkpoint_digest(tmp_path)
    assert set(d1["weights"]) == {"a.safetensors", "b.safetensors"}
    (tmp_path / "b.safetensors").write_bytes(b"3")
    assert manifest.checkpoint_digest(tmp_path)["sha256"] != d1["sha256"]
    assert json.dumps(d1)
