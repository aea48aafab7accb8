"""The DVP's person-facing pages in process (issue 15 items 4 and 5): data grouped in plain
words with the provider's display name, consents with "Intrekken", export and import as
buttons, curator mode and erasure, Dutch pages for every error a browser meets.

Each test names the rule it guards; removing that rule alone makes it fail.
"""

from __future__ import annotations

import asyncio
import re
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.simulators.dvp.test_dvp_role import HTML, JSON, PROVIDER, FakeDva, Pgo

CONDITION = {"resourceType": "Condition", "id": "c1", "clinicalStatus": "active",
             "code": {"coding": [{"display": "Hypertensie"}], "text": "Hypertensie"},
             "onsetDateTime": "2017-05-04"}
MEDICATION = {"resourceType": "MedicationRequest", "id": "m1",
              "medicationReference": {"reference": "Medication/x",
                                      "display": "Furosemide 40mg tablet"},
              "authoredOn": "2024-01-02T10:00:00+01:00",
              "dosageInstruction": [{"text": "1 maal per dag 1 tablet"}]}
VACCINE = {"resourceType": "Immunization", "id": "i1", "occurrenceDateTime": "2023-10-28",
           "vaccineCode": {"coding": [{"display": "Influenzavaccin"}]}}
LAB = {"resourceType": "Observation", "id": "o1", "effectiveDateTime": "2024-12-01",
       "code": {"text": "eGFR CKD-EPI"}, "valueQuantity": {"value": 72.0, "unit": "mL/min"}}
VIEWPORT = '<meta name="viewport" content="width=device-width, initial-scale=1">'


class RichDva(FakeDva):
    """Answers every search with real-looking resources and accepts revocations."""

    def __init__(self) -> None:
        super().__init__()
        self.revoked: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/revoke":
            self.revoked.append(request.content.decode())
            return httpx.Response(200)
        if request.url.path == "/oauth/token":
            return super().__call__(request)
        self.searches.append(request)
        entries = [{"resource": r} for r in (CONDITION, MEDICATION, VACCINE, LAB)]
        return httpx.Response(200, json={"resourceType": "Bundle", "type": "searchset",
                                         "entry": entries})


@pytest.fixture
def pgo(tmp_path) -> Pgo:
    pgo = Pgo(tmp_path)
    pgo.dva = RichDva()
    pgo.dvp.client = httpx.AsyncClient(transport=httpx.MockTransport(pgo.dva))
    return pgo


def run(coro):
    return asyncio.run(coro)


async def collected(pgo: Pgo):
    browser, person_id, csrf = await pgo.account()
    state = await pgo.connect(browser, person_id, csrf)
    r = await browser.get(f"/oauth/callback?state={state}&code=c1", headers=JSON)
    assert r.status_code == 200, r.text
    return browser, person_id, csrf


def test_person_page_shows_the_data_grouped_in_plain_words(pgo):
    """Rule: the person's page groups the data (Medicatie, Problemen, Vaccinaties, Uitslagen)
    in the resources' own words, with the provider's display name and "opgehaald op"."""
    async def go():
        browser, person_id, _ = await collected(pgo)
        page = (await browser.get(f"/persons/{person_id}", headers=HTML)).text
        for heading in ("Medicatie", "Problemen", "Vaccinaties", "Uitslagen"):
            assert f">{heading} <small>" in page, heading
        assert "Furosemide 40mg tablet" in page and "1 maal per dag 1 tablet" in page
        assert "Hypertensie" in page and "04-05-2017" in page
        assert "Influenzavaccin" in page and "72 mL/min" in page
        assert "UMC Sandbox" in page and "Opgehaald op" in page
        assert "MedicationRequest" not in page  # no FHIR type names for a person
        assert ">umcsandbox@medmij<" not in page
    run(go())


def test_connect_links_name_the_provider_by_its_display_name(pgo):
    """Rule: connecting shows "UMC Sandbox", the ZAL name stays in the link's query only."""
    async def go():
        browser, person_id, _ = await pgo.account()
        page = (await browser.get(f"/persons/{person_id}", headers=HTML)).text
        assert re.search(r'<a href="/persons/[^"]+/connect\?provider=umcsandbox%40medmij">'
                         r'UMC Sandbox</a>', page), page
        ask = (await browser.get(f"/persons/{person_id}/connect?provider={PROVIDER}",
                                 headers=HTML)).text
        assert "<strong>UMC Sandbox</strong>" in ask
    run(go())


def test_consent_overview_revokes_with_the_csrf_token(pgo):
    """Rule: "Intrekken" is a form posting the session's CSRF token; it revokes at the DVA
    (RFC 7009) and the overview then says "Ingetrokken"; without the token it is refused."""
    async def go():
        browser, person_id, csrf = await collected(pgo)
        page = (await browser.get(f"/persons/{person_id}", headers=HTML)).text
        form = re.search(r'<form method="post" action="([^"]+/revoke)">\s*<input type="hidden"'
                         r' name="csrf_token" value="([^"]+)">', page)
        assert form and form.group(2) == csrf and "Intrekken</button>" in page
        refused = await browser.post(form.group(1), data={}, headers=HTML)
        assert refused.status_code == 403 and not pgo.dva.revoked
        assert "text/html" in refused.headers["content-type"]
        r = await browser.post(form.group(1), data={"csrf_token": csrf}, headers=HTML)
        assert r.status_code == 303 and pgo.dva.revoked
        page = (await browser.get(f"/persons/{person_id}", headers=HTML)).text
        assert "Ingetrokken op" in page and "Intrekken</button>" not in page
    run(go())


def test_export_is_a_download_and_import_an_upload_form(pgo):
    """Rule: the page offers "Portabiliteitsrapport downloaden" (an XML attachment) and an
    upload form; an uploaded report is read in and the page names the providers to connect."""
    async def go():
        browser, person_id, csrf = await collected(pgo)
        page = (await browser.get(f"/persons/{person_id}", headers=HTML)).text
        assert "Portabiliteitsrapport downloaden</button>" in page
        assert 'enctype="multipart/form-data"' in page and '<label for="rapport">' in page
        report = await browser.get(f"/persons/{person_id}/portability", headers=HTML)
        assert report.status_code == 200
        assert "attachment" in report.headers["content-disposition"]
        assert report.content.startswith(b"<?xml") or b"<" in report.content[:5]
        other = Pgo.__new__(Pgo)  # a second account at the same PGO imports the report
        other.__dict__.update(pgo.__dict__)
        browser2, person2, csrf2 = await other.account()
        r = await browser2.post(f"/persons/{person2}/portability/import", headers=HTML,
                                data={"csrf_token": csrf2},
                                files={"report": ("rapport.xml", report.content,
                                                  "application/xml")})
        assert r.status_code == 200, r.text
        assert "Uw portabiliteitsrapport is ingelezen" in r.text and "UMC Sandbox" in r.text
        bad = await browser2.post(f"/persons/{person2}/portability/import", headers=HTML,
                                  data={"csrf_token": csrf2},
                                  files={"report": ("x.xml", b"nonsense", "application/xml")})
        assert bad.status_code == 400 and "geen portabiliteitsrapport" in bad.text
    run(go())


def test_curator_mode_disables_connecting_and_explains(pgo):
    """Rule: in curator mode the person page shows the notice, what the person can still do,
    no connect links (disabled buttons) and no import; the home page offers no new account
    and creating one (form or API) is refused."""
    async def go():
        browser, person_id, _ = await collected(pgo)
        pgo.dvp.curator.active, pgo.dvp.curator.notice = True, "Failliet verklaard."
        page = (await browser.get(f"/persons/{person_id}", headers=HTML)).text
        assert "Failliet verklaard." in page and "Wat u nog kunt doen" in page
        assert "/connect?provider=" not in page and "disabled>UMC Sandbox" in page
        assert "Portabiliteitsrapport downloaden" in page and "Rapport inlezen" not in page
        home = (await browser.get("/", headers=HTML)).text
        assert "Account aanmaken" not in home
        r = await browser.post("/api/persons", json={"name": "Nieuw", "password": "x" * 12})
        assert r.status_code == 403 and r.json()["error"] == "curator"
    run(go())


def test_after_erasure_only_the_notice_is_left(pgo):
    """Rule: once erased, the home page has no login and no account forms: only the notice."""
    async def go():
        pgo.dvp.curator.active, pgo.dvp.curator.erased = True, True
        pgo.dvp.curator.notice = "Failliet verklaard."
        browser = httpx.AsyncClient(transport=httpx.ASGITransport(pgo.app), base_url=pgo.base)
        home = (await browser.get("/", headers=HTML)).text
        assert "Failliet verklaard." in home and "alle persoonsgegevens" in home
        assert "<form" not in home
    run(go())


def test_every_page_has_viewport_landmarks_and_labels(pgo):
    """Rule: pages have the viewport meta, header/main landmarks, a label for every visible
    input and ``<th scope>`` in their tables."""
    async def go():
        browser, person_id, _ = await collected(pgo)
        for path in ("/", f"/persons/{person_id}",
                     f"/persons/{person_id}/connect?provider={PROVIDER}"):
            page = (await browser.get(path, headers=HTML)).text
            assert VIEWPORT in page and "<main" in page and "<header>" in page, path
            assert "<th>" not in page, path  # every header cell has a scope
            for match in re.finditer(r"<input ([^>]*)>", page):
                attrs = match.group(1)
                if "type=\"hidden\"" in attrs:
                    continue
                found = re.search(r'id="([^"]+)"', attrs)
                assert found and f'<label for="{found.group(1)}">' in page, (path, attrs)
    run(go())


def test_browser_errors_are_dutch_pages_api_errors_json(pgo):
    """Rule: an unknown page, a form without its fields, and someone else's account are
    Dutch HTML pages with a way back for a browser; an API client still gets JSON."""
    async def go():
        browser, person_id, csrf = await pgo.account()
        for r in (await browser.get("/bestaat-niet", headers=HTML),
                  await browser.post(f"/persons/{person_id}/connect",
                                     data={"csrf_token": csrf}, headers=HTML),
                  await browser.get("/persons/someone-else", headers=HTML)):
            assert r.headers["content-type"].startswith("text/html"), r.text
            assert "<a href='/'>" in r.text and VIEWPORT in r.text
            assert not r.text.lstrip().startswith("{")
        assert (await browser.get("/bestaat-niet", headers=JSON)).json() == {
            "detail": "Not Found"}
        r = await browser.post(f"/persons/{person_id}/connect", data={"csrf_token": csrf},
                               headers=JSON)
        assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    run(go())


def test_callback_in_a_browser_lands_on_the_grouped_page(pgo):
    """Rule: a browser's callback is sent to the person's page (no JSON summary)."""
    async def go():
        browser, person_id, csrf = await pgo.account()
        state = await pgo.connect(browser, person_id, csrf)
        r = await browser.get(f"/oauth/callback?state={state}&code=c1", headers=HTML)
        assert r.status_code == 303 and r.headers["location"] == f"/persons/{person_id}"
        assert parse_qs(urlsplit(r.headers["location"]).query) == {}
    run(go())
