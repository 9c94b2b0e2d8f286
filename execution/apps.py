from django.apps import AppConfig


class ExecutionConfig(AppConfig):
    name = "execution"
    verbose_name = "Execution"

    def ready(self) -> None:
        from execution import receivers

        receivers.connect()
        _check_execution_settings()


def _check_execution_settings() -> None:
    """A bad threshold stops the start-up with the setting's name, not the first trade."""
    from django.core.exceptions import ImproperlyConfigured

    from execution.domain.errors import DomainError
    from execution.selectors import breaker_config
    from execution.services.signal_execution import urgency_config

    for name, load in (
        ("EXECUTION_URGENCY", urgency_config),
        ("EXECUTION_BREAKERS", breaker_config),
    ):
        try:
            load()
        except DomainError as error:
            raise ImproperlyConfigured(f"{name}: {error}") from None
