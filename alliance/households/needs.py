"""Needs: which service requests a flagged household gets, and how urgent they are.

Pure functions: the caller loads the flag -> need rules (alliance.reference.rules_by_flag) once and
passes them in, so intake of a thousand households costs one query, not a thousand.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from alliance.core.codes import Accessibility, FlagCode, NeedCode

# Need codes in declaration order: a household's needs always come out in this order.
_NEED_ORDER = {code.value: position for position, code in enumerate(NeedCode)}

# Weights of request_priority (documented in its docstring; keep both in step).
FLAG_WEIGHTS: dict[str, int] = {
    FlagCode.SPECIAL_HARDSHIP: 30,
    FlagCode.BREADWINNER_DECEASED: 30,
    FlagCode.ELDERLY_ALONE: 25,
    FlagCode.MEDICAL_EXPENSE: 25,
    FlagCode.CHILD_AT_RISK: 25,
    FlagCode.DISASTER: 25,
    FlagCode.DISABILITY: 20,
    FlagCode.SUBSISTENCE_ALLOWANCE: 15,
    FlagCode.INCOME_DROP: 10,
    FlagCode.UNEMPLOYED: 10,
    FlagCode.LOW_INCOME: 8,
}
ACCESSIBILITY_WEIGHTS: dict[str, int] = {
    Accessibility.BEDRIDDEN: 20,
    Accessibility.BLIND: 12,
    Accessibility.COGNITIVE: 12,
    Accessibility.WHEELCHAIR: 10,
    Accessibility.DEAF: 8,
    Accessibility.LOW_VISION: 5,
}
POINTS_PER_EXTRA_MEMBER = 2
MAX_MEMBER_POINTS = 8
MAX_PRIORITY = 100


def needs_for_flags(
    flag_codes: Iterable[str],
    rules: Mapping[str, set[str]],
    explicit_needs: Iterable[str] = (),
) -> list[str]:
    """The union of the needs the rules derive from the flags, plus explicit needs, each once.

    `rules` maps a flag code to its need codes (as alliance.reference.rules_by_flag returns them);
    a flag without a rule derives nothing. The order is NeedCode's declaration order, then any code
    NeedCode does not know in alphabetical order, so the same set of needs always gives the same list.
    """
    needs: set[str] = set()
    for flag in flag_codes:
        needs.update(str(need) for need in rules.get(str(flag), ()))
    needs.update(str(need) for need in explicit_needs)
    return sorted(needs, key=lambda need: (_NEED_ORDER.get(need, len(_NEED_ORDER)), need))


def request_priority(flag_codes: Iterable[str], accessibility: Iterable[str], member_count: int) -> int:
    """A 0..100 urgency score for a household's requests: higher is served first.

    The score is the sum of the weights below, capped at 100. Each code counts once; unknown codes
    count 0. Flags say how hard the situation is; accessibility needs say how little the household
    can help itself (the "silent minority" who never apply); a larger household adds a little.

    | flag                  | points |  | accessibility | points |
    | --------------------- | ------ |  | ------------- | ------ |
    | SPECIAL_HARDSHIP      | 30     |  | BEDRIDDEN     | 20     |
    | BREADWINNER_DECEASED  | 30     |  | BLIND         | 12     |
    | ELDERLY_ALONE         | 25     |  | COGNITIVE     | 12     |
    | MEDICAL_EXPENSE       | 25     |  | WHEELCHAIR    | 10     |
    | CHILD_AT_RISK         | 25     |  | DEAF          | 8      |
    | DISASTER              | 25     |  | LOW_VISION    | 5      |
    | DISABILITY            | 20     |
    | SUBSISTENCE_ALLOWANCE | 15     |
    | INCOME_DROP           | 10     |
    | UNEMPLOYED            | 10     |
    | LOW_INCOME            | 8      |

    Household size: 2 points per member beyond the first, at most 8 (five members or more).

    Examples: an elderly person living alone and bedridden scores 25 + 20 = 45; a low-income
    couple scores 8 + 2 = 10.
    """
    flags = {str(flag) for flag in flag_codes}
    needs = {str(need) for need in accessibility}
    score = sum(FLAG_WEIGHTS.get(flag, 0) for flag in flags)
    score += sum(ACCESSIBILITY_WEIGHTS.get(need, 0) for need in needs)
    score += min(MAX_MEMBER_POINTS, POINTS_PER_EXTRA_MEMBER * max(0, member_count - 1))
    return max(0, min(MAX_PRIORITY, score))


def active_key(household_id: int, need: str) -> str:
    """ServiceRequest.active_key while a request is active: at most one active request per need."""
    return f"{household_id}:{need}"


# Waiting time: a household the assistance system flagged long ago and nobody has served yet moves up.
WAITING_POINTS_PER_WEEK = 1
MAX_WAITING_POINTS = 20


def priority_with_waiting(base_priority: int, waiting_days: int) -> int:
    """`request_priority` plus one point per full week since the household's earliest active flag
    was detected (the `CODE@YYYY-MM-DD` date of the intake format, else the day it arrived), at most
    20 points; the total stays capped at 100. A flag detected 10 weeks ago adds 10."""
    waiting = min(MAX_WAITING_POINTS, WAITING_POINTS_PER_WEEK * max(0, waiting_days) // 7)
    return max(0, min(MAX_PRIORITY, base_priority + waiting))
