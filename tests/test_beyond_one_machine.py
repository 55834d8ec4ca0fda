"""Beyond one machine: a master cut into parts, rendered by Dask (an existing engine, not a
scheduler of feedsync's own) with `BatchRenderer`, then written with `write_output`, gives
the very bytes `feedsync build` writes for the whole master."""

from __future__ import annotations

import csv
import json
import pickle
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from feedsync.api import BatchRenderer, ConfigError, RenderedBatch, load_project
from feedsync.checks import codes
from feedsync.cli.app import app

dask = pytest.importorskip("dask")
import dask.bag as db  # noqa: E402  (after the skip: dask is an optional extra)

runner = CliRunner()
PARTS = 4


def _grow_master(config: Path, copies: int = 50) -> int:
    """The example shop's 40 products, `copies` times over (ids made unique): a 2,000-row
    master in the shop's own dialect (BOM, `;`, CRLF). Returns the number of rows."""
    master = config.parent / "productos.csv"
    with master.open(encoding="utf-8-sig", newline="") as fh:
        header, *records = list(csv.reader(fh, delimiter=";"))
    sku = header.index("SKU")
    rows = []
    for copy in range(copies):
        for record in records:
            grown = list(record)
            grown[sku] = record[sku] if copy == 0 else f"{record[sku]}-{copy:02d}"
            rows.append(grown)
    with master.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh, delimiter=";", lineterminator="\r\n")
        writer.writerow(header)
        writer.writerows(rows)
    return len(rows)


def _partition(config: Path, parts: int = PARTS) -> list[tuple[str, int]]:
    """The master cut into `parts` contiguous part files, each with the header (and no BOM:
    the encoding comes from the master). Returns (part file, rows before it) pairs."""
    with (config.parent / "productos.csv").open(encoding="utf-8-sig", newline="") as fh:
        header, *records = list(csv.reader(fh, delimiter=";"))
    folder = config.parent / "master_parts"
    folder.mkdir()
    size = -(-len(records) // parts)
    pieces = []
    for number in range(parts):
        path = folder / f"part-{number:03d}.csv"
        with path.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh, delimiter=";", lineterminator="\r\n")
            writer.writerow(header)
            writer.writerows(records[number * size:(number + 1) * size])
        pieces.append((str(path), number * size))
    return pieces


def _render_with_dask(renderer: BatchRenderer, pieces: list[tuple[str, int]],
                      scheduler: str = "processes") -> list[RenderedBatch]:
    """Each part read and rendered in a Dask task; one RenderedBatch per partition, in order.

    `processes` (Dask's local multiprocessing scheduler, spawned workers) sends the renderer
    pickled to other interpreters, so its picklability is really exercised; two workers on
    this 2-core machine."""
    bag = db.from_sequence(pieces, npartitions=len(pieces))
    batches = bag.starmap(renderer.read_rows).flatten().map_partitions(renderer)
    return list(batches.compute(scheduler=scheduler, num_workers=2))


def _build(config: Path, channels: list[str]) -> None:
    arguments = ["build", "-c", str(config)]
    for channel in channels:
        arguments += ["--channel", channel]
    result = runner.invoke(app, arguments)
    assert result.exit_code == 0, result.output


def _assert_identical(config: Path, renderer: BatchRenderer, batches: list[RenderedBatch],
                      channels: list[str]) -> None:
    """Each output written from the parts equals the file `feedsync build` writes."""
    assert len(batches) == PARTS
    for output in renderer.outputs:
        renderer.write_output(output, batches, path=f"from_parts/{output}")
    _build(config, channels)
    for output in renderer.outputs:
        built = (config.parent / output).read_bytes()
        from_parts = (config.parent / "from_parts" / output).read_bytes()
        assert from_parts == built, output


def test_google_xml_rendered_by_dask_is_byte_identical_to_build(tienda: Path):
    rows = _grow_master(tienda)
    config = tienda.with_name("google.yaml")
    # The example's Google feeds with their rules, also gzipped (a .gz gets the same bytes
    # whether the items arrive one by one or a part at a time).
    config.write_text(tienda.read_text(encoding="utf-8").replace(
        "      - feeds/google_es.tsv\n",
        "      - feeds/google_es.tsv\n      - feeds/google_es.xml.gz\n"), encoding="utf-8")
    renderer = BatchRenderer(config)
    assert renderer.outputs == ["feeds/google_es.xml", "feeds/google_es.tsv",
                                "feeds/google_es.xml.gz", "feeds/google_es_outlet.xml"]
    batches = _render_with_dask(renderer, _partition(config))

    assert sum(b.rows for b in batches) == rows == 2000
    assert all(b.rows == rows // PARTS for b in batches)
    _assert_identical(config, renderer, batches, [])
    report = load_project(config).validate()
    for feed in ("google_es", "google_es_outlet"):
        output = next(o for o in renderer.outputs if o.startswith(f"feeds/{feed}.xml"))
        assert sum(b.items[output] for b in batches) == report.channels[feed].items > 0
        assert sum(b.filtered[feed] for b in batches) == report.channels[feed].filtered
        assert sum(b.excluded[feed] for b in batches) == report.channels[feed].excluded
    # The issues, rows numbered as in the whole master (each part's offset), are the
    # issues the build's pipeline reports.
    expected = [i.to_dict() for o in load_project(config).outcomes() for i in o.issues]
    assert [i for b in batches for i in b.issues] == expected and expected


def test_csv_channel_rendered_by_dask_is_byte_identical_to_build(tienda: Path):
    config = tienda.with_name("feedsync.all-channels.yaml")
    _grow_master(config)
    renderer = BatchRenderer(config, ["meta"])
    assert renderer.feeds == ["meta.ES", "meta.MX"]
    assert renderer.outputs == ["feeds/meta_ES.csv", "feeds/meta_ES.xml",
                                "feeds/meta_MX.csv", "feeds/meta_MX.xml"]
    batches = _render_with_dask(renderer, _partition(config))
    _assert_identical(config, renderer, batches, ["meta"])
    header = (config.parent / "from_parts/feeds/meta_ES.csv").read_text("utf-8").split("\n")[0]
    assert header.startswith("id,") and all(
        not b.outputs["feeds/meta_ES.csv"].startswith(b"id,") for b in batches)


def test_json_lines_rendered_in_threads_are_byte_identical_to_build(tienda: Path):
    config = tienda.with_name("feedsync.all-channels.yaml")
    _grow_master(config, copies=5)
    channels = ["chatgpt", "mercadolibre"]
    renderer = BatchRenderer(config, channels)
    assert renderer.outputs == ["feeds/mercadolibre_MX.jsonl", "feeds/chatgpt.jsonl",
                                "feeds/chatgpt.csv"]
    # Threads share one compiled project (it renders one batch at a time).
    batches = _render_with_dask(renderer, _partition(config), scheduler="threads")
    _assert_identical(config, renderer, batches, channels)


def test_the_renderer_pickles_as_its_config_and_channels(tienda: Path):
    renderer = BatchRenderer(tienda, ["google_es"])
    data = pickle.dumps(renderer)
    assert len(data) < 500  # no compiled code, no open source: just the path and names
    copy = pickle.loads(data)
    assert copy.config_file == tienda and copy.channels == ["google_es"]
    assert copy._project is None  # compiled on first use in the process that uses it
    rows = renderer.read_rows(tienda.parent / "productos.csv")
    batch = copy.render(rows)
    assert batch == renderer.render(rows)
    assert batch.items == {"feeds/google_es.xml": 36, "feeds/google_es.tsv": 36}
    assert batch.outputs["feeds/google_es.xml"].startswith(b"<item>\n<g:id>CAM-BAS-BLA-S</")
    assert pickle.loads(pickle.dumps(batch)) == batch


def test_rows_given_as_plain_dicts(tienda: Path):
    renderer = BatchRenderer(tienda, ["google_es"])
    rows = renderer.read_rows(tienda.parent / "productos.csv")
    plain = [(row.row, dict(row.data)) for row in rows]
    assert renderer.render(plain) == renderer.render(rows)


def test_issues_get_the_configs_overrides_as_in_a_build_report(tienda: Path):
    plain = BatchRenderer(tienda).render(
        BatchRenderer(tienda).read_rows(tienda.parent / "productos.csv"))
    assert {i["code"] for i in plain.issues} >= {codes.HTML_IN_TEXT, codes.INVALID_GTIN}
    config = tienda.with_name("overridden.yaml")
    config.write_text(tienda.read_text(encoding="utf-8") + (
        f"\nissues:\n  {codes.HTML_IN_TEXT}: ignore\n  {codes.INVALID_GTIN}: info\n"),
        encoding="utf-8")
    renderer = BatchRenderer(config)
    issues = renderer.render(renderer.read_rows(tienda.parent / "productos.csv")).issues
    assert codes.HTML_IN_TEXT not in {i["code"] for i in issues}
    assert [i["severity"] for i in issues if i["code"] == codes.INVALID_GTIN] == ["info"]
    assert len(issues) == len(plain.issues) - 6
    report = load_project(config).validate()
    assert sorted((i.code, i.severity.value, i.row) for i in report.issues) == sorted(
        (i["code"], i["severity"], i["row"]) for i in issues)


def test_duplicate_ids_are_caught_within_a_batch_only(tienda: Path):
    renderer = BatchRenderer(tienda, ["google_es"])
    first, second, *_ = renderer.read_rows(tienda.parent / "productos.csv")
    twin = (99, {**second.data, "SKU": first.data["SKU"]})
    together = renderer.render([first, twin])
    assert together.invalid == 1 and together.items["feeds/google_es.xml"] == 1
    duplicate = [i for i in together.issues if i["code"] == codes.DUPLICATE_ID]
    assert duplicate and duplicate[0]["row"] == 99 and "row 2" in duplicate[0]["message"]
    # In two batches nothing can tell: the caveat the docstring and README state.
    apart = [renderer.render([first]), renderer.render([twin])]
    assert sum(b.items["feeds/google_es.xml"] for b in apart) == 2
    assert not any(i["code"] == codes.DUPLICATE_ID for b in apart for i in b.issues)


def test_outputs_that_share_a_document_or_are_split_are_refused(tienda: Path):
    config = tienda.with_name("feedsync.all-channels.yaml")
    with pytest.raises(ConfigError) as refused:
        BatchRenderer(config)
    text = str(refused.value)
    for output in ("feeds/amazon.json (amazon_listings): it is split",
                   "feeds/ebay.json (ebay): it is split",
                   "feeds/ebay.jsonl (ebay): its jsonl items are not encoded one by one"):
        assert output in text
    assert "google" not in text and "meta" not in text and "klaviyo" not in text
    BatchRenderer(config, ["google", "meta", "pinterest", "chatgpt"])  # the others render


def test_a_json_document_rendered_in_batches_is_byte_identical_to_build(tienda: Path):
    """Klaviyo's items do not depend on their place in its JSON array: batches join them
    with the array's separator, and the writer puts one between batches."""
    config = tienda.with_name("feedsync.all-channels.yaml")
    _grow_master(config, copies=5)
    renderer = BatchRenderer(config, ["klaviyo"])
    assert renderer.outputs == ["feeds/klaviyo.json"]
    batches = _render_with_dask(renderer, _partition(config), scheduler="threads")
    assert all(b.items["feeds/klaviyo.json"] > 1 for b in batches)
    _assert_identical(config, renderer, batches, ["klaviyo"])
    items = json.loads((config.parent / "feeds/klaviyo.json").read_text(encoding="utf-8"))
    assert len(items) == sum(b.items["feeds/klaviyo.json"] for b in batches)


def test_write_output_names_the_outputs_and_writes_an_empty_feed_whole(tienda: Path):
    renderer = BatchRenderer(tienda, ["google_es"])
    with pytest.raises(ConfigError, match=re.escape("feeds/google_es.xml, feeds/google_es.tsv")):
        renderer.write_output("feeds/google.xml", [])
    # No item at all: the header and footer only, as a build of an empty selection writes.
    written = renderer.write_output("feeds/google_es.xml", [], path="empty.xml")
    assert written == tienda.parent / "empty.xml"
    text = written.read_text("utf-8")
    assert text.startswith('<?xml version="1.0"') and text.endswith("</channel>\n</rss>\n")
    assert "<item>" not in text


def test_a_bad_config_fails_where_the_renderer_is_made(tienda: Path):
    with pytest.raises(ConfigError, match="unknown channel"):
        BatchRenderer(tienda, ["no_such_channel"])
