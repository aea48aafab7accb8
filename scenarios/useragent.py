"""A scripted browser: follows the real redirects and submits the real forms of the flow.

It holds cookies like a browser, resolves MedMij hostnames through the runtime's address map,
and sends X-Correlation-ID on every request so each hop's log can be tied to the flow. Where it
logged in to a PGO's API it sends that session's CSRF token (``X-CSRF-Token``) on every POST
and DELETE to that origin, as the PGO's own page script would.
"""

from __future__ import annotations

import uuid
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx

from simulators.common.http import sync_client


class Form:
    def __init__(self, action: str, method: str) -> None:
        self.action = action
        self.method = method.lower() or "get"
        self.fields: dict[str, str] = {}
        self.buttons: list[tuple[str, str]] = []
        self.checkboxes: list[str] = []


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(Form(a.get("action", ""), a.get("method", "get")))
        elif self.forms and tag == "input" and a.get("name"):
            if a.get("type") == "checkbox":
                self.forms[-1].checkboxes.append(a["name"])
            elif a.get("type") in ("submit",):
                self.forms[-1].buttons.append((a["name"], a.get("value", "")))
            else:
                self.forms[-1].fields[a["name"]] = a.get("value", "")
        elif self.forms and tag == "button" and a.get("name"):
            self.forms[-1].buttons.append((a["name"], a.get("value", "")))


def forms(html: str) -> list[Form]:
    parser = _FormParser()
    parser.feed(html)
    return parser.forms


class FlowError(Exception):
    """The flow did not go as a real person's browser would expect."""


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


class Browser:
    def __init__(self, addresses: dict[str, str], correlation_id: str | None = None) -> None:
        self.correlation_id = correlation_id or str(uuid.uuid4())
        self.client: httpx.Client = sync_client(addresses, timeout=60.0)
        self.client.headers["X-Correlation-ID"] = self.correlation_id
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
        location = response.headers.get("location")
        if not location:
            raise FlowError(f"{response.status_code} without Location from {response.url}")
        return urljoin(str(response.url), location)

    def submit(self, page: httpx.Response, values: dict[str, str] | None = None,
               button: tuple[str, str] | None = None,
               checked: tuple[str, ...] = (), action: str | None = None) -> httpx.Response:
        """Submit a form of the page (the first, or the first whose action ends with
        ``action``) with the given field values, button and checkboxes. Hidden fields (CSRF
        tokens, session ids) are sent as the page gave them, as a browser does."""
        found = [f for f in forms(page.text) if action is None or f.action.endswith(action)]
        if not found:
            raise FlowError(f"no form{f' to {action}' if action else ''} on {page.url} "
                            f"({page.status_code})")
        form = found[0]
        data = dict(form.fields)
        data.update(values or {})
        for name in checked:
            if name not in form.checkboxes:
                raise FlowError(f"no checkbox {name!r} on {page.url}")
            data[name] = "on"
        if button is not None:
            if button not in form.buttons:
                raise FlowError(f"no button {button} on {page.url}")
            data[button[0]] = button[1]
        action = urljoin(str(page.url), form.action)
        if form.method == "post":
            return self.request("POST", action, data=data)
        return self.get(action, params=data)

    def digid_login(self, page: httpx.Response, bsn: str):
        """DigiD's login page: with a live DigiD session for this BSN it shows who is logged in
        and a form to continue (single sign-on); otherwise the BSN form. Returns DigiD's answer
        (a 303 back to the relying party). A DigiD that passes through silently (303) is
        accepted as well."""
        if page.status_code == 303:
            return page
        if page.status_code != 200:
            raise FlowError(f"DigiD login page answered {page.status_code}")
        continues = [f for f in forms(page.text) if f.action.endswith("/login/continue")]
        if continues and f"BSN {bsn}" in page.text:
            return self.submit(page, button=("continue", "yes"), action="/login/continue")
        return self.submit(page, {"bsn": bsn}, action="/login")
