// labrc serve: the page glue. Data arrive as server-sent events; Plotly (served locally) draws the figures the
// server built. Every text from a run goes in with textContent, never as HTML.
"use strict";

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function duration(s) {
  if (s === null || s === undefined || !isFinite(s)) return "—";
  s = Math.round(s);
  const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
  if (d) return d + " d " + h + " h";
  if (h) return h + " h " + m + " min";
  if (m) return m + " min " + (s % 60) + " s";
  return s + " s";
}

function progressCell(r) {
  const td = el("td");
  if (r.progress !== null && r.progress !== undefined) {
    const bar = el("span", null, "bar"), fill = el("span");
    fill.style.width = (100 * r.progress).toFixed(1) + "%";
    bar.appendChild(fill);
    td.appendChild(bar);
    td.appendChild(document.createTextNode((100 * r.progress).toFixed(1) + " % "));
  }
  td.appendChild(document.createTextNode(r.done.toLocaleString() + " " + r.unit));
  return td;
}

function connState(text) { document.getElementById("conn").textContent = text; }

function isBad(r) {
  return r.damaged || (r.status !== "running" && r.safe_ok === false) ||
    ["failed", "device_failure", "interrupted"].includes(r.status);
}

function indexPage() {
  const body = document.querySelector("#runs tbody");
  const src = new EventSource("/api/runs/stream");
  src.onopen = () => connState("live");
  src.onerror = () => connState("reconnecting…");
  src.addEventListener("runs", (ev) => {
    const data = JSON.parse(ev.data);
    document.getElementById("data-dir").textContent = data.data_dir;
    document.getElementById("empty").hidden = data.runs.length > 0;
    const rows = data.runs.map((r) => {
      const tr = el("tr", null, (r.status === "running" ? "running " : "") + (isBad(r) ? "bad" : ""));
      tr.dataset.ref = r.ref;
      const start = el("td"), a = el("a", (r.start_time || "?").slice(0, 19).replace("T", " "));
      a.href = "/run/" + r.ref;
      start.appendChild(a);
      tr.append(start, el("td", r.status, "status"), el("td", r.protocol || "?"), el("td", r.sample || "—"),
        el("td", r.device || "?"), el("td", r.operator || "—"), progressCell(r),
        el("td", r.status === "running" ? duration(r.eta_s) : "—"), el("td", r.outcome, "outcome"));
      return tr;
    });
    body.replaceChildren(...rows);
  });
}

function summaryRows(s) {
  const rows = [["status", s.status], ["outcome", s.outcome], ["protocol", s.protocol],
    ["sample", s.sample], ["device", s.device], ["operator", s.operator], ["note", s.note],
    ["die position", s.die_position], ["started", s.start_time], ["ended", s.end_time],
    ["progress", (s.progress !== null ? (100 * s.progress).toFixed(1) + " %, " : "") +
      s.done.toLocaleString() + (s.total ? " of " + s.total.toLocaleString() : "") + " " + s.unit],
    ["rate", s.rate ? Math.round(s.rate).toLocaleString() + " " + s.unit + "/s" : "—"],
    ["ETA", s.status === "running" ? duration(s.eta_s) : "—"],
    ["safe state", s.safe_ok === true ? "verified" : (s.safe_ok === false ? "NOT VERIFIED" : "—")],
    ["reason", s.reason], ["device failure", s.failure ? (s.failure.mode + " at cycle " + s.failure.cycle) : ""],
    ["damaged", s.damaged], ["run", s.name]];
  const dl = document.getElementById("summary");
  const items = [];
  for (const [k, v] of rows) {
    if (v === "" || v === null || v === undefined) continue;
    const bad = (k === "safe state" && s.safe_ok === false) || k === "damaged" || k === "device failure";
    items.push(el("dt", k), el("dd", v, bad ? "bad" : ""));
  }
  dl.replaceChildren(...items);
}

function eventsTable(events) {
  const body = document.querySelector("#events tbody");
  body.replaceChildren(...events.slice().reverse().map((e) => {
    const tr = el("tr", null, e.level);
    tr.append(el("td", e.t.toFixed(3)), el("td", e.level), el("td", e.message));
    return tr;
  }));
}

function runPage() {
  const ref = location.pathname.slice("/run/".length);
  const api = "/api/run/" + ref;
  const plot = document.getElementById("plot");
  const token = document.getElementById("token");
  token.value = sessionStorage.getItem("labrc-token") || "";
  let plotted = false;
  const src = new EventSource(api + "/stream");
  src.onopen = () => connState("live");
  src.onerror = () => connState("reconnecting…");
  src.addEventListener("update", (ev) => {
    const d = JSON.parse(ev.data), s = d.summary;
    document.getElementById("title").textContent = [s.protocol, s.sample, s.device].filter((x) => x).join(" · ");
    document.title = "labrc · " + s.name;
    summaryRows(s);
    eventsTable(d.events || []);
    document.getElementById("stop-box").hidden = s.status !== "running";
    if (d.figure) {
      Plotly.react(plot, d.figure.data, d.figure.layout, {responsive: true, displaylogo: false});
      plotted = true;
    }
    plot.dataset.status = s.status;
    plot.dataset.updates = String(Number(plot.dataset.updates || 0) + 1);
  });
  src.addEventListener("end", () => { src.close(); connState("finished"); });
  document.getElementById("stop").addEventListener("click", async () => {
    const msg = document.getElementById("stop-msg"), btn = document.getElementById("stop");
    sessionStorage.setItem("labrc-token", token.value);
    btn.disabled = true;
    msg.textContent = "asking…";
    try {
      const resp = await fetch(api + "/stop", {method: "POST", headers: {"X-Labrc-Token": token.value}});
      const out = await resp.json();
      msg.textContent = resp.ok ? out.message : (out.error || resp.statusText);
      if (!resp.ok) btn.disabled = false;
    } catch (e) {
      msg.textContent = String(e);
      btn.disabled = false;
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  if (document.body.dataset.page === "index") indexPage(); else runPage();
});
