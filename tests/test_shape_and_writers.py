"""The spec-language pieces behind JSON channels: shapes, envelopes, batches and parts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from feedsync.channels.shape import MISSING, compile_item_shape, compile_shape
from feedsync.channels.spec import ChannelSpec
from feedsync.config import FeedInfo
from feedsync.errors import ConfigError
from feedsync.writers import open_writer
from feedsync.writers.parts import part_path

CONTEXT = {"settings": {"market": "A1"}, "market": {"country": "ES"}, "feed": {}}


def _resolve(shape: object, item: dict, position: int = 1) -> object:
    resolver, refs = compile_shape(shape, CONTEXT, "test")
    value = resolver(item, position, None)
    # the generated resolver the JSON writers run gives the same
    generated, generated_refs = compile_item_shape(shape, CONTEXT, "test")
    assert (generated(item, position, None), generated_refs) == (value, refs)
    return value


def test_shape_references_constants_and_templates() -> None:
    shape = {"id": "$@position", "sku": "$sku", "kind": "UPDATE", "literal": "$$sku",
             "where": "{{ settings.market }}-{{ market.country }}",
             "price": [{"value": "$price", "currency": "EUR"}]}
    assert _resolve(shape, {"sku": "A", "price": Decimal("1.5")}, 7) == {
        "id": 7, "sku": "A", "kind": "UPDATE", "literal": "$sku", "where": "A1-ES",
        "price": [{"value": Decimal("1.5"), "currency": "EUR"}]}


def test_absent_values_drop_their_objects_and_lists() -> None:
    shape = {"sku": "$sku", "brand": [{"value": "$brand", "marketplace_id": "X"}],
             "aspects": {"Color": ["$color"], "Size": ["$size"]}}
    assert _resolve(shape, {"sku": "A", "size": "M"}) == {
        "sku": "A", "aspects": {"Size": ["M"]}}
    assert _resolve({"brand": "$brand"}, {}) is MISSING


def test_each_maps_list_values_and_groups() -> None:
    shape = {"pictures": {"$each": "images", "item": {"source": "$."}},
             "shipping": {"$each": "shipping", "item": {"to": "$.country", "cost": "$.price"}}}
    item = {"images": ["a.jpg", "b.jpg"],
            "shipping": [{"country": "ES", "price": "3.95 EUR"}, {"country": "PT"}]}
    assert _resolve(shape, item) == {
        "pictures": [{"source": "a.jpg"}, {"source": "b.jpg"}],
        "shipping": [{"to": "ES", "cost": "3.95 EUR"}, {"to": "PT"}]}


def test_a_missing_setting_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="seller_id"):
        compile_shape({"a": "{{ settings.seller_id }}"}, CONTEXT, "spec x")


def _spec(**fmt: object) -> ChannelSpec:
    return ChannelSpec.model_validate({
        "name": "demo", "title": "Demo",
        "formats": {"out": {"extension": ".json", **fmt}},
        "fields": [{"name": "sku", "source": "id", "required": True},
                   {"name": "price", "format": "number"}]})


def test_a_shape_may_only_name_spec_fields() -> None:
    with pytest.raises(ValidationError, match="unknown field"):
        _spec(writer="json", item_shape={"sku": "$sku", "cost": "$prize"})


def _write(tmp_path: Path, spec: ChannelSpec, items: list[dict], name: str) -> Path:
    path = tmp_path / name
    writer = open_writer(path, spec, spec.formats["out"], FeedInfo(), context=CONTEXT)
    for item in items:
        writer.write(item)
    writer.commit()
    return path


ITEMS = [{"sku": f"S{n}", "price": Decimal("19.95") if n % 2 else Decimal("20.00")}
         for n in range(1, 6)]


def test_json_document_envelope_and_numbers(tmp_path: Path) -> None:
    spec = _spec(writer="json", document={"header": {"seller": "{{ settings.market }}"},
                                          "messages": "$items"},
                 item_shape={"n": "$@position", "sku": "$sku", "price": "$price"})
    document = json.loads(_write(tmp_path, spec, ITEMS, "feed.json").read_text())
    assert document["header"] == {"seller": "A1"}
    assert document["messages"][:2] == [{"n": 1, "sku": "S1", "price": 19.95},
                                        {"n": 2, "sku": "S2", "price": 20}]


def test_jsonl_batches_items_into_documents(tmp_path: Path) -> None:
    spec = _spec(writer="jsonl", document={"requests": "$items"}, max_items_per_document=2)
    lines = _write(tmp_path, spec, ITEMS, "feed.jsonl").read_text().splitlines()
    assert [len(json.loads(line)["requests"]) for line in lines] == [2, 2, 1]


def test_max_items_per_file_writes_numbered_parts(tmp_path: Path) -> None:
    spec = _spec(writer="json", max_items_per_file=2)
    (tmp_path / "feed.part0009.json").write_text("[]")
    _write(tmp_path, spec, ITEMS, "feed.json")
    parts = sorted(p.name for p in tmp_path.iterdir())
    assert parts == ["feed.part0001.json", "feed.part0002.json", "feed.part0003.json"]
    assert [len(json.loads((tmp_path / p).read_text())) for p in parts] == [2, 2, 1]


def test_a_feed_of_many_parts_keeps_every_part_and_no_fd_per_part(tmp_path: Path) -> None:
    """Finished parts hold no open file (40,000 eBay parts would pass the fd limit), and
    opening a later part never sweeps this run's own finished, unlocked parts."""
    spec = _spec(writer="json", max_items_per_file=1)
    fmt = spec.formats["out"]
    leftover = tmp_path / ".feed.part0007.json.abcdefgh.tmp"  # a killed run's, unheld
    leftover.write_text("[")
    writer = open_writer(tmp_path / "feed.json", spec, fmt, FeedInfo())
    fds_before = len(os.listdir("/proc/self/fd"))
    for number in range(300):
        writer.write({"sku": str(number)})
    assert len(os.listdir("/proc/self/fd")) - fds_before < 5
    writer.commit()
    parts = sorted(p.name for p in tmp_path.iterdir())
    assert len(parts) == 300 and parts[0] == "feed.part0001.json"
    assert all(not name.startswith(".") for name in parts)  # leftover swept, no temp left
    assert json.loads((tmp_path / "feed.part0300.json").read_text()) == [{"sku": "299"}]


def test_opening_parts_lists_the_folder_a_fixed_number_of_times(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the first part sweeps: a sweep per part listed the folder once per part, which
    grew with the square of the catalog (40,000 eBay parts in a folder of 80,000 files)."""
    spec = _spec(writer="json", max_items_per_file=1)
    listings: list[str] = []
    real_listdir = os.listdir

    def counting_listdir(path: object = ".") -> list[str]:
        listings.append(str(path))
        return real_listdir(path)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "listdir", counting_listdir)
    for count in (3, 60):
        listings.clear()
        writer = open_writer(tmp_path / f"feed{count}.json", spec, spec.formats["out"],
                             FeedInfo())
        for number in range(count):
            writer.write({"sku": str(number)})
        writer.abort()
        if count == 3:
            few = len(listings)
    assert len(listings) == few


def _split_feed_memory(folder: Path, parts: int) -> tuple[float, int]:
    """(bytes held per finished part, peak bytes allocated by the commit) of a split feed
    of `parts` one-item parts, as tracemalloc counts them."""
    import tracemalloc

    spec = _spec(writer="json", max_items_per_file=1)
    writer = open_writer(folder / "feed.json", spec, spec.formats["out"], FeedInfo())
    tracemalloc.start()
    try:
        writer.write({"sku": "0"})
        writer.write({"sku": "1"})  # the first part is finished
        held = tracemalloc.get_traced_memory()[0]
        for number in range(2, parts + 1):
            writer.write({"sku": str(number)})
        per_part = (tracemalloc.get_traced_memory()[0] - held) / (parts - 1)
        tracemalloc.reset_peak()
        before_commit = tracemalloc.get_traced_memory()[0]
        writer.commit()
        return per_part, tracemalloc.get_traced_memory()[1] - before_commit
    finally:
        tracemalloc.stop()


def test_a_split_feed_holds_a_few_bytes_per_finished_part(tmp_path: Path) -> None:
    """Memory flat in catalog size: a finished part is kept as the tail of its temporary
    file's name (about 13 bytes), and its commit makes the (temporary, target) pairs one
    at a time. Before, every part's name (about 90 bytes) was kept, and the commit built
    a list of Path pairs, the journal's JSON at once and a list of every part on disk:
    43 MB for 40,000 eBay parts, about 1 KB a part."""
    # Measured in a child process: pathlib interns each name of a path, and the
    # interpreter's table of interned strings, filled by whatever this process ran before
    # (the golden builds), is resized now and then; a resize during the measured commit
    # adds a transient copy of that table (about 2 MB in a whole suite) to its peak.
    # First in the child: what a first commit imports, and the tables that grow once to
    # hold a few thousand names.
    script = ("import json, sys\n"
              "from pathlib import Path\n"
              "from tests.test_shape_and_writers import _split_feed_memory\n"
              "root = Path(sys.argv[1])\n"
              "_split_feed_memory(root / 'warm-up', 3000)\n"
              "_, few_commit = _split_feed_memory(root / 'few', 300)\n"
              "print(json.dumps([few_commit, *_split_feed_memory(root / 'many', 3000)]))\n")
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path)], check=True,
                          capture_output=True, text=True, cwd=Path(__file__).parent.parent)
    few_commit, many_held, many_commit = json.loads(done.stdout)
    assert many_held < 40
    assert (many_commit - few_commit) / 2700 < 40
    names = sorted(p.name for p in (tmp_path / "many").iterdir())
    assert len(names) == 3001 and names[0] == "feed.part0001.json"
    assert json.loads((tmp_path / "many" / "feed.part3001.json").read_text()) == [
        {"sku": "3000"}]


def test_a_commit_killed_between_renames_leaves_the_journal_of_every_part(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The journal is written as the pairs are made, with the bytes json.dumps gives
    for the list of them; the next run's recovery finishes the renames from it."""
    from feedsync.writers import commit

    spec = _spec(writer="json", max_items_per_file=1)
    writer = open_writer(tmp_path / "feed.json", spec, spec.formats["out"], FeedInfo())
    for number in range(5):
        writer.write({"sku": str(number)})
    real_replace = os.replace
    renamed: list[str] = []

    def replace_then_die(source: str, target: str) -> None:
        if renamed:
            raise KeyboardInterrupt  # the process dies here, after one rename
        real_replace(source, target)
        renamed.append(str(target))

    monkeypatch.setattr(commit.os, "replace", replace_then_die)
    with pytest.raises(KeyboardInterrupt):
        commit.commit_together(writer.staged())
    monkeypatch.setattr(commit.os, "replace", real_replace)
    (journal,) = tmp_path.glob(f"{commit.JOURNAL_PREFIX}*")
    pairs = json.loads(journal.read_text())
    assert journal.read_text() == json.dumps(pairs)
    assert [Path(target).name for _, target in pairs] == [
        f"feed.part000{n}.json" for n in range(1, 6)]
    assert all(Path(tmp).name.startswith(f".{Path(target).name}.")
               for tmp, target in pairs)
    assert commit.recover(tmp_path) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f"feed.part000{n}.json" for n in range(1, 6)]
    assert json.loads((tmp_path / "feed.part0005.json").read_text()) == [{"sku": "4"}]


def test_an_aborted_split_feed_leaves_no_part_nor_temporary_file(tmp_path: Path) -> None:
    spec = _spec(writer="json", max_items_per_file=2, document={"messages": "$items"})
    writer = open_writer(tmp_path / "feed.json", spec, spec.formats["out"], FeedInfo(),
                         context=CONTEXT)
    for item in ITEMS:
        writer.write(item)
    assert len(list(tmp_path.iterdir())) == 3  # finished parts wait, unpublished
    writer.abort()
    assert list(tmp_path.iterdir()) == []


def test_every_part_of_a_split_feed_gets_the_same_envelope(tmp_path: Path) -> None:
    spec = _spec(writer="json", max_items_per_file=2, document={"messages": "$items"},
                 item_shape={"n": "$@position", "sku": "$sku"})
    _write(tmp_path, spec, ITEMS, "feed.json")
    documents = [json.loads((tmp_path / f"feed.part000{n}.json").read_text())
                 for n in (1, 2, 3)]
    assert [[m["sku"] for m in d["messages"]] for d in documents] == [
        ["S1", "S2"], ["S3", "S4"], ["S5"]]
    assert [[m["n"] for m in d["messages"]] for d in documents] == [[1, 2], [1, 2], [1]]


def test_part_names_keep_compression_suffix() -> None:
    assert part_path(Path("out/a.json.gz"), 3).name == "a.part0003.json.gz"
    assert part_path(Path("out/b.csv"), 12).name == "b.part0012.csv"


def test_parts_work_for_delimited_feeds_too(tmp_path: Path) -> None:
    spec = ChannelSpec.model_validate({
        "name": "demo", "title": "Demo",
        "formats": {"out": {"writer": "delimited", "extension": ".csv",
                            "max_items_per_file": 3}},
        "fields": [{"name": "sku"}, {"name": "price", "format": "number"},
                   {"name": "ok", "format": "boolean"}]})
    items = [{"sku": "S1", "price": Decimal("1.50"), "ok": True}] * 4
    _write(tmp_path, spec, items, "feed.csv")
    first = (tmp_path / "feed.part0001.csv").read_text().splitlines()
    assert first == ["sku,price,ok"] + ["S1,1.50,true"] * 3
    assert len((tmp_path / "feed.part0002.csv").read_text().splitlines()) == 2


def test_rule_exclude_needs_a_condition() -> None:
    with pytest.raises(ValidationError, match="exclude"):
        ChannelSpec.model_validate({
            "name": "demo", "title": "Demo",
            "formats": {"out": {"writer": "delimited", "extension": ".csv"}},
            "fields": [{"name": "id"}], "rules": [{"exclude": True}]})


_SETTINGS_FOR_SHAPES = {"settings": {"market": "A1", "seller_id": "S", "issue_locale": "es_ES",
                                     "language_tag": "es_ES", "marketplace_id": "M",
                                     "fulfillment_channel_code": "DEFAULT", "locale": "es_ES"},
                        "market": {"country": "ES"}, "feed": {}}
_PROBE_SHAPES = [
    {"a": "$a", "b": {"c": "$b", "d": "K"}, "e": ["$a", "$b"], "f": [], "g": {},
     "h": {"k": "const"}, "i": [{"x": "$a"}, {"y": "$b", "z": 1}], "n": "$@position",
     "lit": "$$a", "dollar": "$", "other": "$@other", "items": "$items", "none": None},
    {"each": {"$each": "a", "item": {"src": "$.", "k": "$.k", "b": "$b"}}},
    {"over": {"$override": "a", "name": [{"value": "$b", "m": "X"}]}, "b": "$b"},
    [{"v": "$a"}, "$b", 3],
    "$a", "$.", 5,
]


def _item_shapes() -> list[object]:
    from feedsync.channels.loader import load_spec

    specs = Path(__file__).resolve().parents[1] / "channel_specs"
    shapes = []
    for path in sorted(specs.glob("*.yaml")):
        for fmt in load_spec(path.stem).formats.values():
            if fmt.item_shape is not None:
                shapes.append(fmt.item_shape)
    return shapes


@pytest.mark.parametrize("shape", _item_shapes() + _PROBE_SHAPES)
def test_generated_shape_resolves_as_compile_shape(shape: object) -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from feedsync.channels.shape import shape_references

    names = sorted(shape_references(shape) | {"a", "b"})
    scalar = st.one_of(st.none(), st.sampled_from(["", "x", "0"]), st.integers(-1, 2),
                       st.booleans(), st.decimals(allow_nan=False, places=1))
    value = st.one_of(scalar, st.lists(scalar, max_size=2),
                      st.dictionaries(st.sampled_from(["k", "value"]), scalar, max_size=2),
                      st.lists(st.dictionaries(st.sampled_from(["k"]), scalar), max_size=2))
    reference, refs = compile_shape(shape, _SETTINGS_FOR_SHAPES, "test")
    generated, generated_refs = compile_item_shape(shape, _SETTINGS_FOR_SHAPES, "test")
    assert generated_refs == refs

    @settings(max_examples=200, derandomize=True, deadline=None, database=None)
    @given(st.dictionaries(st.sampled_from(names), value), st.integers(1, 3))
    def case(item: dict, position: int) -> None:
        expected = reference(item, position, None)
        got = generated(item, position, None)
        assert (got is MISSING) == (expected is MISSING)
        assert got == expected
        # the same JSON text: types and key order too
        if expected is not MISSING:
            assert json.dumps(got, default=str) == json.dumps(expected, default=str)

    case()
