"""Row-level security under a role that neither is a superuser nor owns the table."""

import pytest
from django.db import DatabaseError, connection, connections, models
from django.db.migrations.state import ModelState, ProjectState
from django.test.utils import isolate_apps
from django.urls import path

from backend.db.models import UUIDModel
from backend.db.operations import CreatePolicy, DropPolicy, EnableRowLevelSecurity
from backend.db.rls import CURRENT_USER_ID, acting_as, rls_scoped
from backend.db.uuid7 import uuid7

pytestmark = pytest.mark.django_db(transaction=True)
ROLE = "rls_test_reader"
OWNER = "rls_test_owner"
OWNER_ONLY = f"owner_id = {CURRENT_USER_ID}"


@pytest.fixture
def note_model():
    with isolate_apps("backend"):

        class Note(UUIDModel):
            owner_id = models.UUIDField()
            body = models.TextField()

            class Meta:
                app_label = "backend"
                db_table = "rls_test_note"

        state = ProjectState()
        state.add_model(ModelState.from_model(Note))
        operations = [
            EnableRowLevelSecurity("note"),
            CreatePolicy("note", "note_owner", using=OWNER_ONLY, check=OWNER_ONLY),
        ]
        with connection.schema_editor() as editor:
            editor.create_model(Note)
            for operation in operations:
                operation.database_forwards("backend", editor, state, state)
            for role in (ROLE, OWNER):
                editor.execute(f"DROP ROLE IF EXISTS {role}")
                editor.execute(f"CREATE ROLE {role} NOSUPERUSER NOLOGIN")
            editor.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON rls_test_note TO {ROLE}")
            editor.execute(f"GRANT USAGE ON SCHEMA public TO {OWNER}")
            editor.execute(f"ALTER TABLE rls_test_note OWNER TO {OWNER}")
        yield Note, state, operations
        with connection.schema_editor() as editor:
            editor.delete_model(Note)
            editor.execute(f"REVOKE ALL ON SCHEMA public FROM {OWNER}")
            for role in (ROLE, OWNER):
                editor.execute(f"DROP ROLE IF EXISTS {role}")


def as_role(role: str = ROLE):
    """Drop the superuser (who bypasses every policy) for the rest of the transaction."""
    with connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL ROLE {role}")


def test_a_user_sees_and_writes_only_their_rows(note_model):
    note, _, _ = note_model
    alice, bob = uuid7(), uuid7()
    with acting_as(bob):
        as_role()
        note.objects.create(owner_id=bob, body="bob's")
    with acting_as(alice):
        as_role()
        note.objects.create(owner_id=alice, body="alice's")

    with acting_as(alice):
        as_role()
        assert list(note.objects.values_list("body", flat=True)) == ["alice's"]
        assert note.objects.filter(owner_id=bob).update(body="changed by alice") == 0

    with pytest.raises(DatabaseError, match="row-level security"), acting_as(alice):
        as_role()
        note.objects.create(owner_id=bob, body="planted by alice")

    with acting_as(bob):
        as_role()
        assert list(note.objects.values_list("body", flat=True)) == ["bob's"]


def test_forced_rls_binds_the_table_owner_too(note_model):
    note, _, _ = note_model
    with pytest.raises(DatabaseError, match="row-level security"), acting_as(None):
        as_role(OWNER)
        note.objects.create(owner_id=uuid7(), body="no user set")
    with acting_as(owner := uuid7()):
        as_role(OWNER)
        note.objects.create(owner_id=owner, body="the owner's own row")
        assert note.objects.count() == 1


def test_the_setting_does_not_outlive_the_transaction(note_model):
    with acting_as(uuid7(), tenant_id="tenant-1"), connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('app.user_id', true), current_setting('app.tenant_id', true)")
        user_id, tenant_id = cursor.fetchone()
    assert user_id
    assert tenant_id == "tenant-1"
    connection.close()  # back to the pool; the next use takes a pooled connection
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('app.user_id', true), current_setting('app.tenant_id', true)")
        assert cursor.fetchone() in {("", ""), (None, None)}


def test_operations_reverse_cleanly(note_model):
    note, state, operations = note_model
    with connection.schema_editor() as editor:
        for operation in reversed(operations):
            operation.database_backwards("backend", editor, state, state)
    with acting_as(uuid7()):
        as_role()
        note.objects.create(owner_id=uuid7(), body="rls is off: anyone may write anything")
        assert note.objects.count() == 1
    with connection.schema_editor() as editor:
        DropPolicy("note", "note_owner", using=OWNER_ONLY).database_backwards("backend", editor, state, state)
        EnableRowLevelSecurity("note").database_forwards("backend", editor, state, state)
    with acting_as(uuid7()):
        as_role()
        assert note.objects.count() == 0  # the restored policy hides the row from another user


def test_request_scoped_form_runs_the_view_as_the_request_user(rf, django_user_model):
    user = django_user_model.objects.create(username="carol")

    @rls_scoped
    def view(request):
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('app.user_id', true)")
            return cursor.fetchone()[0]

    request = rf.get("/")
    request.user = user
    assert view(request) == str(user.pk)


def acting_ids() -> tuple[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('app.user_id', true), current_setting('app.tenant_id', true)")
        user_id, tenant_id = cursor.fetchone()
    return user_id or "", tenant_id or ""


def test_nested_acting_as_restores_the_outer_identity():
    alice, bob = uuid7(), uuid7()
    with acting_as(alice, tenant_id="a"):
        with acting_as(bob, tenant_id="b"):
            assert acting_ids() == (str(bob), "b")
        assert acting_ids() == (str(alice), "a")  # not bob's, though the savepoint was released
        with pytest.raises(ZeroDivisionError), acting_as(bob):
            1 / 0  # noqa: B018
        assert acting_ids() == (str(alice), "a")


def test_acting_as_inside_a_transaction_leaves_no_identity_behind():
    from django.db import transaction

    with transaction.atomic():
        with acting_as(uuid7(), tenant_id="t"):
            pass
        assert acting_ids() == ("", "")  # the rest of the transaction runs as nobody


def test_a_role_that_bypasses_rls_is_reported(note_model, settings):
    from backend.checks import database_role, database_role_issues

    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        (role,) = cursor.fetchone()
    # The test server's role is a superuser, and note_model's migration created a policy.
    [issue] = database_role_issues()
    assert issue.id == "backend.E017"
    assert issue.msg.startswith(f"The database role {role} is a superuser")
    # As a system check: production only, and only when the database checks are asked for.
    assert database_role(databases=["default"]) == []
    settings.APP_ENV = "production"
    assert database_role(databases=None) == []
    assert [i.id for i in database_role(databases=["default"])] == ["backend.E017"]
    with connection.cursor() as cursor:
        cursor.execute("DROP POLICY note_owner ON rls_test_note")  # the project itself has none
    assert [i.id for i in database_role_issues()] == ["backend.W006"]  # no policy yet: a warning
    from django.db import transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL ROLE {ROLE}")  # neither superuser nor BYPASSRLS
        assert database_role_issues() == []


NOTE_MODEL = []  # the isolated model, for the views below (set by the test using them)


def notes_of(user_id: object) -> list[str]:
    """The service an async endpoint calls: one sync function, its ids and role in its transaction."""
    with acting_as(user_id):
        as_role()
        return list(NOTE_MODEL[0].objects.order_by("body").values_list("body", flat=True))


def identity_outside_any_transaction() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('app.user_id', true), current_user")
        return list(cursor.fetchone())


async def notes_view(request):
    from asgiref.sync import sync_to_async
    from django.http import JsonResponse

    return JsonResponse({"notes": await sync_to_async(notes_of)(request.GET["user"])})


async def identity_view(request):
    from asgiref.sync import sync_to_async
    from django.http import JsonResponse

    return JsonResponse({"identity": await sync_to_async(identity_outside_any_transaction)()})


urlpatterns = [path("notes", notes_view), path("identity", identity_view)]


@pytest.mark.urls(__name__)
async def test_async_endpoints_see_only_their_users_rows_and_leave_no_identity_on_pooled_connections(
    note_model, asgi_client
):
    """Through the project's handler: each request's service runs in its thread, in its transaction;
    its connection goes back to the pool right after, and the next requests on that pool find
    neither the user id nor the role that the transaction set."""
    from asgiref.sync import sync_to_async

    note, _, _ = note_model
    NOTE_MODEL[:] = [note]
    alice, bob = uuid7(), uuid7()
    await note.objects.acreate(owner_id=alice, body="alice's")
    await note.objects.acreate(owner_id=bob, body="bob's")
    await sync_to_async(connections.close_all)()  # the test's own, in asgiref's shared thread
    for user, body in [(alice, "alice's"), (bob, "bob's")] * 3:
        response = await asgi_client.get(f"/notes?user={user}")
        assert response.json() == {"notes": [body]}
    identities = [(await asgi_client.get("/identity")).json()["identity"] for _ in range(12)]
    assert {identity[0] for identity in identities} == {""}
    assert ROLE not in {identity[1] for identity in identities}
