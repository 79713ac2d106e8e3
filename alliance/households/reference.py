"""Reference data every database needs: need categories and the default flag -> need rules."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from tortoise.transactions import in_transaction

from alliance.core.access import Action, Principal, require
from alliance.core.audit import record
from alliance.core.codes import DEFAULT_FLAG_NEEDS, FlagCode, NeedCode
from alliance.core.errors import InvalidInput
from alliance.core.i18n import gettext as _
from alliance.households.models import FlagNeedRule, NeedCategory

NEED_NAMES: dict[NeedCode, tuple[str, str]] = {
    NeedCode.TELECOM_DISCOUNT: ("通信资费优惠", "Telecom discount"),
    NeedCode.HOME_CARE: ("居家照护", "Home care"),
    NeedCode.HOME_REPAIR: ("居家维修与无障碍改造", "Home repair and accessibility"),
    NeedCode.HEALTH_SUPPORT: ("健康支持", "Health support"),
    NeedCode.VOCATIONAL_TRAINING: ("职业技能培训", "Vocational training"),
    NeedCode.JOB_PLACEMENT: ("就业帮扶", "Job placement"),
    NeedCode.EDUCATION_SUPPORT: ("教育支持", "Education support"),
    NeedCode.PSYCHOLOGICAL_SUPPORT: ("心理疏导", "Psychological support"),
    NeedCode.LEGAL_AID: ("法律援助", "Legal aid"),
    NeedCode.BENEFITS_HELP: ("政策申办帮助", "Help applying for benefits"),
}


async def ensure_reference_data() -> None:
    """Idempotent: inserts what is missing, never overwrites an admin's edits to the rules."""
    for code, (name_zh, name_en) in NEED_NAMES.items():
        await NeedCategory.get_or_create(code=code, defaults={"name_zh": name_zh, "name_en": name_en})
    if not await FlagNeedRule.exists():
        await FlagNeedRule.bulk_create(
            [
                FlagNeedRule(flag=flag, need_id=need)
                for flag, needs in DEFAULT_FLAG_NEEDS.items()
                for need in needs
            ]
        )


async def rules_by_flag() -> dict[str, set[str]]:
    rules: dict[str, set[str]] = {}
    for flag, need in await FlagNeedRule.all().values_list("flag", "need_id"):
        rules.setdefault(str(flag), set()).add(str(need))
    return rules


async def set_flag_need_rules(
    principal: Principal, rules: Mapping[str, Iterable[str]]
) -> dict[str, set[str]]:
    """Replace the flag -> need rules (an admin's edit). They apply to households imported or
    updated from now on; requests already open are left as they are."""
    require(principal, Action.EDIT_NEED_RULES)
    flags = {flag.value for flag in FlagCode}
    needs = {need.value for need in NeedCode}
    wanted = {str(flag): {str(need) for need in chosen} for flag, chosen in rules.items()}
    errors: dict[str, str] = {}
    for flag, chosen in wanted.items():
        if flag not in flags:
            errors[flag] = _("Unknown flag code {code}.").format(code=flag)
        elif unknown := sorted(chosen - needs):
            errors[flag] = _("Unknown need code {code}.").format(code=", ".join(unknown))
    if errors:
        raise InvalidInput(errors)
    async with in_transaction():
        before = await rules_by_flag()
        await FlagNeedRule.all().delete()
        await FlagNeedRule.bulk_create(
            [
                FlagNeedRule(flag=flag, need_id=need)
                for flag, chosen in sorted(wanted.items())
                for need in sorted(chosen)
            ]
        )
        changed = {
            flag: {"from": sorted(before.get(flag, set())), "to": sorted(wanted.get(flag, set()))}
            for flag in sorted(set(before) | set(wanted))
            if before.get(flag, set()) != wanted.get(flag, set())
        }
        await record(principal, "need_rules.changed", "flag_need_rule", "all", changed)
    return await rules_by_flag()
