"""The chapters of story mode (issue 15 item 3), built from the scenarios' own pieces.

Each step calls what the scenarios call (``scenarios.flow`` journeys, ``collect.collect``,
``share.share``, ``portability.migrate``, ``inspection.sso_continue``, ``sandbox.vendor``,
the clock's ``set_offset``), so the story shows exactly what the tested scenarios do; only the
cut into narrated steps is the story's own. What a chapter changes in the sandbox (the clock,
a bankrupt vendor) it puts back in ``Runner.finish`` (``StoryContext.cleanups``).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from sandbox import vendor
from sandbox.clock_cli import read_offset, set_offset
from scenarios import collect as collect_scenario
from scenarios.accounts import create_account, login
from scenarios.flow import AUTHORIZE, COLLECT, CONSENT, DATA, DIGID, FlowError, pgo_collect
from scenarios.inspection import sso_continue
from scenarios.persons import find_persons
from scenarios.portability import migrate
from scenarios.report import ScenarioReport, StepFailed
from scenarios.share import DOCUMENTS, SELF_MEASUREMENTS, _shared_by, share
from scenarios.story.engine import Chapter, FlowSteps, Step, StoryContext, text
from simulators.medmij import OAuthError

DAY = 86400.0


# --- pieces every chapter uses ----------------------------------------------------------------

def _hospital(ctx: StoryContext) -> str:
    return next(p.name for p in ctx.running.topology.providers if p.kind == "hospital")


def _display(ctx: StoryContext, provider: str) -> str:
    return next(p.display for p in ctx.running.topology.providers if p.name == provider)


def pick_person(provider_of=_hospital, start: int = 0):
    """A test person with data at the chapter's provider, as DigiD's test list has them."""
    def action(ctx: StoryContext) -> str:
        provider = provider_of(ctx)
        person = find_persons(ctx.browser, ctx.running, provider, start=start)[0]
        ctx.facts.update(bsn=person["bsn"], name=person["name"], provider=provider)
        return f"{person['name']} (BSN {person['bsn']}), {_display(ctx, provider)}"
    return action


def open_account(dvp_of=lambda ctx: ctx.running.topology.dvps[0].id):
    """The person makes an account with a password at a PGO and sees their empty page."""
    def action(ctx: StoryContext) -> str:
        dvp = dvp_of(ctx)
        account = create_account(ctx.browser, ctx.running.public_url(dvp), ctx.facts["name"])
        ctx.facts.update(dvp=dvp, account=account)
        ctx.look(account.url(f"/persons/{account.person_id}"))
        return f"account {account.person_id} at {dvp}"
    return action


def person_page(ctx: StoryContext) -> None:
    account = ctx.facts["account"]
    ctx.look(account.url(f"/persons/{account.person_id}"))


def collect_once(long_lived: bool = False):
    """Connect, DigiD, consent, token and searches in one step (chapters about what comes
    after a collect); the person then looks at their page."""
    def action(ctx: StoryContext) -> str:
        sub = ScenarioReport("collect")
        try:
            summary = collect_scenario.collect(
                ctx.running, ctx.browser, sub, ctx.facts["dvp"], ctx.facts["provider"],
                ctx.facts["bsn"], long_lived=long_lived, account=ctx.facts.get("account"))
        except StepFailed as exc:
            raise FlowError(next(s.detail for s in sub.steps if not s.ok)) from exc
        ctx.facts["account"] = summary["account"]
        person_page(ctx)
        return (f"{summary['requests']} requests, {summary['resources_held']} resources"
                + (", refresh token held" if summary.get("long_lived") else ""))
    return action


def _refresh(ctx: StoryContext):
    account, provider = ctx.facts["account"], ctx.facts["provider"]
    return ctx.browser.request("POST", account.url(
        f"/api/persons/{account.person_id}/grants/{provider}/refresh"))


def refresh_refused(why: str):
    def action(ctx: StoryContext) -> str:
        r = _refresh(ctx)
        body = r.json()
        if r.status_code != 409 or body.get("error") != OAuthError.INVALID_GRANT:
            raise FlowError(f"expected invalid_grant after {why}, got {r.status_code} {body}")
        return f"{r.status_code} {body['error']}: {body['error_description']}"
    return action


# --- collect ----------------------------------------------------------------------------------

def _flow_step(name: str, look: bool = False):
    """One step of the PGO collect journey (``scenarios.flow.pgo_collect``)."""
    def action(ctx: StoryContext) -> str:
        if "flow" not in ctx.facts:
            ctx.facts["flow"] = FlowSteps(pgo_collect(
                ctx.facts["account"], ctx.facts["provider"], ctx.facts["bsn"]))
        detail = ctx.facts["flow"].run(ctx.browser.send, name)
        if look:
            person_page(ctx)
        return detail
    return action


COLLECT = Chapter("collect", text("Gegevens ophalen", "Collecting health data"), text(
    "Een burger haalt haar medische gegevens bij het ziekenhuis op in haar PGO.",
    "A citizen collects her medical data from the hospital into her PGO."), (
    Step("person", text("Een testpersoon", "A test person"), text(
        "We kiezen een verzonnen persoon van wie het ziekenhuis gegevens heeft.",
        "We pick a made-up person the hospital holds data about."), pick_person()),
    Step("account", text("Account bij de PGO", "An account at the PGO"), text(
        "Zij maakt een account met een wachtwoord bij haar PGO (een DVP). Nog leeg.",
        "She creates an account with a password at her PGO (a DVP). Still empty."),
        open_account()),
    Step("authorize", text("Zorgaanbieder kiezen", "Choosing the provider"), text(
        "Zij kiest het ziekenhuis op naam. De PGO vraagt de ZAL uit de MedMij-lijsten en "
        "stuurt haar browser naar de autorisatieserver (DVA) van het ziekenhuis.",
        "She picks the hospital by name. The PGO looks it up in the ZAL of the MedMij lists "
        "and sends her browser to the hospital's authorization server (DVA)."),
        _flow_step(AUTHORIZE)),
    Step("digid", text("Inloggen met DigiD", "Logging in with DigiD"), text(
        "De DVA controleert de PGO op de OCL en laat haar inloggen met DigiD.",
        "The DVA checks the PGO on the OCL and has her log in with DigiD."), _flow_step(DIGID)),
    Step("consent", text("Toestemming", "Consent"), text(
        "De DVA kijkt of er gegevens zijn en vraagt haar toestemming om ze aan deze PGO te "
        "geven. Zij geeft toestemming.",
        "The DVA checks there is data and asks her consent to hand it to this PGO. "
        "She consents."), _flow_step(CONSENT)),
    Step("token", text("Token en zoekvragen", "Token and searches"), text(
        "Terug bij de PGO wisselt die de code in voor een token en stelt de FHIR-zoekvragen "
        "van de gegevensdienst aan de DVA.",
        "Back at the PGO, it exchanges the code for a token and sends the gegevensdienst's "
        "FHIR searches to the DVA."), _flow_step(COLLECT)),
    Step("data", text("Gegevens in de PGO", "The data in the PGO"), text(
        "Zij ziet haar medicatie, problemen en uitslagen in gewone woorden, met 'opgehaald "
        "op'.", "She sees her medication, problems and results in plain words, with the "
        "date they were collected."), _flow_step(DATA, look=True)),
))


# --- consent and revoke -----------------------------------------------------------------------

def _revoke(ctx: StoryContext) -> str:
    """The person presses "Intrekken" on their PGO page (its form, with its CSRF token)."""
    account = ctx.facts["account"]
    page = ctx.browser.get(account.url(f"/persons/{account.person_id}"))
    r = ctx.browser.follow(ctx.browser.submit(page, action="/revoke"))
    if r.status_code != 200 or "Ingetrokken" not in r.text:
        raise FlowError(f"revoke answered {r.status_code}")
    return "revoked at the PGO and at the DVA (RFC 7009)"


CONSENT_REVOKE = Chapter("consent-revoke", text("Toestemming en intrekken",
                                                "Consent and revoking it"), text(
    "Toestemming geeft de burger per zorgaanbieder, en zij kan haar altijd intrekken.",
    "The citizen consents per provider, and can always revoke it."), (
    Step("person", text("Een testpersoon", "A test person"), text(
        "Een verzonnen patiënt van het ziekenhuis.", "A made-up patient of the hospital."),
        pick_person(start=300)),
    Step("account", text("Account bij de PGO", "An account at the PGO"), text(
        "Zij maakt een account bij haar PGO.", "She creates an account at her PGO."),
        open_account()),
    Step("consent", text("Toestemming voor langere tijd", "Long-lived consent"), text(
        "Zij haalt gegevens op en vinkt aan dat de PGO ze later zonder haar mag bijwerken. "
        "Haar PGO toont de toestemming met een knop 'Intrekken'.",
        "She collects and ticks that the PGO may update them later without her. Her PGO "
        "lists the consent with a 'Revoke' button."), collect_once(long_lived=True)),
    Step("revoke", text("Intrekken", "Revoking"), text(
        "Zij trekt de toestemming in. De PGO meldt dat aan de DVA, die het token intrekt.",
        "She revokes the consent. The PGO tells the DVA, which revokes the token."), _revoke),
    Step("refused", text("Geen toegang meer", "No access any more"), text(
        "De PGO probeert bij te werken, maar de DVA weigert: de toestemming is weg.",
        "The PGO tries to update, but the DVA refuses: the consent is gone."),
        refresh_refused("revocation")),
))


# --- long-lived consent and the clock ---------------------------------------------------------

def clock_forward(days: float):
    """Move the sandbox clock (every node reads it); the chapter's end puts it back."""
    def action(ctx: StoryContext) -> str:
        path = ctx.running.state_dir / "clock.json"
        if "clock_start" not in ctx.facts:
            start = ctx.facts["clock_start"] = read_offset(path)
            ctx.cleanups.append(lambda: set_offset(path, start))
        set_offset(path, read_offset(path) + days * DAY)
        return f"sandbox clock offset {read_offset(path) / DAY:+.0f} days"
    return action


def _recollect(ctx: StoryContext) -> str:
    r = _refresh(ctx)
    body = r.json()
    if r.status_code != 200 or body.get("status") != "collected" or not body.get("rotated"):
        raise FlowError(f"re-collect {r.status_code}: {body}")
    person_page(ctx)
    return f"{body['requests']} requests, {body['resources']} resources, refresh token rotated"


LONG_LIVED = Chapter("long-lived-consent", text("Langdurige toestemming en de klok",
                                                "Long-lived consent and the clock"), text(
    "Met langdurige toestemming werkt de PGO gegevens bij zonder de burger, tot zes maanden "
    "na de laatste keer.", "With long-lived consent the PGO updates without the citizen, "
    "until six months after the last time."), (
    Step("person", text("Een testpersoon", "A test person"), text(
        "Een verzonnen patiënt van het ziekenhuis.", "A made-up patient of the hospital."),
        pick_person(start=200)),
    Step("account", text("Account bij de PGO", "An account at the PGO"), text(
        "Zij maakt een account bij haar PGO.", "She creates an account at her PGO."),
        open_account()),
    Step("consent", text("Langdurige toestemming", "Long-lived consent"), text(
        "Zij haalt op en geeft langdurige toestemming: de PGO krijgt een refresh token.",
        "She collects and gives long-lived consent: the PGO gets a refresh token."),
        collect_once(long_lived=True)),
    Step("month", text("Een maand later", "A month later"), text(
        "We zetten de klok van de sandbox 30 dagen vooruit.",
        "We move the sandbox clock 30 days on."), clock_forward(30)),
    Step("update", text("Bijwerken zonder de burger", "Updating without the citizen"), text(
        "De PGO haalt opnieuw op met het refresh token; zij hoeft niets te doen.",
        "The PGO collects again with the refresh token; she does nothing."), _recollect),
    Step("lapse", text("Ruim zes maanden stil", "Over six months of silence"), text(
        "De klok gaat 200 dagen vooruit zonder dat de PGO ophaalt.",
        "The clock moves 200 days on without the PGO collecting."), clock_forward(200)),
    Step("refused", text("Toestemming verlopen", "Consent lapsed"), text(
        "Nu weigert de DVA: de toestemming is vervallen. Zij moet opnieuw toestemming geven.",
        "Now the DVA refuses: the consent has lapsed. She must consent again."),
        refresh_refused("6 months without collecting")),
))


# --- Mijn Gezondheidsoverzicht ----------------------------------------------------------------

def _mgo_login(ctx: StoryContext) -> str:
    browser = ctx.browser
    browser.client.headers["Accept"] = "text/html"  # a person's browser: pages, not JSON
    page = ctx.look(ctx.running.public_url("mgo", "/start"))
    if page.status_code != 200:
        raise FlowError(f"no DigiD page ({page.status_code})")
    ctx.facts["mgo"] = sso_continue(browser, page) or browser.submit(
        page, {"bsn": ctx.facts["bsn"]}, action="/login")
    return f"BSN {ctx.facts['bsn']} at DigiD; only a localisation pseudonym goes on"


def _mgo_providers(ctx: StoryContext) -> str:
    """Follow the function's round trips (DigiD single sign-on and consent at each DVA), as
    ``scenarios.inspection.through_providers`` does, stopping before the overview."""
    browser, r = ctx.browser, ctx.facts["mgo"]
    consents = 0
    for _ in range(50):
        if r.status_code in (301, 302, 303, 307, 308):
            target = browser.location(r)
            if urlsplit(target).path == "/overview":
                ctx.facts["overview"] = target
                return f"{consents} consent screens"
            r = browser.get(target)
            continue
        sso = sso_continue(browser, r)
        if sso is not None:
            r = sso
        elif r.status_code == 200 and "decision" in r.text:
            consents += 1
            r = browser.submit(r, button=("decision", "allow"))
        else:
            raise FlowError(f"unexpected page {r.url} ({r.status_code})")
    raise FlowError("no overview after 50 pages")


def _mgo_overview(ctx: StoryContext) -> str:
    r = ctx.look(ctx.facts["overview"])
    if r.status_code != 200 or "text/html" not in r.headers.get("content-type", ""):
        raise FlowError(f"overview answered {r.status_code}")
    return "one overview from every provider, shown once"


def _mgo_nothing_kept(ctx: StoryContext) -> str:
    r = ctx.browser.client.get(ctx.running.url("mgo", "/admin/state"),
                               headers=ctx.running.admin_headers)
    held = r.json()
    if r.status_code != 200 or held["results_held"] or ctx.facts["bsn"] in r.text:
        raise FlowError(f"the inspection function still holds data: {held}")
    return f"sessions {held['sessions']}, results held {held['results_held']}"


INSPECTION = Chapter("inspection", text("Mijn Gezondheidsoverzicht",
                                        "Mijn Gezondheidsoverzicht (overview)"), text(
    "Zonder PGO: de publieke inzagefunctie toont één overzicht en bewaart niets.",
    "Without a PGO: the public inspection function shows one overview and keeps nothing."), (
    Step("person", text("Een testpersoon", "A test person"), text(
        "Een verzonnen persoon met gegevens bij het ziekenhuis.",
        "A made-up person with data at the hospital."), pick_person(start=400)),
    Step("login", text("Inloggen met DigiD", "Logging in with DigiD"), text(
        "Zij logt in bij Mijn Gezondheidsoverzicht met DigiD.",
        "She logs in at Mijn Gezondheidsoverzicht with DigiD."), _mgo_login),
    Step("providers", text("Zorgaanbieders vinden en toestemming",
                           "Finding providers and consent"), text(
        "De functie vraagt de lokalisatie-index waar zij gegevens heeft, en vraagt per "
        "zorgaanbieder toestemming (DigiD onthoudt dat zij is ingelogd).",
        "The function asks the localisation index where she has data, and asks consent per "
        "provider (DigiD remembers she is logged in)."), _mgo_providers),
    Step("overview", text("Het overzicht", "The overview"), text(
        "Eén leesbaar overzicht van alle zorgaanbieders.",
        "One readable overview from all providers."), _mgo_overview),
    Step("nothing", text("Niets bewaard", "Nothing kept"), text(
        "Daarna bewaart de functie niets: geen gegevens en geen BSN.",
        "Afterwards the function keeps nothing: no data and no BSN."), _mgo_nothing_kept),
))


# --- Delen ------------------------------------------------------------------------------------

def _receiver(ctx: StoryContext) -> str:
    return next(p.name for p in ctx.running.topology.providers
                if SELF_MEASUREMENTS in p.gegevensdiensten)


def share_step(service: str):
    def action(ctx: StoryContext) -> str:
        answer = share(ctx.running, ctx.browser, ctx.facts["account"], ctx.facts["provider"],
                       service, ctx.facts["bsn"])
        if answer.get("status") != "shared":
            raise FlowError(f"share refused: {answer}")
        return ", ".join(answer["locations"])
    return action


def _reader_collects(ctx: StoryContext) -> str:
    """Another PGO collects from the GP and finds what the first one shared (its tag)."""
    sharer = ctx.running.topology.node(ctx.facts["dvp"]).hostname
    reader = next(n.id for n in ctx.running.topology.dvps if n.id != ctx.facts["dvp"])
    ctx.facts.update(dvp=reader, account=None)
    detail = collect_once()(ctx)
    account = ctx.facts["account"]
    items = ctx.browser.get(account.url(f"/api/persons/{account.person_id}/resources")
                            ).json()["items"]
    seen = sorted({i["resource"]["resourceType"] for i in items
                   if _shared_by(i["resource"], sharer)})
    if not {"Observation", "DocumentReference"} <= set(seen):
        raise FlowError(f"shared data not found by {reader}: {seen}")
    return f"{reader}: {detail}; shared {', '.join(seen)} found"


SHARE = Chapter("share", text("Delen", "Sharing (Delen)"), text(
    "De burger stuurt eigen metingen en een document vanuit haar PGO naar haar huisarts.",
    "The citizen sends her own measurements and a document from her PGO to her GP."), (
    Step("person", text("Een testpersoon", "A test person"), text(
        "Een verzonnen patiënt van de huisartspraktijk.", "A made-up patient of the GP."),
        pick_person(_receiver, start=500)),
    Step("account", text("Account bij de PGO", "An account at the PGO"), text(
        "Zij maakt een account bij haar PGO.", "She creates an account at her PGO."),
        open_account()),
    Step("measurements", text("Metingen delen", "Sharing measurements"), text(
        "Zij deelt haar bloeddrukmetingen. De DVA vraagt om de Bevestigingsverklaring.",
        "She shares her blood pressure readings. The DVA asks for the confirmation "
        "(Bevestigingsverklaring)."), share_step(SELF_MEASUREMENTS)),
    Step("document", text("Een document delen", "Sharing a document"), text(
        "Zij deelt ook een PDF met de huisarts.", "She also shares a PDF with the GP."),
        share_step(DOCUMENTS)),
    Step("reader", text("Een andere PGO ziet het", "Another PGO sees it"), text(
        "In een andere PGO haalt zij bij de huisarts op en vindt terug wat zij deelde.",
        "In another PGO she collects from the GP and finds what she shared."),
        _reader_collects),
))


# --- a vendor goes bankrupt and the patient moves ---------------------------------------------

def _vendor(ctx: StoryContext) -> str:
    return ctx.running.topology.dvps[-1].id


def _bankrupt(ctx: StoryContext) -> str:
    dvp = ctx.facts["dvp"]
    outcome = vendor.bankrupt(ctx.running, dvp)
    ctx.cleanups.append(lambda: vendor.readmit(ctx.running, dvp))
    return (f"curator mode at {dvp}; off the OCL and Whitelist (Volgnummer "
            f"{outcome['ocl_volgnummer_before']} → {outcome['ocl_volgnummer_after']})")


def _cut_off(ctx: StoryContext) -> str:
    seconds = vendor.wait_cut_off(ctx.running, ctx.facts["dvp"])
    return ", ".join(f"{dva} after {t:.1f} s" for dva, t in sorted(seconds.items()))


def _curator_notice(ctx: StoryContext) -> str:
    account = ctx.facts["account"]
    login(ctx.browser, account)
    page = ctx.browser.get(account.url(f"/persons/{account.person_id}/connect"),
                           params={"provider": ctx.facts["provider"]})
    if page.status_code != 403:
        raise FlowError(f"connect at the bankrupt vendor answered {page.status_code}")
    person_page(ctx)
    return "connecting refused (403) with the curator's notice; export still open"


def _move(ctx: StoryContext) -> str:
    new_dvp = ctx.running.topology.dvps[0].id
    sub = ScenarioReport("migration")
    try:
        moved = migrate(ctx.running, ctx.browser, sub, ctx.facts["dvp"], ctx.facts["account"],
                        new_dvp, ctx.facts["bsn"])
    except StepFailed as exc:
        raise FlowError(next(s.detail for s in sub.steps if not s.ok)) from exc
    new = moved["new_account"]
    ctx.look(new.url(f"/persons/{new.person_id}"))
    return (f"to {new_dvp}: {moved['actions']} actions replayed, "
            f"{moved['resources_compared']} resources equal")


def _settle(ctx: StoryContext) -> str:
    erased = vendor.settle(ctx.running, ctx.facts["dvp"])
    left = {t: n for t, n in erased["rows_after"].items() if n}
    if left:
        raise FlowError(f"personal data left: {left}")
    ctx.look(ctx.running.public_url(ctx.facts["dvp"], "/"))
    return f"{sum(erased['rows_before'].values())} rows erased, none left"


BANKRUPTCY = Chapter("bankruptcy", text("Een leverancier gaat failliet en de patiënt verhuist",
                                        "A vendor goes bankrupt and the patient moves"), text(
    "Wat gebeurt er met haar gegevens als haar PGO failliet gaat?",
    "What happens to her data when her PGO goes bankrupt?"), (
    Step("person", text("Een testpersoon", "A test person"), text(
        "Een verzonnen patiënt van het ziekenhuis.", "A made-up patient of the hospital."),
        pick_person(start=700)),
    Step("account", text("Account bij de PGO", "An account at the PGO"), text(
        "Zij heeft een account bij een kleine PGO-leverancier.",
        "She has an account at a small PGO vendor."), open_account(_vendor)),
    Step("collect", text("Gegevens ophalen", "Collecting"), text(
        "Zij haalt haar gegevens op, met langdurige toestemming.",
        "She collects her data, with long-lived consent."), collect_once(long_lived=True)),
    Step("bankrupt", text("Faillissement", "Bankruptcy"), text(
        "De leverancier gaat failliet. Een curator neemt het over en MedMij Beheer haalt de "
        "PGO van de OCL en de Whitelist.",
        "The vendor goes bankrupt. A curator takes over and MedMij Beheer removes the PGO "
        "from the OCL and the Whitelist."), _bankrupt),
    Step("cut-off", text("Afgesloten", "Cut off"), text(
        "Elke DVA leest de nieuwe lijsten en weigert de PGO vanaf dan.",
        "Every DVA reads the new lists and refuses the PGO from then on."), _cut_off,
        background=True),
    Step("notice", text("Wat de burger ziet", "What the citizen sees"), text(
        "Zij logt in: ophalen kan niet meer, de curator legt uit wat zij kan doen.",
        "She logs in: collecting is no longer possible; the curator explains what she can "
        "do."), _curator_notice),
    Step("move", text("Verhuizen", "Moving"), text(
        "Zij downloadt haar portabiliteitsrapport, importeert het bij een andere PGO en geeft "
        "daar opnieuw toestemming. Er gaat niets verloren.",
        "She downloads her portability report, imports it at another PGO and consents there "
        "again. Nothing is lost."), _move),
    Step("erase", text("Alles gewist", "Everything erased"), text(
        "Het faillissement wordt afgewikkeld: de curator wist alle persoonsgegevens.",
        "The bankruptcy is settled: the curator erases all personal data."), _settle),
))

CHAPTERS: dict[str, Chapter] = {c.name: c for c in (
    COLLECT, CONSENT_REVOKE, LONG_LIVED, INSPECTION, SHARE, BANKRUPTCY)}
