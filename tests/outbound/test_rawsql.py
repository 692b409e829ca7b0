"""outbound.rawsql: plain SQL that must write exactly what the ORM would."""

from django.db import connection, models
from django.utils import timezone

from outbound import rawsql
from outbound.ids import new_id
from outbound.models import Event


class Upper(models.CharField):
    """A field that changes its value on the way to the database."""

    def get_prep_value(self, value):
        return super().get_prep_value(value).upper()


def test_only_fields_that_pass_values_unchanged_skip_their_preparation(db):
    assert rawsql._plain_type(models.CharField(max_length=3), connection) is str
    assert rawsql._plain_type(models.PositiveIntegerField(), connection) is int
    assert rawsql._plain_type(Upper(max_length=3), connection) is None
    assert rawsql._plain_type(models.DateTimeField(), connection) is None
    assert rawsql._plain_type(models.JSONField(), connection) is None


def test_an_insert_writes_what_the_orm_would(db, account):
    made = Event(
        id=new_id(), account=account, type="message.notification.sent", data={"n": 1, "ok": True}, relayed=False,
        created_at=timezone.now(),
    )
    rawsql.insert([made])
    saved = Event.objects.get(pk=made.pk)
    assert (saved.type, saved.data, saved.relayed, saved.has_webhook_messages) == (
        "message.notification.sent", {"n": 1, "ok": True}, False, False,
    )
    assert (saved.account_id, saved.created_at) == (account.id, made.created_at)
