"""Use cases: each changes state in one transaction and audits it in that same transaction."""


class ServiceError(Exception):
    """A use case refused; `status` is the HTTP status an adapter should answer with."""

    status = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class Conflict(ServiceError):
    status = 409


class NotFound(ServiceError):
    status = 404
