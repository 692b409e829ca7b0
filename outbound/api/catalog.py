"""GET /v2/sessions and GET /v2/groups: what an account can send from and to."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.views import APIView

from outbound import selectors

from .outputs import GroupOutput, SessionOutput
from .pagination import ByNamePagination


def _paginated(view, queryset, output):
    paginator = ByNamePagination()
    page = paginator.paginate_queryset(queryset, view.request, view=view)
    return paginator.get_paginated_response(output(page, many=True).data)


class SessionListView(APIView):
    @extend_schema(operation_id="sessions_list", summary="The account's WhatsApp sessions", responses=SessionOutput(many=True))
    def get(self, request):
        return _paginated(self, selectors.session_list(account=request.user.account), SessionOutput)


class GroupListView(APIView):
    class FilterInput(serializers.Serializer):
        session_id = serializers.UUIDField(required=False)

    @extend_schema(
        operation_id="groups_list",
        summary="The account's WhatsApp groups",
        parameters=[OpenApiParameter("session_id", str, description="Only groups this session is in.")],
        responses=GroupOutput(many=True),
    )
    def get(self, request):
        filters = self.FilterInput(data=request.query_params)
        filters.is_valid(raise_exception=True)
        groups = selectors.group_list(account=request.user.account, **filters.validated_data)
        return _paginated(self, groups, GroupOutput)
