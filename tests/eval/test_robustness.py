"""The benchmark end to end on generated photos: one call writes tables, JSON and the plot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from jaga.errors import JagaError
from jaga.eval.images import NoImages, UnreadableImage, load_originals
from jaga.eval.methods import UnknownMethod, make_methods
from jaga.eval.robustness import InvalidBenchmarkOption, run
from jaga.eval.transforms import UnknownTransform

TRANSFORMS = ["jpeg_30", "flip_h", "crop_5", "pad_20_black", "rotate_4"]


def test_run_writes_markdown_json_and_plot(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    report = run(corpus, out, transforms=TRANSFORMS, bank_size=200, seed=1)
    assert report.images == 4
    assert report.queries == 4 * len(TRANSFORMS)
    assert [m.name for m in report.methods] == [
        "pdq",
        "pdq-dihedral",
        "phash",
        "jaga-query",
        "jaga",
    ]
    written = sorted(p.name for p in out.iterdir())
    assert written == ["robustness.json", "robustness.md", "robustness.png"]
    with Image.open(out / "robustness.png") as png:
        assert png.format == "PNG"
        assert png.size[0] > 400

    data = json.loads((out / "robustness.json").read_text())
    assert data["images"] == 4
    assert [t["name"] for t in data["transforms"]] == TRANSFORMS
    jaga = next(m for m in data["methods"] if m["name"] == "jaga")
    assert set(jaga["recall_production"]) == set(TRANSFORMS)

    markdown = (out / "robustness.md").read_text()
    assert markdown == report.to_markdown()
    for heading in ("## Summary", "## Unrelated images", "## Cost", "## Targets (`jaga`)"):
        assert heading in markdown
    assert "![recall per transform](robustness.png)" in markdown


def test_results_order_the_methods_as_expected(corpus: Path) -> None:
    report = run(
        corpus, None, transforms=TRANSFORMS, methods=["pdq", "pdq-dihedral", "jaga"], bank_size=0
    )
    pdq, dihedral, jaga = (report.method(n) for n in ("pdq", "pdq-dihedral", "jaga"))
    assert pdq.recall_production["jpeg_30"] == 1.0
    assert pdq.recall_production["flip_h"] < 1.0
    assert dihedral.recall_production["flip_h"] == 1.0
    for name in ("crop_5", "pad_20_black", "rotate_4"):
        assert jaga.recall_production[name] >= pdq.recall_production[name]
    assert jaga.recall_production["pad_20_black"] == 1.0
    assert jaga.recall_production["crop_5"] == 1.0
    for method in report.methods:
        assert method.unrelated.matched_at_production == 0
        assert method.unrelated.pairs == report.queries * (report.images - 1)
        assert method.unrelated.hash_min > method.production_threshold
    assert jaga.cost.bank_hashes_mean > 1
    assert jaga.cost.query_hashes_mean >= 8
    assert jaga.unrelated.comparisons > pdq.unrelated.comparisons
    assert jaga.matched_by  # which variant pairs matched is reported
    rows = report.targets("jaga")
    assert all(len(row) == 4 for row in rows)


def test_bad_options_get_typed_errors(corpus: Path, tmp_path: Path) -> None:
    with pytest.raises(NoImages):
        run(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(NoImages):
        run(empty)
    with pytest.raises(UnknownMethod):
        run(corpus, methods=["pdq", "md5"])
    with pytest.raises(UnknownTransform):
        run(corpus, transforms=["crop_99"])
    with pytest.raises(InvalidBenchmarkOption):
        run(corpus, limit=1)
    with pytest.raises(InvalidBenchmarkOption):
        run(corpus, bank_size=-5)
    with pytest.raises(UnknownMethod):
        make_methods(["nope"])


def test_unreadable_image_is_a_typed_error(corpus: Path) -> None:
    (corpus / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(UnreadableImage) as caught:
        load_originals(corpus)
    assert isinstance(caught.value, JagaError)
    assert "broken.png" in str(caught.value)


def test_originals_load_in_name_order_with_a_limit(corpus: Path) -> None:
    originals = load_originals(corpus, limit=3)
    assert [o.name for o in originals] == ["photo0.png", "photo1.jpg", "photo2.png"]
    assert all(o.pixels.dtype.name == "uint8" and o.pixels.shape[2] == 3 for o in originals)


def test_optional_extras_missing(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without matplotlib the tables are still written; without imagehash phash is left out."""
    import jaga.eval.methods as methods
    import jaga.eval.report as report_module

    def no_matplotlib(*args: object) -> None:
        raise methods.MissingDependency("the robustness plot needs matplotlib")

    monkeypatch.setattr(report_module, "plot_recall", no_matplotlib)
    monkeypatch.setattr(methods, "_has_imagehash", lambda: False)
    assert "phash" not in [m.name for m in make_methods()]
    out = tmp_path / "out"
    report = run(corpus, out, methods=["pdq"], transforms=["jpeg_30"], bank_size=0)
    assert sorted(p.name for p in out.iterdir()) == ["robustness.json", "robustness.md"]
    assert report.plot is None
    assert "![recall" not in (out / "robustness.md").read_text()
