"""Reading a posted form with a size limit, and its fields as numbers, with a clear 4xx page for bad input."""

from __future__ import annotations

import math
from urllib.parse import parse_qs

from fastapi import Request

from weightwarden.ui.errors import UiProblem

FORM_TYPE = "application/x-www-form-urlencoded"


class Form:
    """The fields of one posted form (the first value of each)."""

    def __init__(self, fields: dict[str, str]) -> None:
        self.fields = fields

    def text(
        self,
        name: str,
        *,
        required: bool = False,
        limit: int | None = None,
        label: str | None = None,
        strip: bool = True,
    ) -> str:
        """A field's text (stripped unless strip is False: a prompt or pasted text is kept as it was written)."""
        value = self.fields.get(name, "")
        value = value.strip() if strip else value
        if required and not value.strip():
            raise UiProblem(400, f"{label or name} is missing: fill it in and send the form again")
        if limit is not None and len(value) > limit:
            raise UiProblem(
                413, f"{label or name} is {len(value):,} characters; the dashboard takes at most {limit:,}: shorten it"
            )
        return value

    def integer(self, name: str, *, label: str | None = None) -> int | None:
        """A whole number of at least 0, or None when the field is empty."""
        raw = self.text(name)
        if not raw:
            return None
        try:
            value = int(raw.replace("_", "").replace(",", ""))
        except ValueError:
            raise UiProblem(400, f"{label or name} must be a whole number such as 1000, not {raw[:40]!r}") from None
        if value < 0:
            raise UiProblem(400, f"{label or name} must be 0 or more, not {value}")
        return value

    def number(self, name: str, *, label: str | None = None) -> float | None:
        """A finite number of at least 0, or None when the field is empty."""
        raw = self.text(name)
        if not raw:
            return None
        try:
            value = float(raw.replace(",", ""))
        except ValueError:
            raise UiProblem(400, f"{label or name} must be a number such as 2.50, not {raw[:40]!r}") from None
        if not math.isfinite(value) or value < 0:
            raise UiProblem(400, f"{label or name} must be a finite number of 0 or more, not {raw[:40]!r}")
        return value


async def read_form(request: Request, limit: int) -> Form:
    """The request's urlencoded form, read once (cached on the request); 413 past limit bytes, 415 for another type."""
    cached: Form | None = getattr(request.state, "ui_form", None)
    if cached is not None:
        return cached
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != FORM_TYPE:
        raise UiProblem(415, f"the dashboard takes forms sent as {FORM_TYPE}, not {kind or 'nothing'}")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise UiProblem(413, f"the form is {int(declared):,} bytes; the dashboard takes at most {limit:,}: shorten it")
    parts, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise UiProblem(413, f"the form is over {limit:,} bytes, the dashboard's limit: shorten it")
        parts.append(chunk)
    try:
        parsed = parse_qs(b"".join(parts).decode("utf-8"), keep_blank_values=True, max_num_fields=200)
    except (UnicodeDecodeError, ValueError):
        raise UiProblem(
            400, "the form could not be read (not UTF-8, or too many fields): send it from the page"
        ) from None
    form = Form({k: v[0] for k, v in parsed.items()})
    request.state.ui_form = form
    return form
