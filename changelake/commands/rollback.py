"""``changelake rollback``: point the alias back at the index it pointed to before."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from changelake.clients import make_search_sink
from changelake.options import alias_option, es_url_option, output_option, search_options
from changelake.rebuild.aliases import rollback as rollback_alias
from changelake.rebuild.watermark import read_state
from changelake.summary_output import echo_summary

if TYPE_CHECKING:
    from changelake.search_options import SearchOptions


@click.command()
@alias_option
@es_url_option
@search_options
@output_option
def rollback(alias: str, es_url: str, search: SearchOptions, output: str) -> None:
    """Move --alias back to its previous target (the alias history in the index's _meta).

    Sync and verify then follow the recipe that index was rebuilt by.
    """
    old, new, meta = rollback_alias(make_search_sink(es_url, search), alias)
    state = read_state(meta, new)
    recipe = state.recipe.to_meta() if state is not None else None
    lines = [f"Moved alias {alias} from {old} back to {new}"]
    if state is not None:
        transform = state.recipe.transform or "none"
        lines.append(
            f"Its recipe: table {state.table_name}, transform {transform}, "
            f"--id {state.recipe.id_rule}, --ttl-deletes {state.recipe.ttl_deletes}"
        )
    summary = {"alias": alias, "alias_move": {"from": [old], "to": new}, "recipe": recipe}
    echo_summary(output, summary, lines)
