"""SQL the ORM cannot say, or cannot say within the CPU budget; every other query goes through the ORM.

Two kinds of statement live here, and each function says which and why:
- statements the ORM cannot express at all (a claim that returns which rows
  it took, a conditional upsert, a delete without signals, the database's clock);
- the reads and inserts every create-send request runs, which the ORM can
  express but whose query building alone cost more CPU than the request
  may grow by (issue 20's budget; the figures are in docs/benchmarks.md).
  The reads go through QuerySet.raw(), so Django still makes the instances
  and converts every value; the inserts prepare each value with its
  field's get_db_prep_save. Only the SQL text is ours.
They are written from the models' documented Options API (db_table,
get_field, concrete_fields, column) and the fields' own get_db_prep_value,
so they follow the models and run on PostgreSQL and SQLite (>= 3.35) alike.
docs/architecture.md lists them.

Only outbound imports this module; schedules and webhooks reach these
statements through outbound's services, never directly.
"""

import functools
import uuid
from datetime import datetime

from django.db import connection
from django.db.models import Model

from outbound.models import Delivery, Group, IdempotencyKey, Session


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)


def _placeholders(values) -> str:
    return ", ".join(["%s"] * len(values))


def _columns(model: type[Model], alias: str = "", names: list[str] | None = None) -> str:
    fields = [model._meta.get_field(name) for name in names] if names else model._meta.concrete_fields
    return ", ".join(f"{alias}{_quote(f.column)}" for f in fields)


def _prep(model: type[Model], name: str, value):
    return model._meta.get_field(name).get_db_prep_value(value, connection)


def session_of_account(session_id, account_id) -> Session | None:
    """The account's session with this id, or None. Every create-send request runs it: raw() for the budget (see above)."""
    sql = (
        f"SELECT {_columns(Session)} FROM {_quote(Session._meta.db_table)} "
        f"WHERE {_quote(Session._meta.pk.column)} = %s AND {_quote(Session._meta.get_field('account').column)} = %s"
    )
    found = list(Session.objects.raw(sql, [_prep(Session, "id", session_id), _prep(Session, "account", account_id)]))
    return found[0] if found else None


def groups_with_membership(*, account_id, session_id, group_ids: list) -> list[tuple[Group, bool]]:
    """The account's groups among `group_ids`, each with whether the session is a member: one query.

    Every create-send request runs it: raw() for the budget (see above).
    Loaded: id, account, chat_id, name, created_at; any other field on first use.
    """
    if not group_ids:
        return []
    through = Group.sessions.through._meta
    pk = _quote(Group._meta.pk.column)
    sql = (
        f"SELECT {_columns(Group, 'g.', ['id', 'account', 'chat_id', 'name', 'created_at'])}, EXISTS("
        f"SELECT 1 FROM {_quote(through.db_table)} m WHERE m.{_quote(through.get_field('group').column)} = g.{pk} "
        f"AND m.{_quote(through.get_field('session').column)} = %s) AS in_session "
        f"FROM {_quote(Group._meta.db_table)} g "
        f"WHERE g.{_quote(Group._meta.get_field('account').column)} = %s AND g.{pk} IN ({_placeholders(group_ids)})"
    )
    params = [_prep(Session, "id", session_id), _prep(Group, "account", account_id)] + [_prep(Group, "id", g) for g in group_ids]
    return [(group, bool(group.in_session)) for group in Group.objects.raw(sql, params)]


def idempotency_key_live(*, account_id, key: str, now: datetime) -> tuple[str, dict] | None:
    """(request hash, response) of the account's key if it is live, else None.

    Every create-send request looks its key up first: raw() for the budget (see above).
    """
    opts = IdempotencyKey._meta
    sql = (
        f"SELECT {_columns(IdempotencyKey, names=['id', 'request_hash', 'response'])} FROM {_quote(opts.db_table)} "
        f"WHERE {_quote(opts.get_field('account').column)} = %s AND {_quote(opts.get_field('key').column)} = %s "
        f"AND {_quote(opts.get_field('expires_at').column)} > %s"
    )
    params = [_prep(IdempotencyKey, "account", account_id), key, _prep(IdempotencyKey, "expires_at", now)]
    found = list(IdempotencyKey.objects.raw(sql, params))
    return (found[0].request_hash, found[0].response) if found else None


@functools.cache
def _insert_into(model: type[Model]) -> str:
    """INSERT INTO the model's table (every concrete column): the same text for every insert of the model."""
    return f"INSERT INTO {_quote(model._meta.db_table)} ({_columns(model)})"


def rows_insert(objs: list[Model]) -> None:
    """INSERT instances exactly as built (every concrete field as they hold it): one statement for all of them.

    For the rows every create-send request writes by the dozen: its send, a
    delivery per group, an event per delivery (and each delivery's events
    after). bulk_create writes the same rows, but its per-value preparation
    cost more CPU than the request may grow by (see above). So nothing is
    filled in here: no defaults, no auto_now (callers set every timestamp),
    no signals (bulk_create sends none either). Django still counts the
    instances as unsaved: save() them with update_fields, never without.
    """
    if not objs:
        return
    model = type(objs[0])
    fields = model._meta.concrete_fields
    sql = f"{_insert_into(model)} VALUES {', '.join([f'({_placeholders(fields)})'] * len(objs))}"
    # The rows of a send share most of their values (the send's id, its
    # timestamps, its limits): each distinct value of a field is prepared once.
    prepared, params = {}, []
    for obj in objs:
        for index, field in enumerate(fields):
            value = getattr(obj, field.attname)
            try:
                key = (index, type(value), value)
                params.append(prepared[key])
            except KeyError:
                prepared[key] = made = field.get_db_prep_save(value, connection)
                params.append(made)
            except TypeError:  # unhashable (a list for a JSON field): prepared each time
                params.append(field.get_db_prep_save(value, connection))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def deliveries_claim(ids: list[uuid.UUID], *, now: datetime, lease: datetime, abandoned: bool) -> set[uuid.UUID]:
    """Move to `sending` those of `ids` that are ours to send, and return exactly which: one conditional UPDATE ... RETURNING.

    Not the ORM: QuerySet.update() returns how many rows changed, not which,
    and a worker must know which deliveries of its batch it claimed (a
    duplicate task claims none). `abandoned`: claim `sending` ones whose
    lease ran out instead of queued ones that are due.
    """
    if not ids:
        return set()
    opts = Delivery._meta
    pk, moment = opts.pk, opts.get_field("updated_at")
    column = {name: _quote(opts.get_field(name).column) for name in ("status", "attempts", "last_attempted_at", "lease_expires_at", "updated_at", "next_attempt_at")}
    before, when, comparison = (
        (Delivery.Status.SENDING, column["lease_expires_at"], "<") if abandoned
        else (Delivery.Status.QUEUED, column["next_attempt_at"], "<=")
    )
    sql = (
        f"UPDATE {_quote(opts.db_table)} SET {column['status']} = %s, {column['attempts']} = {column['attempts']} + 1, "
        f"{column['last_attempted_at']} = %s, {column['lease_expires_at']} = %s, {column['updated_at']} = %s "
        f"WHERE {_quote(pk.column)} IN ({_placeholders(ids)}) AND {column['status']} = %s AND {when} {comparison} %s "
        f"RETURNING {_quote(pk.column)}"
    )
    prep_now, prep_lease = moment.get_db_prep_value(now, connection), moment.get_db_prep_value(lease, connection)
    params = [Delivery.Status.SENDING, prep_now, prep_lease, prep_now]
    params += [pk.get_db_prep_value(i, connection) for i in ids] + [before, prep_now]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {uuid.UUID(str(row[0])) for row in cursor.fetchall()}  # SQLite hands back 32-hex text


def idempotency_key_store(*, account_id, key: str, request_hash: str, response: dict, now: datetime, expires_at: datetime) -> bool:
    """Insert the key, or take over an expired one; False if a live one is there. One statement.

    Not the ORM: bulk_create(update_conflicts=True) cannot say "update only if
    the old row expired" (ON CONFLICT ... DO UPDATE ... WHERE), nor tell
    whether it wrote anything (RETURNING).
    """
    opts = IdempotencyKey._meta
    values = {"account": account_id, "key": key, "request_hash": request_hash, "response": response, "created_at": now, "expires_at": expires_at}
    fields = {name: opts.get_field(name) for name in values}
    columns = [_quote(f.column) for f in fields.values()]
    table = _quote(opts.db_table)
    sql = (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({_placeholders(columns)}) "
        f"ON CONFLICT ({_quote(fields['account'].column)}, {_quote(fields['key'].column)}) DO UPDATE SET "
        + ", ".join(f"{c} = excluded.{c}" for c in columns[2:])
        + f" WHERE {table}.{_quote(fields['expires_at'].column)} <= %s RETURNING 1"
    )
    params = [field.get_db_prep_save(values[name], connection) for name, field in fields.items()]
    params.append(fields["expires_at"].get_db_prep_value(now, connection))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone() is not None


def rows_delete_without_signals(model: type[Model], pks: list) -> int:
    """DELETE the rows of `model` with these primary keys, sending no pre_delete/post_delete and running no on_delete; how many.

    Not the ORM: QuerySet.delete() always sends the delete signals to a
    model that has receivers, and django-celery-beat's receivers bump its
    change marker (PeriodicTasks.last_update) for every PeriodicTask and
    ClockedSchedule deleted, which makes every beat reload its tasks. The
    caller lets go of any row pointing at these first (what on_delete would do).
    """
    if not pks:
        return 0
    pk = model._meta.pk
    sql = f"DELETE FROM {_quote(model._meta.db_table)} WHERE {_quote(pk.column)} IN ({_placeholders(pks)})"
    with connection.cursor() as cursor:
        cursor.execute(sql, [pk.get_db_prep_value(value, connection) for value in pks])
        return cursor.rowcount


def database_now() -> datetime:
    """PostgreSQL's clock, now (outbound/clock.py sets every host's "now" by it).

    Cannot be said through the ORM: it selects from a model's table, and the
    clock is no table's. clock_timestamp(), not now(): inside a transaction
    now() is when the transaction began.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT clock_timestamp()")
        return cursor.fetchone()[0]
