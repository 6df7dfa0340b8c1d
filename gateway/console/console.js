// The gateway console: plain JavaScript over the gateway's JSON API. The credential lives in
// sessionStorage (this tab only); every call sends it as a bearer token, and the API decides
// what the caller's role may read. Views mark themselves data-ready="1" once drawn.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const TOKEN = "gateway-console-credential";
  const COLORS = ["#3b7dd8", "#e8833a", "#4caf7a", "#c9483c", "#8c6bc8", "#d6b23a", "#3aaeb8", "#a0627b", "#6b7a8c"];
  const state = { me: null, csv: {}, versions: [], charts: {} };

  const token = () => sessionStorage.getItem(TOKEN) || "";

  async function api(path, options = {}) {
    const headers = Object.assign({ authorization: "Bearer " + token() }, options.headers || {});
    const resp = await fetch(path, Object.assign({}, options, { headers }));
    if (!resp.ok) {
      let message = resp.status + " " + resp.statusText;
      try { message = (await resp.json()).error.message || message; } catch (_) { /* not JSON */ }
      const err = new Error(message);
      err.status = resp.status;
      throw err;
    }
    return resp;
  }
  const json = async (path, options) => (await api(path, options)).json();

  function range() {
    return "from=" + encodeURIComponent($("from").value) + "&to=" + encodeURIComponent($("to").value);
  }

  function cell(value, numeric) {
    const td = document.createElement("td");
    td.textContent = value === null || value === undefined ? "" : String(value);
    if (numeric) td.className = "num";
    return td;
  }

  // Fill a table from rows of objects; `cols` are [key, header] pairs. Returns the rows, for CSV.
  function table(id, cols, rows, extra) {
    const t = $(id);
    t.replaceChildren();
    const head = document.createElement("tr");
    for (const [, label] of cols) { const th = document.createElement("th"); th.textContent = label; head.append(th); }
    if (extra) head.append(document.createElement("th"));
    t.append(head);
    for (const row of rows) {
      const tr = document.createElement("tr");
      for (const [key] of cols) tr.append(cell(row[key], typeof row[key] === "number"));
      if (extra) { const td = document.createElement("td"); extra(row, td); tr.append(td); }
      t.append(tr);
    }
    return rows;
  }

  function csvFromRows(cols, rows) {
    const esc = (v) => { const s = v === null || v === undefined ? "" : String(v); return /[",\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s; };
    return [cols.map((c) => esc(c[0])).join(","), ...rows.map((r) => cols.map((c) => esc(r[c[0]])).join(","))].join("\n") + "\n";
  }

  function download(name, text) {
    const a = document.createElement("a");
    a.href = URL.createObjectURL(new Blob([text], { type: "text/csv" }));
    a.download = name;
    document.body.append(a);
    a.click();
    a.remove();
  }

  // Server CSV for reports (exact figures); client CSV from the table rows for the rest.
  async function csv(view) {
    const spec = state.csv[view];
    if (!spec) return;
    if (spec.url) download(view + ".csv", await (await api(spec.url + "&format=csv")).text());
    else download(view + ".csv", csvFromRows(spec.cols, spec.rows));
  }

  function chart(id, config) {
    if (state.charts[id]) state.charts[id].destroy();
    config.options = Object.assign({ responsive: true, maintainAspectRatio: false, animation: false }, config.options || {});
    state.charts[id] = new Chart($(id), config);
    return state.charts[id];
  }

  function ready(view) { $("view-" + view).dataset.ready = "1"; }
  const usd = (v) => Number.parseFloat(v);
  const byCost = (a, b) => b.cost_millicents - a.cost_millicents;

  // ---- views ----
  async function usage() {
    const url = "/v1/reports/costs?group_by=day&" + range();
    const rep = await json(url);
    $("usage-scope").textContent = rep.user_id ? "(your own usage)" : "(whole organization)";
    chart("chart-usage", {
      type: "bar",
      data: { labels: rep.rows.map((r) => r.day), datasets: [{ label: "cost (USD)", data: rep.rows.map((r) => usd(r.cost_usd)), backgroundColor: COLORS[0] }] },
    });
    const cols = [["day", "day"], ["requests", "requests"], ["input_tokens", "input tokens"], ["output_tokens", "output tokens"], ["cost_usd", "cost (USD)"]];
    table("table-usage", cols, rep.rows);
    state.csv.usage = { url };
    ready("usage");
  }

  async function spend() {
    const period = $("spend-period").value;
    const stack = $("spend-stack").value;
    const url = "/v1/reports/costs?group_by=" + period + "," + stack + "&" + range();
    const rep = await json(url);
    const key = stack === "user" ? "user_email" : stack;
    const labels = [...new Set(rep.rows.map((r) => r[period]))].sort();
    const series = [...new Set(rep.rows.map((r) => r[key] ?? "(none)"))].sort();
    const datasets = series.map((name, i) => ({
      label: name,
      backgroundColor: COLORS[i % COLORS.length],
      data: labels.map((l) => rep.rows.filter((r) => r[period] === l && (r[key] ?? "(none)") === name).reduce((s, r) => s + usd(r.cost_usd), 0)),
    }));
    chart("chart-spend", { type: "bar", data: { labels, datasets }, options: { scales: { x: { stacked: true }, y: { stacked: true, title: { display: true, text: "USD" } } } } });
    state.csv.spend = { url };
    const usersUrl = "/v1/reports/costs?group_by=user&" + range();
    const modelsUrl = "/v1/reports/costs?group_by=model&" + range();
    const [users, models] = await Promise.all([json(usersUrl), json(modelsUrl)]);
    table("table-top-users", [["user_email", "user"], ["requests", "requests"], ["cost_usd", "cost (USD)"]], users.rows.sort(byCost).slice(0, 10));
    table("table-top-models", [["model", "model"], ["requests", "requests"], ["cost_usd", "cost (USD)"]], models.rows.sort(byCost).slice(0, 10));
    state.csv["top-users"] = { url: usersUrl };
    state.csv["top-models"] = { url: modelsUrl };
    ready("spend");
  }

  async function budget() {
    const b = await json("/v1/budget");
    const limit = b.budget_millicents;
    const spent = b.month_to_date_millicents;
    const rest = limit === null ? 0 : Math.max(limit - spent, 0);
    chart("chart-budget", {
      type: "doughnut",
      data: { labels: ["spent", "remaining"], datasets: [{ data: [spent / 1e5, rest / 1e5], backgroundColor: [b.percent_used >= b.alert_threshold ? COLORS[3] : COLORS[0], "#e3e7ec"] }] },
      options: { rotation: -90, circumference: 180, cutout: "70%" },
    });
    $("budget-text").textContent = limit === null
      ? "No monthly budget is set; $" + b.month_to_date_usd + " spent this month."
      : b.percent_used + "% of $" + b.budget_usd + " used; projected " + b.projected_percent + "% ($" + b.projected_month_end_usd + ") at month end; alert at " + b.alert_threshold + "%" + (b.hard_limit ? ", hard limit" : "") + ".";
    const rows = [
      { what: "month", value: b.month }, { what: "spent (USD)", value: b.month_to_date_usd }, { what: "budget (USD)", value: b.budget_usd },
      { what: "percent used", value: b.percent_used }, { what: "alert threshold (%)", value: b.alert_threshold },
      { what: "hard limit", value: b.hard_limit }, { what: "daily run rate (USD)", value: b.daily_run_rate_usd },
      { what: "projected month end (USD)", value: b.projected_month_end_usd }, { what: "projected percent", value: b.projected_percent },
      { what: "resets on", value: b.resets_on },
    ];
    const cols = [["what", "what"], ["value", "value"]];
    table("table-budget", cols, rows);
    state.csv.budget = { cols, rows };
    ready("budget");
  }

  async function savings() {
    const url = "/v1/reports/savings?group_by=day&" + range();
    const rep = await json(url);
    chart("chart-savings", {
      type: "bar",
      data: {
        labels: rep.rows.map((r) => r.day),
        datasets: [
          { label: "AUTO cost (USD)", data: rep.rows.map((r) => usd(r.cost_usd)), backgroundColor: COLORS[0] },
          { label: "at the complex tier (USD)", data: rep.rows.map((r) => usd(r.counterfactual_cost_usd)), backgroundColor: COLORS[1] },
        ],
      },
    });
    const t = rep.totals;
    $("savings-text").textContent = "AUTO saved $" + t.savings_usd + " over " + t.requests + " requests ($" + t.cost_usd + " against $" + t.counterfactual_cost_usd + ").";
    table("table-savings", [["day", "day"], ["requests", "requests"], ["cost_usd", "cost (USD)"], ["counterfactual_cost_usd", "complex tier (USD)"], ["savings_usd", "saved (USD)"]], rep.rows);
    state.csv.savings = { url };
    ready("savings");
  }

  async function decisions() {
    const form = new FormData($("decision-filters"));
    const q = new URLSearchParams();
    for (const [k, v] of form.entries()) if (v !== "") q.set(k, v);
    const list = await json("/v1/router/decisions?" + q.toString());
    const cols = [["created_at", "when"], ["selected_model", "model"], ["tier", "tier"], ["score", "score"], ["confidence", "confidence"], ["query_length", "prompt length"], ["request_succeeded", "succeeded"], ["response_tokens", "response tokens"], ["cost_millicents", "cost (millicents)"]];
    state.csv.decisions = { cols, rows: table("table-decisions", cols, list.data) };
  }

  function flatten(obj, prefix, out) {
    for (const [k, v] of Object.entries(obj)) {
      if (v && typeof v === "object" && !Array.isArray(v)) flatten(v, prefix + k + ".", out);
      else out[prefix + k] = v;
    }
    return out;
  }

  function diff() {
    const a = state.versions.find((v) => String(v.version) === $("cfg-a").value);
    const b = state.versions.find((v) => String(v.version) === $("cfg-b").value);
    if (!a || !b) { table("table-config-diff", [["field", "field"]], []); return; }
    const fa = flatten(a.config, "", {});
    const fb = flatten(b.config, "", {});
    // The version number is the store's label, not a setting: leave it out of the diff.
    const rows = [...new Set([...Object.keys(fa), ...Object.keys(fb)])].filter((f) => f !== "version").sort().map((f) => ({ field: f, a: fa[f], b: fb[f] }));
    const t = table("table-config-diff", [["field", "field"], ["a", "v" + a.version], ["b", "v" + b.version]], rows);
    [...$("table-config-diff").rows].slice(1).forEach((tr, i) => { if (JSON.stringify(t[i].a) !== JSON.stringify(t[i].b)) tr.className = "changed"; });
  }

  async function whatIf(event) {
    if (event) event.preventDefault();
    $("whatif-error").textContent = "";
    const f = new FormData($("whatif-form"));
    try {
      const w = await json("/v1/router/what-if?simple_max=" + f.get("simple_max") + "&medium_max=" + f.get("medium_max") + "&" + range());
      const rows = ["simple", "medium", "complex"].map((t) => ({ tier: t, logged: w.logged[t] || 0, replayed: w.replayed[t] || 0 }));
      table("table-whatif", [["tier", "tier"], ["logged", "as logged"], ["replayed", "with these thresholds"]], rows);
    } catch (err) { $("whatif-error").textContent = err.message; }
  }

  // The share of cascade-mode decisions that escalated to the strong model, over the period.
  function cascade(c) {
    const pct = c.escalation_share === null ? null : Math.round(c.escalation_share * 1000) / 10;
    $("cascade-text").textContent = c.decisions === 0
      ? "No cascade decisions in this period."
      : pct + "% of " + c.decisions + " cascade decisions escalated (" + c.escalated + " escalated, " + c.accepted + " drafts accepted).";
    chart("chart-cascade", {
      type: "doughnut",
      data: { labels: ["escalated", "accepted"], datasets: [{ data: [c.escalated, c.accepted], backgroundColor: [COLORS[3], COLORS[2]] }] },
      options: { rotation: -90, circumference: 180, cutout: "70%" },
    });
    const rows = [{ decisions: c.decisions, escalated: c.escalated, accepted: c.accepted, escalation_share: c.escalation_share }];
    const cols = [["decisions", "cascade decisions"], ["escalated", "escalated"], ["accepted", "accepted"], ["escalation_share", "escalation share"]];
    state.csv.cascade = { cols, rows: table("table-cascade", cols, rows) };
  }

  // Arena rankings: the organization's Bradley-Terry fit with its interval, and the caller's own table.
  async function rankings() {
    const [org, mine] = await Promise.all([json("/v1/arena/rankings?scope=org"), json("/v1/arena/rankings?scope=me")]);
    const orgCols = [["rank", "rank"], ["model", "model"], ["rating", "rating"], ["lower", "lower"], ["upper", "upper"], ["votes", "votes"], ["wins", "wins"], ["losses", "losses"], ["ties", "ties"]];
    state.csv["rankings-org"] = { cols: orgCols, rows: table("table-rankings-org", orgCols, org.data) };
    const meCols = [["model", "model"], ["rating", "rating"], ["elo_rating", "own Elo"], ["org_rating", "organization"], ["votes", "votes"], ["wins", "wins"], ["losses", "losses"], ["ties", "ties"]];
    state.csv["rankings-me"] = { cols: meCols, rows: table("table-rankings-me", meCols, mine.data) };
  }

  async function router() {
    const [mix, summary, config, versions] = await Promise.all([
      json("/v1/router/tier-mix?" + range()),
      json("/v1/router/summary?" + range()),
      json("/v1/router/config"),
      json("/v1/router/config/versions"),
    ]);
    const days = [...new Set(mix.data.map((d) => d.day))].sort();
    const tiers = ["simple", "medium", "complex", ...new Set(mix.data.map((d) => d.tier))].filter((t, i, all) => all.indexOf(t) === i);
    chart("chart-tier-mix", {
      type: "bar",
      data: { labels: days, datasets: tiers.map((t, i) => ({ label: t, backgroundColor: COLORS[i % COLORS.length], data: days.map((d) => (mix.data.find((x) => x.day === d && x.tier === t) || { requests: 0 }).requests) })) },
      options: { scales: { x: { stacked: true }, y: { stacked: true } } },
    });
    state.csv["tier-mix"] = { cols: [["day", "day"], ["tier", "tier"], ["requests", "requests"]], rows: mix.data };
    const hist = summary.score_histogram;
    chart("chart-histogram", {
      type: "bar",
      data: { labels: hist.map((b) => b.low + "–" + b.high), datasets: [{ label: "decisions", data: hist.map((b) => b.count), backgroundColor: COLORS[4] }] },
    });
    state.csv.histogram = { cols: [["low", "low"], ["high", "high"], ["count", "count"]], rows: hist };
    cascade(summary.cascade);
    await rankings();
    await decisions();
    state.versions = [{ version: config.version, scope: "current", config }, ...versions.data.filter((v) => v.version !== config.version)];
    for (const id of ["cfg-a", "cfg-b"]) {
      $(id).replaceChildren(...state.versions.map((v) => { const o = document.createElement("option"); o.value = String(v.version); o.textContent = "v" + v.version + " (" + v.scope + ")"; return o; }));
    }
    if (state.versions.length > 1) $("cfg-b").value = String(state.versions[1].version);
    diff();
    const wf = $("whatif-form");
    wf.simple_max.value = config.simple_max;
    wf.medium_max.value = config.medium_max;
    await whatIf();
    ready("router");
  }

  async function admin() {
    const p = await json("/v1/organizations/me/policy");
    const rows = [
      { what: "allowed tiers", value: p.allowed_tiers.join(", ") },
      { what: "model tier overrides", value: Object.entries(p.model_tier_assignments).map(([m, t]) => m + " → " + (t ?? "disabled")).join("; ") || "none" },
      { what: "monthly budget (USD)", value: p.monthly_budget_usd ?? "none" },
      { what: "alert threshold (%)", value: p.budget_alert_threshold },
      { what: "hard limit", value: p.budget_hard_limit },
    ];
    table("table-policy", [["what", "setting"], ["value", "value"]], rows);
    await keys();
    ready("admin");
  }

  async function keys() {
    const list = await json("/v1/keys");
    table("table-keys", [["prefix", "prefix"], ["name", "name"], ["email", "user"], ["created_at", "created"], ["expires_at", "expires"], ["revoked_at", "revoked"]], list.data, (row, td) => {
      if (row.revoked_at) return;
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = "Revoke";
      b.dataset.keyId = row.id;
      b.addEventListener("click", async () => { await api("/v1/keys/" + row.id, { method: "DELETE" }); await keys(); });
      td.append(b);
    });
  }

  async function createKey(event) {
    event.preventDefault();
    $("key-error").textContent = "";
    const f = new FormData($("key-form"));
    const body = { name: f.get("name") };
    if (f.get("expires_in_days")) body.expires_in_days = Number(f.get("expires_in_days"));
    try {
      const k = await json("/v1/keys", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
      $("key-secret").textContent = k.key;
      $("key-reveal").hidden = false;
      await keys();
    } catch (err) { $("key-error").textContent = err.message; }
  }

  const VIEWS = { usage, spend, budget, savings, router, admin };
  const LABELS = { usage: "Usage", spend: "Spend", budget: "Budget", savings: "Savings", router: "Router", admin: "Admin" };

  async function show(view) {
    for (const s of document.querySelectorAll("section.view")) s.hidden = s.id !== "view-" + view;
    for (const b of $("nav").children) b.classList.toggle("active", b.dataset.view === view);
    location.hash = view;
    $("view-" + view).dataset.ready = "";
    try { await VIEWS[view](); } catch (err) {
      if (err.status === 401) { signOut(err.message); return; }
      $("view-" + view).dataset.error = err.message;
      throw err;
    }
  }

  function signOut(message) {
    sessionStorage.removeItem(TOKEN);
    if (message) sessionStorage.setItem("gateway-console-message", message);
    location.hash = "";
    location.reload();
  }

  async function start() {
    const note = sessionStorage.getItem("gateway-console-message");
    if (note) { $("signin-error").textContent = note; sessionStorage.removeItem("gateway-console-message"); }
    if (!token()) return;
    let me;
    try { me = await json("/v1/me"); } catch (err) {
      sessionStorage.removeItem(TOKEN);
      $("signin-error").textContent = err.message;
      return;
    }
    state.me = me;
    $("signin").hidden = true;
    $("who").hidden = false;
    $("who-text").textContent = me.email + " · " + me.role;
    $("range").hidden = false;
    const today = new Date();
    const from = new Date(today.getTime() - 29 * 86400000);
    $("to").value = today.toISOString().slice(0, 10);
    $("from").value = from.toISOString().slice(0, 10);
    $("nav").replaceChildren(...me.views.map((v) => {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = LABELS[v];
      b.dataset.view = v;
      b.addEventListener("click", () => show(v));
      return b;
    }));
    $("nav").hidden = false;
    const wanted = location.hash.slice(1);
    await show(me.views.includes(wanted) ? wanted : me.views[me.views.length > 1 ? 1 : 0]);
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("signin-form").addEventListener("submit", (e) => { e.preventDefault(); sessionStorage.setItem(TOKEN, $("credential").value.trim()); start(); });
    $("signout").addEventListener("click", () => signOut());
    $("reload").addEventListener("click", () => show(location.hash.slice(1) || state.me.views[0]));
    $("spend-period").addEventListener("change", () => show("spend"));
    $("spend-stack").addEventListener("change", () => show("spend"));
    $("decision-filters").addEventListener("submit", (e) => { e.preventDefault(); decisions(); });
    $("whatif-form").addEventListener("submit", whatIf);
    $("key-form").addEventListener("submit", createKey);
    $("cfg-a").addEventListener("change", diff);
    $("cfg-b").addEventListener("change", diff);
    for (const b of document.querySelectorAll("button.csv")) b.addEventListener("click", () => csv(b.dataset.view));
    start();
  });
})();
