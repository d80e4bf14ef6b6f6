from django.apps import AppConfig


class AlgorithmsConfig(AppConfig):
    name = "algorithms"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # pipelines asks the algorithms layer through its port, never by importing it.
        from algorithms.directory import Directory
        from pipelines import ports

        ports.register(Directory())
