"""Kubernetes resource quantities ("10Gi", "500M", "1e9") as numbers, to compare sizes.

https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/quantity/
"""

from __future__ import annotations

import re
from decimal import Decimal

__all__ = ["parse_quantity"]

_SUFFIXES = {
    "": Decimal(1),
    "m": Decimal("0.001"),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
}
_QUANTITY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(Ki|Mi|Gi|Ti|Pi|Ei|[mkMGTPE]|[eE][+-]?\d+)?$")


def parse_quantity(text: str) -> Decimal:
    """The value of a quantity string; ValueError naming the accepted forms if it is not one."""
    match = _QUANTITY.match(str(text).strip())
    if not match:
        raise ValueError(f"{text!r} is not a Kubernetes quantity: use e.g. 10Gi, 500Mi or 20G")
    number, suffix = match.groups()
    suffix = suffix or ""
    value = Decimal(number)
    if suffix[:1] in ("e", "E") and len(suffix) > 1:
        return value * Decimal(10) ** int(suffix[1:])
    return value * _SUFFIXES[suffix]
