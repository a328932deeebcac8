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
