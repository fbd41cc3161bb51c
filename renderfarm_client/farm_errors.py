"""What goes wrong between the client and a farm, each error with a one-line explanation for
the person at the terminal (or in Blender's status bar)."""

from __future__ import annotations


class FarmError(Exception):
    """A failure with a one-line explanation for the person at the terminal."""


class FarmUnreachable(FarmError):
    """Nothing answers at the farm's URL (or not in time)."""

    def __init__(self, message: str, *, api_url: str):
        super().__init__(message)
        self.api_url = api_url


class KeyRefused(FarmError):
    """401: the key is missing (``missing``) or the farm does not know it."""

    def __init__(self, message: str, *, api_url: str, missing: bool):
        super().__init__(message)
        self.api_url = api_url
        self.missing = missing


class SceneTooLarge(FarmError):
    """The farm refused the scene's size (``POST /api/scenes``)."""


class TransferCancelled(FarmError):
    """The person stopped an upload or a download; nothing was submitted."""


class RetryLater(FarmError):
    """429 or 503 after the client stopped retrying: ``retry_after_s`` says when to try again."""

    def __init__(self, message: str, *, retry_after_s: float | None):
        super().__init__(message)
        self.retry_after_s = retry_after_s
