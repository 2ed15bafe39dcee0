"""Label and field selectors, parsed once per request and matched against objects.

https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors
https://kubernetes.io/docs/concepts/overview/working-with-objects/field-selectors/
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .errors import ApiError
from .resources import field_value

_SET_RE = re.compile(r"^\s*([^\s!=(),]+)\s+(in|notin)\s+\((.*)\)\s*$")
_EQ_RE = re.compile(r"^\s*([^\s!=(),]+)\s*(==|!=|=)\s*([^\s!=(),]*)\s*$")
_EXISTS_RE = re.compile(r"^\s*(!?)\s*([^\s!=(),]+)\s*$")


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!exists"
    values: frozenset[str] = frozenset()

    def matches(self, labels: dict[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op == "=":
            return present and value in self.values
        if self.op == "!=":
            # "!=" matches objects without the key, as in Kubernetes
            return not present or value not in self.values
        if self.op == "in":
            return present and value in self.values
        if self.op == "notin":
            return not present or value not in self.values
        if self.op == "exists":
            return present
        return not present


def _split_terms(selector: str) -> list[str]:
    """Split on commas outside parentheses ("a in (x,y),b" is two terms)."""
    terms, depth, current = [], 0, ""
    for char in selector:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    terms.append(current)
    return [t for t in terms if t.strip()]


def parse_label_selector(selector: str | None) -> list[Requirement]:
    requirements = []
    for term in _split_terms(selector or ""):
        if m := _SET_RE.match(term):
            values = frozenset(v.strip() for v in m.group(3).split(",") if v.strip())
            requirements.append(Requirement(m.group(1), m.group(2), values))
        elif m := _EQ_RE.match(term):
            op = "!=" if m.group(2) == "!=" else "="
            requirements.append(Requirement(m.group(1), op, frozenset([m.group(3)])))
        elif m := _EXISTS_RE.match(term):
            requirements.append(Requirement(m.group(2), "!exists" if m.group(1) else "exists"))
        else:
            raise ApiError(400, f"unable to parse requirement: {term!r}")
    return requirements


def parse_field_selector(
    selector: str | None, *, supports: Callable[[str], bool]
) -> list[tuple[str, str, str]]:
    """[(path, op, value)], op "=" or "!="; 400 for a field the kind does not index."""
    out = []
    for term in _split_terms(selector or ""):
        m = _EQ_RE.match(term)
        if not m:
            raise ApiError(400, f"invalid selector: '{selector}'; can't understand '{term}'")
        path, op, value = m.group(1), m.group(2), m.group(3)
        if not supports(path):
            raise ApiError(400, f"field label not supported: {path}")
        out.append((path, "!=" if op == "!=" else "=", value))
    return out


@dataclass(frozen=True)
class Selector:
    labels: tuple[Requirement, ...] = ()
    fields: tuple[tuple[str, str, str], ...] = ()

    def matches(self, obj: dict) -> bool:
        labels = obj.get("metadata", {}).get("labels") or {}
        if not all(r.matches(labels) for r in self.labels):
            return False
        for path, op, value in self.fields:
            actual = field_value(obj, path)
            if (actual == value) != (op == "="):
                return False
        return True

    def equalities(self) -> list[tuple[str, str]]:
        """The ``field=value`` terms: what an index can answer (every match has them)."""
        return [(path, value) for path, op, value in self.fields if op == "="]


def query_selector(query: Mapping[str, str], *, supports: Callable[[str], bool]) -> Selector:
    """The selector of a list or watch request: its ``labelSelector`` and ``fieldSelector``."""
    return Selector(
        tuple(parse_label_selector(query.get("labelSelector"))),
        tuple(parse_field_selector(query.get("fieldSelector"), supports=supports)),
    )
