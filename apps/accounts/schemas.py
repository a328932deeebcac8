from uuid import UUID

from ninja import Field, Schema

from backend.text import Text


class Credentials(Schema):
    username: Text = Field(min_length=1, max_length=150)
    # Bounded so a huge password cannot make the hasher work for long.
    password: Text = Field(min_length=1, max_length=1024)


class CurrentUser(Schema):
    id: UUID
    username: str
    email: str
    is_staff: bool


class CSRFTokenOut(Schema):
    csrf_token: str = Field(description="Send it back in the X-CSRFToken header on unsafe requests.")


class LoginResult(Schema):
    user: CurrentUser
    csrf_token: str = Field(description="Logging in rotates the CSRF token: send this one from now on.")
