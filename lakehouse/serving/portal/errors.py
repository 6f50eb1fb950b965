"""The portal's one error: what went wrong and the HTTP status it is answered with."""


class PortalError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
