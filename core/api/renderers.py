from rest_framework.renderers import JSONRenderer


class RequestIdJSONRenderer(JSONRenderer):
    """Every JSON object body carries the request id (also sent as X-Request-ID)."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        request = (renderer_context or {}).get("request")
        if isinstance(data, dict) and request is not None and "request_id" not in data:
            data = {**data, "request_id": getattr(request, "request_id", "")}
        return super().render(data, accepted_media_type, renderer_context)
