// The workspace's terminals: xterm.js (from the app itself, /vendor/) drawing a shell
// in one of the lab's machines, over a websocket (lab/web/terminal.py): binary frames
// both ways, {"resize": [cols, rows]} when the pane changes size.
"use strict";
import {FitAddon, Terminal} from "/vendor/xterm.js";

const W = JSON.parse(document.getElementById("words").textContent);
const BASE = document.body.dataset.base || "";
const space = document.getElementById("workspace");
const EXERCISE = space ? space.dataset.exercise : "";
// xterm.js makes <style> elements for its colours and cell sizes: each gets the page's
// one-time nonce, the only inline style its Content-Security-Policy lets in.
const NONCE = space ? space.dataset.styleNonce : "";
const makeElement = document.createElement.bind(document);
document.createElement = (tag, options) => {
  const made = makeElement(tag, options);
  if (String(tag).toLowerCase() === "style") made.nonce = NONCE;
  return made;
};
const CHUNK = 16 * 1024;  // a paste goes in pieces: the server takes at most 64 KiB a frame
const encoder = new TextEncoder();
const open = {};  // service -> {term, ws, pane}: the tests read the screens from here
window.maillabTerminals = open;

function closedWords(event) {
  if (event.code === 4000) return W["term.idle"];
  if (event.code === 4003) return W["term.revoked"];
  return event.reason || W["term.ended"];
}

function openTerminal(service) {
  if (open[service]) { open[service].term.focus(); return open[service]; }
  const list = document.getElementById("terminals");
  const pane = document.createElement("div");
  pane.className = "terminal";
  pane.dataset.service = service;
  pane.dataset.state = "opening";
  const head = document.createElement("div");
  head.className = "terminal-head";
  const title = document.createElement("strong");
  title.textContent = service;
  const close = document.createElement("button");
  close.type = "button";
  close.className = "close-terminal";
  close.textContent = "×";
  close.title = W["term.close"];
  head.append(title, close);
  const screen = document.createElement("div");
  screen.className = "terminal-screen";
  pane.append(head, screen);
  list.append(pane);

  const term = new Terminal({cursorBlink: true, fontSize: 14, scrollback: 5000,
                             fontFamily: 'ui-monospace, "DejaVu Sans Mono", "Noto Sans Mono CJK JP", monospace',
                             theme: {background: "#0b1020", foreground: "#e5e7eb"}});
  const fit = new FitAddon();
  term.loadAddon(fit);
  term.open(screen);
  fit.fit();
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(`${scheme}//${location.host}${BASE}/terminal/${encodeURIComponent(service)}` +
                           `?exercise=${encodeURIComponent(EXERCISE)}`);
  ws.binaryType = "arraybuffer";
  const send = (bytes) => {
    if (ws.readyState !== WebSocket.OPEN) return;
    for (let i = 0; i < bytes.length; i += CHUNK) ws.send(bytes.subarray(i, i + CHUNK));
  };
  const size = () => {
    if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({resize: [term.cols, term.rows]}));
  };
  ws.onopen = () => { pane.dataset.state = "open"; size(); term.focus(); };
  ws.onmessage = (event) => { if (typeof event.data !== "string") term.write(new Uint8Array(event.data)); };
  ws.onclose = (event) => {
    pane.dataset.state = "closed";
    pane.dataset.code = event.code;
    term.write(`\r\n\x1b[7m ${closedWords(event)} \x1b[0m\r\n`);
  };
  term.onData((text) => send(encoder.encode(text)));
  term.onBinary((text) => send(Uint8Array.from(text, (c) => c.charCodeAt(0))));
  term.onResize(size);
  new ResizeObserver(() => fit.fit()).observe(screen);
  // Ctrl+Shift+C copies the selection (Ctrl+C stays the shell's interrupt); Ctrl+Shift+V
  // and the browser's own paste reach xterm.js as a paste.
  term.attachCustomKeyEventHandler((event) => {
    if (event.type === "keydown" && event.ctrlKey && event.shiftKey && event.code === "KeyC") {
      if (term.hasSelection()) navigator.clipboard?.writeText(term.getSelection());
      return false;
    }
    return true;
  });
  close.addEventListener("click", () => { ws.close(); pane.remove(); delete open[service]; term.dispose(); });
  open[service] = {term, ws, pane};
  return open[service];
}

window.maillabOpenTerminal = openTerminal;
for (const button of document.querySelectorAll(".open-terminal")) {
  button.addEventListener("click", () => openTerminal(button.dataset.service));
}
// client-x (where most exercises begin) and the lab's own command are open from the start
for (const service of ["client-x", "lab"]) {
  if (document.querySelector(`.open-terminal[data-service="${service}"]`)) openTerminal(service);
}
