// maillab's web view: draws what the server sends (lab/web/live.py) as it changes.
// No framework and nothing from the internet: the lab must run in a closed classroom.
"use strict";
const W = JSON.parse(document.getElementById("words").textContent);
const LANG = document.documentElement.lang || "en";
// a sentence of the lab, sent in each language of the page (lab/web/views.py)
const said = (text) => (text && typeof text === "object") ? (text[LANG] ?? text.en) : text;
const BASE = document.body.dataset.base || "";  // "/lab/7" in a class: every address is the lab's
// Where an envelope is drawn: beside a machine of the picture, or on a mailbox, read
// from the picture itself (picture.svg holds the coordinates, once).
function spotOf(place) {
  const [kind, service] = place.startsWith("mailbox:") ? ["mailbox", place.slice(8)] : ["m", place];
  // by id, never a selector built from the text: a place may be any sender's name,
  // such as "unknown[10.80.1.77]:41234", which is no valid CSS selector
  const rect = document.getElementById(`${kind}-${service}`)?.querySelector("rect");
  if (!rect) return null;
  const [x, y, w, h] = ["x", "y", "width", "height"].map((a) => +rect.getAttribute(a));
  if (kind === "mailbox") return [x + w / 2, y - 10];
  return y < 100 ? [x + w / 2 + 30, y + h + 14] : [x + w / 2 + 30, y - 25];  // the top row: below it
}
const seenAt = {};  // message id -> {place: when the page first drew it there (s since the epoch)}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v; else if (k.startsWith("data-")) node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const c of children) node.append(c);
  return node;
}

function svg(tag, attrs = {}) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

function clock(seconds) {
  return new Date(seconds * 1000).toLocaleTimeString();
}

function drawMachines(data) {
  if (data.error) return;
  for (const [service, m] of Object.entries(data.machines)) {
    const g = document.getElementById("m-" + service);
    if (!g) continue;
    g.dataset.state = m.state;
    g.querySelector(".state").textContent = W["state." + m.state] || m.state;
    for (const link of document.querySelectorAll(`[id^="${CSS.escape("l-" + service + "-")}"]`)) {
      const net = link.id.slice(("l-" + service + "-").length);
      link.classList.toggle("off", m.off.includes(net) || m.state === "stopped");
    }
  }
  for (const text of document.querySelectorAll("text.switches")) {
    const service = text.id.slice("sw-".length);
    // one line each, under the machine: the faults acting on it, then its switches
    const lines = [...data.faults.filter((f) => f.at === service).map((f) => [W["fault.named"].replace("{name}", f.name), true]),
                   ...(data.switches[service] || []).map((word) => [said(word), (word.en ?? word) === "OPEN RELAY"])];
    const x = text.getAttribute("x");
    text.replaceChildren(...lines.map(([word, danger], i) => {
      const line = svg("tspan", {x: x, dy: i ? "1.2em" : "0"});
      line.textContent = word;
      if (danger) line.classList.add("danger");
      return line;
    }));
  }
  const faults = document.getElementById("faults");
  if (faults) faults.textContent = data.faults.length ? data.faults.map((f) => f.name).join(", ") : W["faults.none"];
}

function where(j) {
  if (j.place === "mailbox") return "mailbox:" + j.mailbox_at;
  if (j.place === "retrieved") return j.reader;
  return j.place;
}

function whereWords(j) {  // where the message is, in the page's language
  const say = (key, name) => W[key].replace("{where}", name);
  if (j.place === "mailbox" || j.place === "retrieved") return W["where." + j.place];
  if (j.place === j.sender && j.failed.length) return say("where.back", j.place);
  return say(j.failed.length ? "where.waiting" : "where.at", j.place);
}

function drawMail(data) {
  if (data.error) return;
  const now = Date.now() / 1000;
  const list = document.getElementById("journeys");
  if (list) {
    list.replaceChildren(...(data.journeys.length ? [] : [el("li", {class: "none"}, W["mail.none"])]));
    for (const j of data.journeys) {
      const stamps = seenAt[j.id] = seenAt[j.id] || {};
      stamps[j.place] = stamps[j.place] || now;
      const steps = el("ol", {class: "steps"});
      for (let n = 1; n <= 6; n++) {
        const state = j.failed.includes(n) ? "failed" : j.done.includes(n) ? "done" : "todo";
        steps.append(el("li", {class: state + (n === j.step ? " current" : ""), title: W["step." + n]},
          `${n} ${W["step." + n]}`));
      }
      const item = el("li", {class: "journey", "data-id": j.id, "data-place": j.place,
                             "data-step": j.step, "data-seen-at": JSON.stringify(stamps)},
        el("a", {href: BASE + "/message/" + encodeURIComponent(j.id.replace(/^<|>$/g, ""))}, j.id),
        el("span", {class: "who"}, ` ${j.sender} → ${j.recipient}`), steps,
        el("div", {class: "outcome"}, el("strong", {class: "where"}, whereWords(j)), ` — ${said(j.outcome)}`));
      list.append(item);
    }
  }
  const refused = document.getElementById("refused");
  if (refused) {
    refused.replaceChildren(...(data.refused.length ? [] : [el("li", {class: "none"}, W["refused.none"])]));
    for (const r of data.refused) {
      refused.append(el("li", {class: "refusal", "data-at": r.at, "data-what": r.what},
        `${clock(r.time)} ${r.who} → ${r.at}: ${said(r.reply)}` + (r.recipient ? ` (to ${r.recipient})` : "")));
    }
  }
  const now_ = document.getElementById("now");
  if (now_) {
    const j = data.journeys.find((x) => x.id === now_.dataset.id);
    if (j) now_.textContent = said(j.outcome);
  }
  drawEnvelopes(data.journeys);
}

function drawEnvelopes(journeys) {
  const layer = document.getElementById("envelopes");
  if (!layer) return;
  const kept = new Set();
  const count = {};
  for (const j of journeys.slice(0, 8)) {
    const spot = spotOf(where(j));
    if (!spot) continue;
    const n = count[where(j)] = (count[where(j)] || 0) + 1;
    let g = layer.querySelector(`[data-id="${CSS.escape(j.id)}"]`);
    if (!g) {  // a new message starts at its sender
      g = svg("g", {class: "envelope", "data-id": j.id});
      g.append(svg("rect", {x: -11, y: -8, width: 22, height: 16, rx: 2}), svg("path", {d: "M-11,-8 L0,2 L11,-8"}));
      const start = spotOf(j.sender) || spot;
      g.style.transform = `translate(${start[0]}px, ${start[1]}px)`;
      layer.append(g);
      g.getBoundingClientRect();  // let the browser draw the start before it moves
    }
    g.classList.toggle("failed", j.failed.length > 0 && j.place !== "mailbox");
    g.style.transform = `translate(${spot[0] + (n - 1) * 8}px, ${spot[1] - (n - 1) * 6}px)`;
    kept.add(j.id);
  }
  for (const g of [...layer.children]) if (!kept.has(g.dataset.id)) g.remove();
}

function kib(n) {
  return n >= 1024 ? (n / 1024).toFixed(1) + " MiB" : n + " KiB";
}

function drawSpool(data) {
  for (const [service, held] of Object.entries(data)) {
    const table = document.getElementById("queue-" + service);
    if (!table || !held) continue;
    const body = table.tBodies[0];
    body.replaceChildren();
    if (!held.queue.length) body.append(el("tr", {}, el("td", {class: "none"}, W["queue.empty"])));
    for (const q of held.queue) {
      const next = q.next_try ? `${W["queue.next"]} ${clock(q.next_try)}` : "";
      body.append(el("tr", {class: "queued", "data-queue": q.queue},
        el("td", {}, el("code", {}, q.queue_id)), el("td", {}, q.queue),
        el("td", {}, `${q.sender || "<>"} → ${q.recipients.join(", ")}`),
        el("td", {class: "reason"}, q.reason), el("td", {}, next)));
    }
    let total = 0;
    for (const m of held.mailboxes) if (m.address.split("@")[0].length === 1) total += m.messages;
    const icon = document.getElementById(`mailbox-${service}`)?.querySelector("text");
    if (icon) icon.textContent = `✉ ${total}`;
  }
  const boxes = document.getElementById("mailboxes");
  if (!boxes) return;
  const body = boxes.tBodies[0];
  body.replaceChildren();
  for (const held of Object.values(data)) {
    for (const m of (held ? held.mailboxes : [])) {
      const share = m.quota_kib ? Math.min(100, (100 * m.kib) / m.quota_kib) : 0;
      body.append(el("tr", {class: "mailbox-row", "data-address": m.address, "data-messages": m.messages},
        el("td", {}, m.address), el("td", {}, `${m.messages} ${W.messages}`),
        el("td", {}, `${kib(m.kib)} ${W["mailbox.of"]} ${m.quota_kib ? kib(m.quota_kib) : "∞"}`),
        el("td", {}, el("meter", {min: 0, max: 100, value: share, high: 90}))));
    }
  }
}

function drawClass(data) {
  const table = document.getElementById("class-table");
  if (!table || data.error) return;
  document.getElementById("class-none").hidden = data.rows.length > 0;
  table.tBodies[0].replaceChildren(...data.rows.map((r) => {
    const when = r.last_time ? clock(r.last_time) : "";
    return el("tr", {"data-lab": r.lab_id, "data-health": r.health, "data-done": r.done},
      // the class server's teacher opens each learner's workspace from here
      el("td", {}, BASE === "/teacher" ? el("a", {href: `/lab/${r.lab_id}/exercises`}, String(r.lab_id))
                                       : String(r.lab_id)),
      el("td", {class: r.health === "healthy" ? "" : "bad"}, W["health." + r.health] || r.health),
      el("td", {}, String(r.done)),
      ...r.cells.map((c, i) => el("td", {class: c === "done" ? "done" : "", "data-exercise": data.exercises[i]},
                                  c === "done" ? W["class.done"] : c)),
      el("td", {}, `${when} ${r.last_action}`), el("td", {class: "bad"}, r.left_on.join(", ")));
  }));
}

function follow() {
  const banner = document.getElementById("live");
  const source = new EventSource(BASE + "/events");
  source.addEventListener("machines", (e) => drawMachines(JSON.parse(e.data)));
  source.addEventListener("mail", (e) => drawMail(JSON.parse(e.data)));
  source.addEventListener("spool", (e) => drawSpool(JSON.parse(e.data)));
  source.addEventListener("class", (e) => drawClass(JSON.parse(e.data)));
  source.onopen = () => { banner.hidden = true; document.body.dataset.live = "yes"; };
  source.onerror = () => { banner.hidden = false; document.body.dataset.live = "no"; };
}

async function check(button) {
  const steps = document.getElementById("check-steps");
  const summary = document.getElementById("check-summary");
  button.disabled = true;
  summary.textContent = W["exercise.checking"];
  steps.replaceChildren();
  try {
    const response = await fetch(`${BASE}/exercises/${button.dataset.number}/check`,
                                 {method: "POST", headers: {"X-Maillab-Check": "1"}});
    const result = await response.json();
    result.steps.forEach((s, i) => {
      const item = el("li", {class: "step " + (s.ok ? "pass" : "fail"), "data-ok": s.ok},
        el("span", {class: "mark"}, s.ok ? "PASS" : "FAIL"), ` ${i + 1}. ${s.title}`);
      if (s.detail) item.append(el("pre", {class: "detail"}, s.detail));
      if (s.hint) item.append(el("div", {class: "hint"}, `${W.hint}: ${s.hint}`));
      steps.append(item);
    });
    summary.textContent = `${result.passed}/${result.total} ${W["exercise.steps"]}`;
    summary.dataset.passed = result.passed;
  } finally {
    button.disabled = false;
  }
}

const button = document.getElementById("check");
if (button) button.addEventListener("click", () => check(button));
if (["lab-picture", "now", "class-table"].some((id) => document.getElementById(id))) follow();
