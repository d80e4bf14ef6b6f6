"""Memory quantities as HKube's units converter reads them."""

from __future__ import annotations

import pytest

from hkube_site.units import parse_memory_mi
from hkube_site.validation import ValidationError


class TestParseMemory:
    @pytest.mark.parametrize(
        ("value", "mi"),
        [
            ("512Mi", 512),
            ("1.5Gi", 1536),
            ("500Ki", 0.48828125),
            ("1Ti", 1048576),
            ("4M", 4e6 / 2**20),
            (64, 64),
        ],
    )
    def test_parse_memory_mi(self, value: str | int, mi: float) -> None:
        assert parse_memory_mi(value) == pytest.approx(mi)

    @pytest.mark.parametrize("value", ["512", "512MB", "1.5i", "", "Mi4"])
    def test_missing_or_unknown_unit(self, value: str) -> None:
        with pytest.raises(ValidationError) as caught:
            parse_memory_mi(value)
        assert caught.value.message == "memory unit must be one of Ki,M,Mi,Gi,m,K,G,T,Ti"

    def test_a_negative_amount_is_refused(self) -> None:
        with pytest.raises(ValidationError, match="value must be >= 0"):
            parse_memory_mi("-5Mi")
