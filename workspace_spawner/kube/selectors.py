"""Label selectors, built one way (pure: labels in, the selector string out).

https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["label_selector"]


def label_selector(labels: Mapping[str, str], *, extra: str = "") -> str:
    """The equality-based selector matching every one of ``labels``, and ``extra`` if given.

    ``extra`` is a selector as written on a command line (``team=a,tier!=x``); it is
    ANDed with the labels, as a comma does in a selector.
    """
    terms = [f"{key}={value}" for key, value in labels.items()]
    return ",".join([*terms, extra] if extra else terms)
