"""Scopes: every GET needs `read`; a write needs the scope its view names in `write_scope`."""

from rest_framework import permissions

from core import scopes
from core.errors import ApplicationError


def required_scope(request, view) -> str | None:
    """The scope this request needs; None for a write whose view names none (refused: fail closed)."""
    if request.method in permissions.SAFE_METHODS:
        return scopes.READ
    return getattr(view, "write_scope", None)


class HasScope(permissions.BasePermission):
    """An authenticated credential holding the scope the request needs, or 403 insufficient_scope."""

    def has_permission(self, request, view):
        principal = request.user
        if not getattr(principal, "is_authenticated", False):
            return False  # DRF answers 401
        needed = required_scope(request, view)
        if needed not in principal.scopes:
            raise ApplicationError(
                "insufficient_scope",
                f"This credential lacks the {needed or 'required'} scope.",
                details={"required_scope": needed, "granted_scopes": sorted(principal.scopes)},
                http_status=403,
            )
        return True
