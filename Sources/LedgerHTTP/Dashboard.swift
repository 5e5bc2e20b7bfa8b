/// The web dashboard served at `GET /`: one self-contained page (no external fonts, scripts or
/// styles). The user pastes an API key; it is kept in sessionStorage and sent as a bearer header,
/// never in a URL. What it shows depends on the key's role (`GET /v1/me`): a university's KPI
/// tiles, placements per month and placements table (each with a "download proof" action); a company's stipends per currency, open
/// balances and a CSV download; a platform or admin key's latest seal (number, events, age, signing
/// key) and projection status.
enum Dashboard {
    static let html = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Placement Ledger</title>
<style>
  :root { --ink:#1d2330; --muted:#5b6475; --line:#dde2ea; --accent:#2f5bd3; --bg:#f6f7fa; --card:#fff; }
  * { box-sizing: border-box; }
  body { margin:0; font:15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color:var(--ink); background:var(--bg); }
  header { background:var(--ink); color:#fff; padding:14px 20px; display:flex; flex-wrap:wrap; gap:12px; align-items:center; justify-content:space-between; }
  header h1 { font-size:18px; margin:0; font-weight:600; }
  main { max-width:1100px; margin:0 auto; padding:20px; }
  form { display:flex; gap:8px; flex-wrap:wrap; }
  input[type=password] { flex:1 1 260px; min-width:0; padding:8px 10px; border:1px solid var(--line); border-radius:6px; font:inherit; }
  button, .button { padding:8px 14px; border:0; border-radius:6px; background:var(--accent); color:#fff; font:inherit; cursor:pointer; }
  button.secondary { background:#e9edf5; color:var(--ink); }
  .who { font-size:14px; opacity:.85; }
  .tiles { display:grid; grid-template-columns:repeat(auto-fit, minmax(150px, 1fr)); gap:12px; margin:16px 0; }
  .tile { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:12px 14px; }
  .tile .label { color:var(--muted); font-size:13px; }
  .tile .value { font-size:24px; font-weight:650; margin-top:2px; font-variant-numeric:tabular-nums; }
  .tile .value.code { font-size:15px; font-family:ui-monospace, monospace; overflow-wrap:anywhere; }
  section { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:14px; margin:16px 0; overflow-x:auto; }
  section h2 { font-size:16px; margin:0 0 10px; }
  table { border-collapse:collapse; width:100%; font-variant-numeric:tabular-nums; }
  th, td { text-align:left; padding:6px 8px; border-bottom:1px solid var(--line); white-space:nowrap; }
  th { color:var(--muted); font-weight:600; font-size:13px; }
  td.num, th.num { text-align:right; }
  .error { background:#fdecec; color:#8a1f1f; border:1px solid #f3c2c2; border-radius:8px; padding:10px 12px; margin:12px 0; }
  .hint { color:var(--muted); }
  svg text { font-size:11px; fill:var(--muted); }
  svg rect.bar { fill:var(--accent); }
  @media (max-width: 600px) { main { padding:12px; } .tile .value { font-size:20px; } header h1 { font-size:16px; } }
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
  <div id="error" class="error" hidden data-testid="error"></div>
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
function showError(e) { const box = $("error"); box.textContent = e ? String(e.message || e) : ""; box.hidden = !e; }
function tile(label, value, id, code) { return `<div class="tile"><div class="label">${esc(label)}</div><div class="value${code ? " code" : ""}" data-testid="${id}">${esc(value)}</div></div>`; }
function table(columns, rows, id) {
  const head = columns.map(([label, , num]) => `<th${num ? ' class="num"' : ""}>${esc(label)}</th>`).join("");
  // A fourth element marks a column whose cells are markup the dashboard built (escaped inside).
  const body = rows.map((r) => "<tr>" + columns.map(([, get, num, markup]) => `<td${num ? ' class="num"' : ""}>${markup ? get(r) : esc(get(r))}</td>`).join("") + "</tr>").join("");
  return `<table data-testid="${id}"><thead><tr>${head}</tr></thead><tbody>${body || `<tr><td colspan="${columns.length}" class="hint">Nothing yet.</td></tr>`}</tbody></table>`;
}
function monthChart(months) {
  const w = 640, h = 200, pad = 28, max = Math.max(1, ...months.map((m) => m.placed));
  const bw = months.length ? (w - pad * 2) / months.length : 0;
  const bars = months.map((m, i) => {
    const bh = (h - pad * 2) * m.placed / max, x = pad + i * bw, y = h - pad - bh;
    return `<rect class="bar" data-month="${esc(m.month)}" data-placed="${m.placed}" x="${x + 2}" y="${y}" width="${Math.max(1, bw - 4)}" height="${bh}"><title>${esc(m.month)}: ${m.placed}</title></rect>` +
      (months.length <= 24 || i % 3 === 0 ? `<text x="${x + bw / 2}" y="${h - 10}" text-anchor="middle">${esc(m.month.slice(2))}</text>` : "");
  }).join("");
  return `<svg viewBox="0 0 ${w} ${h}" width="100%" role="img" aria-label="Placements per month" data-testid="month-chart">` +
    `<text x="${pad}" y="16">max ${max}</text><line x1="${pad}" y1="${h - pad}" x2="${w - pad}" y2="${h - pad}" stroke="#dde2ea"/>${bars}</svg>`;
}
async function university(me) {
  const [report, list] = await Promise.all([
    api(`/v1/reports/universities/${encodeURIComponent(me.org_id)}`),
    api(`/v1/placements?limit=100`),
  ]);
  const o = report.overall;
  $("content").innerHTML =
    `<div class="tiles">` +
      tile("Applicants", o.applicants, "kpi-applicants") + tile("Placed", o.placed, "kpi-placed") +
      tile("Accepted", o.accepted, "kpi-accepted") + tile("Completion rate", (o.completion_rate * 100).toFixed(1) + " %", "kpi-completion") +
      tile("Hours logged", (o.minutes_logged / 60).toFixed(1), "kpi-hours") +
      tile("Average rating", o.average_rating === null ? "—" : o.average_rating, "kpi-rating") + tile("Companies", o.companies, "kpi-companies") +
    `</div>` +
    `<section><h2>Placements per month</h2>${monthChart(report.by_month)}</section>` +
    `<section><h2>Money by currency</h2>${table([["Currency", (r) => r.currency], ["Placed", (r) => r.placed, 1], ["Earned", (r) => money(r.earned_minor, r.currency), 1], ["Paid", (r) => money(r.paid_minor, r.currency), 1], ["Balance", (r) => money(r.balance_minor, r.currency), 1]], report.by_currency, "university-currencies")}</section>` +
    `<section><h2>Placements</h2>${table([["Posting", (r) => r.posting_id], ["Student", (r) => r.student_id], ["Company", (r) => r.company_id], ["Status", (r) => r.status], ["Hours", (r) => (r.minutes_logged / 60).toFixed(1), 1], ["Earned", (r) => money(r.earned_minor, r.currency), 1], ["Paid", (r) => money(r.paid_minor, r.currency), 1], ["Proof", (r) => `<button type="button" class="proof" data-testid="proof" data-posting="${esc(r.posting_id)}" data-student="${esc(r.student_id)}">Download proof</button>`, 0, 1]], list.placements, "placements")}` +
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
async function company(me) {
  const report = await api(`/v1/reports/companies/${encodeURIComponent(me.org_id)}/stipends`);
  $("content").innerHTML =
    `<section><h2>Stipends by currency</h2>${table([["Currency", (r) => r.currency], ["Placements", (r) => r.placements, 1], ["Cap", (r) => money(r.cap_minor, r.currency), 1], ["Earned", (r) => money(r.earned_minor, r.currency), 1], ["Paid", (r) => money(r.paid_minor, r.currency), 1], ["Balance", (r) => money(r.balance_minor, r.currency), 1], ["Payments", (r) => r.payments, 1], ["Reversals", (r) => r.reversals, 1]], report.by_currency, "stipends")}` +
    `<p><button type="button" id="csv" data-testid="csv">Download CSV</button></p></section>` +
    `<section><h2>Open balances (oldest first)</h2>${table([["Posting", (r) => r.posting_id], ["Student", (r) => r.student_id], ["Selected", (r) => r.selected_at.slice(0, 10)], ["Earned", (r) => money(r.earned_minor, r.currency), 1], ["Paid", (r) => money(r.paid_minor, r.currency), 1], ["Balance", (r) => money(r.balance_minor, r.currency), 1]], report.open_balances, "open-balances")}</section>`;
  $("csv").addEventListener("click", async () => {
    try {
      const blob = await api(`/v1/reports/companies/${encodeURIComponent(me.org_id)}/stipends?format=csv`, "text/csv");
      const link = document.createElement("a");
      link.href = URL.createObjectURL(blob); link.download = `stipends-${me.org_id}.csv`; link.click();
      setTimeout(() => URL.revokeObjectURL(link.href), 1000);
    } catch (e) { showError(e); }
  });
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
    `<section><h2>Seals</h2>${sealPanel}</section>` +
    `<section><h2>Projections</h2>${table([["Projection", (r) => r.name], ["State", (r) => r.state], ["Version", (r) => r.version, 1], ["Position", (r) => r.position, 1], ["Events", (r) => r.events ?? "", 1], ["Lag (events)", (r) => r.lag, 1], ["Lag (ms)", (r) => r.lag_ms, 1]], status.projections, "projections")}</section>`;
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
