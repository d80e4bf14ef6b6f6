from django.contrib import admin

from algorithms.models import Algorithm, AlgorithmVersion


@admin.register(Algorithm)
class AlgorithmAdmin(admin.ModelAdmin[Algorithm]):
    list_display = ("name", "version", "modified")
    search_fields = ("name",)


@admin.register(AlgorithmVersion)
class AlgorithmVersionAdmin(admin.ModelAdmin[AlgorithmVersion]):
    list_display = ("algorithm_name", "version", "semver", "build_id", "created")
    search_fields = ("algorithm_name", "version", "build_id")
