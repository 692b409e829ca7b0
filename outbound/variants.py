"""A/B message variants: splitting groups by percent, deterministically, and filling placeholders."""

import hashlib
import math
import re

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")


def placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text or ""))


def text_render(text: str, values: dict[str, str]) -> str:
    """Fill {{key}} placeholders; the caller has checked every key has a value.

    Values go in escaped: their braces and bars stay literal text when the
    text's alternatives are chosen at send time (outbound.alternatives).
    """
    return PLACEHOLDER.sub(lambda match: values[match.group(1)].translate(_LITERAL), text or "")


# A placeholder's value as literal text: `\{`, `\}` and `\|` are what outbound.alternatives reads as literal.
_LITERAL = str.maketrans({"{": "\\{", "}": "\\}", "|": "\\|"})


def variant_counts(percents: list[float], total: int) -> list[int]:
    """Split `total` by percents with the largest-remainder method: counts sum to total exactly."""
    exact = [p * total / 100 for p in percents]
    counts = [math.floor(x) for x in exact]
    by_remainder = sorted(range(len(percents)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return counts


def variants_assign(*, variants: list[dict], group_ids: list, seed: str) -> dict:
    """{group_id: variant_name}. The same seed and groups always give the same split.

    Groups are ordered by a hash of (seed, group) so that, with a seed per
    occurrence, the same group is not always in the same variant.
    """
    ordered = sorted(group_ids, key=lambda g: hashlib.sha256(f"{seed}:{g}".encode()).digest())
    counts = variant_counts([v["percent_audience"] for v in variants], len(ordered))
    assignment, position = {}, 0
    for variant, count in zip(variants, counts):
        for group_id in ordered[position : position + count]:
            assignment[group_id] = variant["variant_name"]
        position += count
    return assignment
