"""Per-group variation: `{Hi|Hello|Hey} team` becomes one of its alternatives, chosen per (occurrence, group).

WhatsApp flags a number that sends the same bytes to many groups; a text
may carry alternatives so groups get different wordings. The choice is a
hash of the occurrence and the group, never a random draw, so a retry, a
replay or a webhook built later all see the text the group got.

Syntax (docs/api.md, "Alternatives"):
- `{a|b|c}`: one brace, at least one `|`. A brace pair without a `|`
  (`{note}`) is literal text, and a double brace never opens or closes a
  group, so `{{placeholders}}` keep their meaning.
- `\\{`, `\\}` and `\\|` are a literal `{`, `}` and `|` anywhere; any other
  backslash is itself.
- Placeholders are filled when the request is accepted, before any choice:
  their values are escaped (outbound.variants.text_render) so a value's own
  braces stay literal, and a placeholder may sit inside an alternative.
"""

import hashlib
import re

from outbound.variants import PLACEHOLDER

_ESCAPE = r"\\[{}|]"
# One alternative: plain characters, escapes, a backslash before anything
# else, or a whole {{placeholder}} (only in a template not yet filled).
_ALT = rf"(?:{PLACEHOLDER.pattern}|{_ESCAPE}|\\(?![{{}}|])|[^{{}}|\\])*"
_GROUP = rf"(?<!\{{)\{{(?!\{{)(?P<group>{_ALT}(?:\|{_ALT})+)\}}(?!\}})"
# Escapes come first in the alternation, so `\{a|b}` is an escaped brace and text.
_TOKEN = re.compile(rf"(?P<escape>{_ESCAPE})|{_GROUP}")
# Splits a group on its unescaped bars.
_BAR = re.compile(r"(?<!\\)\|")
_UNESCAPE = re.compile(_ESCAPE)


def _unescape(text: str) -> str:
    return _UNESCAPE.sub(lambda match: match.group(0)[1], text)


def _pick(seed: str, index: int, count: int) -> int:
    digest = hashlib.sha256(f"{seed}:{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % count


def variation_seed(*, send_id, schedule_id, occurrence_number, group_id) -> str:
    """What the choice hangs on: the occurrence (a schedule's, or a one-off send) and the group.

    A schedule's occurrence is named by (schedule, number), known before its
    send exists, so the announcement of an occurrence shows the same text
    its deliveries will send.
    """
    occurrence = f"{schedule_id}:{occurrence_number}" if schedule_id else f"send:{send_id}"
    return f"{occurrence}:{group_id}"


def text_vary(text: str, *, seed: str) -> tuple[str, list[int]]:
    """(the text this seed gets, the index chosen in each group); text without groups comes back unescaped."""
    chosen: list[int] = []

    def replace(match):
        if match.group("escape"):
            return match.group("escape")[1]
        options = _BAR.split(match.group("group"))
        index = _pick(seed, len(chosen), len(options))
        chosen.append(index)
        return _unescape(options[index])

    if "{" not in text and "\\" not in text:
        return text, chosen  # the common case costs one scan
    return _TOKEN.sub(replace, text), chosen


def text_longest_length(text: str, values: dict[str, str]) -> int:
    """Length of the longest text any group may get once placeholders are filled, without building it.

    Each group counts its longest alternative; escapes count one character.
    `values` must hold every placeholder (the caller checked).
    """

    def length(part: str) -> int:
        total = len(part)
        for match in PLACEHOLDER.finditer(part):
            total += len(values[match.group(1)]) - len(match.group(0))
        return total - len(_UNESCAPE.findall(part))

    total, position = 0, 0
    for match in _TOKEN.finditer(text):
        total += length(text[position:match.start()])
        if match.group("escape"):
            total += 1
        else:
            total += max(length(option) for option in _BAR.split(match.group("group")))
        position = match.end()
    return total + length(text[position:])

