from django.apps import AppConfig


class HkubeSiteConfig(AppConfig):
    name = "hkube_site"

    def ready(self) -> None:
        from hkube_site import tracing

        tracing.setup()  # a no-op unless a tracing endpoint is configured
