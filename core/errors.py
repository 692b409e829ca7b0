class ApplicationError(Exception):
    """A request the service refuses for a business reason, with a stable code.

    Raised by services; the API turns it into the common error body with
    `http_status`. Nothing has been written when it is raised.
    """

    def __init__(self, code: str, message: str, *, details: dict | None = None, http_status: int = 422):
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or {}
        self.http_status = http_status
