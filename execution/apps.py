from django.apps import AppConfig


class ExecutionConfig(AppConfig):
    name = "execution"
    verbose_name = "Execution"

    def ready(self) -> None:
        from execution import receivers

        receivers.connect()
