// Porchlight web UI: the Transparency screen. Loaded before app.js, whose
// helpers (h, s, get, main, title, msg, short, when) it uses when called;
// app.js routes #transparency here. Charts are inline SVG drawn here: no
// library, nothing fetched but the node's own report.
"use strict";

// trNum shows a figure as the report rounds it (at most 3 decimals).
function trNum(v) { return v === null || v === undefined ? "—" : String(Math.round(v * 1000) / 1000); }

// trChart draws a bar chart of one or more series over labels, with an
// accessible name and description, a tooltip per bar, and the same
// figures as a table under a disclosure. A null value draws no bar (and
// "—" in the table): not measured is not zero.
//   o: { id, title, desc, unit, labels: [..], series: [{ name, cls, values: [..] }] }
function trChart(o) {
  const W = 640, H = 220, L = 44, R = 8, T = 14, B = 40;
  const pw = W - L - R, ph = H - T - B;
  const all = o.series.flatMap(x => x.values).filter(v => v !== null && v !== undefined);
  const max = Math.max(0, ...all);
  const top = max > 0 ? niceMax(max) : 1; // all zero: a flat chart with a 0–1 scale
  const n = Math.max(1, o.labels.length), k = o.series.length;
  const slot = pw / n, gap = Math.min(8, slot * 0.2), bw = (slot - gap) / k;
  const svg = s("svg", { class: "tr-chart", viewBox: `0 0 ${W} ${H}`, role: "img", "aria-labelledby": o.id + "-t " + o.id + "-d", "data-chart": o.id });
  svg.append(s("title", { id: o.id + "-t" }, o.title), s("desc", { id: o.id + "-d" }, o.desc));
  // Gridlines at 0, half and the top, labelled.
  for (const f of [0, 0.5, 1]) {
    const y = T + ph - f * ph;
    svg.append(s("line", { x1: L, x2: W - R, y1: y, y2: y, stroke: f === 0 ? "#5a6069" : "#d9d6cf", "stroke-width": 1 }));
    svg.append(s("text", { x: L - 6, y: y + 4, "text-anchor": "end", "font-size": 11, fill: "#5a6069" }, trNum(top * f)));
  }
  const every = Math.ceil(n / 12); // at most about 12 month labels
  o.labels.forEach((lab, i) => {
    const x0 = L + i * slot + gap / 2;
    o.series.forEach((ser, j) => {
      const v = ser.values[i];
      if (v === null || v === undefined) return;
      const hgt = (v / top) * ph;
      const bar = s("rect", { class: "bar " + ser.cls, x: (x0 + j * bw).toFixed(1), y: (T + ph - hgt).toFixed(1), width: Math.max(1, bw - 1).toFixed(1),
        height: Math.max(0, hgt).toFixed(1), fill: ser.fill, "data-label": lab, "data-value": v });
      bar.append(s("title", {}, `${lab}: ${trNum(v)} ${ser.name}`));
      svg.append(bar);
    });
    if (i % every === 0) {
      svg.append(s("text", { x: (x0 + (slot - gap) / 2).toFixed(1), y: H - B + 16, "text-anchor": "middle", "font-size": 11, fill: "#1d1f21" }, lab));
    }
  });
  svg.append(s("text", { x: L, y: H - 6, "font-size": 11, fill: "#5a6069" }, o.unit));
  const legend = k > 1 ? h("p", { class: "meta tr-legend" }, o.series.map(ser => h("span", { class: "tr-key " + ser.cls }, ser.name))) : null;
  const table = h("table", { class: "tr-table", "data-table": o.id },
    h("caption", null, o.title),
    h("thead", null, h("tr", null, h("th", { scope: "col" }, "Month"), o.series.map(ser => h("th", { scope: "col" }, ser.name)))),
    h("tbody", null, o.labels.map((lab, i) => h("tr", null, h("th", { scope: "row" }, lab), o.series.map(ser => h("td", null, trNum(ser.values[i])))))));
  return h("figure", { class: "tr-figure", id: o.id },
    h("figcaption", null, h("h3", null, o.title)), svg, legend,
    h("details", null, h("summary", null, "Table view: ", o.title), h("div", { class: "scroll" }, table)));
}

// niceMax rounds a maximum up to 1, 2 or 5 × a power of ten.
function niceMax(v) {
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 5, 10]) if (v <= m * p + 1e-9) return m * p;
  return 10 * p;
}

// trDescribe says in words what a series shows: range, total or peak.
function trDescribe(what, agency, months, values, unit, total) {
  if (!months.length) return `${what} for ${agency}: no requests in this period.`;
  const known = values.map((v, i) => [v, months[i]]).filter(([v]) => v !== null && v !== undefined);
  const span = months.length === 1 ? months[0] : `${months[0]} to ${months[months.length - 1]}`;
  if (!known.length) return `${what} for ${agency}, ${span}: none to show.`;
  const [pv, pm] = known.reduce((a, b) => (b[0] > a[0] ? b : a));
  return `${what} for ${agency}, ${months.length} month${months.length === 1 ? "" : "s"} (${span}): highest ${trNum(pv)} ${unit} in ${pm}` +
    (total !== undefined ? `; ${trNum(total)} in all.` : ".");
}

function trQuery(agency, since, format) {
  const q = new URLSearchParams();
  if (agency) q.set("agency", agency);
  if (since) q.set("since", since);
  if (format) q.set("format", format);
  const s = q.toString();
  return "/api/v1/transparency" + (s ? "?" + s : "");
}

async function transparencyScreen(preset) {
  const agencySel = h("select", { id: "tr-agency" }, h("option", { value: "" }, "All agencies"));
  const since = h("input", { type: "month", id: "tr-since" });
  const csv = h("a", { id: "tr-csv", class: "button", download: "porchlight-transparency.csv", href: trQuery() }, "Download CSV");
  const body = h("div", { id: "transparency", "aria-live": "polite" });
  const issuers = h("div", { id: "tr-issuers" });
  main.replaceChildren(title("Transparency"),
    h("p", { class: "meta" }, "Computed on your node, only from the signed records it holds: what each agency asked of the neighborhood and what it received, month by month (UTC). Any neighbor holding the same records sees the same figures; each agency's figures cover its log up to the position shown."),
    h("form", { class: "row tr-filters", onsubmit: (e) => e.preventDefault() },
      h("div", { class: "grow" }, h("label", { for: "tr-agency" }, "Agency"), agencySel),
      h("div", { class: "grow" }, h("label", { for: "tr-since" }, "Requests made since (month)"), since),
      h("div", null, h("label", { "aria-hidden": "true" }, "\u00a0"), csv)),
    body, h("h2", null, "Issuers"), issuers);
  const update = () => { csv.setAttribute("href", trQuery(agencySel.value, since.value, "csv")); refresh(); };
  agencySel.addEventListener("change", update);
  since.addEventListener("change", update);
  let known = null; // the agencies in the select, by ID
  return async () => {
    const ags = await get("/api/v1/agencies");
    const ids = ags.map(a => a.peer_id).join(",");
    if (ids !== known) {
      // The first time, #transparency/AGENCY_ID preselects that agency.
      const want = known === null && preset ? preset : agencySel.value;
      agencySel.replaceChildren(h("option", { value: "" }, "All agencies"), ags.map(a => h("option", { value: a.peer_id }, a.name)));
      agencySel.value = ags.some(a => a.peer_id === want) ? want : "";
      known = ids;
      csv.setAttribute("href", trQuery(agencySel.value, since.value, "csv"));
    }
    const rep = await get(trQuery(agencySel.value, since.value));
    body.replaceChildren(...(rep.agencies.length ? rep.agencies.map((a, i) => trAgency(a, i)) : [msg("meta", "No agency is known to your node.")]));
    issuers.replaceChildren(rep.issuers.length ? h("ul", { class: "cards" }, rep.issuers.map(is => h("li", { class: "card tr-issuer", "data-issuer": is.id },
      h("p", null, "Issuer ", h("code", null, is.id)),
      h("p", null, "Certified ", h("b", null, String(is.certified.length)), is.certified.length ? ": " + is.certified.map(a => a.name).join(", ") : ""),
      h("p", null, "Revoked ", h("b", null, String(is.revoked.length)), is.revoked.length ? ": " + is.revoked.map(a => a.name + " from " + when(a.revoked_at)).join(", ") : "")))) : msg("meta", "No trusted issuer's documents are held."));
  };
}

// trAgency draws one agency's figures and its four charts.
function trAgency(a, i) {
  const id = "tr-" + i;
  const months = a.months.map(m => m.month);
  const col = f => a.months.map(m => m[f]);
  const t = a.total;
  return h("section", { class: "tr-agency", "data-agency": a.id, "aria-labelledby": id + "-name" },
    h("h2", { id: id + "-name" }, a.name),
    h("p", null, h("span", { class: "tag " + (a.credential_status === "valid" ? "good" : "bad") }, "credential " + a.credential_status),
      a.equivocation ? h("span", { class: "tag bad" }, "equivocation: signed two different histories") : null,
      t.yield_omissions ? h("span", { class: "tag bad" }, t.yield_omissions + " yield omission(s) proven") : null,
      " ", h("span", { class: "meta" }, "Agency ", h("code", null, short(a.id)), " · log held through position ", String(a.log_head))),
    h("div", { class: "figures" },
      h("div", { class: "figure" }, h("b", null, String(t.requests)), "requests"),
      h("div", { class: "figure" }, h("b", null, String(t.open)), "open"),
      h("div", { class: "figure" }, h("b", null, trNum(t.area_hours)), "sq mi × hours asked"),
      h("div", { class: "figure" }, h("b", null, String(t.clips)), "clips from ", String(t.homes), " homes"),
      h("div", { class: "figure" }, h("b", null, trNum(t.median_hours_to_close)), "median hours to close")),
    trChart({ id: id + "-requests", title: "Requests per month", unit: "requests",
      desc: trDescribe("Requests per month", a.name, months, col("requests"), "requests", t.requests),
      labels: months, series: [{ name: "requests", cls: "s1", fill: "#8a4b00", values: col("requests") }] }),
    trChart({ id: id + "-area", title: "Area × hours asked per month", unit: "square miles × hours",
      desc: trDescribe("Area times hours asked per month", a.name, months, col("area_hours"), "square mile hours", t.area_hours),
      labels: months, series: [{ name: "sq mi × hours", cls: "s1", fill: "#1a5fb4", values: col("area_hours") }] }),
    trChart({ id: id + "-yield", title: "Yield per request", unit: "per request, by month",
      desc: trDescribe("Clips received per request", a.name, months, col("clips_per_request"), "clips per request") + " " +
        trDescribe("Homes that shared per request", a.name, months, col("homes_per_request"), "homes per request"),
      labels: months, series: [
        { name: "clips per request", cls: "s1", fill: "#1b6e2e", values: col("clips_per_request") },
        { name: "homes per request", cls: "s2", fill: "#8fc79c", values: col("homes_per_request") }] }),
    trChart({ id: id + "-close", title: "Median time to close", unit: "hours, requests made that month",
      desc: trDescribe("Median hours to close", a.name, months, col("median_hours_to_close"), "hours") + " Months with no closed request have no bar.",
      labels: months, series: [{ name: "median hours to close", cls: "s1", fill: "#a3161b", values: col("median_hours_to_close") }] }));
}
