from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

# PostgreSQL: the audit tables refuse UPDATE, DELETE and TRUNCATE whoever asks, the application's own
# role included (docs/security.md, "Audit trail"). Only the table owner or a superuser can switch the
# triggers off (ALTER TABLE ... DISABLE TRIGGER), which the test suite's wipe does; production runs
# the application as a role that does not own the tables. SQLite has no such guard: the hash chain
# (`alliance audit verify`) is what detects an edit there.
APPEND_ONLY_TABLES = ("audit_entry", "audit_household")


async def add_append_only_triggers(apps, schema_editor) -> None:
    client = schema_editor.client
    if client.capabilities.dialect != "postgres":
        return
    statements = [
        "CREATE OR REPLACE FUNCTION alliance_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN RAISE EXCEPTION 'the audit trail is append-only: % on % refused', TG_OP, TG_TABLE_NAME "
        "USING ERRCODE = 'insufficient_privilege'; END $$"
    ]
    for table in APPEND_ONLY_TABLES:
        statements += [
            f'CREATE TRIGGER "{table}_append_only" BEFORE UPDATE OR DELETE ON "{table}" '
            "FOR EACH ROW EXECUTE FUNCTION alliance_audit_append_only()",
            f'CREATE TRIGGER "{table}_no_truncate" BEFORE TRUNCATE ON "{table}" '
            "FOR EACH STATEMENT EXECUTE FUNCTION alliance_audit_append_only()",
        ]
    for statement in statements:
        await client.execute_script(statement)


async def drop_append_only_triggers(apps, schema_editor) -> None:
    client = schema_editor.client
    if client.capabilities.dialect != "postgres":
        return
    for table in APPEND_ONLY_TABLES:
        await client.execute_script(f'DROP TRIGGER IF EXISTS "{table}_append_only" ON "{table}"')
        await client.execute_script(f'DROP TRIGGER IF EXISTS "{table}_no_truncate" ON "{table}"')
    await client.execute_script("DROP FUNCTION IF EXISTS alliance_audit_append_only()")


class Migration(migrations.Migration):
    dependencies = [("models", "0016_delivery")]

    initial = False

    operations = [
        ops.CreateModel(
            name="AuditChainHead",
            fields=[
                ("id", fields.SmallIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ("last_hash", fields.CharField(max_length=64)),
                ("entries", fields.BigIntField(default=0)),
            ],
            options={"table": "audit_chain_head", "app": "models", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="AuditHousehold",
            fields=[
                ("id", fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                (
                    "entry",
                    fields.ForeignKeyField(
                        "models.AuditEntry",
                        source_field="entry_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="household_links",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("household_id", fields.IntField()),
            ],
            options={
                "table": "audit_household",
                "app": "models",
                "indexes": [Index(fields=["household_id", "entry_id"])],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.AddField(
            model_name="AuditEntry",
            name="actor_name",
            field=fields.CharField(default="", db_default="", max_length=64),
        ),
        ops.AddField(
            model_name="AuditEntry",
            name="actor_partner_id",
            field=fields.IntField(null=True),
        ),
        ops.AddField(
            model_name="AuditEntry",
            name="actor_token_id",
            field=fields.IntField(null=True),
        ),
        ops.AddField(
            model_name="AuditEntry",
            name="entry_hash",
            field=fields.CharField(default="", db_default="", max_length=64),
        ),
        ops.AddField(
            model_name="AuditEntry",
            name="household_id",
            field=fields.IntField(null=True),
        ),
        ops.AddField(
            model_name="AuditEntry",
            name="prev_hash",
            field=fields.CharField(default="", db_default="", max_length=64),
        ),
        ops.AddField(
            model_name="AuditEntry",
            name="region_path",
            field=fields.CharField(default="", db_default="", max_length=128),
        ),
        ops.AddIndex(
            model_name="AuditEntry",
            index=Index(fields=["household_id", "at"]),
        ),
        ops.AddIndex(
            model_name="AuditEntry",
            index=Index(fields=["actor_id", "at"]),
        ),
        ops.AddIndex(
            model_name="AuditEntry",
            index=Index(fields=["action", "at"]),
        ),
        ops.AddIndex(
            model_name="AuditEntry",
            index=Index(fields=["region_path", "at"]),
        ),
        ops.RunPython(add_append_only_triggers, drop_append_only_triggers),
    ]
