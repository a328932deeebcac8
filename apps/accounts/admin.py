from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from apps.accounts.models import User


@admin.register(User)
class UserAdmin(DjangoUserAdmin[User]):
    list_display = ("username", "email", "id", "is_staff", "is_active", "created_at")
    readonly_fields = ("id", "created_at", "updated_at")
