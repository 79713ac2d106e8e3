"""Yearly targets, their change history, and the running tallies of person-times."""

from tortoise import fields
from tortoise.models import Model

from alliance.core.codes import TargetMetric


class Target(Model):
    # A yearly target. `scope_key` ("alliance", "project:7", "region:330302") keeps one row per scope,
    # which a unique constraint over nullable project/region columns could not.

    id = fields.IntField(primary_key=True)
    year = fields.SmallIntField()
    metric = fields.CharEnumField(TargetMetric, max_length=16)
    scope_key = fields.CharField(max_length=32, default="alliance")
    project = fields.ForeignKeyField(
        "models.Project", null=True, related_name="targets", on_delete=fields.CASCADE
    )
    region = fields.ForeignKeyField(
        "models.Region", null=True, related_name="targets", on_delete=fields.CASCADE
    )
    value = fields.IntField()
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "target"
        unique_together = (("year", "metric", "scope_key"),)


class TargetChange(Model):
    id = fields.IntField(primary_key=True)
    target = fields.ForeignKeyField("models.Target", related_name="changes", on_delete=fields.CASCADE)
    old_value = fields.IntField(null=True)
    new_value = fields.IntField()
    changed_by = fields.ForeignKeyField(
        "models.User", null=True, related_name="target_changes", on_delete=fields.SET_NULL
    )
    at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "target_change"


class DeliveryTally(Model):
    # Person-times and deliveries per month, community, project and partner: the cockpit sums these
    # (prefix match on region_path for a subtree) instead of counting millions of service records.
    # Written in the same transaction as the delivery (alliance/targets/tallies.py); `key` stands in for a
    # unique constraint over the nullable project column. `partner` is null for the community workers'
    # regular visits (docs/regular-visits.md): no partner delivered them.

    id = fields.BigIntField(primary_key=True)
    key = fields.CharField(max_length=96, unique=True)
    year = fields.SmallIntField()
    month = fields.SmallIntField()
    region = fields.ForeignKeyField("models.Region", related_name="tallies", on_delete=fields.RESTRICT)
    region_path = fields.CharField(max_length=128)
    project = fields.ForeignKeyField(
        "models.Project", null=True, related_name="tallies", on_delete=fields.SET_NULL
    )
    partner = fields.ForeignKeyField(
        "models.Partner", null=True, related_name="tallies", on_delete=fields.CASCADE
    )
    person_times = fields.IntField(default=0)
    deliveries = fields.IntField(default=0)

    class Meta:
        table = "delivery_tally"
        indexes = (("year", "region_path"),)


class DeliveryParticipant(Model):
    # Who took part in a completed delivery of a year in a community: a volunteer, a partner or a
    # project, once each. Counting distinct participants of a subtree is then one indexed query.

    id = fields.BigIntField(primary_key=True)
    key = fields.CharField(max_length=96, unique=True)
    year = fields.SmallIntField()
    kind = fields.CharField(max_length=12)
    ref_id = fields.IntField()
    region = fields.ForeignKeyField("models.Region", related_name="participants", on_delete=fields.RESTRICT)
    region_path = fields.CharField(max_length=128)

    class Meta:
        table = "delivery_participant"
        indexes = (("year", "kind", "region_path"),)


class GrowthEntry(Model):
    # One member who joined the alliance in a year: an organisation at its first approval, a volunteer
    # once active with an approved partner; `project` null for the alliance-wide row, else one row per
    # project the member works for. Written in the same transaction as the approval
    # (alliance/targets/growth.py); `key` ("organisation:12:0") keeps each member counted once.

    id = fields.BigIntField(primary_key=True)
    key = fields.CharField(max_length=64, unique=True)
    kind = fields.CharField(max_length=12)
    ref_id = fields.IntField()
    year = fields.SmallIntField()
    region = fields.ForeignKeyField("models.Region", related_name="growth_entries", on_delete=fields.RESTRICT)
    region_path = fields.CharField(max_length=128)
    project = fields.ForeignKeyField(
        "models.Project", null=True, related_name="growth_entries", on_delete=fields.CASCADE
    )
    joined_at = fields.DatetimeField()

    class Meta:
        table = "growth_entry"
        indexes = (("year", "kind", "region_path"),)


class SupervisionSnapshot(Model):
    # The supervision page's figures for one scope (alliance/targets/supervision.py), written by an arq
    # cron so no request computes them: `region_code` is the scope's region, "" for the whole alliance.

    id = fields.IntField(primary_key=True)
    region_code = fields.CharField(max_length=12, unique=True)
    computed_at = fields.DatetimeField()
    duration_ms = fields.IntField(default=0)
    figures = fields.JSONField(default=dict)

    class Meta:
        table = "supervision_snapshot"


class CockpitSnapshot(Model):
    # The cockpit's slow figures for one scope, year and unserved-days (alliance/targets/snapshots.py):
    # the operational figures and the ranked unserved list, written by an arq job so no request
    # computes them. `region_code` is the scope's region, "" for the whole alliance.

    id = fields.IntField(primary_key=True)
    region_code = fields.CharField(max_length=12)
    year = fields.SmallIntField()
    days = fields.SmallIntField()
    computed_at = fields.DatetimeField()
    duration_ms = fields.IntField(default=0)
    figures = fields.JSONField(default=dict)

    class Meta:
        table = "cockpit_snapshot"
        unique_together = (("region_code", "year", "days"),)


class PromiseSnapshot(Model):
    # The promises page's figures for one scope and year (alliance/targets/promises.py): the requests
    # classified and grouped by community, partner and need, and the oldest late ones, written by an
    # arq job so no request classifies a year of requests. `region_code` is "" for the whole alliance.

    id = fields.IntField(primary_key=True)
    region_code = fields.CharField(max_length=12)
    year = fields.SmallIntField()
    computed_at = fields.DatetimeField()
    duration_ms = fields.IntField(default=0)
    figures = fields.JSONField(default=dict)

    class Meta:
        table = "promise_snapshot"
        unique_together = (("region_code", "year"),)


class ResponsePromise(Model):
    # A region's response promise for one need: first contact and service within so many working days
    # (alliance/targets/promises.py). A region without its own row takes its nearest ancestor's, else
    # the default in code.

    id = fields.IntField(primary_key=True)
    region = fields.ForeignKeyField(
        "models.Region", related_name="response_promises", on_delete=fields.CASCADE
    )
    need = fields.CharField(max_length=32)
    # Null: inherited (each of the two on its own).
    first_contact_days = fields.SmallIntField(null=True)
    service_days = fields.SmallIntField(null=True)
    updated_by = fields.ForeignKeyField(
        "models.User", null=True, related_name="response_promises_set", on_delete=fields.SET_NULL
    )
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "response_promise"
        unique_together = (("region", "need"),)


class CalendarDay(Model):
    # A day off the Monday–Friday rule for response promises (alliance/targets/holidays.py): a public
    # holiday, or an adjusted working day (China moves weekends around its holidays).

    id = fields.IntField(primary_key=True)
    day = fields.DateField(unique=True)
    kind = fields.CharField(max_length=16)  # "holiday" or "working_day"
    name = fields.CharField(max_length=100)
    # What the day does to the Monday–Friday count: -1 a holiday on a weekday, +1 a worked weekend
    # day, 0 otherwise; the promise SQL sums it (one small table, no weekday arithmetic per dialect).
    shift = fields.SmallIntField(default=0)
    updated_by = fields.ForeignKeyField(
        "models.User", null=True, related_name="calendar_days_set", on_delete=fields.SET_NULL
    )
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "calendar_day"
