"""The DVA's OAuth endpoints against the outside review's findings (F2, F4, F6, F7, F8, F9),
in process: the ``dva`` fixture of ``test_dva_role`` (a fake source system, a ManualClock), with
the app built again where a test needs another part injected (a grant store on the ManualClock,
a misbehaving DigiD). Each test names the rule it guards; removing that rule alone makes it
fail.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from starlette.responses import JSONResponse, PlainTextResponse

from simulators.common.clock import ManualClock
from simulators.dva.app import create_app
from simulators.dva.grants import ACCESS_SECONDS, GrantError, GrantStore
from simulators.dva.token import MAX_TOKEN_BODY
from simulators.medmij import CONSENT_LAPSE_SECONDS, OAuthError, build_scope
from tests.simulators.dva.test_dva_role import BSN, CLIENT, NODE, PROVIDER, SLUG, START, Dva

pytestmark = pytest.mark.anyio
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
REDIRECT = "http://127.0.0.1/oauth/callback"


def rebuilt(dva: Dva, *, http: httpx.AsyncClient | None = None,
            grants: GrantStore | None = None):
    """The DVA of ``dva`` built again with other injected parts (its lists set by hand)."""
    app = create_app(dva.config, NODE, http=http or dva.http, source=dva.source,
                     grants=grants or dva.grants, clock=dva.clock)
    lists = app.state.dva.lists.lists
    lists.ocl = {CLIENT: "PGO Alpha"}
    lists.whitelist = frozenset({CLIENT})
    return app


def browser(dva: Dva, app=None) -> httpx.AsyncClient:
    """A person's browser (it keeps the DVA's cookies)."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app or dva.app),
                             base_url=dva.base)


def authorize_query(dva: Dva, **changed: str) -> list[tuple[str, str]]:
    params = {"response_type": "code", "client_id": CLIENT, "redirect_uri": dva.redirect_uri,
              "scope": SLUG, "state": "st"} | changed
    return list(params.items())


def assert_invalid_request_page(r: httpx.Response, *words: str) -> None:
    """SPEC.md section 3 step 3: invalid_request on a Dutch page for the person, 400, and no
    redirect anywhere (the redirect_uri is not one to trust)."""
    assert r.status_code == 400, (r.status_code, r.headers.get("location"), r.text[:300])
    assert "location" not in r.headers
    assert r.headers["content-type"].startswith("text/html")
    assert "lang='nl'" in r.text and OAuthError.INVALID_REQUEST in r.text
    for word in words:
        assert word in r.text


# F2: a redirect_uri whose port is no port --------------------------------------------------

@pytest.mark.parametrize("port", ["99999", "abc"])
async def test_a_redirect_uri_whose_port_is_no_port_is_the_invalid_request_page(dva, port):
    """Rule (SandboxConfig.is_on_host, commit 04231da): a port out of range or not a number
    is a redirect_uri not on the client's host, not a 500."""
    host = urlsplit(dva.redirect_uri).hostname
    async with browser(dva) as client:
        r = await client.get("/oauth/authorize", params=authorize_query(
            dva, redirect_uri=f"http://{host}:{port}/cb"))
    assert_invalid_request_page(r, "redirect_uri")


# F6: what a redirect_uri and the authorize request may not carry ----------------------------

async def test_a_redirect_uri_with_a_fragment_is_refused_before_any_redirect(dva):
    """Rule: RFC 6749 section 3.1.2, the redirection endpoint URI must not include a
    fragment (the code would land behind it: ``callback#frag?code=…``)."""
    async with browser(dva) as client:
        r = await client.get("/oauth/authorize", params=authorize_query(
            dva, redirect_uri=dva.redirect_uri + "#frag"))
    assert_invalid_request_page(r, "fragment")


@pytest.mark.parametrize("query", ["code=attacker", "state=x", "error=access_denied",
                                   "error_description=x"])
async def test_a_redirect_uri_carrying_response_parameters_is_refused(dva, query):
    """Rule: the redirect_uri must not already carry the authorization response's parameters:
    the client would get two codes or two states."""
    async with browser(dva) as client:
        r = await client.get("/oauth/authorize", params=authorize_query(
            dva, redirect_uri=f"{dva.redirect_uri}?tab=1&{query}"))
    assert_invalid_request_page(r, query.split("=")[0])


async def test_a_redirect_uri_with_its_own_query_still_gets_the_code_after_it(dva):
    """Not over-refused: a query of the client's own (RFC 6749 section 3.1.2 allows one) is
    kept, and the code comes after it."""
    redirect_uri = dva.redirect_uri + "?tab=1"
    async with browser(dva) as client:
        r = await client.get("/oauth/authorize",
                             params=authorize_query(dva, redirect_uri=redirect_uri))
    assert r.status_code == 302 and r.headers["location"].startswith(dva.dva.digid_base)
    session = dva.grants.session(parse_qs(urlsplit(r.headers["location"]).query)
                                 ["RelayState"][0])
    dva.grants.identify(session["id"], 7)
    target = dva.dva.answer_consent(dva.grants.session(session["id"]), True, False)
    assert target.startswith(redirect_uri + "&code=")
    assert parse_qs(urlsplit(target).query).keys() == {"tab", "code", "state"}


@pytest.mark.parametrize("redirect_uri", [
    lambda ru: ru.replace("//", "//\t", 1),  # urlsplit drops it, the redirect would not
    lambda ru: ru + "\x00",
    lambda ru: ru + "\r\nSet-Cookie: a=b",
    lambda ru: " " + ru,  # a leading space: a Location relative to the DVA itself
    lambda ru: ru + "\x85",
], ids=["tab", "nul", "crlf", "leading-space", "c1"])
async def test_a_redirect_uri_with_control_characters_is_refused(dva, redirect_uri):
    """Rule: a redirect_uri with a control character or a space is refused: the URI checked
    against the client's host must be the one redirected to, byte for byte."""
    async with browser(dva) as client:
        r = await client.get("/oauth/authorize", params=authorize_query(
            dva, redirect_uri=redirect_uri(dva.redirect_uri)))
    assert_invalid_request_page(r, "control character")


@pytest.mark.parametrize("name", ["redirect_uri", "state", "scope"])
async def test_an_authorize_parameter_given_twice_is_refused_before_any_redirect(dva, name):
    """Rule: RFC 6749 section 3.1, parameters must not be included more than once (the token
    endpoint's rule, the same helper): not one of the two values silently chosen."""
    second = {"redirect_uri": "http://evil.example/cb", "state": "other", "scope": SLUG}[name]
    query = authorize_query(dva) + [(name, second)]
    async with browser(dva) as client:
        r = await client.get("/oauth/authorize?" + urlencode(query))
    assert_invalid_request_page(r, f"{name} given more than once")


# F7: DigiD's artifact answer is not what DigiD answers ----------------------------------------

async def misbehaving_digid(scope, receive, send) -> None:
    """Stands in for an external DigiD that answers its artifact resolution with something
    the real one (``simulators.digid``) never sends: our DigiD app cannot be made to. The
    artifact picks the answer."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    artifact = parse_qs(body.decode())["artifact"][0]
    response = {
        "not-json": PlainTextResponse("not json"),
        "json-list": JSONResponse([1, 2]),
        "bsn-not-a-string": JSONResponse({"bsn": [BSN]}),
        "not-utf8": PlainTextResponse(b"\xff\xfe{"),
    }[artifact]
    await response(scope, receive, send)


@pytest.mark.parametrize("artifact", ["not-json", "json-list", "bsn-not-a-string", "not-utf8"])
async def test_a_digid_answer_that_is_no_json_object_is_a_failed_login(dva, artifact):
    """Rule: an artifact resolution answer that is not a JSON object with a string BSN is a
    failed login (unauthorized_client at the client's redirect_uri, with its state), not a
    500."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=misbehaving_digid)) as http:
        app = rebuilt(dva, http=http)
        async with browser(dva, app) as client:
            start = await client.get("/oauth/authorize", params=authorize_query(dva))
            relay_state = parse_qs(urlsplit(start.headers["location"]).query)["RelayState"][0]
            r = await client.get("/digid/acs",
                                 params={"SAMLart": artifact, "RelayState": relay_state})
    assert r.status_code == 302, (r.status_code, r.text[:300])
    target = r.headers["location"]
    assert target.startswith(dva.redirect_uri + "?")
    query = parse_qs(urlsplit(target).query)
    assert query["error"] == [OAuthError.UNAUTHORIZED_CLIENT] and query["state"] == ["st"]


# F8: a refresh token's own expiry ------------------------------------------------------------

def long_lived_tokens(grants: GrantStore, redirect_uri: str) -> dict:
    """A long-lived consent's first token pair, through the store's own code exchange."""
    session_id = grants.start_session(CLIENT, redirect_uri, build_scope(SLUG, "48"), "st",
                                      PROVIDER, ["48"], None, "browser", "csrf")
    grants.identify(session_id, 7)
    code = grants.issue_code(grants.session(session_id), True)
    return grants.exchange_code(code, CLIENT, redirect_uri)


def expired_refresh_token_of_a_live_consent(grants: GrantStore, clock, redirect_uri: str) -> str:
    """A refresh token past its 6 months while the consent is alive: rotated at T, collected
    with just after, presented at T + 6 months + 500 s (the grant last used at T + 3700)."""
    first = long_lived_tokens(grants, redirect_uri)
    clock.advance(3600 + 1)
    rotated = grants.refresh(first["refresh_token"], CLIENT)
    clock.advance(ACCESS_SECONDS - 100)
    assert grants.access(rotated["access_token"]) is not None  # collecting: last_used moves
    clock.advance(CONSENT_LAPSE_SECONDS - (ACCESS_SECONDS - 100) + 500)
    return rotated["refresh_token"]


def test_a_refresh_token_is_refused_after_its_own_expiry(tmp_path):
    """Rule: a refresh token is valid 6 months from its issue (SPEC.md section 3 step 7),
    even while the consent itself has not lapsed: invalid_grant, by the store's clock."""
    clock = ManualClock(START)
    grants = GrantStore(tmp_path / "clocked.sqlite", clock)
    try:
        token = expired_refresh_token_of_a_live_consent(grants, clock, REDIRECT)
        with pytest.raises(GrantError) as refused:
            grants.refresh(token, CLIENT)
    finally:
        grants.db.close()
    assert refused.value.error == OAuthError.INVALID_GRANT
    assert "expired" in refused.value.description


async def test_an_expired_refresh_token_is_invalid_grant_at_the_token_endpoint(tmp_path, dva):
    """The same rule over HTTP: 400 invalid_grant JSON, not cached."""
    grants = GrantStore(tmp_path / "clocked.sqlite", dva.clock)
    try:
        token = expired_refresh_token_of_a_live_consent(grants, dva.clock, dva.redirect_uri)
        async with browser(dva, rebuilt(dva, grants=grants)) as client:
            r = await client.post("/oauth/token", data={
                "grant_type": "refresh_token", "refresh_token": token, "client_id": CLIENT})
    finally:
        grants.db.close()
    assert r.status_code == 400, r.text
    assert r.json()["error"] == OAuthError.INVALID_GRANT
    assert r.headers["cache-control"] == "no-store"


def test_a_refresh_token_within_its_six_months_still_rotates(tmp_path):
    """Not over-refused: the same token a second before its expiry rotates."""
    clock = ManualClock(START)
    grants = GrantStore(tmp_path / "clocked.sqlite", clock)
    try:
        first = long_lived_tokens(grants, REDIRECT)
        clock.advance(CONSENT_LAPSE_SECONDS - 1)
        assert "refresh_token" in grants.refresh(first["refresh_token"], CLIENT)
    finally:
        grants.db.close()


# F4: the token endpoint never holds a huge body ---------------------------------------------

class CountedBody:
    """A streamed request body of ``chunks`` chunks of 64 KiB; ``sent`` counts those the
    server asked for."""

    def __init__(self, chunks: int) -> None:
        self.chunks, self.sent = chunks, 0

    async def __aiter__(self):
        for _ in range(self.chunks):
            self.sent += 1
            yield b"a" * 65536


@pytest.mark.parametrize("path", ["/oauth/token", "/oauth/revoke"])
async def test_a_chunked_body_over_the_cap_is_refused_without_reading_it(dva, path):
    """Rule: the body is read as a stream and refused once it passes MAX_TOKEN_BODY (a
    200 MB chunked POST raised the DVA's memory by 200 MB): invalid_request, the rest unread."""
    body = CountedBody(200)  # 12.5 MiB
    async with dva.client() as client:
        r = await client.post(path, content=body, headers=FORM)
    assert r.status_code == 400 and r.json()["error"] == OAuthError.INVALID_REQUEST, r.text
    assert str(MAX_TOKEN_BODY) in r.json()["error_description"]
    assert body.sent * 65536 <= MAX_TOKEN_BODY + 65536


async def test_a_declared_content_length_over_the_cap_is_refused_before_reading(dva):
    """Rule: a Content-Length over MAX_TOKEN_BODY is refused before a byte is read."""
    body = CountedBody(1)
    async with dva.client() as client:
        r = await client.post("/oauth/token", content=body,
                              headers=FORM | {"Content-Length": str(10**9)})
    assert r.status_code == 400 and r.json()["error"] == OAuthError.INVALID_REQUEST, r.text
    assert body.sent == 0


# F9 (part): revocation reads its form as the token endpoint does ----------------------------

async def test_a_revoke_with_token_given_twice_is_invalid_request(dva):
    """Rule: RFC 6749 section 3.2 at the revocation endpoint too (RFC 7009 section 2.1):
    ``token`` twice is invalid_request, as at /oauth/token, not one of them revoked."""
    tokens = long_lived_tokens(dva.grants, dva.redirect_uri)
    content = urlencode([("token", tokens["refresh_token"]), ("token", "other"),
                         ("client_id", CLIENT)])
    async with dva.client() as client:
        r = await client.post("/oauth/revoke", content=content, headers=FORM)
    assert r.status_code == 400, r.text
    assert r.json()["error"] == OAuthError.INVALID_REQUEST
    assert "token given more than once" in r.json()["error_description"]
    assert r.headers["cache-control"] == "no-store"
    assert dva.grants.access(tokens["access_token"]) is not None  # nothing was revoked


async def test_a_revoke_still_revokes_and_needs_its_client_id(dva):
    """Not broken by the new form reading: one token revokes its consent; no client_id is
    invalid_request (as FastAPI's Form() made it before)."""
    tokens = long_lived_tokens(dva.grants, dva.redirect_uri)
    async with dva.client() as client:
        missing = await client.post("/oauth/revoke", data={"token": tokens["refresh_token"]})
        done = await client.post("/oauth/revoke", data={"token": tokens["refresh_token"],
                                                        "client_id": CLIENT})
    assert missing.status_code == 400 and missing.json()["error"] == OAuthError.INVALID_REQUEST
    assert done.status_code == 200 and done.json() == {}
    assert dva.grants.access(tokens["access_token"]) is None
