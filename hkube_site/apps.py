from django.apps import AppConfig


class HkubeSiteConfig(AppConfig):
    name = "hkube_site"
