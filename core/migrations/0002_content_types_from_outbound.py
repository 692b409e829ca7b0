"""The moved models' content types follow them (app label outbound -> core).

Admin permissions (auth_permission) and the admin's history (LogEntry) point
at content type rows by id: renaming the rows, rather than letting Django make
new ones for core and leave outbound's stale, keeps every operator's
permissions and every object's history. A database made after the move has
no outbound rows for them: nothing to rename, Django makes core's.
"""

from django.db import migrations

MOVED = ["account", "apitoken", "apisecret", "event"]


def content_types_rename(apps, schema_editor, *, old: str, new: str):
    ContentType = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    for model in MOVED:
        # A row for the new label already exists only if Django made it in an earlier run
        # (post_migrate); then the old one is left for remove_stale_contenttypes.
        if not ContentType.objects.using(db).filter(app_label=new, model=model).exists():
            ContentType.objects.using(db).filter(app_label=old, model=model).update(app_label=new)


def forward(apps, schema_editor):
    content_types_rename(apps, schema_editor, old="outbound", new="core")


def backward(apps, schema_editor):
    content_types_rename(apps, schema_editor, old="core", new="outbound")


class Migration(migrations.Migration):

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("core", "0001_accounts_credentials_events_from_outbound"),
    ]

    operations = [migrations.RunPython(forward, backward)]
