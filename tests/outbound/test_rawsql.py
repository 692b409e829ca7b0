"""outbound.rawsql: plain SQL that must write exactly what the ORM would."""

import uuid
from datetime import timedelta

from django.db import connection, models
from django.db.models.signals import post_init
from django.utils import timezone

from core.ids import new_id
from core.models import Event
from outbound import rawsql
from outbound.models import Delivery, Group, Send


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
    # PostgreSQL takes uuid.UUID as it is, also through a foreign key to a uuid primary key.
    assert rawsql._plain_type(models.UUIDField(), connection) is uuid.UUID
    assert rawsql._plain_type(Delivery._meta.get_field("send"), connection) is uuid.UUID
    assert rawsql._plain_type(Delivery._meta.get_field("delivered_at"), connection) is None


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


def test_an_insert_converts_shared_timestamps_once_and_each_one_right(db, account):
    now = timezone.now()
    later = now + timedelta(seconds=5)
    rows = [
        Event(id=new_id(), account=account, type="t", data={}, relayed=False, created_at=when) for when in (now, later, now)
    ]
    rawsql.insert(rows)
    assert [Event.objects.get(pk=row.pk).created_at for row in rows] == [now, later, now]


def test_an_instance_is_what_the_constructor_makes():
    now = timezone.now()
    send, group = Send(id=new_id()), Group(id=new_id(), chat_id="1@g.us")
    values = dict(id=new_id(), group=group, chat_id="1@g.us", max_send_attempts=3, expires_at=now, created_at=now)
    made, built = rawsql.instance(Delivery, send=send, **values), Delivery(send=send, **values)
    assert {f.attname: getattr(made, f.attname) for f in Delivery._meta.concrete_fields} == {
        f.attname: getattr(built, f.attname) for f in Delivery._meta.concrete_fields
    }
    assert made.send is send and made.group is group  # cached, as the constructor caches them: no query
    assert made._state.adding and made._state.db is None
    # A default that is made (a list) is made for each instance, never shared.
    other = rawsql.instance(Delivery, send=send, **values)
    other.provider_message_ids.append("x")
    assert made.provider_message_ids == []
    assert rawsql.instance(Delivery).id != rawsql.instance(Delivery).id  # so is the id


def test_an_instance_of_a_model_with_an_init_receiver_is_built_by_its_constructor():
    seen = []

    def receiver(sender, instance, **kwargs):
        seen.append(instance)

    post_init.connect(receiver, sender=Delivery)
    try:
        made = rawsql.instance(Delivery, chat_id="1@g.us")
    finally:
        post_init.disconnect(receiver, sender=Delivery)
    assert seen == [made]


def test_rows_load_as_the_orm_loads_them_the_other_fields_deferred(db, account):
    made = Event.objects.create(account=account, type="t", data={"a": [1]}, relayed=True)
    fields = rawsql.columns(Event, ["id", "type", "data"])
    loaded = rawsql.select(Event, f"{rawsql.quote('id')} = %s", [made.pk], fields)[0]
    assert (loaded.pk, loaded.type, loaded.data) == (made.pk, "t", {"a": [1]})
    assert not loaded._state.adding and loaded._state.db == "default"
    assert loaded.get_deferred_fields() == {"account_id", "created_at", "relayed", "has_webhook_messages"}
    assert loaded.relayed is True  # loaded on first use
