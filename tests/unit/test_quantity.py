"""Kubernetes quantities: parsed exactly, formatted back, refused with the fix."""

from __future__ import annotations

from decimal import Decimal

import pytest

from workspace_spawner.quantity import QuantityError, format_quantity, parse_bytes, parse_quantity


@pytest.mark.parametrize(
    "value, expected",
    [
        # binary suffixes
        ("1Ki", 2**10),
        ("500Mi", 500 * 2**20),
        ("10Gi", 10 * 2**30),
        (" 1Ti ", 2**40),
        ("1Pi", 2**50),
        ("2Ei", 2 * 2**60),
        ("1.5Gi", Decimal("1.5") * 2**30),
        (".5Gi", 2**29),
        # decimal suffixes
        ("128974848", 128974848),
        ("1k", 1000),
        ("20G", 20 * 10**9),
        ("129M", 129 * 10**6),
        ("1T", 10**12),
        ("1P", 10**15),
        ("1E", 10**18),
        # milli, micro, nano: CPU and fractions
        ("500m", Decimal("0.5")),
        ("100m", Decimal("0.1")),
        ("1u", Decimal("1e-6")),
        ("5n", Decimal("5e-9")),
        ("1.5", Decimal("1.5")),
        ("1.", 1),
        # exponents, signed or not
        ("129e6", 129 * 10**6),
        ("1E3", 1000),
        ("1e+3", 1000),
        ("1e-3", Decimal("0.001")),
        ("12.5e1", 125),
        # signs, and JSON numbers
        ("+1Gi", 2**30),
        ("-1Gi", -(2**30)),
        (0, 0),
        (5, 5),
        (0.5, Decimal("0.5")),
        (0.1, Decimal("0.1")),
        (Decimal("2.5"), Decimal("2.5")),
    ],
)
def test_parse_quantity(value, expected):
    assert parse_quantity(value) == expected


@pytest.mark.parametrize(
    "value, message",
    [
        (
            "ten",
            "'ten' is not a Kubernetes quantity: write a number with a suffix, like 10Gi or 500Mi",
        ),
        ("", "'' is not a Kubernetes quantity: write a number with a suffix, like 10Gi or 500Mi"),
        (
            "Gi",
            "'Gi' is not a Kubernetes quantity: write a number with a suffix, like 10Gi or 500Mi",
        ),
        (
            "1.2.3",
            "'1.2.3' is not a Kubernetes quantity: write a number with a suffix, like 10Gi or 500Mi",
        ),
        ("1e", "'1e' is not a Kubernetes quantity: write a number with a suffix, like 1Ei or 1E"),
        (
            "1e1.5",
            "'1e1.5' is not a Kubernetes quantity: write a number with a suffix, like 10Gi or 500Mi",
        ),
        (
            "1Ki1",
            "'1Ki1' is not a Kubernetes quantity: write a number with a suffix, like 10Gi or 500Mi",
        ),
        ("1K", "'1K' is not a Kubernetes quantity: write a number with a suffix, like 1Ki or 1k"),
        (
            "10 GB",
            "'10 GB' is not a Kubernetes quantity: write a number with a suffix, like 10Gi or 10G",
        ),
        (
            "10GB",
            "'10GB' is not a Kubernetes quantity: write a number with a suffix, like 10Gi or 10G",
        ),
        (
            "10 Gi",
            "'10 Gi' is not a Kubernetes quantity: write a number with a suffix, like 10Gi or 10G",
        ),
        (
            "10gi",
            "'10gi' is not a Kubernetes quantity: write a number with a suffix, like 10Gi or 10G",
        ),
        (
            "500MiB",
            "'500MiB' is not a Kubernetes quantity: write a number with a suffix, like 500Mi or 500M",
        ),
        ("2kb", "'2kb' is not a Kubernetes quantity: write a number with a suffix, like 2Ki or 2k"),
        (
            True,
            "True is not a Kubernetes quantity: write a number with a suffix, like 10Gi or 500Mi",
        ),
        (
            None,
            "None is not a Kubernetes quantity: write a number with a suffix, like 10Gi or 500Mi",
        ),
    ],
)
def test_parse_quantity_refuses_with_the_fix(value, message):
    with pytest.raises(QuantityError) as info:
        parse_quantity(value)
    assert str(info.value) == message
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    "value, expected",
    [
        ("10Gi", 10 * 2**30),
        ("1.5Gi", 1610612736),
        ("0", 0),
        ("1500m", 2),
        ("0.1", 1),
        ("1e3", 1000),
        (4096, 4096),
    ],
)
def test_parse_bytes_rounds_a_fraction_up(value, expected):
    assert parse_bytes(value) == expected
    assert type(parse_bytes(value)) is int


@pytest.mark.parametrize("value", ["ten", "10 Gi", "10gi", "", "10GB", "Gi"])
def test_parse_bytes_refuses(value):
    with pytest.raises(QuantityError, match="is not a Kubernetes quantity: write a number"):
        parse_bytes(value)


def test_parse_bytes_refuses_a_negative_size():
    with pytest.raises(QuantityError) as info:
        parse_bytes("-1Gi")
    assert str(info.value) == "'-1Gi' is negative: write a size of 0 or more, like 10Gi or 500Mi"


@pytest.mark.parametrize(
    "value, binary, expected",
    [
        (0, True, "0"),
        (2**30, True, "1Gi"),
        (10 * 2**30, True, "10Gi"),
        (1536 * 2**20, True, "1536Mi"),
        (2**60, True, "1Ei"),
        (1000, True, "1000"),
        (1023, True, "1023"),
        (Decimal("0.5"), True, "500m"),
        (Decimal("0.0005"), True, "0.0005"),
        (10**9, False, "1G"),
        (1500, False, "1500"),
        (2000, False, "2k"),
        (2**30, False, "1073741824"),
        (Decimal("0.25"), False, "250m"),
        (-(2**20), True, "-1Mi"),
    ],
)
def test_format_quantity(value, binary, expected):
    assert format_quantity(value, binary=binary) == expected


@pytest.mark.parametrize("text", ["1Gi", "500Mi", "3k", "250m", "7", "1Ei", "12345"])
def test_format_parses_back_to_the_same_value(text):
    value = parse_quantity(text)
    assert parse_quantity(format_quantity(value, binary=text[-1:] == "i")) == value
