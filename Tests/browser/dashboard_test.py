#!/usr/bin/env python3
"""The dashboard in a real headless Chromium, against a real placementd on its embedded PostgreSQL.

For each role the page must render the figures the JSON API returns for the same key. Usage:

    python3 Tests/browser/dashboard_test.py PATH/TO/placementd [--screenshots DIR]

Needs Debian's chromium and the `playwright` Python package (driven with the system browser;
nothing is downloaded). Exits non-zero on the first mismatch, naming it.
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from playwright.sync_api import sync_playwright

FAILURES = []


def check(condition, what):
    if not condition:
        FAILURES.append(what)
        print(f"FAIL: {what}", file=sys.stderr)


PLACEMENTCTL = "placementctl"  # beside the placementd under test (set in main)


def get(base, path, key):
    request = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def money(minor, currency):
    digits = {"JPY": 0, "KRW": 0, "BHD": 3, "KWD": 3}.get(currency, 2)
    text = str(abs(minor))
    if digits:
        text = text.rjust(digits + 1, "0")
        text = text[:-digits] + "." + text[-digits:]
    return ("−" if minor < 0 else "") + text + " " + currency


def start_daemon(binary, port, data):
    process = subprocess.Popen(
        [binary, "--demo", "--demo-postings", "60", "--data-dir", data, "--listen", f"127.0.0.1:{port}", "--log-level", "warning",
         "--seal-interval", "2"],
        stdout=subprocess.PIPE, stderr=None, text=True)
    keys = {}
    deadline = time.time() + 300
    while time.time() < deadline and len(keys) < 4:
        line = process.stdout.readline()
        if not line:
            if process.poll() is not None:
                raise SystemExit(f"placementd exited with {process.returncode} before printing its keys")
            continue
        match = re.match(r"^\s+(platform|company|university|admin)\b\s*(\S*)\s+(plk_[0-9a-f_]+)", line)
        if match:
            keys[match.group(1)] = (match.group(2) or None, match.group(3))
    if len(keys) < 4:
        raise SystemExit(f"placementd printed keys for {sorted(keys)} only")
    return process, keys


def wait_for_projections(base, admin):
    deadline = time.time() + 60
    while time.time() < deadline:
        status = get(base, "/v1/projections", admin)["projections"]
        if status and all(p["lag"] == 0 and p["state"] == "live" for p in status):
            return
        time.sleep(0.2)
    raise SystemExit("projections did not catch up within 60 s")


def wait_for_seal(base, admin):
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            return get(base, "/v1/seals/latest", admin)
        except urllib.error.HTTPError as error:
            if error.code != 404:
                raise
        time.sleep(0.5)
    raise SystemExit("no seal within 60 s (the daemon seals every 2 s here)")


def login(page, base, key):
    page.goto(base + "/")
    page.fill("#key", key)
    page.click("button[type=submit]")
    page.wait_for_selector("body[data-ready=true]", timeout=15000)
    check("plk_" not in page.url, "the key must never appear in the URL")
    stored = page.evaluate("() => sessionStorage.getItem('placementKey')")
    check(stored == key, "the key is kept in sessionStorage")


def cells(page, testid):
    return page.eval_on_selector_all(
        f"[data-testid={testid}] tbody tr", "rows => rows.map(r => Array.from(r.cells).map(c => c.textContent))")


def test_university(page, base, org, key, shots):
    login(page, base, key)
    report = get(base, f"/v1/reports/universities/{org}", key)
    listing = get(base, "/v1/placements?limit=100", key)["placements"]
    o = report["overall"]
    text = lambda testid: page.text_content(f"[data-testid={testid}]")
    check(text("who") == f"university · {org}", "university header names the key's role and organisation")
    check(text("kpi-applicants") == str(o["applicants"]), f"applicants tile {text('kpi-applicants')} vs API {o['applicants']}")
    check(text("kpi-placed") == str(o["placed"]), f"placed tile {text('kpi-placed')} vs API {o['placed']}")
    check(text("kpi-accepted") == str(o["accepted"]), f"accepted tile vs API {o['accepted']}")
    check(text("kpi-companies") == str(o["companies"]), f"companies tile vs API {o['companies']}")
    check(text("kpi-completion") == f"{o['completion_rate'] * 100:.1f} %", f"completion tile {text('kpi-completion')} vs {o['completion_rate']}")
    check(text("kpi-hours") == f"{o['minutes_logged'] / 60:.1f}", f"hours tile {text('kpi-hours')} vs {o['minutes_logged']} minutes")
    bars = page.eval_on_selector_all("[data-testid=month-chart] rect.bar", "bars => bars.map(b => [b.dataset.month, Number(b.dataset.placed)])")
    check(bars == [[m["month"], m["placed"]] for m in report["by_month"]], "the month chart draws by_month")
    check(len(bars) > 0, "the demo university has placements per month")
    rows = cells(page, "placements")
    check(len(rows) == len(listing), f"placements table has {len(rows)} rows, API {len(listing)}")
    check([r[0] + "/" + r[1] for r in rows] == [p["posting_id"] + "/" + p["student_id"] for p in listing], "placements table rows in API order")
    check(all(p["university_id"] == org for p in listing), "the university sees only its students' placements")
    # "Download proof" on the first placement: the file is the served proof, and it verifies offline.
    with page.expect_download() as download:
        page.click("[data-testid=placements] tbody tr:first-child [data-testid=proof]")
    check(download.value.suggested_filename == f"proof-{listing[0]['posting_id']}-{listing[0]['student_id']}.json", "proof file name")
    with open(download.value.path()) as f:
        proof = json.load(f)
    check((proof.get("proof_format"), proof.get("posting_id"), proof.get("student_id")) == (1, listing[0]["posting_id"], listing[0]["student_id"]),
          "the downloaded proof is the first row's")
    keys_path = os.path.join(tempfile.mkdtemp(prefix="placement-keys-"), "keys.json")
    with open(keys_path, "w") as f:
        json.dump(get(base, "/v1/seals/keys", key), f)
    verified = subprocess.run([PLACEMENTCTL, "proof", "verify", download.value.path(), "--keys", keys_path], capture_output=True, text=True)
    check(verified.returncode == 0, f"placementctl proof verify on the downloaded proof: {verified.returncode} {verified.stderr.strip()}")
    if shots:
        page.screenshot(path=os.path.join(shots, "university-desktop.png"), full_page=True)
        page.set_viewport_size({"width": 390, "height": 844})
        page.screenshot(path=os.path.join(shots, "university-phone.png"), full_page=True)
        overflow = page.evaluate("() => document.documentElement.scrollWidth > window.innerWidth + 1")
        check(not overflow, "the page fits a phone's width (tables scroll inside their cards)")
        page.set_viewport_size({"width": 1280, "height": 900})


def test_company(page, base, org, key, shots):
    login(page, base, key)
    report = get(base, f"/v1/reports/companies/{org}/stipends", key)
    rows = cells(page, "stipends")
    expected = [[c["currency"], str(c["placements"]), money(c["cap_minor"], c["currency"]), money(c["earned_minor"], c["currency"]),
                 money(c["paid_minor"], c["currency"]), money(c["balance_minor"], c["currency"]), str(c["payments"]), str(c["reversals"])]
                for c in report["by_currency"]]
    check(rows == expected, f"stipends table {rows} vs API {expected}")
    balances = cells(page, "open-balances")
    if report["open_balances"]:
        check([r[0] + "/" + r[1] for r in balances] == [b["posting_id"] + "/" + b["student_id"] for b in report["open_balances"]],
              "open balances oldest first, as the API lists them")
        check([r[5] for r in balances] == [money(b["balance_minor"], b["currency"]) for b in report["open_balances"]], "open balance amounts")
    with page.expect_download() as download:
        page.click("[data-testid=csv]")
    path = download.value.path()
    with open(path, encoding="utf-8") as f:
        csv = f.read()
    check(csv.splitlines()[0] == "currency,placements,cap_minor,earned_minor,paid_minor,balance_minor,payments,reversals", "CSV header")
    check(len(csv.splitlines()) == 1 + len(report["by_currency"]), "CSV has one line per currency")
    if shots:
        page.screenshot(path=os.path.join(shots, "company.png"), full_page=True)


def test_operator(page, base, key, role, shots):
    login(page, base, key)
    # The latest seal (the daemon seals every 2 s here): its number, events and key as served.
    seal = get(base, "/v1/seals/latest", key)["seal"]
    number = page.get_by_test_id("seal-number").inner_text()
    check(number.startswith("#") and int(number[1:]) >= 1 and int(number[1:]) <= seal["seal"] + 5, f"{role}: seal number {number} against {seal['seal']}")
    check(int(page.get_by_test_id("seal-tree-size").inner_text()) >= 1, f"{role}: sealed events shown")
    check(page.get_by_test_id("seal-key").inner_text() == seal["key_id"], f"{role}: signing key")
    check(page.get_by_test_id("seal-age").inner_text().endswith((" s", " min")), f"{role}: seal age")
    status = get(base, "/v1/projections", key)["projections"]
    rows = cells(page, "projections")
    check([r[0] for r in rows] == [p["name"] for p in status], f"{role}: projection names")
    check([r[1] for r in rows] == [p["state"] for p in status], f"{role}: projection states")
    if shots:
        page.screenshot(path=os.path.join(shots, f"{role}.png"), full_page=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("placementd")
    parser.add_argument("--screenshots")
    parser.add_argument("--port", type=int, default=18181)
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args()
    global PLACEMENTCTL
    PLACEMENTCTL = os.path.join(os.path.dirname(os.path.abspath(args.placementd)), "placementctl")
    if args.screenshots:
        os.makedirs(args.screenshots, exist_ok=True)
    data = tempfile.mkdtemp(prefix="placement-dashboard-")
    os.chmod(data, 0o755)  # the embedded cluster's server user must be able to reach its directory
    base = f"http://127.0.0.1:{args.port}"
    process, keys = start_daemon(args.placementd, args.port, data)
    try:
        wait_for_projections(base, keys["admin"][1])
        wait_for_seal(base, keys["admin"][1])
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
            test_university(page, base, keys["university"][0], keys["university"][1], args.screenshots)
            page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
            test_company(page, base, keys["company"][0], keys["company"][1], args.screenshots)
            for role in ("admin", "platform"):
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                test_operator(page, base, keys[role][1], role, args.screenshots)
            # A bad key gets a readable error, not a blank page.
            page = browser.new_page()
            page.goto(base + "/")
            page.fill("#key", "plk_000000000000_" + "0" * 64)
            page.click("button[type=submit]")
            page.wait_for_selector("[data-testid=error]:not([hidden])", timeout=10000)
            check("key" in (page.text_content("[data-testid=error]") or "").lower(), "a rejected key shows the API's message")
            browser.close()
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(data, ignore_errors=True)
    if FAILURES:
        print(f"dashboard: {len(FAILURES)} check(s) failed", file=sys.stderr)
        sys.exit(1)
    print("dashboard: every role renders the figures the API returns")


if __name__ == "__main__":
    main()
