"""Kubernetes resource quantities ("10Gi", "500m", "1e9"): parse exactly, format back, check.

One parser for the whole package: the volumes' capacities, conda's memory limits
and the emulator's quota and storage accounting all read quantities through it.
Values are exact :class:`~decimal.Decimal` numbers of base units (bytes, cores), as
the API server's ``resource.Quantity`` is exact; floats would make "1.1Gi" inexact.

The grammar is the API server's
(https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/quantity/,
``k8s.io/apimachinery/pkg/api/resource/quantity.go``)::

    <quantity>  ::= <sign>? <number> <suffix>
    <number>    ::= <digits> | <digits>.<digits> | <digits>. | .<digits>
    <suffix>    ::= Ki | Mi | Gi | Ti | Pi | Ei          (powers of 2)
                  | n | u | m | "" | k | M | G | T | P | E (powers of 10)
                  | e<signed integer> | E<signed integer>

No library on PyPI does this alone: the synchronous ``kubernetes`` client has
``kubernetes.utils.quantity``, but it would bring a second Kubernetes client (and
its dependencies) into the hub for one function; kubernetes_asyncio has none.
"""

from __future__ import annotations

import re
from decimal import ROUND_CEILING, Decimal

__all__ = ["QuantityError", "format_quantity", "parse_bytes", "parse_quantity"]

BINARY_SUFFIXES = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
DECIMAL_SUFFIXES = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal(10**3),
    "M": Decimal(10**6),
    "G": Decimal(10**9),
    "T": Decimal(10**12),
    "P": Decimal(10**15),
    "E": Decimal(10**18),
}
_QUANTITY = re.compile(r"([+-]?(?:\d+\.?\d*|\.\d+))(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?")
# What people write instead ("10 GB", "10gi", "500MiB"): the number and the
# letter of the unit they meant, to suggest the quantity in the message.
_NEAR_MISS = re.compile(r"\s*([+-]?(?:\d+\.?\d*|\.\d+))\s*(?:([kmgtpe])i?b?)?\s*", re.IGNORECASE)


class QuantityError(ValueError):
    """A value that is not a Kubernetes quantity (or not one that fits); the message says how."""


def parse_quantity(value: str | int | float | Decimal) -> Decimal:
    """The exact value of a quantity in base units: "1Gi" -> 1073741824, "500m" -> 0.5.

    Surrounding whitespace is ignored; anything else that the API server would
    refuse raises :class:`QuantityError`. JSON numbers (int, float) are quantities
    too, as the API server reads them.
    """
    if isinstance(value, bool):  # bool is an int, and True is no quantity
        raise QuantityError(_not_a_quantity(value))
    if isinstance(value, (int, Decimal)):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))  # the float's shortest decimal form: 0.1 -> 0.1
    match = _QUANTITY.fullmatch(str(value).strip())
    if not match:
        raise QuantityError(_not_a_quantity(value))
    number, suffix = Decimal(match.group(1)), match.group(2) or ""
    if suffix in BINARY_SUFFIXES:
        return number * BINARY_SUFFIXES[suffix]
    if suffix in DECIMAL_SUFFIXES:
        return number * DECIMAL_SUFFIXES[suffix]
    return number.scaleb(int(suffix[1:]))


def parse_bytes(value: str | int | Decimal) -> int:
    """A size (storage, memory) in whole bytes: a quantity of 0 or more.

    A fraction of a byte is rounded up, as the API server does
    (``resource.Quantity.Value()`` rounds away from zero).
    """
    number = parse_quantity(value)
    if number < 0:
        raise QuantityError(f"{value!r} is negative: write a size of 0 or more, like 10Gi or 500Mi")
    return int(number.to_integral_value(rounding=ROUND_CEILING))


def format_quantity(value: Decimal | int, *, binary: bool = True) -> str:
    """The shortest exact form: 1073741824 -> "1Gi", 0.5 -> "500m", 0 -> "0".

    ``binary`` picks the suffixes for whole numbers: Ki, Mi, ... (sizes) or k, M, ...
    """
    value = Decimal(value)
    if value == 0:
        return "0"
    if value != value.to_integral_value():
        milli = value * 1000
        if milli == milli.to_integral_value():
            return f"{int(milli)}m"
        return str(value)
    integer = int(value)
    if binary:
        factors = list(BINARY_SUFFIXES.items())
    else:
        factors = [(suffix, int(DECIMAL_SUFFIXES[suffix])) for suffix in "kMGTPE"]
    for suffix, factor in reversed(factors):
        if integer % factor == 0:
            return f"{integer // factor}{suffix}"
    return str(integer)


def _not_a_quantity(value: object) -> str:
    """The message for a malformed quantity, suggesting the user's own number with a suffix."""
    examples = "10Gi or 500Mi"
    near = _NEAR_MISS.fullmatch(str(value))
    if near and near.group(2):
        number, letter = near.group(1), near.group(2)
        # binary (what sizes usually mean) first; "k" is the one lower-case decimal suffix
        examples = (
            f"{number}{letter.upper()}i or {number}{'k' if letter in 'kK' else letter.upper()}"
        )
    return f"{value!r} is not a Kubernetes quantity: write a number with a suffix, like {examples}"
