import gzip
import os
import stat
from pathlib import Path

import pytest
from lxml import etree

from feedsync.channels.loader import load_spec
from feedsync.config import FeedInfo
from feedsync.writers import open_writer
from feedsync.writers.atomic import AtomicFile
from feedsync.writers.xml import escape_text

SAFE_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
G = "http://base.google.com/ns/1.0"


def write_feed(path: Path, fmt: str, items: list[dict]) -> Path:
    spec = load_spec("google_merchant")
    with open_writer(path, spec, spec.formats[fmt], FeedInfo(title="T & Co")) as writer:
        for item in items:
            writer.write(item)
    return path


def test_atomic_file_replaces_only_on_commit(tmp_path: Path):
    target = tmp_path / "feed.xml"
    target.write_text("old")
    pending = AtomicFile(target)
    pending.stream.write(b"new")
    assert target.read_text() == "old"
    pending.commit()
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["feed.xml"]
    mode = stat.S_IMODE(os.stat(target).st_mode)
    assert mode & stat.S_IRGRP and mode & stat.S_IROTH


def test_abort_keeps_the_old_file_and_leaves_no_temp(tmp_path: Path):
    target = tmp_path / "feed.xml"
    target.write_text("old")
    with pytest.raises(RuntimeError), open_writer(target, load_spec("google_merchant"),
                     load_spec("google_merchant").formats["xml"], FeedInfo()) as writer:
        writer.write({"id": "1"})
        raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["feed.xml"]


def test_xml_declares_g_once_and_prefixes_every_attribute(tmp_path: Path):
    path = write_feed(tmp_path / "f.xml", "xml", [
        {"id": "1", "title": "Tom & Jerry <DVD>", "additional_image_link": ["https://a/1",
                                                                          "https://a/2"],
         "shipping": [{"country": "ES", "service": "Std", "price": "3.95 EUR"}]}])
    text = path.read_text()
    assert text.count(f'xmlns:g="{G}"') == 1
    assert "<g:id>1</g:id>" in text
    root = etree.parse(str(path), SAFE_PARSER).getroot()
    item = root.find("channel/item")
    assert item.findtext(f"{{{G}}}title") == "Tom & Jerry <DVD>"
    assert [e.text for e in item.findall(f"{{{G}}}additional_image_link")] == ["https://a/1",
                                                                               "https://a/2"]
    assert item.find(f"{{{G}}}shipping/{{{G}}}price").text == "3.95 EUR"
    assert root.findtext("channel/title") == "T & Co"


def test_characters_illegal_in_xml_are_removed(tmp_path: Path):
    path = write_feed(tmp_path / "f.xml", "xml",
                      [{"id": "1", "title": "bad\x00\x0b\x1fchars\ufffe"}])
    item = etree.parse(str(path), SAFE_PARSER).getroot().find("channel/item")
    assert item.findtext(f"{{{G}}}title") == "badchars"
    assert escape_text("a\tb\nc") == "a\tb\nc"


def test_tsv_neutralises_tabs_and_newlines_and_formats_groups(tmp_path: Path):
    path = write_feed(tmp_path / "f.tsv", "tsv", [
        {"id": "1", "title": "two\tcolumns\nand lines",
         "additional_image_link": ["https://a/1", "https://a/2"],
         "shipping": [{"country": "ES", "service": "Std", "price": "3.95 EUR"},
                      {"country": "PT", "region": "Lisboa", "price": "5.00 EUR",
                       "min_handling_time": "1"}]}])
    header, row = path.read_text().splitlines()
    columns = dict(zip(header.split("\t"), row.split("\t")))
    assert len(row.split("\t")) == len(header.split("\t"))
    assert columns["title"] == "two columns and lines"
    assert columns["additional_image_link"] == "https://a/1,https://a/2"
    assert columns["shipping"] == "ES::Std:3.95 EUR,PT:Lisboa::5.00 EUR:1"


def test_gz_outputs_are_compressed_and_reproducible(tmp_path: Path):
    first = write_feed(tmp_path / "a.xml.gz", "xml", [{"id": "1"}])
    second = write_feed(tmp_path / "b.xml.gz", "xml", [{"id": "1"}])
    assert first.read_bytes() == second.read_bytes()
    assert b"<g:id>1</g:id>" in gzip.decompress(first.read_bytes())
