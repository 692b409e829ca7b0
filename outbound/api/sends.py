"""GET /v2/outbound/sends/{send_id}.

POST /v2/outbound/sends, which can also become a schedule, is the `sending`
app's (sending/api.py): it sits above outbound and schedules. The
message-content inputs every send body shares are in outbound/serializers.py.
"""

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import ApplicationError
from outbound import selectors

from .outputs import SendDetailOutput


class SendDetailView(APIView):
    @extend_schema(
        operation_id="outbound_sends_retrieve",
        summary="An outbound send with its per-group results",
        responses=SendDetailOutput,
    )
    def get(self, request, send_id):
        send = selectors.send_get(account=request.user.account, send_id=send_id)
        if send is None:
            raise ApplicationError("not_found", "No such send.", http_status=404)
        return Response(SendDetailOutput(send).data)
