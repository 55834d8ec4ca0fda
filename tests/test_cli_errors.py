"""Everyday mistakes through the CLI: one clear message naming the file and line or row,
the right exit code (2 config, 3 master), never a traceback and never exit 70."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from feedsync.cli.app import app

CHANNEL = "  google: {spec: google_merchant, output: out/g.xml}\n"
GOOD_CSV = ("id,title,price,link,image_link,brand,availability,description\n"
            "A1,Camiseta,10.00 EUR,https://x.es/a1,https://x.es/a1.jpg,X,in_stock,Nice\n")


def _project(tmp_path: Path, config: str, files: dict[str, bytes | str] | None = None) -> Path:
    for name, content in (files or {"p.csv": GOOD_CSV}).items():
        target = tmp_path / name
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, encoding="utf-8")
    path = tmp_path / "feedsync.yaml"
    path.write_text(config, encoding="utf-8")
    return path


def _fails(config: Path, *extra: str, code: int, command: str = "validate") -> str:
    """Run; check the exit code and that stderr holds one error message and no traceback.
    Returns the message with its lines joined."""
    result = CliRunner().invoke(app, [command, "-c", str(config), *extra])
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output and "please report it" not in result.output
    lines = [line.strip() for line in result.output.splitlines() if line.strip()]
    assert lines and lines[0].startswith("error:"), result.output
    # one problem: a header line plus at most one listed problem
    assert len(lines) <= 2, result.output
    return " ".join(lines)


def test_wrong_encoding_names_the_real_byte_and_line(tmp_path: Path) -> None:
    config = _project(tmp_path, "source: {path: p.csv, encoding: utf-8}\nchannels:\n" + CHANNEL,
                      {"p.csv": b"id,title,price\nA1,Caf\xe9,10\n"})
    message = _fails(config, code=3)
    assert "p.csv is not valid utf-8 text: byte 21 (line 2, value 0xe9)" in message
    assert "source.encoding" in message


def test_decode_error_late_in_a_large_file_reports_its_offset_in_the_file(
        tmp_path: Path) -> None:
    body = "id,title,price\n" + "".join(f"A{i},Camiseta,10\n" for i in range(20_000))
    data = body.encode() + b"B1,Caf\xe9,10\n"
    config = _project(tmp_path, "source: {path: p.csv, encoding: utf-8}\nchannels:\n" + CHANNEL,
                      {"p.csv": data})
    message = _fails(config, code=3)
    offset = data.index(b"\xe9")
    assert f"byte {offset} (line 20002," in message


def test_issues_file_in_a_missing_folder(tmp_path: Path) -> None:
    config = _project(tmp_path, "source: {path: p.csv}\nchannels:\n" + CHANNEL)
    message = _fails(config, "--issues-file", str(tmp_path / "nodir" / "x.csv"), code=2)
    assert "cannot write the issues file" in message and "nodir" in message


def test_column_template_naming_a_key_some_records_lack(tmp_path: Path) -> None:
    common = ('"price": "10 EUR", "link": "https://x.es/a", "image_link": "https://x.es/a.jpg", '
              '"brand": "X", "availability": "in_stock", "description": "Nice"')
    records = (f'[{{"id": "A1", "title": "a", "talla": "S", {common}}},'
               f' {{"id": "A2", "title": "b", {common}}}]')
    config = _project(tmp_path, "source:\n  path: r.json\n  columns:\n"
                      "    id: \"{{ row['id'] }}-{{ row['talla'] }}\"\n"
                      "    size: \"{{ extra['talla'] }}\"\nchannels:\n" + CHANNEL,
                      {"r.json": records})
    result = CliRunner().invoke(app, ["build", "-c", str(config), "-q"])
    assert result.exit_code == 0, result.output
    feed = (tmp_path / "out" / "g.xml").read_text(encoding="utf-8")
    assert "<g:id>A1-S</g:id>" in feed and "<g:id>A2-</g:id>" in feed


def test_channel_written_twice_names_both_lines(tmp_path: Path) -> None:
    config = _project(tmp_path, "source: {path: p.csv}\nchannels:\n" + CHANNEL
                      + "  google: {spec: google_merchant, output: out/g2.xml}\n")
    message = _fails(config, code=2)
    assert "feedsync.yaml:4: channels.google: written twice (first on line 3)" in message


def test_yaml_anchors_may_override_merged_keys(tmp_path: Path) -> None:
    config = _project(tmp_path, "base: &base {spec: google_merchant, output: out/a.xml}\n"
                      "source: {path: p.csv}\nchannels:\n"
                      "  google: {<<: *base, output: out/g.xml}\n")
    message = _fails(config, code=2)  # only the unknown top-level `base` is wrong
    assert "feedsync.yaml:1: base: unknown key" in message and "twice" not in message


def test_unclosed_quote_is_reported_on_its_row(tmp_path: Path) -> None:
    config = _project(tmp_path, "source: {path: q.csv}\nchannels:\n" + CHANNEL,
                      {"q.csv": 'id,title,price,link\nA1,"Camiseta,10,https://x\n'
                                'A2,Pant,12,https://y\nA3,Gorra,12,https://z\n'})
    result = CliRunner().invoke(app, ["validate", "-c", str(config), "-f", "json"])
    assert result.exit_code == 1
    assert '"code": "unclosed-quote"' in result.stdout
    assert "row 2: a quote opened in this row is never closed, so 2 following" in result.stdout


def test_duplicated_header_column(tmp_path: Path) -> None:
    config = _project(tmp_path, "source: {path: d.csv}\nchannels:\n" + CHANNEL,
                      {"d.csv": "id,title,title,price\nA1,a,b,10\n"})
    message = _fails(config, code=3)
    assert "d.csv: row 1: column 'title' appears twice (columns 2 and 3)" in message


def test_config_without_channels(tmp_path: Path) -> None:
    config = _project(tmp_path, "source: {path: p.csv}\n")
    message = _fails(config, code=2, command="build")
    assert "feedsync.yaml has no channels, so there is nothing to build" in message


@pytest.mark.parametrize(("channel", "expected"), [
    ("  google: {spec: google_merchant, ouput: out/g.xml}\n",
     "feedsync.yaml:3: channels.google.ouput: unknown key (did you mean 'output'?)"),
    ("  google: {spec: google_merchant, output: {path: out/g.xml}}\n",
     "feedsync.yaml:3: channels.google.output: expected a single value here, not a mapping; "
     "`output:` is a file path"),
    ("  google: {spec: google_merchant, outputs: [{pth: out/g.xml}]}\n",
     "channels.google.outputs[0].pth: unknown key (did you mean 'path'?)"),
    ("  google: {spec: google_merchnt, output: out/g.xml}\n",
     "feedsync.yaml:3: channels.google.spec: unknown channel spec 'google_merchnt' "
     "(did you mean 'google_merchant'?)"),
])
def test_config_mistakes_name_the_line_and_suggest(tmp_path: Path, channel: str,
                                                   expected: str) -> None:
    config = _project(tmp_path, "source: {path: p.csv}\nchannels:\n" + channel)
    result = CliRunner().invoke(app, ["validate", "-c", str(config)])
    assert result.exit_code == 2
    assert expected in result.output
    assert "Input should be a valid string" not in result.output
    assert "Traceback" not in result.output


def test_unknown_source_key_suggests_the_close_one(tmp_path: Path) -> None:
    config = _project(tmp_path, "source: {path: p.csv, list_separater: ';'}\nchannels:\n"
                      + CHANNEL)
    message = _fails(config, code=2)
    assert "source.list_separater: unknown key (did you mean 'list_separator'?)" in message


def test_unknown_channel_name_suggests_the_close_one(tmp_path: Path) -> None:
    config = _project(tmp_path, "source: {path: p.csv}\nchannels:\n" + CHANNEL)
    message = _fails(config, "--channel", "gogle", code=2)
    assert "unknown channel(s) gogle (did you mean 'google'?)" in message


def test_tab_in_yaml(tmp_path: Path) -> None:
    config = _project(tmp_path, "source:\n\tpath: p.csv\n")
    message = _fails(config, code=2)
    assert "feedsync.yaml:2, column 1: a tab character is used for indentation" in message


def test_unclosed_quote_in_yaml(tmp_path: Path) -> None:
    config = _project(tmp_path, 'source:\n  path: "p.csv\nchannels: {}\n')
    message = _fails(config, code=2)
    assert "feedsync.yaml:2: a quote opened here is never closed" in message


def test_old_excel_workbook(tmp_path: Path) -> None:
    config = _project(tmp_path, "source: {path: p.xls}\nchannels:\n" + CHANNEL,
                      {"p.xls": b"\xd0\xcf\x11\xe0" + b"\0" * 60})
    message = _fails(config, code=3)
    assert "p.xls is an old Excel 97-2003 workbook" in message and ".xlsx" in message


def test_brackets_in_a_message_are_printed_as_written(tmp_path: Path) -> None:
    config = _project(tmp_path, "source: {path: p.csv}\nchannels:\n" + CHANNEL)
    message = _fails(config, "--channel", "shop[b]", code=2)
    assert "unknown channel(s) shop[b]" in message


def test_an_output_that_cannot_be_opened_leaves_no_other_output_half_written(
        tmp_path: Path) -> None:
    """The second output's folder is a file: the build stops with one message, and the
    first output's temporary file, already opened, is removed with it."""
    (tmp_path / "blocker").write_text("not a folder", encoding="utf-8")
    config = _project(tmp_path, "source: {path: p.csv}\nchannels:\n  google:\n"
                      "    spec: google_merchant\n    outputs: [out/g.xml, blocker/g.tsv]\n")
    message = _fails(config, code=2, command="build")
    assert "blocker" in message
    assert list((tmp_path / "out").iterdir()) == []  # no .g.xml.*.tmp left behind
