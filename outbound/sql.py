"""The statements Django's ORM cannot express, and nothing else: every other query goes through the ORM.

Each function says why its statement is here. They are written from the
models' documented Options API (db_table, get_field, column) and the fields'
own get_db_prep_value, so they follow the models and run on PostgreSQL and
SQLite (>= 3.35) alike. docs/architecture.md lists them.

Only outbound imports this module; schedules and webhooks reach these
statements through outbound's services, never directly.
"""

import uuid
from datetime import datetime

from django.db import connection
from django.db.models import Model

from outbound.models import Delivery, IdempotencyKey


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)


def _placeholders(values) -> str:
    return ", ".join(["%s"] * len(values))


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
