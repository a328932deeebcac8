"""Ninja authentication for staff endpoints: the admin's session, CSRF enforced on writes."""

from ninja.errors import AuthorizationError
from ninja.security import SessionAuth


class StaffSession(SessionAuth):
    """No session: 401. A session of a non-staff user: 403. Unsafe methods need the CSRF token."""

    def _get_key(self, request):
        if self.param_name not in request.COOKIES:
            return None  # anonymous: 401, before any CSRF verdict
        return super()._get_key(request)

    def authenticate(self, request, key):
        user = request.user
        if not user.is_authenticated:
            return None
        if not user.is_staff:
            raise AuthorizationError(message="Staff only")
        return user


staff_session = StaffSession()

# Django's double-submit CSRF check as OpenAPI security schemes (backend/api.py adds them to
# unsafe session operations), so generated clients and fuzzers know: the header carries the token
# from GET /api/auth/csrf, and the cookie that call set goes with it (a browser sends it by itself).
CSRF_SCHEMES = {
    "CSRFToken": {
        "type": "apiKey",
        "in": "header",
        "name": "X-CSRFToken",
        "description": "The token from GET /api/auth/csrf, on every unsafe request made with a session.",
    },
    "CSRFCookie": {
        "type": "apiKey",
        "in": "cookie",
        "name": "csrftoken",
        "description": "The cookie GET /api/auth/csrf sets; the browser sends it.",
    },
}
SESSION_SCHEMES = {"StaffSession"}
