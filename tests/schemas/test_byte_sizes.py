"""Sizes read with IEC units and printed in binary units that read back as the same size."""

from __future__ import annotations

import pytest

from changelake.schemas.byte_sizes import bytes_to_text, text_to_bytes


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("512MB", 512 * 10**6),
        ("128MiB", 128 * 2**20),
        ("2GiB", 2 * 2**30),
        ("1.5kib", 1536),
        ("1073741824", 2**30),
        ("1.5 gb", 15 * 10**8),
    ],
)
def test_sizes_parse(text: str, expected: int) -> None:
    assert text_to_bytes(text) == expected


def test_a_size_without_a_known_unit_is_explained() -> None:
    with pytest.raises(ValueError, match=r"'2 lots' is not a size; .* e\.g\. 512MiB"):
        text_to_bytes("2 lots")


@pytest.mark.parametrize("size", [512, 1536, 16 * 2**20, 3 * 2**30])
def test_printed_sizes_read_back(size: int) -> None:
    assert text_to_bytes(bytes_to_text(size).replace(" ", "")) == size
