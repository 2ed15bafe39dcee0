"""Kubernetes resource quantities: parse to Decimal, format back.

kubernetes_asyncio (36.x) ships no quantity parser (the sync `kubernetes` client's
`utils.quantity` is not in it), so this is the small one the emulator needs.
https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/quantity/
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
            "k": Decimal(10**3), "M": Decimal(10**6), "G": Decimal(10**9),
            "T": Decimal(10**12), "P": Decimal(10**15), "E": Decimal(10**18)}
_RE = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$")


def parse_quantity(value: str | int | float) -> Decimal:
    """"1Gi" -> 1073741824, "500m" -> 0.5, "1e3" -> 1000; ValueError when malformed."""
    if isinstance(value, (int, float)):
        return Decimal(str(value))
    match = _RE.match(str(value).strip())
    if not match:
        raise ValueError(f"quantities must match the regular expression "
                         f"'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$': {value!r}")
    number, suffix = match.group(1), match.group(2) or ""
    try:
        base = Decimal(number)
    except InvalidOperation as e:  # pragma: no cover - the regex prevents it
        raise ValueError(str(value)) from e
    if suffix in _BINARY:
        return base * _BINARY[suffix]
    if suffix in _DECIMAL:
        return base * _DECIMAL[suffix]
    return base * (Decimal(10) ** int(suffix[1:]))


def format_quantity(value: Decimal, *, binary: bool = True) -> str:
    """The shortest exact form: 1073741824 -> "1Gi", 0.5 -> "500m", 0 -> "0"."""
    if value == 0:
        return "0"
    if value != value.to_integral_value():
        milli = value * 1000
        if milli == milli.to_integral_value():
            return f"{int(milli)}m"
        return str(value)
    integer = int(value)
    if binary:
        for suffix, factor in reversed(_BINARY.items()):
            if integer % factor == 0:
                return f"{integer // factor}{suffix}"
    else:
        for suffix in ("E", "P", "T", "G", "M", "k"):
            factor = int(_DECIMAL[suffix])
            if integer % factor == 0:
                return f"{integer // factor}{suffix}"
    return str(integer)
