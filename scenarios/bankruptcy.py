"""The bankruptcy drill: a PGO vendor fails, a curator takes over, users move, data is erased.

Invariants, each a failing step when broken: every DVA refuses the vendor within its list
refresh (authorize, token, refresh, resource calls); no migrated user loses a resource; nothing
personal is left after erasure; other vendors keep collecting at 100%.
"""

from __future__ import annotations

import threading
import time

from sandbox import vendor
from sandbox.state import Running
from scenarios import collect
from scenarios.accounts import PgoAccount, login
from scenarios.oauth_probe import exchange, get_code, refresh, resource_base
from scenarios.persons import find_persons
from scenarios.portability import migrate
from scenarios.report import ScenarioReport, StepFailed
from scenarios.useragent import Browser, FlowError
from simulators.common.http import sync_client
from simulators.medmij import fhir_accept


class Background:
    """Other vendors' users collecting throughout the drill."""

    def __init__(self, running: Running, dvps: list[str], providers: list[str]) -> None:
        self.running, self.dvps, self.providers = running, dvps, providers
        self.ok = self.failed = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        i = 0
        while not self._stop.is_set():
            dvp, provider = self.dvps[i % len(self.dvps)], self.providers[i % len(self.providers)]
            result = collect.run(self.running, dvp=dvp, provider=provider)
            if result.ok:
                self.ok += 1
            else:
                self.failed += 1
                self.failures.append(next(s.detail for s in result.steps if not s.ok))
            i += 1

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=120)

    @property
    def success_rate(self) -> float:
        total = self.ok + self.failed
        return self.ok / total if total else 0.0


def run(running: Running, users: int = 3, dvp: str | None = None, migrate_share: float = 1.0,
        restore: bool = True) -> ScenarioReport:
    topology = running.topology
    dvp = dvp or topology.dvps[-1].id
    vendor_host = topology.node(dvp).hostname
    others = [d.id for d in topology.dvps if d.id != dvp]
    providers = [p.name for p in topology.providers if p.kind in ("hospital", "gp")]
    hospital = providers[0]
    report = ScenarioReport("bankruptcy")
    browser = Browser(running.info.addresses)
    background = Background(running, others, [p.name for p in topology.providers])
    corr = browser.correlation_id
    accounts: list[tuple[str, PgoAccount]] = []  # (bsn, account at the vendor)
    migrated: list[dict] = []
    cut_off: dict[str, float] = {}
    erasure: dict = {}
    bankrupt_at = 0.0
    http = sync_client(running.info.addresses)
    try:
        with report.step(f"{users} users collect at {dvp}", corr) as step:
            bsns = [p["bsn"] for p in find_persons(browser, running, hospital, users, start=500)]
            for bsn in bsns:
                account = None
                for provider in providers:
                    user = Browser(running.info.addresses)  # each visit its own browser
                    try:
                        sub = ScenarioReport("setup")
                        try:
                            if account is not None:
                                login(user, account)
                            account = collect.collect(running, user, sub, dvp, provider, bsn,
                                                      long_lived=True, account=account)[
                                "account"]
                        except StepFailed as exc:
                            raise FlowError(next(s.detail for s in sub.steps if not s.ok)) \
                                from exc
                    finally:
                        user.close()
                accounts.append((bsn, account))
            step["detail"] = f"{len(accounts)} users, {len(providers)} providers each"
        with report.step("vendor's back end holds live tokens", corr) as step:
            probe_bsn = bsns[0]
            code, redirect_uri = get_code(running, hospital, probe_bsn, dvp, long_lived=True)
            tokens = exchange(http, running, hospital, code, redirect_uri, vendor_host).json()
            spare_code, _ = get_code(running, hospital, probe_bsn, dvp)
            step["detail"] = "access + refresh token, and one unused code"
        background.start()
        report.mark(f"background collecting at {', '.join(others)}")
        with report.step(f"{dvp} declared bankrupt", corr) as step:
            outcome = vendor.bankrupt(running, dvp)
            bankrupt_at = outcome["published_at"]
            report.mark(f"curator mode at {dvp}; OCL Volgnummer "
                        f"{outcome['ocl_volgnummer_before']} -> {outcome['ocl_volgnummer_after']}")
            if outcome["ocl_volgnummer_after"] <= outcome["ocl_volgnummer_before"]:
                raise FlowError("the OCL's Volgnummer did not rise")
            step["detail"] = f"removed from OCL and Whitelist (Volgnummer " \
                             f"{outcome['ocl_volgnummer_after']})"
        with report.step("every DVA cuts the vendor off", corr) as step:
            cut_off = vendor.wait_cut_off(running, dvp)
            for dva, seconds in sorted(cut_off.items(), key=lambda kv: kv[1]):
                report.mark(f"{dva} refuses {vendor_host} (+{seconds:.2f} s)")
            refused = {
                "token": exchange(http, running, hospital, spare_code, redirect_uri,
                                  vendor_host),
                "refresh": refresh(http, running, hospital, tokens["refresh_token"],
                                   vendor_host),
                "resource": http.get(f"{resource_base(running, hospital)}/Patient", headers={
                    "Authorization": f"Bearer {tokens['access_token']}",
                    "Accept": fhir_accept("3.0")}),
            }
            wrong = {k: r.status_code for k, r in refused.items() if r.status_code != 401}
            if wrong:
                raise FlowError(f"still served after cut-off: {wrong}")
            step["detail"] = (f"authorize 400, token {refused['token'].json()['error']}, "
                              f"refresh {refused['refresh'].json()['error']}, resource 401")
        with report.step("curator mode: no collecting, export still works", corr) as step:
            bsn, account = accounts[0]
            login(browser, account)  # people can still log in at a bankrupt vendor
            person = account.person_id
            r = browser.get(running.public_url(dvp, f"/persons/{person}/connect"),
                            params={"provider": hospital})
            if r.status_code != 403 or "curator" not in r.text:
                raise FlowError(f"connect at the bankrupt vendor answered {r.status_code}")
            r = browser.request("POST", running.public_url(
                dvp, f"/api/persons/{person}/grants/{hospital}/refresh"))
            if r.status_code != 403:
                raise FlowError(f"re-collect by refresh at the bankrupt vendor: {r.status_code}")
            r = browser.get(running.public_url(dvp, f"/api/persons/{person}/portability"))
            if r.status_code != 200:
                raise FlowError(f"export refused ({r.status_code})")
            step["detail"] = "connect and re-collect 403 with notice; export 200"
        to_move = accounts[: round(len(accounts) * migrate_share)]
        start = time.perf_counter()
        for i, (bsn, account) in enumerate(to_move):
            user = Browser(running.info.addresses)
            new_dvp = others[i % len(others)]
            try:
                with report.step(f"user {i + 1} moves to {new_dvp}", user.correlation_id) as step:
                    sub = ScenarioReport("migration")
                    try:
                        moved = migrate(running, user, sub, dvp, account, new_dvp, bsn,
                                        packaged=bool(i % 2))
                    except StepFailed as exc:
                        raise FlowError(next(s.detail for s in sub.steps if not s.ok)) from exc
                    migrated.append({"bsn": bsn, "to": new_dvp}
                                    | {k: v for k, v in moved.items() if k != "new_account"})
                    step["detail"] = (f"{moved['actions']} actions replayed, "
                                      f"{moved['resources_compared']} resources equal "
                                      f"({'FHIR package' if i % 2 else 'XML'})")
                report.mark(f"user {i + 1} moved to {new_dvp}")
            finally:
                user.close()
        migrate_seconds = time.perf_counter() - start
        background.stop()
        report.mark(f"background stopped: {background.ok} ok, {background.failed} failed")
        with report.step("other vendors unaffected", corr) as step:
            if background.failed or not background.ok:
                raise FlowError(f"background collects: {background.ok} ok, "
                                f"{background.failed} failed {background.failures[:3]}")
            step["detail"] = f"{background.ok} collects, 100% success"
        with report.step("bankruptcy settled: curator erases", corr) as step:
            erasure = vendor.settle(running, dvp)
            left = {t: n for t, n in erasure["rows_after"].items() if n}
            if left:
                raise FlowError(f"personal data left: {left}")
            report.mark(f"{dvp} erased: {sum(erasure['rows_before'].values())} rows")
            step["detail"] = f"{sum(erasure['rows_before'].values())} rows erased, none left"
        report.summary = {
            "vendor": vendor_host,
            "users": len(accounts),
            "users_migrated": len(migrated),
            "users_not_migrated_before_erasure": len(accounts) - len(migrated),
            "resources_compared": sum(m["resources_compared"] for m in migrated),
            "time_to_cut_off_s": round(max(cut_off.values()), 3),
            "cut_off_per_dva_s": {k: round(v, 3) for k, v in cut_off.items()},
            "list_refresh_s": topology.list_refresh_seconds,
            "time_to_migrate_s": round(migrate_seconds, 3),
            "migrated_users_per_s": round(len(migrated) / migrate_seconds, 3)
            if migrated else 0.0,
            "background_collects": background.ok + background.failed,
            "background_success_rate": background.success_rate,
        }
    except StepFailed:
        report.summary = {"vendor": vendor_host, "users_migrated": len(migrated),
                          "background_success_rate": background.success_rate}
    finally:
        background.stop()
        browser.close()
        http.close()
        if restore and bankrupt_at:
            vendor.readmit(running, dvp)
            report.mark(f"{dvp} readmitted as an empty vendor (drill reset)")
    return report
