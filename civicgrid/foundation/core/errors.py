"""Errors every layer raises and every entry point turns into a clear message (Chinese first)."""


class CivicgridError(Exception):
    """Base error carrying a message a person can act on, and optional per-field details."""

    status = 400
    code = "invalid"

    def __init__(self, message: str, *, field: str | None = None, details: list | dict | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details

    def as_dict(self) -> dict:
        body: dict = {"detail": self.message, "code": self.code}
        if self.field:
            body["field"] = self.field
        if self.details is not None:
            body["errors"] = [self._detail(d) for d in self.details] if isinstance(self.details, list) else self.details
        return body

    def _detail(self, detail):
        """One entry of `errors` as the API publishes it (`api_errors.FieldErrorOut`): a message given as bare text
        (a line of a schedule that could not be read), or one naming no field, is about the error's own field."""
        if isinstance(detail, str):
            return {"field": self.field or "", "message": detail}
        if isinstance(detail, dict) and "field" not in detail:
            return {"field": self.field or "", **detail}
        return detail


class ValidationFailed(CivicgridError):
    """Input is wrong; nothing was changed."""

    status = 400
    code = "invalid"


class NotFound(CivicgridError):
    """Missing, or outside the actor's scope (the two are indistinguishable on purpose)."""

    status = 404
    code = "not_found"


class PermissionDenied(CivicgridError):
    """The actor may see the object but not do this to it."""

    status = 403
    code = "forbidden"


class Conflict(CivicgridError):
    """The action is not allowed in the object's current state."""

    status = 409
    code = "conflict"
