from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0013_lifecycle')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Registration',
            name='asked_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Registration',
            name='asked_note',
            field=fields.CharField(default='', max_length=255),
        ),
        ops.AddField(
            model_name='Registration',
            name='asked_via',
            field=fields.CharField(default='', max_length=16),
        ),
        ops.AddField(
            model_name='Registration',
            name='confirm_by',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Registration',
            name='confirmed_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Registration',
            name='confirmed_via',
            field=fields.CharField(default='', max_length=16),
        ),
        ops.AddIndex(
            model_name='Registration',
            index=Index(fields=['confirmed_at', 'confirm_by']),
        ),
        # Registrations made before consent was recorded: those the household made (its link, its
        # login) or its community worker made count as confirmed; those a partner made wait for the
        # household's confirmation like new ones (the lapse job sends the request and sets confirm_by).
        ops.RunSQL(
            'UPDATE "registration" SET "confirmed_at" = "created_at", "confirmed_via" = \'before\' '
            'WHERE "registered_by_id" IS NULL OR "registered_by_id" NOT IN '
            '(SELECT "id" FROM "app_user" WHERE "role" IN (\'partner_admin\', \'dispatcher\'))',
            reverse_sql='SELECT 1',
        ),
    ]
