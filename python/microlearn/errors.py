"""Exceptions: the engine's and the server's own messages, never a traceback of ours."""

from __future__ import annotations

from typing import Any, Optional


class MicroLearnError(Exception):
    """A failed engine call, carrying the CLI's message (file, column, row) verbatim.

    ``message`` is what ``microlearn`` printed after ``error:``; ``stderr`` is everything it
    printed, ``returncode`` its exit status (``None`` for errors raised before it ran).
    """

    def __init__(self, message: str, *, returncode: Optional[int] = None, stderr: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.returncode = returncode
        self.stderr = stderr


class ApiError(MicroLearnError):
    """An RFC 9457 problem from the REST service.

    ``type`` is the stable problem URI (``urn:microlearn:problem:invalid-rows``, ...), ``kind``
    its last part (``invalid-rows``), ``field`` and ``row`` say what was at fault where the
    server names it, and ``problem`` is the whole problem+json body.
    """

    def __init__(
        self,
        status: int,
        type: str,
        title: str,
        detail: str,
        *,
        field: Optional[str] = None,
        row: Optional[int] = None,
        problem: Optional[dict[str, Any]] = None,
    ) -> None:
        super().__init__(f"{status} {title}: {detail}")
        self.status = status
        self.type = type
        self.title = title
        self.detail = detail
        self.field = field
        self.row = row
        self.problem = problem or {}

    @property
    def kind(self) -> str:
        """The problem type's slug, e.g. ``not-found`` or ``invalid-rows``."""
        return self.type.rsplit(":", 1)[-1]
