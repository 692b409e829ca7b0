"""Cursor pagination whose query parameters are validated like any other input.

DRF's CursorPagination ignores a bad `limit` (it serves the default page)
and answers 404 for a bad `cursor`. Here both are a 400 validation_error,
and the schema gives `limit` its bounds.
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import connection
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination


def _invalid(name: str, message: str, code: str = "invalid") -> serializers.ValidationError:
    return serializers.ValidationError({name: [serializers.ErrorDetail(message, code=code)]})


_NOT_OURS = "Not a cursor this API gave out (use `next` or `previous` as given)."


class StrictCursorPagination(CursorPagination):
    page_size_query_param = "limit"

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            raise _invalid("limit", "A whole number is required.") from None
        if not 1 <= size <= self.max_page_size:
            raise _invalid("limit", f"Use 1 to {self.max_page_size}.", "out_of_range")
        return size

    def decode_cursor(self, request):
        try:
            cursor = super().decode_cursor(request)
        except NotFound:
            raise _invalid("cursor", _NOT_OURS) from None
        if cursor is not None and cursor.position is not None and not self._position_fits(cursor.position):
            raise _invalid("cursor", _NOT_OURS)
        return cursor

    def _position_fits(self, position: str) -> bool:
        """Whether a cursor's position is a value the ordering field's column can hold.

        A made-up position goes into the page's WHERE clause: past an integer
        column's range, or with a NUL in a text one, the database refuses the
        query (a 500) instead of finding nothing.
        """
        field = self.model._meta.get_field(self.ordering[0].lstrip("-"))
        if "\x00" in position:
            return False
        try:
            value = field.to_python(position)
        except DjangoValidationError:
            return False
        low, high = connection.ops.integer_field_range(field.get_internal_type()) if isinstance(value, int) else (None, None)
        return (low is None or value >= low) and (high is None or value <= high)

    def paginate_queryset(self, queryset, request, view=None):
        self.model = queryset.model
        try:
            return super().paginate_queryset(queryset, request, view)
        except (DjangoValidationError, ValueError):
            # A well-formed cursor whose position is not a value of the ordering
            # field: a UUID field raises ValidationError, an integer one ValueError.
            raise _invalid("cursor", _NOT_OURS) from None

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1, "maximum": self.max_page_size}
                parameter["description"] = f"Items per page, 1-{self.max_page_size} (default {self.page_size})."
        return parameters


class NewestFirstPagination(StrictCursorPagination):
    """Opaque cursors over time-ordered ids: stable under inserts, newest first."""

    ordering = "-id"
    page_size = 50
    max_page_size = 200


class ByNamePagination(StrictCursorPagination):
    ordering = ("name", "id")
    page_size = 100
    max_page_size = 500


def paginated_response(view, queryset, output):
    """One page of `queryset` rendered with the `output` serializer, paginated as the view's pagination_class says.

    Views set `pagination_class` (an APIView does not use it by itself) so the
    schema shows the paginated body and its `cursor` and `limit` parameters.
    """
    paginator = view.pagination_class()
    page = paginator.paginate_queryset(queryset, view.request, view=view)
    return paginator.get_paginated_response(output(page, many=True).data)
