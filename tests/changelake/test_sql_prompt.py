"""The interactive prompt, driven through prompt_toolkit's own pipe input."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prompt_toolkit import PromptSession
from prompt_toolkit.history import FileHistory
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from changelake.clients import open_read_only_archive
from changelake.schemas.archive_layout import parse_archive_uri
from changelake.sql_prompt import dot_command_to_sql, is_complete, run_prompt, session_options
from tests.changelake.sql_archive import write_sample_archive

if TYPE_CHECKING:
    from pathlib import Path

    import pytest


def test_statements_span_lines_and_dot_commands_work(
    local_archive: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_sample_archive(local_archive)
    connection = open_read_only_archive(parse_archive_uri(local_archive))
    history = tmp_path / "history"
    with create_pipe_input() as pipe:
        session: PromptSession[str] = PromptSession(
            input=pipe, output=DummyOutput(), history=FileHistory(str(history)), **session_options()
        )
        pipe.send_text(
            "select count(*) as n\r  from latest;\r"
            ".tables\r"
            ".schema latest\r"
            "copy (select 1) to 'x.csv';\r"
            "select nope;\r"
            ".output csv\r"
            "select 42 as answer;\r"
            ".quit\r"
        )
        run_prompt(connection, "table", session)
    out, err = capsys.readouterr()
    assert "n\n-\n2\n(1 row)" in out
    lines = [line.split() for line in out.splitlines()]
    for name in (["changes", "view"], ["latest", "view"], ["as_of", "macro"], ["history", "macro"]):
        assert name in lines
    assert "event_name" in out  # .schema latest
    assert '"answer"\n42\n' in out
    assert "Error: changelake sql is read-only: COPY writes files" in err
    assert 'Error: Binder Error: Referenced column "nope"' in err
    assert (
        list(FileHistory(str(history)).load_history_strings())[-1]
        == "select count(*) as n\n  from latest;"
    )


def test_completeness_and_dot_commands() -> None:
    assert is_complete("select 1;")
    assert is_complete("  .tables ")
    assert not is_complete("select 1\nfrom t")
    assert dot_command_to_sql(".schema changes") == "DESCRIBE changes"
    assert dot_command_to_sql(".nope") is None
