"""Every command's summary: one JSON document for --output json, else its lines of text."""

from __future__ import annotations

import json

import pytest

from changelake.summary_output import echo_line, echo_summary


def test_json_is_one_document_with_text_unescaped(capsys: pytest.CaptureFixture[str]) -> None:
    echo_summary("json", {"title": "검색", "n": 2}, ["not printed"])
    printed = capsys.readouterr().out
    assert json.loads(printed) == {"title": "검색", "n": 2}
    assert "검색" in printed and "not printed" not in printed


@pytest.mark.parametrize(("lines", "expected"), [("one", "one\n"), (["a", "b"], "a\nb\n")])
def test_text_is_the_lines(
    lines: str | list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    echo_summary("text", {"ignored": True}, lines)
    assert capsys.readouterr().out == expected


def test_warnings_follow_text_on_stderr_and_are_left_to_the_json_document(
    capsys: pytest.CaptureFixture[str],
) -> None:
    echo_summary("text", {"warnings": ["late"]}, "done", warnings=["late"])
    assert capsys.readouterr() == ("done\n", "Warning: late\n")
    echo_summary("json", {"warnings": ["late"]}, "done", warnings=["late"])
    printed = capsys.readouterr()
    assert json.loads(printed.out) == {"warnings": ["late"]} and printed.err == ""


def test_a_line_of_a_stream_is_compact_json_or_the_text(capsys: pytest.CaptureFixture[str]) -> None:
    echo_line("json", {"alias": "검색", "n": 2}, "not printed")
    echo_line("text", {"ignored": True}, "two lines\nof text")
    out = capsys.readouterr().out
    assert out == '{"alias": "검색", "n": 2}\ntwo lines\nof text\n'
