"""A scripted browser: follows the real redirects and submits the real forms of the flow.

It holds cookies like a browser, resolves MedMij hostnames through the runtime's address map,
and sends X-Correlation-ID on every request so each hop's log can be tied to the flow. Where it
logged in to a PGO's API it sends that session's CSRF token (``X-CSRF-Token``) on every POST
and DELETE to that origin, as the PGO's own page script would.
"""

from __future__ import annotations

import uuid
from typing import TypeVar
from urllib.parse import urlsplit

import httpx

from scenarios.flow import (
    Flow,
    FlowError,
    Form,
    Request,
    digid_submission,
    form_request,
    forms,
    location,
    run,
)
from simulators.common.http import sync_client
from simulators.medmij import CORRELATION_ID

__all__ = ["Browser", "FlowError", "Form", "forms", "origin"]
T = TypeVar("T")


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


class Browser:
    def __init__(self, addresses: dict[str, str], correlation_id: str | None = None) -> None:
        self.correlation_id = correlation_id or str(uuid.uuid4())
        self.client: httpx.Client = sync_client(addresses, timeout=60.0)
        self.client.headers[CORRELATION_ID] = self.correlation_id
        self.hops: list[tuple[str, str, int]] = []
        self.csrf: dict[str, str] = {}  # origin -> CSRF token of the session held there

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    def csrf_headers(self, method: str, url: str, headers: dict | None) -> dict:
        """The request's headers plus the origin's CSRF token on a state-changing request."""
        headers = dict(headers or {})
        token = self.csrf.get(origin(url))
        if token and method.upper() not in ("GET", "HEAD", "OPTIONS") and not any(
                k.lower() == "x-csrf-token" for k in headers):
            headers["X-CSRF-Token"] = token
        return headers

    def request(self, method: str, url: str, **kwargs) -> httpx.Response:
        kwargs["headers"] = self.csrf_headers(method, url, kwargs.get("headers"))
        response = self.client.request(method, url, **kwargs)
        self.hops.append((method, url, response.status_code))
        return response

    def get(self, url: str, **kwargs) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def follow(self, response: httpx.Response, max_hops: int = 20) -> httpx.Response:
        """Follow redirects the way a browser does (303 and 302 become GET)."""
        for _ in range(max_hops):
            if response.status_code not in (301, 302, 303, 307, 308):
                return response
            response = self.get(self.location(response))
        raise FlowError("too many redirects")

    @staticmethod
    def location(response: httpx.Response) -> str:
        return location(response)

    def send(self, request: Request) -> httpx.Response:
        """One request of a journey (``scenarios.flow``)."""
        return self.request(request.method, request.url, data=request.data,
                            params=request.params, headers=request.headers)

    def run(self, flow: Flow[T]) -> T:
        """Drive a journey of ``scenarios.flow`` through this browser."""
        return run(flow, self.send)

    def submit(self, page: httpx.Response, values: dict[str, str] | None = None,
               button: tuple[str, str] | None = None,
               checked: tuple[str, ...] = (), action: str | None = None) -> httpx.Response:
        """Submit a form of the page (the first, or the first whose action ends with
        ``action``) with the given field values, button and checkboxes; hidden fields (CSRF
        tokens, session ids) as the page gave them (``scenarios.flow.form_request``)."""
        return self.send(form_request(page, values, button, checked, action))

    def digid_login(self, page: httpx.Response, bsn: str) -> httpx.Response:
        """DigiD's login page answered: continue the live session or type the BSN
        (``scenarios.flow.digid_submission``); returns DigiD's 303 back to the relying
        party."""
        submission = digid_submission(page, bsn)
        return page if submission is None else self.send(submission)
