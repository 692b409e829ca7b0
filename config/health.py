"""Health endpoints for load balancers and orchestrators (outside the /v2 API and its schema).

GET /healthz: the process answers. Nothing else is touched (no database,
no broker, no credential), so it is also the floor the API benchmark
measures every endpoint against: a bare DRF view served by the same server.
"""

from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView


class HealthView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []

    @extend_schema(exclude=True)
    def get(self, request):
        return Response({"status": "ok"})
