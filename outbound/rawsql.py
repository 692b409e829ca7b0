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

import uuid
from dataclasses import dataclass

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.backends.base.operations import BaseDatabaseOperations
from django.db.models import BooleanField, CharField, DateTimeField, Field, ForeignKey, IntegerField, Model, TextField, UUIDField
from django.db.models.base import ModelState
from django.db.models.signals import post_init, pre_init
from django.utils import timezone

# Fields whose values go to the database as they are when they have exactly
# this Python type: get_db_prep_save would only check that, at about a
# microsecond a value (2,700 values for a send to 100 groups).
_PLAIN = ((CharField, str), (TextField, str), (BooleanField, bool), (IntegerField, int), (UUIDField, uuid.UUID))


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
    """Model instances from rows of `fields`' columns, as QuerySet.raw() makes them: converted, then Model.from_db.

    Any other field loads on first use (as deferred).
    """
    converters = [_converters(field) for field in fields]  # once for all the rows
    names, alias = [f.attname for f in fields], connection.alias
    return [model.from_db(alias, names, [_convert(c, value) for c, value in zip(converters, row)]) for row in rows]


def instance(model: type[Model], **values) -> Model:
    """model(**values), unsaved, at a tenth of the CPU: for the rows every send writes by the hundred.

    `values` are attribute names (`send_id`) or a relation's name with its
    object (`send=send`, cached as the constructor caches it); every other
    field gets its default. Model.__init__ checks each keyword against every
    field and sends pre_init and post_init: 11 us for a delivery instead of
    about 1. Nothing connects those signals to the models built here; if
    something does, this is model(**values).
    """
    if _has_init_receivers(model):
        return model(**values)
    blueprint = _blueprint(model)
    obj = model.__new__(model)
    obj._state = ModelState()
    attrs = dict(blueprint.defaults)
    for attname, make in blueprint.made_defaults:
        if attname not in values:
            attrs[attname] = make()
    for name, value in values.items():
        relation = blueprint.relations.get(name)
        if relation is None:
            attrs[name] = value
        else:
            attname, target_attname = relation
            attrs[attname] = None if value is None else getattr(value, target_attname)
            obj._state.fields_cache[name] = value
    obj.__dict__.update(attrs)
    return obj


@dataclass
class _Blueprint:
    defaults: dict  # attname: a default that is a constant
    made_defaults: list  # (attname, default callable): made for each instance (ids, lists)
    relations: dict  # a foreign key's name: (its attname, the target's attname)


_blueprints: dict[type[Model], _Blueprint] = {}


def _blueprint(model: type[Model]) -> _Blueprint:
    if model not in _blueprints:
        fields = model._meta.concrete_fields
        made = [(f.attname, f.default) for f in fields if f.has_default() and callable(f.default)]
        made_names = {name for name, _ in made}
        _blueprints[model] = _Blueprint(
            defaults={f.attname: f.get_default() for f in fields if f.attname not in made_names},
            made_defaults=made,
            relations={f.name: (f.attname, f.target_field.attname) for f in fields if isinstance(f, ForeignKey)},
        )
    return _blueprints[model]


def _has_init_receivers(model: type[Model]) -> bool:
    return pre_init.has_listeners(model) or post_init.has_listeners(model)


def _converters(field) -> list:
    # field.get_col(), as the ORM's compiler and QuerySet.raw() take it: a
    # foreign key's column is its target's (a UUID on SQLite needs the UUID
    # converter). field.cached_col is the foreign key itself, which has none:
    # it left SQLite's 32-hex text in group_id, schedule_id, ... and from
    # there in events and logs.
    col = field.get_col(field.model._meta.db_table)
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
    plain = [(field.attname, _plain_type(field, db), _value_prep(field, db)) for field in fields]
    params = [
        value if python_type is not None and (value is None or type(value) is python_type) else prep(value)
        for obj in objs
        for attname, python_type, prep in plain
        for value in (getattr(obj, attname),)
    ]
    with db.cursor() as cursor:
        cursor.execute(sql, params)
    for obj in objs:
        obj._state.adding, obj._state.db = False, db.alias


def _plain_type(field, db) -> type | None:
    """The Python type whose values `field` hands to the database unchanged (see _PLAIN), or None."""
    if isinstance(field, ForeignKey) and type(field).get_db_prep_save is ForeignKey.get_db_prep_save:
        return _plain_type(field.target_field, db)  # it hands over its target's value
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
            if base is UUIDField:  # SQLite stores them as text
                unchanged = unchanged and db.features.has_native_uuid_field
            return python_type if unchanged else None
    return None


def _value_prep(field, db):
    """field.get_db_prep_save for one insert; the rows of one insert share their timestamps, so those are converted once."""
    if not isinstance(field, DateTimeField):
        return lambda value: field.get_db_prep_save(value, db)
    converted = {}

    def prep(value):
        if value not in converted:
            converted[value] = field.get_db_prep_save(value, db)
        return converted[value]

    return prep


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
