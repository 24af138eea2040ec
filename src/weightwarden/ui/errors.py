"""A dashboard page that cannot be shown: an error page with a status, or a redirect (to sign in)."""

from __future__ import annotations


class UiProblem(Exception):
    """Answered as an HTML page with status and message (what went wrong, what to do), or a 303 to redirect."""

    def __init__(self, status: int, message: str, *, title: str | None = None, redirect: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.redirect = status, message, redirect
        self.title = title or TITLES.get(status, "Something went wrong")


TITLES = {
    400: "That did not work",
    401: "Not signed in",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed",
    413: "Too large",
    415: "Unsupported form",
    429: "Too many requests",
    503: "Not available",
}
