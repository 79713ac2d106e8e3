"""Which needs a flagged household gets, how urgent they are, and the active-request key."""

from __future__ import annotations

from alliance.core.codes import DEFAULT_FLAG_NEEDS, NeedCode
from alliance.households.models import FlagNeedRule
from alliance.households.needs import active_key, needs_for_flags, request_priority
from alliance.households.reference import rules_by_flag


async def test_elderly_alone_gets_the_default_needs_from_the_reference_data():
    rules = await rules_by_flag()
    assert needs_for_flags(["ELDERLY_ALONE"], rules) == ["TELECOM_DISCOUNT", "HOME_CARE", "HEALTH_SUPPORT"]


async def test_every_default_rule_is_derived_from_the_database():
    rules = await rules_by_flag()
    for flag, needs in DEFAULT_FLAG_NEEDS.items():
        assert set(needs_for_flags([flag], rules)) == {str(need) for need in needs}


async def test_shared_needs_of_several_flags_appear_once():
    rules = await rules_by_flag()
    needs = needs_for_flags(["MEDICAL_EXPENSE", "INCOME_DROP", "DISASTER", "INCOME_DROP"], rules)
    assert needs.count("BENEFITS_HELP") == 1
    assert len(needs) == len(set(needs))
    assert set(needs) == {"HEALTH_SUPPORT", "BENEFITS_HELP", "JOB_PLACEMENT", "HOME_REPAIR"}


async def test_explicit_needs_are_added_once():
    rules = await rules_by_flag()
    needs = needs_for_flags(["LOW_INCOME"], rules, explicit_needs=["LEGAL_AID", "TELECOM_DISCOUNT"])
    assert needs == ["TELECOM_DISCOUNT", "LEGAL_AID"]


async def test_order_does_not_depend_on_the_order_of_flags():
    rules = await rules_by_flag()
    forward = needs_for_flags(["DISABILITY", "UNEMPLOYED", "CHILD_AT_RISK"], rules)
    backward = needs_for_flags(["CHILD_AT_RISK", "UNEMPLOYED", "DISABILITY"], rules)
    assert forward == backward
    order = list(NeedCode)
    assert forward == sorted(forward, key=lambda need: order.index(NeedCode(need)))


async def test_an_admins_edited_rules_are_followed():
    await FlagNeedRule.create(flag="LOW_INCOME", need_id="LEGAL_AID")
    await FlagNeedRule.filter(flag="LOW_INCOME", need_id="TELECOM_DISCOUNT").delete()
    assert needs_for_flags(["LOW_INCOME"], await rules_by_flag()) == ["LEGAL_AID"]


def test_a_flag_without_a_rule_derives_nothing():
    assert needs_for_flags(["DISASTER"], {}) == []
    assert needs_for_flags([], {"DISASTER": {"HOME_REPAIR"}}, ["BENEFITS_HELP"]) == ["BENEFITS_HELP"]


def test_an_elderly_bedridden_person_alone_comes_before_a_low_income_household():
    elderly = request_priority(["ELDERLY_ALONE"], ["BEDRIDDEN"], 1)
    low_income = request_priority(["LOW_INCOME"], [], 3)
    assert elderly > low_income
    assert elderly == 45 and low_income == 12


def test_severe_flags_weigh_more_than_mild_ones():
    mild = request_priority(["LOW_INCOME"], [], 1)
    for severe in ("SPECIAL_HARDSHIP", "BREADWINNER_DECEASED", "MEDICAL_EXPENSE", "ELDERLY_ALONE"):
        assert request_priority([severe], [], 1) > mild


def test_accessibility_needs_and_larger_households_raise_the_priority():
    base = request_priority(["UNEMPLOYED"], [], 1)
    assert request_priority(["UNEMPLOYED"], ["BLIND"], 1) > base
    assert request_priority(["UNEMPLOYED"], [], 4) > base
    assert request_priority(["UNEMPLOYED"], [], 40) == request_priority(["UNEMPLOYED"], [], 5)


def test_priority_stays_between_0_and_100():
    assert request_priority([], [], 0) == 0
    assert request_priority(["NOT_A_FLAG"], ["NOT_A_NEED"], 1) == 0
    everything = request_priority(
        list(DEFAULT_FLAG_NEEDS), ["BEDRIDDEN", "BLIND", "DEAF", "WHEELCHAIR", "COGNITIVE"], 9
    )
    assert everything == 100


def test_a_repeated_code_counts_once():
    assert request_priority(["DISABILITY", "DISABILITY"], ["DEAF", "DEAF"], 1) == 28


def test_active_key_names_household_and_need():
    assert active_key(42, "HOME_CARE") == "42:HOME_CARE"
    assert active_key(42, NeedCode.HOME_CARE) == "42:HOME_CARE"
