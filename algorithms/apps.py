from django.apps import AppConfig


class AlgorithmsConfig(AppConfig):
    name = "algorithms"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Models are loaded only now: a completed build becomes a version (builds never imports us).
        from algorithms import services
        from builds.signals import build_completed

        build_completed.connect(services.on_build_completed, dispatch_uid="algorithms.on_build_completed")

        # pipelines asks the algorithms layer through its port, never by importing it.
        from algorithms.directory import Directory
        from pipelines import ports

        ports.register(Directory())
