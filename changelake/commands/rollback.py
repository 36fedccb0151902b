"""``changelake rollback``: point the alias back at the previous rebuilt index."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from changelake.clients import make_search_sink
from changelake.options import alias_option, es_url_option, output_option, search_options
from changelake.rebuild.aliases import rollback as rollback_alias

if TYPE_CHECKING:
    from changelake.search_options import SearchOptions


@click.command()
@alias_option
@es_url_option
@search_options
@output_option
def rollback(alias: str, es_url: str, search: SearchOptions, output: str) -> None:
    """Move --alias back to the newest rebuilt index older than the one it is on."""
    old, new = rollback_alias(make_search_sink(es_url, search), alias)
    if output == "json":
        click.echo(json.dumps({"alias": alias, "alias_move": {"from": [old], "to": new}}))
        return
    click.echo(f"Moved alias {alias} from {old} back to {new}")
