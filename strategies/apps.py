from django.apps import AppConfig


class StrategiesConfig(AppConfig):
    name = "strategies"
    verbose_name = "Strategies"

    def ready(self) -> None:
        from strategies import receivers  # noqa: F401 (connects the runner to closed bars)
