"""Errors of the trading core, each with a message a person can act on."""

from __future__ import annotations


class DomainError(Exception):
    """Input or an action the trading rules refuse."""


class RuleViolation(DomainError):
    """A named rule was broken (``rule`` is machine-readable, the message is for people)."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message

    def as_dict(self) -> dict[str, str]:
        return {"rule": self.rule, "message": self.message}


class InvalidTransition(DomainError):
    """An order status change the transition table does not allow."""


class OrderRefused(DomainError):
    """Pre-trade risk refused an order; ``violations`` lists every failed check."""

    def __init__(self, violations: list[RuleViolation]) -> None:
        self.violations = violations
        super().__init__("order refused: " + "; ".join(v.message for v in violations))
