"""Migration operations for row-level security, reversible, on a model's table.

operations = [
    EnableRowLevelSecurity("note"),
    CreatePolicy("note", "note_owner", using=f"owner_id = {CURRENT_USER_ID}"),  # from backend.db.rls
]
"""

from typing import Any

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import ProjectState


def _table(state: ProjectState, app_label: str, model_name: str) -> str:
    return str(state.apps.get_model(app_label, model_name)._meta.db_table)


class EnableRowLevelSecurity(migrations.operations.base.Operation):
    """ENABLE (and by default FORCE) row-level security: forced, even the table's owner is bound."""

    reversible = True
    reduces_to_sql = True

    def __init__(self, model_name: str, force: bool = True) -> None:
        self.model_name = model_name
        self.force = force

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        return self.__class__.__qualname__, [self.model_name], {"force": self.force}

    def state_forwards(self, app_label: str, state: ProjectState) -> None:
        pass

    def database_forwards(
        self, app_label: str, schema_editor: BaseDatabaseSchemaEditor, from_state: ProjectState, to_state: ProjectState
    ) -> None:
        table = schema_editor.quote_name(_table(to_state, app_label, self.model_name))
        schema_editor.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        if self.force:
            schema_editor.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")

    def database_backwards(
        self, app_label: str, schema_editor: BaseDatabaseSchemaEditor, from_state: ProjectState, to_state: ProjectState
    ) -> None:
        table = schema_editor.quote_name(_table(from_state, app_label, self.model_name))
        schema_editor.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        schema_editor.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")

    def describe(self) -> str:
        return f"Enable row-level security on {self.model_name}"

    @property
    def migration_name_fragment(self) -> str:
        return f"{self.model_name.lower()}_enable_rls"


class CreatePolicy(migrations.operations.base.Operation):
    """CREATE POLICY on a model's table; ``using`` filters rows, ``check`` guards writes."""

    reversible = True
    reduces_to_sql = True

    def __init__(self, model_name: str, name: str, using: str, check: str | None = None, command: str = "ALL") -> None:
        self.model_name = model_name
        self.name = name
        self.using = using
        self.check = check
        self.command = command

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        kwargs = {"name": self.name, "using": self.using, "check": self.check, "command": self.command}
        return self.__class__.__qualname__, [self.model_name], kwargs

    def state_forwards(self, app_label: str, state: ProjectState) -> None:
        pass

    def create_sql(self, schema_editor: BaseDatabaseSchemaEditor, table: str) -> str:
        sql = f"CREATE POLICY {schema_editor.quote_name(self.name)} ON {schema_editor.quote_name(table)}"
        sql += f" FOR {self.command} USING ({self.using})"
        if self.check is not None:
            sql += f" WITH CHECK ({self.check})"
        return sql

    def drop_sql(self, schema_editor: BaseDatabaseSchemaEditor, table: str) -> str:
        return f"DROP POLICY {schema_editor.quote_name(self.name)} ON {schema_editor.quote_name(table)}"

    def database_forwards(
        self, app_label: str, schema_editor: BaseDatabaseSchemaEditor, from_state: ProjectState, to_state: ProjectState
    ) -> None:
        schema_editor.execute(self.create_sql(schema_editor, _table(to_state, app_label, self.model_name)))

    def database_backwards(
        self, app_label: str, schema_editor: BaseDatabaseSchemaEditor, from_state: ProjectState, to_state: ProjectState
    ) -> None:
        schema_editor.execute(self.drop_sql(schema_editor, _table(from_state, app_label, self.model_name)))

    def describe(self) -> str:
        return f"Create policy {self.name} on {self.model_name}"


class DropPolicy(CreatePolicy):
    """The reverse of CreatePolicy; give the policy's definition so it can be restored."""

    def database_forwards(
        self, app_label: str, schema_editor: BaseDatabaseSchemaEditor, from_state: ProjectState, to_state: ProjectState
    ) -> None:
        super().database_backwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(
        self, app_label: str, schema_editor: BaseDatabaseSchemaEditor, from_state: ProjectState, to_state: ProjectState
    ) -> None:
        super().database_forwards(app_label, schema_editor, from_state, to_state)

    def describe(self) -> str:
        return f"Drop policy {self.name} on {self.model_name}"
