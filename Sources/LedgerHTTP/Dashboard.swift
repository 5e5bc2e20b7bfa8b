/// The web dashboard served at `GET /`: one self-contained page (no external fonts, scripts or
/// styles). The user pastes an API key; it is kept in sessionStorage and sent as a bearer header,
/// never in a URL. What it shows depends on the key's role (`GET /v1/me`): a university's KPI
/// tiles, placements per month (every month from the first to the last, empty ones as 0) and
/// placements table (each with a "download proof" action); a company's stipends per currency, open
/// balances, statement over a chosen period (opening, earned, paid, reversed, closing and its
/// lines) and aging at a chosen time (buckets as a stacked bar, items), each with a CSV download; a
/// platform or admin key's latest seal (number, events, age, signing key) and projection status.
/// Every panel carries a caption saying what it counts.
enum Dashboard {
    static let html = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Placement Ledger</title>
<style>
  :root { --ink:#1d2330; --muted:#5b6475; --line:#dde2ea; --accent:#2f5bd3; --bg:#f6f7fa; --card:#fff;
          --age0:#3f9a6b; --age1:#d9a521; --age2:#e0712c; --age3:#b8323a; }
  * { box-sizing: border-box; }
  body { margin:0; font:15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color:var(--ink); background:var(--bg); }
  header { background:var(--ink); color:#fff; padding:14px 20px; display:flex; flex-wrap:wrap; gap:12px; align-items:center; justify-content:space-between; }
  header h1 { font-size:18px; margin:0; font-weight:600; }
  main { max-width:1100px; margin:0 auto; padding:20px; }
  form { display:flex; gap:8px; flex-wrap:wrap; }
  input[type=password] { flex:1 1 260px; min-width:0; padding:8px 10px; border:1px solid var(--line); border-radius:6px; font:inherit; }
  button, .button { padding:8px 14px; border:0; border-radius:6px; background:var(--accent); color:#fff; font:inherit; cursor:pointer; }
  button.secondary { background:#e9edf5; color:var(--ink); }
  button[aria-pressed=true] { background:var(--ink); color:#fff; }
  .who { font-size:14px; opacity:.85; }
  .tiles { display:grid; grid-template-columns:repeat(auto-fit, minmax(150px, 1fr)); gap:12px; margin:16px 0; }
  .tile { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:12px 14px; }
  .tile .label { color:var(--muted); font-size:13px; }
  .tile .value { font-size:24px; font-weight:650; margin-top:2px; font-variant-numeric:tabular-nums; }
  .tile .value.code { font-size:15px; font-family:ui-monospace, monospace; overflow-wrap:anywhere; }
  section { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:14px; margin:16px 0; overflow-x:auto; }
  section h2 { font-size:16px; margin:0 0 4px; }
  section h3 { font-size:14px; margin:16px 0 6px; }
  section .tiles { margin:8px 0 0; }
  .caption { color:var(--muted); font-size:13px; margin:0 0 10px; max-width:80ch; }
  table { border-collapse:collapse; width:100%; font-variant-numeric:tabular-nums; }
  th, td { text-align:left; padding:6px 8px; border-bottom:1px solid var(--line); white-space:nowrap; }
  th { color:var(--muted); font-weight:600; font-size:13px; }
  td.num, th.num { text-align:right; }
  .error { background:#fdecec; color:#8a1f1f; border:1px solid #f3c2c2; border-radius:8px; padding:10px 12px; margin:12px 0; }
  .hint { color:var(--muted); }
  .controls { align-items:flex-end; margin:0 0 8px; }
  .controls label { display:flex; flex-direction:column; gap:2px; font-size:13px; color:var(--muted); }
  .controls input { padding:6px 8px; border:1px solid var(--line); border-radius:6px; font:inherit; color:var(--ink); background:#fff; min-width:0; max-width:100%; }
  .quick { display:flex; flex-wrap:wrap; gap:6px; width:100%; }
  .quick button { padding:5px 10px; font-size:13px; }
  .status { color:var(--muted); font-size:13px; margin:4px 0 8px; }
  .legend { display:flex; flex-wrap:wrap; gap:6px 16px; list-style:none; padding:0; margin:6px 0 10px; font-size:13px; color:var(--muted); }
  .legend li { display:flex; align-items:center; gap:6px; }
  .swatch { display:inline-block; width:12px; height:12px; border-radius:3px; }
  .swatch.age0, svg rect.age0 { background:var(--age0); fill:var(--age0); }
  .swatch.age1, svg rect.age1 { background:var(--age1); fill:var(--age1); }
  .swatch.age2, svg rect.age2 { background:var(--age2); fill:var(--age2); }
  .swatch.age3, svg rect.age3 { background:var(--age3); fill:var(--age3); }
  svg rect.track { fill:#eef1f6; }
  svg text { font-size:11px; fill:var(--muted); }
  svg rect.bar { fill:var(--accent); }
  @media (max-width: 600px) { main { padding:12px; } .tile .value { font-size:20px; } header h1 { font-size:16px; } .controls label { flex:1 1 100%; } }
</style>
</head>
<body>
<header>
  <h1>Placement Ledger</h1>
  <span class="who" id="who" data-testid="who"></span>
</header>
<main>
  <form id="login" autocomplete="off">
    <input type="password" id="key" placeholder="Paste an API key (plk_…)" aria-label="API key">
    <button type="submit">Use key</button>
    <button type="button" class="secondary" id="forget">Forget key</button>
  </form>
  <div id="error" class="error" hidden data-testid="error" role="alert"></div>
  <div id="content"><p class="hint">The key stays in this tab (sessionStorage) and is sent only as a bearer header.</p></div>
</main>
<script>
"use strict";
const store = window.sessionStorage;
const $ = (id) => document.getElementById(id);
const esc = (v) => String(v ?? "").replace(/[&<>"']/g, (c) => ({"&":"&amp;","<":"&lt;",">":"&gt;","\"":"&quot;","'":"&#39;"}[c]));
const money = (minor, currency) => {
  const digits = ({JPY:0, KRW:0, BHD:3, KWD:3})[currency] ?? 2;
  const negative = minor < 0; let s = String(Math.abs(minor));
  if (digits > 0) { s = s.padStart(digits + 1, "0"); s = s.slice(0, -digits) + "." + s.slice(-digits); }
  return (negative ? "−" : "") + s + " " + currency;
};
async function api(path, accept) {
  const key = store.getItem("placementKey");
  const response = await fetch(path, { headers: { "Authorization": "Bearer " + key, "Accept": accept || "application/json" } });
  if (!response.ok) {
    let message = response.status + " " + response.statusText;
    try { const body = await response.json(); message = body.error.message; } catch (_) {}
    throw new Error(message);
  }
  return accept === "text/csv" ? response.blob() : response.json();
}
// A CSV answer fetched with the bearer header and handed to the browser as a file: the key never goes in a URL.
async function downloadCSV(path, filename) {
  try {
    showError(null);
    const blob = await api(path + (path.includes("?") ? "&" : "?") + "format=csv", "text/csv");
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob); link.download = filename; link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 1000);
  } catch (e) { showError(e); }
}
function showError(e) { const box = $("error"); box.textContent = e ? String(e.message || e) : ""; box.hidden = !e; }
function tile(label, value, id, code) { return `<div class="tile"><div class="label">${esc(label)}</div><div class="value${code ? " code" : ""}" data-testid="${id}">${esc(value)}</div></div>`; }
function caption(text) { return `<p class="caption" data-testid="caption">${esc(text)}</p>`; }
// options.empty: the text of an empty table; options.currency: a data-currency attribute.
function table(columns, rows, id, options) {
  const o = options || {};
  const head = columns.map(([label, , num]) => `<th scope="col"${num ? ' class="num"' : ""}>${esc(label)}</th>`).join("");
  // A fourth element marks a column whose cells are markup the dashboard built (escaped inside).
  const body = rows.map((r) => "<tr>" + columns.map(([, get, num, markup]) => `<td${num ? ' class="num"' : ""}>${markup ? get(r) : esc(get(r))}</td>`).join("") + "</tr>").join("");
  const attrs = o.currency ? ` data-currency="${esc(o.currency)}"` : "";
  return `<table data-testid="${id}"${attrs}><thead><tr>${head}</tr></thead><tbody>${body || `<tr><td colspan="${columns.length}" class="hint">${esc(o.empty || "Nothing yet.")}</td></tr>`}</tbody></table>`;
}
// Every month from the first to the last one listed (YYYY-MM), those the report leaves out as 0.
function everyMonth(months) {
  if (!months.length) return [];
  const known = new Map(months.map((m) => [m.month, m]));
  const keys = [...known.keys()].sort();
  const last = keys[keys.length - 1];
  let [year, month] = keys[0].split("-").map(Number);
  const out = [];
  while (out.length < 120000) {
    const key = String(year).padStart(4, "0") + "-" + String(month).padStart(2, "0");
    out.push(known.get(key) ?? { month: key, placed: 0 });
    if (key >= last) break;
    if (++month > 12) { month = 1; year += 1; }
  }
  return out;
}
function monthChart(months) {
  const w = 640, h = 200, pad = 28, max = Math.max(1, ...months.map((m) => m.placed));
  const bw = months.length ? (w - pad * 2) / months.length : 0, every = Math.max(1, Math.ceil(months.length / 12));
  const bars = months.map((m, i) => {
    const bh = (h - pad * 2) * m.placed / max, x = pad + i * bw, y = h - pad - bh;
    return `<rect class="bar" data-month="${esc(m.month)}" data-placed="${m.placed}" x="${x + 2}" y="${y}" width="${Math.max(1, bw - 4)}" height="${bh}"><title>${esc(m.month)}: ${m.placed}</title></rect>` +
      (i % every === 0 ? `<text x="${x + bw / 2}" y="${h - 10}" text-anchor="middle">${esc(m.month.slice(2))}</text>` : "");
  }).join("");
  const total = months.reduce((sum, m) => sum + m.placed, 0);
  const label = months.length
    ? `Placements per month, ${months[0].month} to ${months[months.length - 1].month}: ${total} in all, at most ${max} in a month`
    : "Placements per month: none yet";
  return `<svg viewBox="0 0 ${w} ${h}" width="100%" role="img" aria-label="${esc(label)}" data-testid="month-chart"><title>${esc(label)}</title>` +
    `<text x="${pad}" y="16">max ${max}</text><line x1="${pad}" y1="${h - pad}" x2="${w - pad}" y2="${h - pad}" stroke="#dde2ea"/>${bars}</svg>`;
}
async function university(me) {
  const [report, list] = await Promise.all([
    api(`/v1/reports/universities/${encodeURIComponent(me.org_id)}`),
    api(`/v1/placements?limit=100`),
  ]);
  const o = report.overall;
  $("content").innerHTML =
    `<section data-testid="overview"><h2>Overview</h2>` +
    caption("This university's students, whole history: applicants counts applications; placed, students selected (withdrawn ones included); accepted, placements whose work was accepted; completion rate, accepted ÷ placed; hours, every hour logged on those placements, corrections included; rating, the mean of each placement's latest review; companies, distinct companies among the placements.") +
    `<div class="tiles">` +
      tile("Applicants", o.applicants, "kpi-applicants") + tile("Placed", o.placed, "kpi-placed") +
      tile("Accepted", o.accepted, "kpi-accepted") + tile("Completion rate", (o.completion_rate * 100).toFixed(1) + " %", "kpi-completion") +
      tile("Hours logged", (o.minutes_logged / 60).toFixed(1), "kpi-hours") +
      tile("Average rating", o.average_rating === null ? "—" : o.average_rating, "kpi-rating") + tile("Companies", o.companies, "kpi-companies") +
    `</div></section>` +
    `<section data-testid="months"><h2>Placements per month</h2>` +
    caption("Students selected in each month (UTC, by the selection's business time), all companies, withdrawn placements included; every month from the first to the last is shown, those without a selection as 0.") +
    `${monthChart(everyMonth(report.by_month))}</section>` +
    `<section data-testid="money"><h2>Money by currency</h2>` +
    caption("Per currency, these placements' figures now: placed counts them; earned by the stipend rules; paid, payments not reversed; balance, earned − paid (negative: paid in advance).") +
    `${table([["Currency", (r) => r.currency], ["Placed", (r) => r.placed, 1], ["Earned", (r) => money(r.earned_minor, r.currency), 1], ["Paid", (r) => money(r.paid_minor, r.currency), 1], ["Balance", (r) => money(r.balance_minor, r.currency), 1]], report.by_currency, "university-currencies")}</section>` +
    `<section data-testid="placements-panel"><h2>Placements</h2>` +
    caption("The first 100 placements of this university's students, by posting then student: status, hours logged, earned and paid now.") +
    `${table([["Posting", (r) => r.posting_id], ["Student", (r) => r.student_id], ["Company", (r) => r.company_id], ["Status", (r) => r.status], ["Hours", (r) => (r.minutes_logged / 60).toFixed(1), 1], ["Earned", (r) => money(r.earned_minor, r.currency), 1], ["Paid", (r) => money(r.paid_minor, r.currency), 1], ["Proof", (r) => `<button type="button" class="proof" data-testid="proof" data-posting="${esc(r.posting_id)}" data-student="${esc(r.student_id)}">Download proof</button>`, 0, 1]], list.placements, "placements")}` +
    `<p class="hint">A proof shows a placement's events complete and unchanged against the latest signed seal, without other students' data; check it offline with <code>placementctl proof verify FILE --keys KEYS.json</code> and the keys at <code>/v1/seals/keys</code>.</p></section>`;
  $("content").querySelectorAll("button.proof").forEach((button) => button.addEventListener("click", async () => {
    const posting = button.dataset.posting, student = button.dataset.student;
    try {
      showError(null);
      const proof = await api(`/v1/placements/${encodeURIComponent(posting)}/${encodeURIComponent(student)}/proof`);
      const link = document.createElement("a");
      link.href = URL.createObjectURL(new Blob([JSON.stringify(proof)], { type: "application/json" }));
      link.download = `proof-${posting}-${student}.json`; link.click();
      setTimeout(() => URL.revokeObjectURL(link.href), 1000);
    } catch (e) { showError(e); }
  }));
}
// Dates are UTC days (YYYY-MM-DD), as the ledger's months are; times typed in are taken as UTC.
const utcDay = (date) => date.toISOString().slice(0, 10);
const dayAfter = (day) => { const d = new Date(day + "T00:00:00Z"); d.setUTCDate(d.getUTCDate() + 1); return utcDay(d); };
const isDay = (v) => /^\d{4}-\d{2}-\d{2}$/.test(v) && !Number.isNaN(Date.parse(v + "T00:00:00Z"));
function utcTime(value) {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?$/.test(value)) throw new Error(`${value} is not a date and time`);
  return value + (value.length === 16 ? ":00" : "") + "Z";
}
function period(choice) {
  const now = new Date(), y = now.getUTCFullYear(), m = now.getUTCMonth();
  const day = (yy, mm, dd) => utcDay(new Date(Date.UTC(yy, mm, dd)));
  switch (choice) {
    case "month": return [day(y, m, 1), day(y, m + 1, 0)];
    case "previous-month": return [day(y, m - 1, 1), day(y, m, 0)];
    case "year": return [day(y, 0, 1), day(y, 11, 31)];
    case "previous-year": return [day(y - 1, 0, 1), day(y - 1, 11, 31)];
    default: return ["", ""];
  }
}
const LINE_LIMIT = 500;
function statementControls() {
  const quick = [["month", "This month"], ["previous-month", "Previous month"], ["year", "This year"], ["previous-year", "Previous year"], ["all", "All history"]];
  return `<form id="statement-form" class="controls" autocomplete="off">` +
    `<div class="quick" role="group" aria-label="Quick periods">${quick.map(([id, label]) => `<button type="button" class="secondary" data-period="${id}" aria-pressed="false">${esc(label)}</button>`).join("")}</div>` +
    `<label for="statement-from">First day (UTC)<input type="date" id="statement-from"></label>` +
    `<label for="statement-to">Last day (UTC, included)<input type="date" id="statement-to"></label>` +
    `<label for="statement-as-of">As recorded at (UTC, optional)<input type="datetime-local" id="statement-as-of" step="1"></label>` +
    `<button type="submit">Show</button>` +
    `<button type="button" class="secondary" id="statement-csv" data-testid="statement-csv">Download CSV</button></form>`;
}
function statementBody(s) {
  const amount = (field) => (r) => money(r[field], r.currency);
  let html = table([["Currency", (r) => r.currency], ["Opening", amount("opening_balance_minor"), 1], ["Earned", amount("earned_minor"), 1],
    ["Paid", amount("paid_minor"), 1], ["Reversed", amount("reversed_minor"), 1], ["Closing", amount("closing_balance_minor"), 1], ["Lines", (r) => r.lines.length, 1]],
    s.currencies, "statement-summary", { empty: "This company has no placements yet." });
  for (const c of s.currencies) {
    const shown = c.lines.slice(0, LINE_LIMIT);
    html += `<h3>${esc(c.currency)} lines</h3>` +
      table([["Occurred (UTC)", (r) => r.occurred_at], ["Posting", (r) => r.posting_id], ["Student", (r) => r.student_id], ["Kind", (r) => r.kind],
        ["Amount", (r) => money(r.amount_minor, c.currency), 1], ["Payment ref", (r) => r.payment_ref ?? ""]],
        shown, "statement-lines", { currency: c.currency, empty: "No lines in this period." }) +
      (c.lines.length > shown.length ? `<p class="hint">The first ${shown.length} of ${c.lines.length} lines; the CSV has them all.</p>` : "");
  }
  return html;
}
function statementStatus(first, last, asOf) {
  const range = first && last ? `${first} to ${last}` : first ? `from ${first} on` : last ? `up to ${last}` : "all history";
  return `Period: ${range} (UTC days, both included); ${asOf ? "as the ledger had recorded it at " + asOf : "as recorded now"}.`;
}
const AGING_BUCKETS = [["0-30", "0–30 days"], ["31-60", "31–60 days"], ["61-90", "61–90 days"], ["90+", "over 90 days"]];
function agingBar(c) {
  const w = 640, h = 28, total = c.total_minor;
  let x = 0;
  const rects = AGING_BUCKETS.map(([bucket, label], i) => {
    const value = c.buckets[bucket] ?? 0, width = total > 0 ? w * value / total : 0;
    const rect = `<rect class="age age${i}" data-bucket="${esc(bucket)}" data-minor="${value}" x="${x}" y="0" width="${width}" height="${h}"><title>${esc(label)}: ${esc(money(value, c.currency))}</title></rect>`;
    x += width; return rect;
  }).join("");
  const label = `${c.currency} owed: ${money(total, c.currency)}; ` + AGING_BUCKETS.map(([bucket, name]) => `${name} ${money(c.buckets[bucket] ?? 0, c.currency)}`).join(", ");
  return `<svg viewBox="0 0 ${w} ${h}" width="100%" height="${h}" preserveAspectRatio="none" role="img" aria-label="${esc(label)}" data-testid="aging-bar" data-currency="${esc(c.currency)}">` +
    `<title>${esc(label)}</title><rect class="track" x="0" y="0" width="${w}" height="${h}"/>${rects}</svg>`;
}
function agingBody(a) {
  const bucket = (name) => (r) => money(r.buckets[name] ?? 0, r.currency);
  let html = table([["Currency", (r) => r.currency], ...AGING_BUCKETS.map(([b, label]) => [label, bucket(b), 1]), ["Total owed", (r) => money(r.total_minor, r.currency), 1]],
    a.currencies, "aging-buckets", { empty: "This company has no placements yet." });
  if (a.currencies.length) {
    html += `<ul class="legend" aria-label="Legend">${AGING_BUCKETS.map(([, label], i) => `<li><span class="swatch age${i}" aria-hidden="true"></span>${esc(label)}</li>`).join("")}</ul>`;
  }
  for (const c of a.currencies) {
    const shown = c.items.slice(0, LINE_LIMIT);
    html += `<h3>${esc(c.currency)}: ${esc(money(c.total_minor, c.currency))} owed</h3>${agingBar(c)}` +
      table([["Posting", (r) => r.posting_id], ["Student", (r) => r.student_id], ["Due since (UTC)", (r) => r.due_since], ["Days", (r) => r.days, 1],
        ["Bucket", (r) => r.bucket], ["Amount", (r) => money(r.amount_minor, c.currency), 1]],
        shown, "aging-items", { currency: c.currency, empty: "Nothing owed." }) +
      (c.items.length > shown.length ? `<p class="hint">The first ${shown.length} of ${c.items.length} items; the CSV has them all.</p>` : "");
  }
  return html;
}
// Loads a panel's report into its body; only the latest request of a panel is shown. The panel's
// data-url is the query it shows (never a key), data-state loading, ready or error.
async function loadPanel(panel, path, render) {
  const token = (panel._token = (panel._token || 0) + 1);
  panel.dataset.state = "loading"; panel.setAttribute("aria-busy", "true");
  try {
    const data = await api(path);
    if (token !== panel._token) return;
    panel.querySelector(".panel-body").innerHTML = render(data);
    panel.dataset.url = path; panel.dataset.state = "ready";
    return data;
  } catch (e) {
    if (token !== panel._token) return;
    panel.dataset.state = "error"; showError(e);
  } finally {
    if (token === panel._token) panel.removeAttribute("aria-busy");
  }
}
async function company(me) {
  const org = me.org_id, base = `/v1/reports/companies/${encodeURIComponent(org)}`;
  const report = await api(`${base}/stipends`);
  $("content").innerHTML =
    `<section data-testid="stipends-panel"><h2>Stipends by currency</h2>` +
    caption("Per currency, all of this company's placements (withdrawn ones included), now: cap, the most each may be paid; earned by the stipend rules; paid, payments not reversed; balance, earned − paid. Payments counts every payment made, reversed ones too.") +
    `${table([["Currency", (r) => r.currency], ["Placements", (r) => r.placements, 1], ["Cap", (r) => money(r.cap_minor, r.currency), 1], ["Earned", (r) => money(r.earned_minor, r.currency), 1], ["Paid", (r) => money(r.paid_minor, r.currency), 1], ["Balance", (r) => money(r.balance_minor, r.currency), 1], ["Payments", (r) => r.payments, 1], ["Reversals", (r) => r.reversals, 1]], report.by_currency, "stipends")}` +
    `<p><button type="button" id="csv" data-testid="csv">Download CSV</button></p></section>` +
    `<section data-testid="open-balances-panel"><h2>Open balances (oldest first)</h2>` +
    caption("Earned minus paid per placement, where not zero (negative: paid in advance), now; oldest selection first.") +
    `${table([["Posting", (r) => r.posting_id], ["Student", (r) => r.student_id], ["Selected", (r) => r.selected_at.slice(0, 10)], ["Earned", (r) => money(r.earned_minor, r.currency), 1], ["Paid", (r) => money(r.paid_minor, r.currency), 1], ["Balance", (r) => money(r.balance_minor, r.currency), 1]], report.open_balances, "open-balances")}</section>` +
    `<section id="statement" data-testid="statement"><h2>Statement</h2>` +
    caption("Lines are the changes events made to each placement's balance, by business time: earned and reversed add to it, paid takes away. Hourly stipends are rounded on the placement's total. Opening is the balance before the period; closing = opening + earned − paid + reversed.") +
    `${statementControls()}<p class="status" id="statement-status" aria-live="polite" data-testid="statement-period"></p><div class="panel-body"></div></section>` +
    `<section id="aging" data-testid="aging"><h2>Aging</h2>` +
    caption("What is owed at the chosen time (default: now), payments applied to the oldest earned amounts first; each unpaid amount is aged in whole days since it was earned. Placements paid in advance owe nothing and are not listed.") +
    `<form id="aging-form" class="controls" autocomplete="off">` +
    `<label for="aging-at">Owed at (UTC; empty: now)<input type="datetime-local" id="aging-at" step="1"></label>` +
    `<button type="submit">Show</button><button type="button" class="secondary" id="aging-csv" data-testid="aging-csv">Download CSV</button></form>` +
    `<p class="status" id="aging-status" aria-live="polite" data-testid="aging-at"></p><div class="panel-body"></div></section>`;
  $("csv").addEventListener("click", () => downloadCSV(`${base}/stipends`, `stipends-${org}.csv`));

  const statement = $("statement"), from = $("statement-from"), to = $("statement-to"), asOf = $("statement-as-of");
  const quick = statement.querySelectorAll("button[data-period]");
  const pressed = (choice) => quick.forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.period === choice)));
  function statementPath() {
    const first = from.value, last = to.value, query = new URLSearchParams();
    if (first && !isDay(first)) throw new Error("The first day is not a date");
    if (last && !isDay(last)) throw new Error("The last day is not a date");
    if (first && last && last < first) throw new Error("The last day must not be before the first");
    if (first) query.set("from", first + "T00:00:00Z");
    if (last) query.set("to", dayAfter(last) + "T00:00:00Z");
    if (asOf.value) query.set("as_of", utcTime(asOf.value));
    const q = query.toString();
    return { path: `${base}/statement` + (q ? "?" + q : ""), status: statementStatus(first, last, query.get("as_of")),
             file: `statement-${org}-${first || "start"}-${last || "now"}.csv` };
  }
  async function showStatement() {
    let request;
    try { showError(null); request = statementPath(); } catch (e) { showError(e); return; }
    const data = await loadPanel(statement, request.path, statementBody);
    if (data) $("statement-status").textContent = request.status;
  }
  quick.forEach((button) => button.addEventListener("click", () => {
    [from.value, to.value] = period(button.dataset.period); pressed(button.dataset.period); showStatement();
  }));
  [from, to].forEach((input) => input.addEventListener("input", () => pressed(null)));
  $("statement-form").addEventListener("submit", (event) => { event.preventDefault(); showStatement(); });
  // The file is the statement the inputs ask for; the panel is brought to the same period if it shows another.
  $("statement-csv").addEventListener("click", () => {
    let request;
    try { request = statementPath(); } catch (e) { showError(e); return; }
    if (statement.dataset.url !== request.path) showStatement();
    downloadCSV(request.path, request.file);
  });

  const aging = $("aging"), at = $("aging-at");
  const agingPath = () => `${base}/aging` + (at.value ? "?at=" + encodeURIComponent(utcTime(at.value)) : "");
  async function showAging() {
    let path;
    try { showError(null); path = agingPath(); } catch (e) { showError(e); return; }
    const data = await loadPanel(aging, path, agingBody);
    if (data) { aging.dataset.at = data.at; $("aging-status").textContent = `Owed at ${data.at} (UTC)${at.value ? "" : ", now"}.`; }
  }
  $("aging-form").addEventListener("submit", (event) => { event.preventDefault(); showAging(); });
  $("aging-csv").addEventListener("click", () => {
    let path;
    try { path = agingPath(); } catch (e) { showError(e); return; }
    if (aging.dataset.url !== path) showAging();
    // "Now" is pinned to the time the panel shows, so that the file holds the same figures.
    else if (!at.value && aging.dataset.at) path += "?at=" + encodeURIComponent(aging.dataset.at);
    downloadCSV(path, `aging-${org}-${(at.value ? utcTime(at.value) : aging.dataset.at || "now").slice(0, 10)}.csv`);
  });

  [from.value, to.value] = period("month"); pressed("month");
  await Promise.all([showStatement(), showAging()]);
}
function age(time) {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(time)) / 1000));
  return s < 120 ? s + " s" : s < 7200 ? Math.round(s / 60) + " min" : s < 172800 ? Math.round(s / 3600) + " h" : Math.round(s / 86400) + " days";
}
async function operator(me) {
  const status = await api(`/v1/projections`);
  let seal = null, sealNote = "";
  try { seal = (await api(`/v1/seals/latest`)).seal; } catch (e) { sealNote = e.message; }
  const sealPanel = seal
    ? `<div class="tiles">` + tile("Latest seal", "#" + seal.seal, "seal-number") + tile("Events sealed", seal.tree_size, "seal-tree-size") +
        tile("Age", age(seal.sealed_at), "seal-age") + tile("Signing key", seal.key_id, "seal-key", true) + `</div>` +
        `<p class="hint">Signed Merkle seal over every event up to position ${esc(seal.up_to_position)} (root <code>${esc(seal.root.slice(0, 16))}…</code>). Auditors check it with the public key at <code>/v1/seals/keys</code>.</p>`
    : `<p class="hint" data-testid="seal-none">${esc(sealNote)}</p>`;
  $("content").innerHTML =
    `<section data-testid="seals"><h2>Seals</h2>` +
    caption("The latest signed seal: its number, how many events it covers (the whole log up to a position), how long ago it was made and the key that signed it.") +
    `${sealPanel}</section>` +
    `<section data-testid="projections-panel"><h2>Projections</h2>` +
    caption("The read models that postings, placements and the university, stipend and payout reports are answered from: the log position each reflects and how far behind the log it is, in events and milliseconds; live, or rebuilding.") +
    `${table([["Projection", (r) => r.name], ["State", (r) => r.state], ["Version", (r) => r.version, 1], ["Position", (r) => r.position, 1], ["Events", (r) => r.events ?? "", 1], ["Lag (events)", (r) => r.lag, 1], ["Lag (ms)", (r) => r.lag_ms, 1]], status.projections, "projections")}</section>`;
}
async function render() {
  showError(null);
  if (!store.getItem("placementKey")) { $("who").textContent = ""; return; }
  try {
    const me = await api("/v1/me");
    $("who").textContent = me.role + (me.org_id ? " · " + me.org_id : "");
    document.body.dataset.role = me.role;
    if (me.role === "university") await university(me);
    else if (me.role === "company") await company(me);
    else await operator(me);
    document.body.dataset.ready = "true";
  } catch (e) { showError(e); }
}
$("login").addEventListener("submit", (event) => {
  event.preventDefault();
  const key = $("key").value.trim();
  if (key) { store.setItem("placementKey", key); $("key").value = ""; render(); }
});
$("forget").addEventListener("click", () => { store.removeItem("placementKey"); location.reload(); });
render();
</script>
</body>
</html>
"""#
}
