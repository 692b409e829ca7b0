"""Plain SQL for the few statements every message runs, written from the models' own metadata.

On the machine this service is measured on, building a query through the
ORM costs far more CPU than running it: 1.3-1.7 ms to compile a one-row
select_related, 0.16 ms to run it. Inserts gain less (a send with ten
deliveries and ten events: 5.1 ms instead of 5.7; most of it is making the
model instances and converting their values, which both do). The paths that
run for every request, every delivery and every schedule fire (token auth,
resolving a send's targets, writing its send, deliveries and events,
loading and recording a batch of deliveries, a paced delivery's slot, a
fire's run and its schedule's state) use these helpers; everything else
keeps the ORM.

The SQL is built from each model's _meta (table and column names, each
field's own conversion to and from the database), so it follows the models
and works on PostgreSQL and SQLite alike.
"""

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.backends.base.operations import BaseDatabaseOperations
from django.db.models import BooleanField, CharField, Field, IntegerField, Model, TextField
from django.utils import timezone

# Fields whose values go to the database as they are when they have exactly
# this Python type: get_db_prep_save would only check that, at about a
# microsecond a value (2,700 values for a send to 100 groups).
_PLAIN = ((CharField, str), (TextField, str), (BooleanField, bool), (IntegerField, int))


def quote(name: str) -> str:
    return connection.ops.quote_name(name)


def columns(model: type[Model], names: list[str] | None = None) -> list:
    """The model's concrete fields named (all of them by default), in order."""
    opts = model._meta
    return [opts.get_field(name) for name in names] if names else list(opts.concrete_fields)


def value_from_db(field, value):
    """A column's value as the model field holds it (what the ORM's compiler converts)."""
    return _convert(_converters(field), value)


def instances_from_rows(model: type[Model], fields: list, rows) -> list[Model]:
    """Model instances from rows of `fields`' columns; any other field loads on first use."""
    converters = [_converters(field) for field in fields]  # once for all the rows
    names = [f.attname for f in fields]
    return [
        model.from_db(connection.alias, names, [_convert(c, value) for c, value in zip(converters, row)]) for row in rows
    ]


def _converters(field) -> list:
    col = field.cached_col
    return [(converter, col) for converter in connection.ops.get_db_converters(col) + field.get_db_converters(connection)]


def _convert(converters: list, value):
    if value is None:
        return None
    for converter, col in converters:
        value = converter(value, col, connection)
    return value


def select(model: type[Model], where: str, params: list, fields: list | None = None, *, for_update: bool = False) -> list[Model]:
    """Instances of `model` whose row matches `where` (SQL over its columns, %s placeholders).

    `for_update`: lock the rows for the transaction, where the database
    has row locks (SQLite locks the whole database for a write anyway).
    """
    fields = fields or columns(model)
    sql = f"SELECT {', '.join(quote(f.column) for f in fields)} FROM {quote(model._meta.db_table)} WHERE {where}"
    if for_update and connection.features.has_select_for_update:
        sql += " FOR UPDATE"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return instances_from_rows(model, fields, cursor.fetchall())


def select_by_pk(model: type[Model], pk, fields: list | None = None, *, for_update: bool = False) -> Model | None:
    """The instance of `model` with this primary key, or None (see select())."""
    found = select(
        model, f"{quote(model._meta.pk.column)} = %s", [model._meta.pk.get_db_prep_value(pk, connection)], fields,
        for_update=for_update,
    )
    return found[0] if found else None


def insert(objs: list[Model], fields: list | None = None) -> None:
    """INSERT the objects as they are (every value set by the caller, ids included): one statement.

    Nothing is filled in for them: no defaults, no auto_now, no signals, which
    is why the callers set every field they write.
    """
    if not objs:
        return
    model = type(objs[0])
    fields = fields or columns(model)
    row = f"({', '.join(['%s'] * len(fields))})"
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "
        f"VALUES {', '.join([row] * len(objs))}"
    )
    db = connections[DEFAULT_DB_ALIAS]  # the wrapper itself: the `connection` proxy costs a lookup per use
    plain = [(field, field.attname, _plain_type(field, db)) for field in fields]
    params = [
        value if python_type is not None and (value is None or type(value) is python_type) else field.get_db_prep_save(value, db)
        for obj in objs
        for field, attname, python_type in plain
        for value in (getattr(obj, attname),)
    ]
    with db.cursor() as cursor:
        cursor.execute(sql, params)
    for obj in objs:
        obj._state.adding, obj._state.db = False, connection.alias


def _plain_type(field, db) -> type | None:
    """The Python type whose values `field` hands to the database unchanged (see _PLAIN), or None."""
    for base, python_type in _PLAIN:
        if isinstance(field, base):
            own = type(field)
            unchanged = (
                own.get_prep_value is base.get_prep_value
                and own.get_db_prep_value is base.get_db_prep_value
                and own.get_db_prep_save is Field.get_db_prep_save
            )
            if base is IntegerField:  # a backend may adapt integers (the ones this service runs on do not)
                unchanged = unchanged and type(db.ops).adapt_integerfield_value is BaseDatabaseOperations.adapt_integerfield_value
            return python_type if unchanged else None
    return None


def update(model: type[Model], pk, changes: dict) -> int:
    """UPDATE one row's fields (names as on the model, values as the model holds them): how many rows changed."""
    sql, params = _update_sql(model, pk, changes)
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def update_returning(model: type[Model], pk, changes: dict, returning: str):
    """update(), and the row's `returning` column as it is afterwards (its database value), or None if there is no row."""
    sql, params = _update_sql(model, pk, changes)
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute(f"{sql} RETURNING {quote(model._meta.get_field(returning).column)}", params)
        row = cursor.fetchone()
    return row[0] if row else None


def _update_sql(model: type[Model], pk, changes: dict) -> tuple[str, list]:
    fields = [model._meta.get_field(name) for name in changes]
    db = connections[DEFAULT_DB_ALIAS]
    sql = (
        f"UPDATE {quote(model._meta.db_table)} SET {', '.join(f'{quote(f.column)} = %s' for f in fields)} "
        f"WHERE {quote(model._meta.pk.column)} = %s"
    )
    params = [field.get_db_prep_save(changes[field.name], db) for field in fields]
    params.append(model._meta.pk.get_db_prep_value(pk, db))
    return sql, params


def save(obj: Model) -> None:
    """Model.save() of a row that exists, as one plain UPDATE of every loaded column; no signals.

    auto_now fields are set to now, as save() would; deferred fields are
    left out, as save() leaves them.
    """
    deferred = obj.get_deferred_fields()
    fields = [f for f in obj._meta.concrete_fields if not f.primary_key and f.attname not in deferred]
    for field in fields:
        if getattr(field, "auto_now", False):
            setattr(obj, field.attname, timezone.now())
    update(type(obj), obj.pk, {field.name: getattr(obj, field.attname) for field in fields})


def placeholders(values: list) -> str:
    return ", ".join(["%s"] * len(values))
