from rest_framework.pagination import CursorPagination


class NewestFirstPagination(CursorPagination):
    """Opaque cursors over time-ordered ids: stable under inserts, newest first."""

    ordering = "-id"
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 200


class ByNamePagination(CursorPagination):
    ordering = ("name", "id")
    page_size = 100
    page_size_query_param = "limit"
    max_page_size = 500
