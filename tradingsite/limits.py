"""Request size limits answered as such: 413, before anything reads the body.

Django refuses a form body over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` with a bare 400 when the view
first reads it, and DRF's parsers read the stream past that check. A body declared larger than
the limit is refused here for every page and endpoint; the API's JSON parser also counts what
it reads, for a body that does not declare its length.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse


class RequestSizeLimitMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        # Multipart bodies too: the site takes no file uploads.
        if limit is not None:
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0  # Django's own parsing refuses a malformed length
            if length > limit:
                return _too_large(request, limit)
        return self.get_response(request)


def _too_large(request: HttpRequest, limit: int) -> HttpResponse:
    detail = f"The request body is larger than {limit} bytes."
    if request.path.startswith("/api/"):
        body = {"detail": detail, "code": "request_too_large", "errors": {}}
        return JsonResponse(body, status=413)
    return HttpResponse(detail, status=413, content_type="text/plain; charset=utf-8")
