from django.contrib import admin

from builds.models import Build


@admin.register(Build)
class BuildAdmin(admin.ModelAdmin[Build]):
    list_display = ("build_id", "algorithm_name", "env", "status", "progress", "start_time")
    list_filter = ("status", "env")
    search_fields = ("build_id", "algorithm_name", "error", "log")
