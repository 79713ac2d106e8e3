"""Models every area shares: regions, accounts and the audit trail."""

from tortoise import fields
from tortoise.models import Model

from alliance.core.codes import ExportState, RegionLevel, Role


class User(Model):
    # A person who logs in. Role plus one binding (region, partner, volunteer or household) is the scope.

    id = fields.IntField(primary_key=True)
    username = fields.CharField(max_length=64, unique=True)
    password_hash = fields.CharField(max_length=255)
    display_name = fields.CharField(max_length=64)
    role = fields.CharEnumField(Role, max_length=24)
    region = fields.ForeignKeyField(
        "models.Region", null=True, related_name="users", on_delete=fields.RESTRICT
    )
    partner = fields.ForeignKeyField(
        "models.Partner", null=True, related_name="users", on_delete=fields.CASCADE
    )
    volunteer = fields.OneToOneField(
        "models.Volunteer", null=True, related_name="user", on_delete=fields.CASCADE
    )
    household = fields.OneToOneField(
        "models.Household", null=True, related_name="user", on_delete=fields.CASCADE
    )
    language = fields.CharField(max_length=8, null=True)
    is_active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    last_login_at = fields.DatetimeField(null=True)

    class Meta:
        table = "app_user"


class LoginAttempt(Model):
    # Every login attempt, a history for the admin; the limits themselves are kept in LoginThrottle.

    id = fields.BigIntField(primary_key=True)
    username = fields.CharField(max_length=64)
    address = fields.CharField(max_length=64)
    succeeded = fields.BooleanField()
    # Refused by a login limit before the password was looked at.
    throttled = fields.BooleanField(default=False)
    at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "login_attempt"
        indexes = (("username", "at"), ("address", "at"))


class LoginThrottle(Model):
    # One counter per client address ("address:<ip>") and per account from an address
    # ("pair:<ip>|<username>"), changed under a row lock so parallel attempts are all counted.

    key = fields.CharField(max_length=160, primary_key=True)
    failures = fields.IntField(default=0)
    # Address counters: failures since this moment (a fixed window).
    window_started_at = fields.DatetimeField(null=True)
    # Account-and-address counters: the last failure, and when the next attempt may come.
    last_failure_at = fields.DatetimeField(null=True)
    next_allowed_at = fields.DatetimeField(null=True)
    touched_at = fields.DatetimeField(null=True, db_index=True)

    class Meta:
        table = "login_throttle"


class UserSession(Model):
    # A signed-in browser. The cookie holds a random key; only its SHA-256 is stored, so a database
    # dump opens no session. Ending the row ends the session on every web process at once.

    id = fields.BigIntField(primary_key=True)
    key_hash = fields.CharField(max_length=64, unique=True)
    user = fields.ForeignKeyField("models.User", related_name="sessions", on_delete=fields.CASCADE)
    created_at = fields.DatetimeField()
    last_seen_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    ended_at = fields.DatetimeField(null=True)
    end_reason = fields.CharField(max_length=32, default="")
    address = fields.CharField(max_length=64, default="")
    user_agent = fields.CharField(max_length=128, default="")

    class Meta:
        table = "user_session"
        indexes = (("user_id", "ended_at"),)


class PasswordReset(Model):
    # A single-use password-reset link issued by an admin or coordinator; the link carries a random
    # secret signed with SECRET_KEY, the row keeps its SHA-256 and whether it was used.

    id = fields.BigIntField(primary_key=True)
    user = fields.ForeignKeyField("models.User", related_name="password_resets", on_delete=fields.CASCADE)
    issued_by = fields.ForeignKeyField(
        "models.User", null=True, related_name="issued_password_resets", on_delete=fields.SET_NULL
    )
    secret_hash = fields.CharField(max_length=64)
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)
    # Set when a newer link for the same user replaced this one.
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "password_reset"


class AuditEntry(Model):
    # Append-only: who did, saw or was refused what (viewing personal data is an entry). Entries are
    # chained by hash in id order (alliance/core/audit.py): each stores the previous entry's hash and
    # the hash of its own content, so an edited, removed or inserted row breaks the chain. On
    # PostgreSQL a trigger refuses UPDATE, DELETE and TRUNCATE (migration 0012).

    id = fields.BigIntField(primary_key=True)
    actor = fields.ForeignKeyField(
        "models.User", null=True, related_name="audit_entries", on_delete=fields.SET_NULL
    )
    # An API call's actor is the partner token (not the user who created it); the name is kept as it
    # was at the time (a username, or "api:<token prefix>").
    actor_token_id = fields.IntField(null=True)
    actor_partner_id = fields.IntField(null=True)
    actor_name = fields.CharField(max_length=64, default="", db_default="")
    action = fields.CharField(max_length=64)
    object_type = fields.CharField(max_length=32)
    object_id = fields.CharField(max_length=64)
    # The one household the entry is about; entries about several (a list page) name them in
    # AuditHousehold instead.
    household_id = fields.IntField(null=True)
    details = fields.JSONField(default=dict)
    address = fields.CharField(max_length=64, default="")
    # Where the entry belongs, for a coordinator's view of the log: the region path of its households
    # (their common ancestor when several), else of the partner or user it is about.
    region_path = fields.CharField(max_length=128, default="", db_default="")
    at = fields.DatetimeField(auto_now_add=True, db_index=True)
    prev_hash = fields.CharField(max_length=64, default="", db_default="")
    entry_hash = fields.CharField(max_length=64, default="", db_default="")

    class Meta:
        table = "audit_entry"
        indexes = (
            ("object_type", "object_id"),
            ("household_id", "at"),
            ("actor_id", "at"),
            ("action", "at"),
            ("region_path", "at"),
        )


class AuditHousehold(Model):
    # The households an entry about several of them names (a list page, an export); searchable by
    # household. The same ids are inside the entry's chained details, so this is an index, not the record.

    id = fields.BigIntField(primary_key=True)
    entry = fields.ForeignKeyField(
        "models.AuditEntry", related_name="household_links", on_delete=fields.CASCADE
    )
    household_id = fields.IntField()

    class Meta:
        table = "audit_household"
        indexes = (("household_id", "entry_id"),)


class AuditChainHead(Model):
    # One row: the hash of the newest audit entry. Appending locks it, so concurrent writers line up
    # and the chain never forks.

    id = fields.SmallIntField(primary_key=True)
    last_hash = fields.CharField(max_length=64)
    entries = fields.BigIntField(default=0)

    class Meta:
        table = "audit_chain_head"


class AuditArchive(Model):
    # A year of audit entries detached from the partitioned table (PostgreSQL, `alliance partitions
    # detach`): where the chain resumed, so `alliance audit verify` checks the entries still attached
    # against the last hash of the newest year taken off (alliance/core/partitions.py).

    id = fields.IntField(primary_key=True)
    year = fields.SmallIntField(unique=True)
    table_name = fields.CharField(max_length=63)
    first_id = fields.BigIntField()
    last_id = fields.BigIntField()
    entries = fields.BigIntField()
    chained = fields.BigIntField()
    last_hash = fields.CharField(max_length=64)
    detached_by = fields.CharField(max_length=64, default="")
    detached_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "audit_archive"


class Region(Model):
    # An administrative division. `path` ("/330300/330302/") makes a subtree one prefix query.

    code = fields.CharField(max_length=12, primary_key=True)
    name = fields.CharField(max_length=64)
    name_en = fields.CharField(max_length=64, default="")
    level = fields.CharEnumField(RegionLevel, max_length=16)
    parent = fields.ForeignKeyField(
        "models.Region", related_name="children", null=True, on_delete=fields.RESTRICT
    )
    path = fields.CharField(max_length=128, db_index=True)
    depth = fields.SmallIntField()
    lat = fields.FloatField(null=True)
    lon = fields.FloatField(null=True)
    # Per-region policy; None inherits the nearest ancestor's value, then the built-in default.
    escalate_unclaimed_after_days = fields.SmallIntField(null=True)
    schedule_claim_within_days = fields.SmallIntField(null=True)
    # Hours a holder has to answer a transfer before it is approved automatically (default:
    # TRANSFER_AUTO_APPROVE_HOURS) and the check-in geofence in metres (default:
    # ALLIANCE_CHECKIN_RADIUS_M); the page and CLI: alliance/visits/region_settings.py.
    transfer_auto_approve_hours = fields.SmallIntField(null=True)
    checkin_radius_m = fields.SmallIntField(null=True)
    # Whether a community worker must verify a household before matching offers it to partners
    # (alliance/households/consent.py); None inherits, the built-in default is "no".
    verification_required = fields.BooleanField(null=True)

    class Meta:
        table = "region"

    def __str__(self) -> str:
        return self.name


class ExportJob(Model):
    # One export or report asked for by a user and written to a file by a worker
    # (alliance/core/exports.py): only that user downloads it, while their scope is unchanged, until
    # it expires.

    id = fields.IntField(primary_key=True)
    requested_by = fields.ForeignKeyField("models.User", related_name="exports", on_delete=fields.CASCADE)
    kind = fields.CharField(max_length=32)
    params = fields.JSONField(default=dict)
    # The asker's role, region and partner when asking: a download after any of them changed is refused.
    scope = fields.CharField(max_length=255, default="")
    language = fields.CharField(max_length=8, default="")
    state = fields.CharEnumField(ExportState, max_length=10, default=ExportState.QUEUED)
    progress = fields.SmallIntField(default=0)
    row_count = fields.IntField(default=0)
    file_path = fields.CharField(max_length=500, default="")
    file_name = fields.CharField(max_length=200, default="")
    error = fields.CharField(max_length=255, default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    finished_at = fields.DatetimeField(null=True)
    expires_at = fields.DatetimeField(null=True)

    class Meta:
        table = "export_job"
        indexes = (("requested_by_id", "id"),)
