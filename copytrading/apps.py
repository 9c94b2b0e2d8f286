from django.apps import AppConfig


class CopytradingConfig(AppConfig):
    name = "copytrading"
    verbose_name = "Copy trading"

    def ready(self) -> None:
        from copytrading import receivers

        receivers.connect()
