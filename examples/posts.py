"""The blog-post example: a transform (``--transform changelake.examples.posts:post_document``)
and, beside it in ``posts.json``, the index body for its documents (``--mapping posts``)."""

from __future__ import annotations

from typing import Any


def post_document(image: dict[str, Any]) -> dict[str, Any] | None:
    """A Post's search document: block texts joined into ``text``, image alts in ``image_alts``.

    The other attributes are kept as they are; ``blocks`` itself is left out. An image without
    ``blocks`` is indexed as it is.
    """
    blocks = image.get("blocks")
    if not isinstance(blocks, list):
        return dict(image)
    texts: list[str] = []
    alts: list[str] = []
    for block in blocks:
        if not isinstance(block, dict):
            continue
        text = block.get("text")
        if isinstance(text, str) and text.strip():
            texts.append(text)
        picture = block.get("image")
        alt = picture.get("alt") if isinstance(picture, dict) else None
        if isinstance(alt, str) and alt.strip():
            alts.append(alt)
    document = {name: value for name, value in image.items() if name != "blocks"}
    document["text"] = "\n".join(texts)
    document["image_alts"] = alts
    return document
