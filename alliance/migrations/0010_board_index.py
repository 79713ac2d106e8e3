from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index


async def drop_match_foreign_keys(apps, schema_editor) -> None:
    # The field changes above only tell tortoise; PostgreSQL keeps the constraints until dropped. Their
    # per-row checks were a third of the full re-match's write. (SQLite keeps them: dropping one there
    # means rebuilding the table, and the speed goal is PostgreSQL's.)
    if schema_editor.client.capabilities.dialect != "postgres":
        return
    await schema_editor.client.execute_script(
        'ALTER TABLE "request_match" '
        'DROP CONSTRAINT IF EXISTS "request_match_request_id_fkey", '
        'DROP CONSTRAINT IF EXISTS "request_match_offering_id_fkey", '
        'DROP CONSTRAINT IF EXISTS "request_match_partner_id_fkey"'
    )


class Migration(migrations.Migration):
    dependencies = [("models", "0009_lookup_indexes")]

    initial = False

    operations = [
        ops.RemoveIndex(
            model_name="Match",
            name=None,
            fields=["partner_id", "score"],
        ),
        ops.AlterField(
            model_name="Match",
            name="offering",
            field=fields.ForeignKeyField(
                "models.Offering",
                source_field="offering_id",
                db_constraint=False,
                to_field="id",
                related_name="matches",
                on_delete=OnDelete.CASCADE,
            ),
        ),
        ops.AlterField(
            model_name="Match",
            name="partner",
            field=fields.ForeignKeyField(
                "models.Partner",
                source_field="partner_id",
                db_constraint=False,
                to_field="id",
                related_name="matches",
                on_delete=OnDelete.CASCADE,
            ),
        ),
        ops.AlterField(
            model_name="Match",
            name="request",
            field=fields.ForeignKeyField(
                "models.ServiceRequest",
                source_field="request_id",
                db_constraint=False,
                to_field="id",
                related_name="matches",
                on_delete=OnDelete.CASCADE,
            ),
        ),
        ops.AddField(
            model_name="Match",
            name="partner_best",
            field=fields.BooleanField(default=True, db_default=True),
        ),
        ops.AddIndex(
            model_name="Match",
            index=Index(fields=["partner_id", "partner_best", "score", "request_id"]),
        ),
        # Rows stored before this migration: only the partner's best offering of each request keeps
        # partner_best (the next re-match writes it anyway).
        ops.RunSQL(
            "UPDATE request_match SET partner_best = FALSE WHERE EXISTS (SELECT 1 FROM request_match b "
            "WHERE b.request_id = request_match.request_id AND b.partner_id = request_match.partner_id "
            "AND (b.score > request_match.score OR (b.score = request_match.score "
            "AND b.offering_id < request_match.offering_id)))",
            reverse_sql="SELECT 1",
        ),
        ops.RunPython(drop_match_foreign_keys, ops.RunPython.noop),
    ]
