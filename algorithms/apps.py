from django.apps import AppConfig


class AlgorithmsConfig(AppConfig):
    name = "algorithms"
    default_auto_field = "django.db.models.BigAutoField"
