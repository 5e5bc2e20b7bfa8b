#!/usr/bin/env python3
"""The dashboard in a real headless Chromium, against a real placementd on its embedded PostgreSQL.

For each role the page must render the figures the JSON API returns for the same key. Usage:

    python3 Tests/browser/dashboard_test.py PATH/TO/placementd [--screenshots DIR]

Needs Debian's chromium and the `playwright` Python package (driven with the system browser;
nothing is downloaded). Exits non-zero on the first mismatch, naming it.

With `--base-url URL --keys FILE` the test starts no daemon: it drives the server already running
at URL (a demo-mode placementd, or a proxy in front of one serving a page under development),
with the keys that daemon printed at start, saved in FILE. placementctl is still taken from beside
the placementd given.
"""
import argparse
import datetime
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
import urllib.parse
import urllib.request

from playwright.sync_api import sync_playwright

FAILURES = []


def check(condition, what):
    if not condition:
        FAILURES.append(what)
        print(f"FAIL: {what}", file=sys.stderr)


PLACEMENTCTL = "placementctl"  # beside the placementd under test (set in main)
LINE_LIMIT = 500  # the dashboard shows at most this many statement lines or aging items per currency
STATEMENT_CSV_HEADER = ("currency,opening_balance_minor,earned_minor,paid_minor,reversed_minor,closing_balance_minor,"
                        "occurred_at,posting_id,student_id,kind,event_id,position,payment_ref,amount_minor")
AGING_CSV_HEADER = "currency,total_minor,0-30,31-60,61-90,90+,posting_id,student_id,amount_minor,due_since,days,bucket"
BUCKETS = ["0-30", "31-60", "61-90", "90+"]


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


KEY_LINE = re.compile(r"^\s+(platform|company|university|admin)\b\s*(\S*)\s+(plk_[0-9a-f_]+)")


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
        match = KEY_LINE.match(line)
        if match:
            keys[match.group(1)] = (match.group(2) or None, match.group(3))
    if len(keys) < 4:
        raise SystemExit(f"placementd printed keys for {sorted(keys)} only")
    return process, keys


def read_keys(path):
    """The keys a demo-mode placementd printed at start, saved in a file (for --base-url)."""
    keys = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            match = KEY_LINE.match(line)
            if match:
                keys[match.group(1)] = (match.group(2) or None, match.group(3))
    if len(keys) < 4:
        raise SystemExit(f"{path} holds keys for {sorted(keys)} only; it must hold the four placementd --demo printed")
    return keys


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


def cells(page, testid, currency=None):
    selector = f"[data-testid={testid}]" + (f"[data-currency='{currency}']" if currency else "")
    return page.eval_on_selector_all(
        f"{selector} tbody tr", "rows => rows.map(r => Array.from(r.cells).map(c => c.textContent))")


def check_captions(page, role):
    """Every panel says what it counts, and every chart has a text alternative."""
    panels = page.eval_on_selector_all(
        "main section", "sections => sections.map(s => [(s.querySelector('h2') || {}).textContent || '?',"
                        " ((s.querySelector('.caption') || {}).textContent || '').trim()])")
    check(len(panels) > 0, f"{role}: the page shows panels")
    for title, text in panels:
        check(len(text) >= 20, f"{role}: the panel {title!r} has a caption saying what it counts (got {text!r})")
    charts = page.eval_on_selector_all(
        "main svg", "svgs => svgs.map(s => [s.getAttribute('role'), s.getAttribute('aria-label') || '', (s.querySelector('title') || {}).textContent || ''])")
    for role_attribute, label, title in charts:
        check(role_attribute == "img" and label.strip() and title.strip(), f"{role}: a chart has role img, an aria-label and a title ({label!r})")


def months_between(first, last):
    year, month = map(int, first.split("-"))
    out = []
    while True:
        key = f"{year:04d}-{month:02d}"
        out.append(key)
        if key >= last:
            return out
        month += 1
        if month > 12:
            year, month = year + 1, 1


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
    # The month chart: a bar for every month from the first to the last of by_month, without a gap;
    # months by_month leaves out (no selection) drawn as 0.
    bars = page.eval_on_selector_all("[data-testid=month-chart] rect.bar", "bars => bars.map(b => [b.dataset.month, Number(b.dataset.placed)])")
    check(len(bars) > 0, "the demo university has placements per month")
    placed = {m["month"]: m["placed"] for m in report["by_month"]}
    if placed:
        expected = [[month, placed.get(month, 0)] for month in months_between(min(placed), max(placed))]
        check(bars == expected, f"the month chart draws every month from the first to the last, empty ones as 0: {bars} vs {expected}")
        check(all(placed[m] == n for m, n in bars if m in placed), "the month chart's bars are by_month's figures")
    rows = cells(page, "placements")
    check(len(rows) == len(listing), f"placements table has {len(rows)} rows, API {len(listing)}")
    check([r[0] + "/" + r[1] for r in rows] == [p["posting_id"] + "/" + p["student_id"] for p in listing], "placements table rows in API order")
    check(all(p["university_id"] == org for p in listing), "the university sees only its students' placements")
    check_captions(page, "university")
    # "Download proof" on the first placement: the file is the served proof, and it verifies offline.
    with page.expect_download() as download:
        page.click("[data-testid=placements] tbody tr:first-child [data-testid=proof]")
    check(download.value.suggested_filename == f"proof-{listing[0]['posting_id']}-{listing[0]['student_id']}.json", "proof file name")
    with open(download.value.path()) as f:
        proof = json.load(f)
    check((proof.get("proof_format"), proof.get("posting_id"), proof.get("student_id")) == (1, listing[0]["posting_id"], listing[0]["student_id"]),
          "the downloaded proof is the first row's")
    keys_dir = tempfile.mkdtemp(prefix="placement-keys-")
    keys_path = os.path.join(keys_dir, "keys.json")
    with open(keys_path, "w") as f:
        json.dump(get(base, "/v1/seals/keys", key), f)
    verified = subprocess.run([PLACEMENTCTL, "proof", "verify", download.value.path(), "--keys", keys_path], capture_output=True, text=True)
    shutil.rmtree(keys_dir, ignore_errors=True)
    check(verified.returncode == 0, f"placementctl proof verify on the downloaded proof: {verified.returncode} {verified.stderr.strip()}")
    if shots:
        page.screenshot(path=os.path.join(shots, "university-desktop.png"), full_page=True)
        page.set_viewport_size({"width": 390, "height": 844})
        page.screenshot(path=os.path.join(shots, "university-phone.png"), full_page=True)
        overflow = page.evaluate("() => document.documentElement.scrollWidth > window.innerWidth + 1")
        check(not overflow, "the page fits a phone's width (tables scroll inside their cards)")
        page.set_viewport_size({"width": 1280, "height": 900})


def query_of(path):
    return {k: v[0] for k, v in urllib.parse.parse_qs(urllib.parse.urlsplit(path).query).items()}


def wait_for_panel(page, testid, query, what):
    """Waits until the panel shows the answer to a URL with exactly these query parameters; its URL."""
    deadline = time.time() + 15
    state = url = None
    while time.time() < deadline:
        state, url = page.evaluate(
            f"() => {{ const p = document.querySelector('[data-testid={testid}]'); return p ? [p.dataset.state || '', p.dataset.url || ''] : ['', '']; }}")
        if state == "ready" and url and query_of(url) == query:
            return url
        if state == "error":
            break
        time.sleep(0.05)
    check(False, f"{what}: the {testid} panel shows {url!r} ({state}), not the query {query}: {page.text_content('[data-testid=error]')!r}")
    return None


def utc_midnight(day):
    return day.isoformat() + "T00:00:00Z"


def check_statement(page, base, key, url, what):
    """The statement panel shows what the JSON API answers for the same URL; that answer."""
    statement = get(base, url, key)
    summary = cells(page, "statement-summary")
    expected = [[c["currency"], money(c["opening_balance_minor"], c["currency"]), money(c["earned_minor"], c["currency"]),
                 money(c["paid_minor"], c["currency"]), money(c["reversed_minor"], c["currency"]),
                 money(c["closing_balance_minor"], c["currency"]), str(len(c["lines"]))] for c in statement["currencies"]]
    if expected:
        check(summary == expected, f"{what}: statement figures {summary} vs API {expected}")
    else:
        check(len(summary) == 1 and len(summary[0]) == 1, f"{what}: a statement without currencies says so: {summary}")
    for c in statement["currencies"]:
        rows = cells(page, "statement-lines", c["currency"])
        lines = [[line["occurred_at"], line["posting_id"], line["student_id"], line["kind"], money(line["amount_minor"], c["currency"]),
                  line["payment_ref"] or ""] for line in c["lines"][:LINE_LIMIT]]
        if lines:
            check(rows == lines, f"{what}: the {c['currency']} statement lines are the API's, in its order ({len(rows)} rows, API {len(c['lines'])})")
        else:
            check(len(rows) == 1 and len(rows[0]) == 1, f"{what}: a {c['currency']} statement without lines says so: {rows}")
    return statement


def check_aging(page, base, key, url, what):
    """The aging panel shows what the JSON API answers for the same URL at the panel's time."""
    at = page.get_attribute("[data-testid=aging]", "data-at")
    query = query_of(url)
    check(query.get("at", at) == at, f"{what}: the aging panel shows the time it asked for ({query.get('at')} vs {at})")
    path = urllib.parse.urlsplit(url).path + "?" + urllib.parse.urlencode({"at": at})
    aging = get(base, path, key)
    check(aging["at"] == at, f"{what}: aging at {aging['at']} vs the panel's {at}")
    rows = cells(page, "aging-buckets")
    expected = [[c["currency"]] + [money(c["buckets"][b], c["currency"]) for b in BUCKETS] + [money(c["total_minor"], c["currency"])]
                for c in aging["currencies"]]
    if expected:
        check(rows == expected, f"{what}: aging buckets {rows} vs API {expected}")
    for c in aging["currencies"]:
        bars = page.eval_on_selector_all(
            f"[data-testid=aging-bar][data-currency='{c['currency']}'] rect.age",
            "rects => rects.map(r => [r.dataset.bucket, Number(r.dataset.minor), Number(r.getAttribute('width'))])")
        check([b[:2] for b in bars] == [[b, c["buckets"][b]] for b in BUCKETS],
              f"{what}: the {c['currency']} aging bar has the four buckets' figures: {bars} vs {c['buckets']}")
        drawn = [b[0] for b in bars if b[2] > 0]
        check(drawn == [b for b in BUCKETS if c["buckets"][b] > 0] or c["total_minor"] <= 0,
              f"{what}: the {c['currency']} aging bar draws exactly its non-empty buckets: {bars}")
        items = cells(page, "aging-items", c["currency"])
        want = [[i["posting_id"], i["student_id"], i["due_since"], str(i["days"]), i["bucket"], money(i["amount_minor"], c["currency"])]
                for i in c["items"][:LINE_LIMIT]]
        if want:
            check(items == want, f"{what}: the {c['currency']} aging items are the API's ({len(items)} rows, API {len(c['items'])})")
        else:
            check(len(items) == 1 and len(items[0]) == 1, f"{what}: a {c['currency']} aging without items says so: {items}")
    return aging


def download_text(page, selector):
    with page.expect_download() as download:
        page.click(selector)
    with open(download.value.path(), encoding="utf-8") as f:
        return download.value.suggested_filename, f.read()


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
    name, csv = download_text(page, "[data-testid=csv]")
    check(csv.splitlines()[0] == "currency,placements,cap_minor,earned_minor,paid_minor,balance_minor,payments,reversals", "CSV header")
    check(len(csv.splitlines()) == 1 + len(report["by_currency"]), "CSV has one line per currency")
    check_captions(page, "company")
    panels = {testid: page.query_selector(f"[data-testid={testid}]") is not None for testid in ("statement", "aging")}
    check(all(panels.values()), f"the company page has a statement and an aging panel: {panels}")
    if not all(panels.values()):
        return

    # The statement, by default over the current calendar month (UTC days).
    today = datetime.datetime.now(datetime.timezone.utc).date()
    first = today.replace(day=1)
    following = (first + datetime.timedelta(days=32)).replace(day=1)
    url = wait_for_panel(page, "statement", {"from": utc_midnight(first), "to": utc_midnight(following)}, "default statement period")
    if url:
        check_statement(page, base, key, url, "statement, this month")

    # The whole history: its closing balances are the stipends report's.
    page.click("[data-testid=statement] button[data-period=all]")
    url = wait_for_panel(page, "statement", {}, "statement, all history")
    history = check_statement(page, base, key, url, "statement, all history") if url else {"currencies": []}
    closing = {c["currency"]: c["closing_balance_minor"] for c in history["currencies"]}
    check(closing == {c["currency"]: c["balance_minor"] for c in report["by_currency"]},
          f"the whole history's closing balances {closing} are the stipends report's balances")
    shown = {r[0]: r[5] for r in cells(page, "statement-summary")}
    check(shown == {c["currency"]: money(c["balance_minor"], c["currency"]) for c in report["by_currency"]},
          f"the panel's closing for the whole history {shown} is the stipends balance")
    name, csv = download_text(page, "[data-testid=statement-csv]")
    lines = csv.splitlines()
    check(lines[0] == STATEMENT_CSV_HEADER, f"statement CSV header: {lines[0]!r}")
    check(len(lines) == 1 + sum(max(1, len(c["lines"])) for c in history["currencies"]), "statement CSV: one row per line (or per currency without lines)")
    check(name.startswith(f"statement-{org}") and name.endswith(".csv"), f"statement CSV file name {name}")
    check("plk_" not in page.url, "the key must never appear in the URL")

    # A chosen period: from the day of the line a third of the way through the history to the day of
    # the line two thirds through (both included), so that it has an opening balance and lines.
    every = [line["occurred_at"][:10] for c in history["currencies"] for line in c["lines"]]
    every.sort()
    if every:
        start, end = every[len(every) // 3], every[2 * len(every) // 3]
    else:
        start, end = "2025-01-01", "2025-06-30"
    page.fill("#statement-from", start)
    page.fill("#statement-to", end)
    page.click("#statement-form button[type=submit]")
    after_end = datetime.date.fromisoformat(end) + datetime.timedelta(days=1)
    url = wait_for_panel(page, "statement", {"from": start + "T00:00:00Z", "to": utc_midnight(after_end)}, "chosen statement period")
    if url:
        chosen = check_statement(page, base, key, url, f"statement, {start} to {end}")
        if every:
            check(any(c["lines"] for c in chosen["currencies"]), "the chosen period has lines")
        name, csv = download_text(page, "[data-testid=statement-csv]")
        check(csv.splitlines()[0] == STATEMENT_CSV_HEADER, "statement CSV header for the chosen period")
        check(len(csv.splitlines()) == 1 + sum(max(1, len(c["lines"])) for c in chosen["currencies"]), "statement CSV of the chosen period")

    # As recorded at a time (UTC): the query carries as_of, and the figures are the API's for it.
    recorded = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0, tzinfo=None).isoformat()
    page.fill("#statement-as-of", recorded)
    page.click("#statement-form button[type=submit]")
    url = wait_for_panel(page, "statement", {"from": start + "T00:00:00Z", "to": utc_midnight(after_end), "as_of": recorded + "Z"}, "statement as of")
    if url:
        check_statement(page, base, key, url, f"statement as of {recorded}")
    # "Download CSV" after editing the period without "Show": the file is the edited period's, and
    # the panel is brought to it.
    earliest = every[0] if every else "2025-01-01"
    page.fill("#statement-from", earliest)
    name, csv = download_text(page, "[data-testid=statement-csv]")
    url = wait_for_panel(page, "statement", {"from": earliest + "T00:00:00Z", "to": utc_midnight(after_end), "as_of": recorded + "Z"},
                         "statement after Download CSV with an edited period")
    if url:
        edited = check_statement(page, base, key, url, f"statement, {earliest} to {end}")
        check(len(csv.splitlines()) == 1 + sum(max(1, len(c["lines"])) for c in edited["currencies"]),
              "the CSV downloaded after editing the period is the edited period's")
    if shots:
        page.screenshot(path=os.path.join(shots, "company.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    check(not page.evaluate("() => document.documentElement.scrollWidth > window.innerWidth + 1"),
          "the company page fits a phone's width (tables scroll inside their cards)")
    page.set_viewport_size({"width": 1280, "height": 900})

    # Aging, by default now: the figures are the API's at the time the panel shows.
    url = page.get_attribute("[data-testid=aging]", "data-url")
    check(page.get_attribute("[data-testid=aging]", "data-state") == "ready" and url, "the aging panel loaded")
    if url:
        check(query_of(url) == {}, f"aging asks for now by default: {url}")
        aging = check_aging(page, base, key, url, "aging now")
        balances = {}
        for b in report["open_balances"]:
            balances[b["currency"]] = balances.get(b["currency"], 0) + max(0, b["balance_minor"])
        check({c["currency"]: c["total_minor"] for c in aging["currencies"] if c["total_minor"]} == {k: v for k, v in balances.items() if v},
              "aging now owes the open balances' positive parts")
        name, csv = download_text(page, "[data-testid=aging-csv]")
        lines = csv.splitlines()
        check(lines[0] == AGING_CSV_HEADER, f"aging CSV header: {lines[0]!r}")
        check(len(lines) == 1 + sum(max(1, len(c["items"])) for c in aging["currencies"]), "aging CSV: one row per item (or per currency without items)")
    # Aging at a chosen time: 40 days after the day the chosen period ends.
    at = datetime.datetime.fromisoformat(end + "T12:00:00") + datetime.timedelta(days=40)
    page.fill("#aging-at", at.strftime("%Y-%m-%dT%H:%M"))
    page.click("#aging-form button[type=submit]")
    url = wait_for_panel(page, "aging", {"at": at.strftime("%Y-%m-%dT%H:%M:00Z")}, "aging at a chosen time")
    if url:
        check_aging(page, base, key, url, f"aging at {at}")
        name, csv = download_text(page, "[data-testid=aging-csv]")
        check(csv.splitlines()[0] == AGING_CSV_HEADER, "aging CSV header at a chosen time")
    check("plk_" not in page.url, "the key must never appear in the URL")
    check_captions(page, "company")
    if shots:
        page.screenshot(path=os.path.join(shots, "company-aging.png"), full_page=True)


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
    check_captions(page, role)
    if shots:
        page.screenshot(path=os.path.join(shots, f"{role}.png"), full_page=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("placementd")
    parser.add_argument("--screenshots")
    parser.add_argument("--port", type=int, default=18181)
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    parser.add_argument("--base-url", help="drive the server already running here instead of starting placementd (needs --keys)")
    parser.add_argument("--keys", help="with --base-url: a file holding the key lines that server's placementd --demo printed")
    args = parser.parse_args()
    if bool(args.base_url) != bool(args.keys):
        parser.error("--base-url and --keys go together")
    global PLACEMENTCTL
    PLACEMENTCTL = os.path.join(os.path.dirname(os.path.abspath(args.placementd)), "placementctl")
    if args.screenshots:
        os.makedirs(args.screenshots, exist_ok=True)
    process = data = None
    if args.base_url:
        base = args.base_url.rstrip("/")
        keys = read_keys(args.keys)
    else:
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
        if process:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        if data:
            shutil.rmtree(data, ignore_errors=True)
    if FAILURES:
        print(f"dashboard: {len(FAILURES)} check(s) failed", file=sys.stderr)
        sys.exit(1)
    print("dashboard: every role renders the figures the API returns")


if __name__ == "__main__":
    main()
