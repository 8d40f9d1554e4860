// The Homer web client: one ES module, served by `homer serve` as it is (no build
// step). It speaks the protocol of docs/protocol.md like every other client.
import { EMOTICONS } from "./emoticons.js";
import { render } from "./markdown.js";

(() => {
  // ---- helpers --------------------------------------------------------------------
  const $ = (id) => document.getElementById(id);
  const AUTH_CODES = new Set(["unauthenticated", "invalid_token", "token_revoked"]);
  const MEMBERSHIP = new Set(["join", "leave", "kick", "ban"]);
  // Changes to a message: applied to the message they name (docs/protocol.md).
  const CHANGES = new Set(["edit", "redact", "react", "unreact"]);
  const PAGE = 50;

  /** Build an element; strings among the children become text nodes (never HTML). */
  function h(tag, props, ...kids) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value == null || value === false) continue;
      if (key === "class") el.className = value;
      else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
      else el.setAttribute(key, value === true ? "" : value);
    }
    for (const kid of kids.flat()) if (kid != null && kid !== false) el.append(kid);
    return el;
  }
  const failure = (message, code, body) => Object.assign(new Error(message), { code, body });
  const randomId = () => Array.from(crypto.getRandomValues(new Uint8Array(16)),
    (b) => b.toString(16).padStart(2, "0")).join("");
  const serverNow = () => Date.now() / 1000 + S.skew;
  function fmtTime(ts) {
    const when = new Date(ts * 1000), time = when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    if (when.toDateString() === new Date().toDateString()) return time;
    return when.toLocaleDateString([], { month: "short", day: "numeric" }) + " " + time;
  }

  // ---- state ------------------------------------------------------------------------
  const S = {
    attachments: [], mentioning: null, mentionAt: 0, transport: "ws", wsRefused: 0,
    token: sessionStorage.getItem("homer.token"), me: null, rooms: new Map(), current: null,
    ws: null, ready: false, attempt: 0, retryTimer: 0, pingTimer: 0, refreshTimer: 0,
    nextRid: 1, waiting: new Map(), outbox: new Map(), skew: 0, lastTyping: 0,
    directory: [], dirNext: null, typingTimer: 0, membersTimer: 0,
  };
  const cur = () => S.rooms.get(S.current) || null;

  // ---- signing in -------------------------------------------------------------------
  async function api(path, body) {
    let res;
    try {
      res = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body) });
    } catch { throw new Error("Cannot reach the server."); }
    const data = await res.json().catch(() => ({}));
    if (!res.ok) throw failure(data.message || `The server answered ${res.status}.`, data.code, data);
    return data;
  }

  async function signIn(register) {
    const name = $("login-name").value.trim(), password = $("login-password").value;
    if (!name || !password) return void ($("login-error").textContent = "Enter a name and a password.");
    $("login-error").textContent = "";
    for (const id of ["signin-button", "register-button"]) $(id).disabled = true;
    try {
      if (register) await api("api/register", { name, password });
      const data = await api("api/login", { name, password });
      S.token = data.token;
      sessionStorage.setItem("homer.token", data.token);
      $("login-password").value = "";
      startApp();
      openSession(data.token);
    } catch (err) {
      $("login-error").textContent = err.message;
    } finally {
      for (const id of ["signin-button", "register-button"]) $(id).disabled = false;
    }
  }

  // ---- the browser session --------------------------------------------------------
  // One sign-in per browser profile (docs/protocol.md, "Browser sessions"): an
  // HttpOnly cookie, which no script reads, buys each tab its access token.
  const SESSION = { "X-Homer-Session": "1" };
  const tabs = typeof BroadcastChannel === "undefined" ? null : new BroadcastChannel("homer");

  // Whether this browser opened a session (not a secret: the cookie is the session),
  // so that a first visit does not ask for a token it cannot have.
  const HAS_SESSION = "homer.session";

  function openSession(token) {
    fetch("api/session", { method: "POST", headers: { ...SESSION, Authorization: `Bearer ${token}` } })
      .then((res) => { if (res.ok) localStorage.setItem(HAS_SESSION, "1"); })
      .catch(() => {});  // without it this tab works; a new tab asks again
  }

  /** A token from the browser session, or the sign-in form. */
  async function resumeSession(message) {
    if (!localStorage.getItem(HAS_SESSION)) return showLogin(message);
    try {
      const res = await fetch("api/session/token", { method: "POST", headers: SESSION });
      if (res.status === 401) localStorage.removeItem(HAS_SESSION);
      if (res.ok) {
        const data = await res.json();
        S.token = data.token;
        sessionStorage.setItem("homer.token", data.token);
        return startApp();
      }
    } catch { /* offline: sign in when back */ }
    showLogin(message);
  }

  /** Sign out of every tab: the session ends (its tokens are revoked) and the others hear it. */
  async function signOutEverywhere() {
    localStorage.removeItem(HAS_SESSION);
    try { await fetch("api/session", { method: "DELETE", headers: SESSION }); } catch { /* offline */ }
    tabs?.postMessage("signed-out");
    signOut("");
  }

  function showLogin(message) {
    $("app-view").hidden = true;
    $("login-view").hidden = false;
    $("login-error").textContent = message || "";
    $("login-name").focus();
  }

  function startApp() {
    $("login-view").hidden = true;
    $("app-view").hidden = false;
    renderAll();
    connect();
  }

  function signOut(message) {
    const ws = S.ws;
    S.ws = null;
    if (ws) { ws.onclose = null; ws.close(1000, "signed out"); }
    stopTimers();
    failWaiting();
    sessionStorage.removeItem("homer.token");
    sessionStorage.removeItem("homer.room");
    Object.assign(S, { token: null, me: null, rooms: new Map(), current: null, ready: false,
      outbox: new Map(), directory: [], dirNext: null, attempt: 0 });
    $("messages").replaceChildren();
    showLogin(message);
  }

  // ---- the connection ----------------------------------------------------------------
  /**
   * The fallback when WebSockets are blocked (a proxy refusing the upgrade): events
   * from Server-Sent Events (GET api/events), requests through POST api/ops/{op}
   * naming the stream's session. It looks like a WebSocket to the rest of the page:
   * `send(frame)`, `readyState`, `close()`, `onopen`/`onmessage`/`onclose`.
   */
  class SseLink {
    constructor(token, cursor) {
      this.readyState = WebSocket.CONNECTING;
      this.token = token;
      this.session = null;
      this.helloRid = null;
      this.ready = null;
      let url = `api/events?token=${encodeURIComponent(token)}`;
      if (cursor) url += `&last_event_id=${encodeURIComponent(cursor)}`;
      const es = new EventSource(url);
      this.es = es;
      for (const name of SSE_EVENTS) es.addEventListener(name, (e) => this.event(name, e.data));
      es.onerror = () => this.close();  // the page reconnects and resumes by itself
      queueMicrotask(() => { this.readyState = WebSocket.OPEN; this.onopen?.(); });
    }
    event(name, data) {
      let ev;
      try { ev = JSON.parse(data); } catch { return; }
      if (name === "ready") {
        this.session = ev.body?.session;
        this.ready = ev.body;
        return this.answerHello();
      }
      if (name === "close") return this.close();
      this.onmessage?.({ data });
    }
    answerHello() {
      if (this.ready && this.helloRid !== null) {
        const rid = this.helloRid;
        this.helloRid = null;
        this.onmessage?.({ data: JSON.stringify({ op: "reply", rid, body: this.ready }) });
      }
    }
    send(text) {
      const { op, rid, ...params } = JSON.parse(text);
      if (op === "hello") { this.helloRid = rid; return this.answerHello(); }
      const headers = { "Content-Type": "application/json", Authorization: `Bearer ${this.token}` };
      if (this.session) headers["Homer-Session"] = this.session;
      fetch(`api/ops/${encodeURIComponent(op)}`, { method: "POST", headers, body: JSON.stringify(params) })
        .then((res) => res.json())
        .then((envelope) => this.onmessage?.({ data: JSON.stringify({ ...envelope, rid }) }))
        .catch(() => this.onmessage?.({ data: JSON.stringify({ op: "error", rid,
          body: { code: "offline", message: "The server did not answer." } }) }));
    }
    close() {
      if (this.readyState === WebSocket.CLOSED) return;
      this.readyState = WebSocket.CLOSED;
      this.es.close();
      this.onclose?.();
    }
  }
  const SSE_EVENTS = ["ready", "msg", "joined", "left", "invited", "unread", "mention", "presence",
    "presences", "typing", "broadcast", "resumed", "purged", "close"];

  function connect() {
    clearTimeout(S.retryTimer);
    setConn("connecting");
    S.ready = false;
    if (S.transport === "sse") {
      // Resume every room from what the page holds: "room~epoch~seq", comma-separated.
      const cursor = [...S.rooms.values()].map((r) => `${r.id}~${r.epoch}~${r.seq}`).join(",");
      const link = new SseLink(S.token, cursor);
      S.ws = link;
      link.onopen = () => hello();
      link.onmessage = (e) => { if (link === S.ws) onFrame(e.data); };
      link.onclose = () => { if (link === S.ws) lost(); };
      return;
    }
    // Relative to the page: Homer may be mounted under a path of another site.
    const page = location.href.split(/[?#]/)[0];
    const ws = new WebSocket(page.slice(0, page.lastIndexOf("/") + 1).replace(/^http/, "ws") + "ws");
    ws.binaryType = "arraybuffer";
    S.ws = ws;
    let opened = false;
    ws.onopen = () => { opened = true; S.wsRefused = 0; hello(); };
    ws.onmessage = (e) => { if (ws === S.ws) onFrame(e.data); };
    ws.onclose = () => {
      // Refused twice before it opened while the server answers HTTP (a proxy that
      // blocks WebSockets, not a server that is down): use SSE from then on.
      if (!opened) {
        fetch("healthz", { cache: "no-store" }).then((res) => {
          if (res.ok && ++S.wsRefused >= 2) { S.transport = "sse"; S.attempt = 0; }
        }, () => {});
      }
      if (ws === S.ws) lost();
    };
  }

  function hello() {
    const params = { token: S.token, client: "homer-web/1" };
    if (S.rooms.size) {
      params.resume = {};
      for (const r of S.rooms.values()) params.resume[r.id] = { epoch: r.epoch, seq: r.seq };
    }
    request("hello", params, true).then(welcome, (err) => {
      if (AUTH_CODES.has(err.code)) {  // this token is done: the session may give another
        const note = `Please sign in again (${err.message}).`;
        signOut(note);
        if (Date.now() - (S.resumedAt || 0) > 10000) {  // once: a refused session is not retried
          S.resumedAt = Date.now();
          resumeSession(note);
        }
      }
      else if (err.code !== "offline") drop(err.message);
    });
  }

  function welcome(w) {
    S.ready = true;
    S.attempt = 0;
    S.me = w.user;
    S.permissions = w.permissions || [];
    renderNotify();
    S.skew = w.server_time - Date.now() / 1000;
    const ids = new Set();
    for (const info of w.rooms) { ids.add(info.id); upsertRoom(info); }
    for (const id of [...S.rooms.keys()]) if (!ids.has(id)) removeRoom(id);
    setConn("online");
    scheduleRefresh(w.expires_at);
    S.pingTimer = setInterval(heartbeat, 25000);
    for (const [cid, item] of S.outbox) transmit(cid, item);  // same cid: the server dedups
    loadDirectory(false);
    if (!S.current && S.rooms.has(sessionStorage.getItem("homer.room"))) openRoom(sessionStorage.getItem("homer.room"));
    else if (cur()) { if (!cur().loaded) loadLatest(cur()); loadMembers(cur()); }
    renderAll();
    maybeRead();
  }

  function request(op, params = {}, early = false) {
    return new Promise((resolve, reject) => {
      const ws = S.ws;
      if (!ws || ws.readyState !== WebSocket.OPEN || (!S.ready && !early)) {
        return reject(failure("Not connected: try again in a moment.", "offline"));
      }
      const rid = S.nextRid++;
      S.waiting.set(rid, { resolve, reject });
      ws.send(JSON.stringify({ ...params, op, rid }));
    });
  }

  function onFrame(data) {
    let ev;
    try { ev = JSON.parse(typeof data === "string" ? data : new TextDecoder().decode(data)); } catch { return; }
    if (ev.op === "reply" || ev.op === "error") {
      if (typeof ev.rid === "string" && ev.rid.startsWith("s:")) return sendAnswered(ev.rid.slice(2), ev);
      const waiter = S.waiting.get(ev.rid);
      if (!waiter) return void (ev.op === "error" && toast(ev.body?.message || "Error"));
      S.waiting.delete(ev.rid);
      if (ev.op === "reply") waiter.resolve(ev.body);
      else waiter.reject(failure(ev.body?.message || "error", ev.body?.code, ev.body));
      return;
    }
    const handler = EVENTS[ev.op];
    if (handler) handler(ev);
  }

  function failWaiting() {
    for (const waiter of S.waiting.values()) waiter.reject(failure("The connection dropped.", "offline"));
    S.waiting.clear();
  }
  function stopTimers() {
    for (const t of ["retryTimer", "refreshTimer", "typingTimer", "membersTimer"]) clearTimeout(S[t]);
    clearInterval(S.pingTimer);
  }

  /** The socket closed (not by signing out): back off, then reconnect and resume. */
  function lost(note) {
    S.ws = null;
    S.ready = false;
    stopTimers();
    failWaiting();
    if (!S.token) return;
    const delay = Math.min(15000, 500 * 2 ** S.attempt++) * (0.6 + Math.random() * 0.4);
    setConn("reconnecting", `${note ? note + " " : ""}Reconnecting in ${Math.ceil(delay / 1000)}s…`);
    S.retryTimer = setTimeout(connect, delay);
    for (const r of S.rooms.values()) r.typing.clear();
    renderTyping();
    renderMembers();  // statuses are unknown until the page is back
  }
  function drop(note) {
    const ws = S.ws;
    if (!ws) return;
    ws.onclose = ws.onmessage = ws.onopen = null;
    try { ws.close(); } catch { /* already closed */ }
    lost(note);
  }

  function heartbeat() {
    const ws = S.ws;
    let answered = false;
    request("ping").then(() => { answered = true; }, () => {});
    setTimeout(() => { if (!answered && ws === S.ws) drop("No answer from the server."); }, 10000);
  }

  function scheduleRefresh(expiresAt) {
    clearTimeout(S.refreshTimer);
    if (!expiresAt) return;
    const left = expiresAt - serverNow();
    const delay = Math.max(5, Math.min(left * 0.8, left - 60));
    S.refreshTimer = setTimeout(() => {
      request("refresh").then((res) => {
        S.token = res.token;
        sessionStorage.setItem("homer.token", res.token);
        scheduleRefresh(res.expires_at);
      }, (err) => {
        if (err.code !== "offline") S.refreshTimer = setTimeout(() => scheduleRefresh(expiresAt), 30000);
      });
    }, delay * 1000);
  }

  function setConn(state, text) {
    $("conn").dataset.state = state;
    $("conn-text").textContent = text ||
      { connecting: "Connecting…", online: "Connected", offline: "Offline" }[state] || state;
  }

  // ---- rooms ------------------------------------------------------------------------
  function upsertRoom(info) {
    let r = S.rooms.get(info.id);
    if (!r) {
      r = { id: info.id, epoch: info.epoch ?? 1, seq: info.last_seq ?? 0, items: new Map(),
        pending: [], members: new Map(), typing: new Map(), loaded: false, more: false,
        loading: false, unread: 0, mentions: 0, read: 0, readSent: 0 };
      S.rooms.set(info.id, r);
    } else if (info.epoch != null && info.epoch !== r.epoch) {
      resetRoom(r, info.epoch, info.last_seq);
    }
    for (const key of ["kind", "name", "topic", "meta", "role", "read", "unread", "mentions"]) {
      if (info[key] !== undefined) r[key] = info[key];
    }
    return r;
  }

  /** Forget a room's copy of history (the server could not resume it) and reload it. */
  function resetRoom(r, epoch, lastSeq) {
    r.items.clear();
    r.loaded = r.more = false;
    r.epoch = epoch ?? r.epoch;
    r.seq = lastSeq ?? 0;
    r.readSent = 0;
    if (r === cur()) { $("messages").replaceChildren(); loadLatest(r); }
  }

  function removeRoom(id) {
    for (const [cid, item] of S.outbox) if (item.room === id) S.outbox.delete(cid);
    S.rooms.delete(id);
    if (S.current === id) { S.current = null; sessionStorage.removeItem("homer.room"); }
    renderAll();
  }

  function roomLabel(r) {
    if (r.kind !== "dm") return "#" + (r.name || r.id);
    const users = (r.meta && r.meta.users) || [];
    return "@" + (users.find((n) => n !== S.me?.name) || r.name);
  }

  function openRoom(id) {
    const r = S.rooms.get(id);
    if (!r) return;
    S.current = id;
    S.lastTyping = 0;
    // "New messages" goes above the first message from others past the marker as it
    // was when the room was opened; it stays there while the room is open.
    r.divider = r.unread ? r.read : null;
    sessionStorage.setItem("homer.room", id);
    toggle("show-nav", "nav-toggle", false);
    toggle("show-members", "members-toggle", false);
    $("messages").replaceChildren();
    renderAll("bottom");
    if (!r.loaded) loadLatest(r); else maybeRead();
    loadMembers(r);
    if (matchMedia("(pointer: fine)").matches) $("composer").focus();
  }

  async function joinRoom(id, create) {
    let info;
    try {
      info = await request("join", { room: id });
    } catch (err) {
      if (!(create && err.code === "not_found")) throw err;
      info = await request("create", { room: id, kind: $("join-kind").value });
    }
    upsertRoom(info);
    openRoom(info.id);
    loadDirectory(false);
    return info;
  }

  function merge(r, messages) {
    for (const m of messages) {
      addItem(r, m);
      if (m.seq > r.seq) r.seq = m.seq;
    }
  }

  function addItem(r, ev) {
    if (CHANGES.has(ev.kind)) return applyChange(r, ev);
    const root = ev.kind === "msg" && ev.body?.thread ? r.items.get(ev.body.thread) : null;
    if (root && root.body && !r.items.has(ev.seq)) {  // a new reply: its root's count grows
      const summary = root.body.thread_summary || {};
      if ((summary.last_seq || 0) < ev.seq) {
        root.body = { ...root.body, thread_summary: { ...summary, replies: (summary.replies || 0) + 1, last_seq: ev.seq } };
        root.el?.remove();
        root.el = null;
      }
    }
    const i = r.pending.findIndex((p) => p.cid === ev.cid);
    if (i >= 0 && ev.uid === S.me?.id) { r.pending.splice(i, 1); S.outbox.delete(ev.cid); }
    r.items.set(ev.seq, { ...ev, state: "sent" });
  }

  /** A change event applied to the message it names, when that message is shown. */
  function applyChange(r, ev) {
    const it = r.items.get(ev.body?.target);
    if (!it || !it.body || it.body.redacted) return;
    const body = { ...it.body };
    if (ev.kind === "edit" && !ev.body.redacted) {
      body.text = ev.body.text ?? "";
      body.edits = ev.body.edits;
    } else if (ev.kind === "redact") {
      for (const k of ["text", "data", "files", "mentions", "reactions"]) delete body[k];
      body.text = "";
      body.redacted = { by: ev.uid, reason: ev.body.reason ?? null, at: ev.ts };
    } else if (ev.kind === "react" || ev.kind === "unreact") {
      const rest = (body.reactions || []).filter((x) => x.key !== ev.body.key);
      const old = (body.reactions || []).find((x) => x.key === ev.body.key) || { me: false };
      const me = ev.uid === S.me?.id ? ev.kind === "react" : old.me;
      body.reactions = ev.body.count ? [...rest, { key: ev.body.key, count: ev.body.count, me }] : rest;
    }
    it.body = body;
    it.el?.remove();
    it.el = null;
  }

  async function loadLatest(r) {
    if (r.loading) return;
    r.loading = true;
    try {
      const res = await request("history", { room: r.id, limit: PAGE });
      if (res.epoch !== r.epoch) { r.items.clear(); r.epoch = res.epoch; r.seq = 0; }
      merge(r, res.messages);
      r.loaded = true;
      r.more = res.more;
    } catch (err) {
      if (r === cur() && err.code !== "offline") toast(err.message);
    } finally {
      r.loading = false;
    }
    if (r === cur()) { renderMessages("bottom"); maybeRead(); }
  }

  async function loadOlder() {
    const r = cur();
    if (!r || !r.more || r.loading || !r.items.size) return;
    r.loading = true;
    try {
      const res = await request("history", { room: r.id, before: Math.min(...r.items.keys()), limit: PAGE });
      merge(r, res.messages);
      r.more = res.more;
    } catch (err) {
      toast(err.message);
    } finally {
      r.loading = false;
    }
    if (r === cur()) renderMessages("prepend");
  }

  async function loadMembers(r) {
    const members = new Map();
    let after = null;
    try {
      for (let page = 0; page < 5; page++) {
        const res = await request("members", after ? { room: r.id, after, limit: 200 } : { room: r.id, limit: 200 });
        for (const m of res.members) members.set(m.uid, m);
        if (!res.next) break;
        after = res.next;
      }
    } catch { return; }
    r.members = members;
    if (r === cur()) renderMembers();
  }

  async function loadDirectory(more) {
    try {
      const res = await request("directory", more && S.dirNext ? { after: S.dirNext, limit: PAGE } : { limit: PAGE });
      S.directory = more ? S.directory.concat(res.rooms) : res.rooms;
      S.dirNext = res.next;
      $("dir-status").textContent = S.directory.length ? "" : "No public rooms yet.";
    } catch (err) {
      $("dir-status").textContent = err.message;
    }
    renderDirectory();
  }

  /** Mark the shown room read when its newest message is on screen. */
  function maybeRead() {
    const r = cur();
    if (!r || !r.loaded || !S.ready || document.visibilityState !== "visible" || !atBottom()) return;
    if (r.seq <= Math.max(r.read || 0, r.readSent) && !r.unread) return;
    r.readSent = r.seq;
    r.unread = 0;
    r.mentions = 0;
    renderRooms();
    request("read", { room: r.id, seq: r.seq }).catch(() => { r.readSent = 0; });
  }

  // ---- live events --------------------------------------------------------------------
  const EVENTS = {
    msg(ev) {
      const r = S.rooms.get(ev.room);
      if (!r || ev.seq <= r.seq) return;  // unknown room, or seen already (resume overlap)
      const reading = r === cur() && r.loaded && document.visibilityState === "visible" && atBottom();
      r.seq = ev.seq;
      addItem(r, ev);
      if (S.thread && S.thread.room === r.id && ev.body?.thread === S.thread.root) openThread(r.id, S.thread.root);
      if (ev.kind === "msg" && r.kind === "dm") notify(r, ev, "wrote in");
      if (ev.kind === "msg") {
        r.typing.delete(ev.uid);
        if (ev.uid !== S.me?.id && !reading) r.unread = (r.unread || 0) + 1;
      } else if (ev.kind === "topic") {
        r.topic = ev.body?.topic ?? r.topic;
      }
      if (r === cur()) {
        if (MEMBERSHIP.has(ev.kind)) {
          clearTimeout(S.membersTimer);
          S.membersTimer = setTimeout(() => loadMembers(r), 300);
        }
        renderHeader();
        renderMessages();
        renderTyping();
        maybeRead();
      }
      renderRooms();
    },
    joined(ev) { upsertRoom(ev.body); renderRooms(); renderDirectory(); },
    left(ev) {
      const r = S.rooms.get(ev.room);
      if (!r) return;
      const why = { kick: "You were removed from", ban: "You were banned from" }[ev.body?.reason];
      if (why) toast(`${why} ${roomLabel(r)}.`);
      removeRoom(ev.room);
      renderDirectory();
    },
    invited(ev) {
      toast(`${ev.sender} invited you to #${ev.body?.name || ev.room}.`,
        { label: "Join", run: () => joinRoom(ev.room, false).catch((err) => toast(err.message)) });
    },
    unread(ev) {
      const r = S.rooms.get(ev.room);
      if (!r) return;
      r.unread = ev.body.unread;
      r.mentions = ev.body.mentions ?? 0;
      r.read = ev.body.read;
      renderRooms();
    },
    mention(ev) {
      const r = S.rooms.get(ev.room);
      if (!r || ev.uid === S.me?.id) return;  // one's own @room
      const reading = r === cur() && document.visibilityState === "visible" && atBottom();
      if (!reading) r.mentions = (r.mentions || 0) + 1;
      const said = r.items.get(ev.body?.seq);
      notify(r, said ? { ...said, uid: ev.uid } : ev, "mentioned you in");
      renderRooms();
    },
    presence(ev) {
      const r = S.rooms.get(ev.room), m = r && r.members.get(ev.uid);
      if (m) m.status = ev.body.status;
      if (m && r === cur()) renderMembers();
    },
    presences(ev) {  // several members' changes at once: one render for all of them
      const r = S.rooms.get(ev.room);
      if (!r) return;
      let changed = false;
      for (const c of ev.body?.changes || []) {
        const m = r.members.get(c.uid);
        if (m) { m.status = c.status; changed = true; }
      }
      if (changed && r === cur()) renderMembers();
    },
    typing(ev) {
      const r = S.rooms.get(ev.room);
      if (!r || ev.uid === S.me?.id) return;
      r.typing.set(ev.uid, { name: ev.sender, until: (ev.body.until - S.skew) * 1000 });
      if (r === cur()) renderTyping();
    },
    broadcast(ev) { toast(`Announcement from ${ev.sender}: ${ev.body?.text ?? ""}`); },
    resumed(ev) {
      const r = S.rooms.get(ev.room), body = ev.body || {};
      if (!r || body.recovered) return;
      if (body.reason === "not_found" || body.reason === "forbidden") return removeRoom(ev.room);
      resetRoom(r, body.epoch, body.last_seq);
      renderRooms();
    },
  };

  // ---- sending ---------------------------------------------------------------------
  function sendMessage() {
    const r = cur(), box = $("composer"), text = box.value;
    const ready = S.attachments.filter((a) => a.file);
    if (S.attachments.some((a) => !a.file && !a.error)) return toast("Wait for the files to finish uploading.");
    if (!r || (!text.trim() && !ready.length)) return;
    box.value = "";
    autosize();
    const cid = randomId();
    const body = { text };
    if (S.reply) { body.reply_to = S.reply.seq; body.thread = S.reply.thread; }
    if (ready.length) body.files = ready.map((a) => a.file);
    clearAttachments();
    S.reply = null;
    renderReply();
    const item = { cid, room: r.id, kind: "msg", sender: S.me?.name, uid: S.me?.id,
      ts: serverNow(), body, state: "pending" };
    r.pending.push(item);
    S.outbox.set(cid, item);
    transmit(cid, item);
    renderMessages("bottom");
  }

  function transmit(cid, item) {
    const { text, reply_to, thread, files } = item.body;
    const frame = { op: "send", rid: "s:" + cid, room: item.room, cid, text };
    if (reply_to) Object.assign(frame, { reply_to, thread });
    if (files?.length) frame.files = files.map((f) => f.id);
    if (S.ready && S.ws && S.ws.readyState === WebSocket.OPEN) S.ws.send(JSON.stringify(frame));
  }

  function sendAnswered(cid, ev) {
    const item = S.outbox.get(cid), r = item && S.rooms.get(item.room);
    if (!item) return;
    if (ev.op === "reply") {
      S.outbox.delete(cid);
      if (r) {
        r.pending = r.pending.filter((p) => p !== item);
        if (!r.items.has(ev.body.seq)) {
          r.items.set(ev.body.seq, { ...item, seq: ev.body.seq, id: ev.body.id, ts: ev.body.ts, state: "sent", el: null });
        }
      }
    } else if (ev.body?.code === "rate_limited") {
      setTimeout(() => { if (S.outbox.get(cid) === item) transmit(cid, item); }, (ev.body.retry_after || 1) * 1000);
      return;
    } else {
      S.outbox.delete(cid);
      Object.assign(item, { state: "failed", error: ev.body?.message || "error", el: null });
    }
    if (r && r === cur()) renderMessages();
  }

  function retry(item) {
    Object.assign(item, { state: "pending", error: null, el: null });
    S.outbox.set(item.cid, item);
    transmit(item.cid, item);
    renderMessages();
  }
  function discard(item) {
    const r = S.rooms.get(item.room);
    if (r) r.pending = r.pending.filter((p) => p !== item);
    renderMessages();
  }

  function typingSignal() {
    const r = cur(), now = Date.now();
    if (!r || !S.ready || !$("composer").value || now - S.lastTyping < 2500) return;
    S.lastTyping = now;
    request("typing", { room: r.id }).catch(() => {});
  }

  // ---- rendering -----------------------------------------------------------------------
  function renderAll(mode) {
    renderRooms();
    renderDirectory();
    renderHeader();
    renderMessages(mode);
    renderTyping();
    renderMembers();
  }

  function renderRooms() {
    const focused = document.activeElement?.dataset?.room;
    const rooms = [...S.rooms.values()].sort((a, b) => roomLabel(a).localeCompare(roomLabel(b)));
    $("room-list").replaceChildren(...(rooms.length ? rooms.map((r) => h("li", {},
      h("button", { type: "button", class: "room", "data-room": r.id,
        "aria-current": r.id === S.current ? "page" : null, onclick: () => openRoom(r.id) },
      h("span", { class: "name" }, roomLabel(r)),
      r.mentions ? h("span", { class: "badge mention" }, `@${r.mentions}`,
        h("span", { class: "sr-only" }, r.mentions === 1 ? " mention" : " mentions")) : null,
      r.unread ? h("span", { class: "badge" }, String(r.unread), h("span", { class: "sr-only" }, " unread")) : null)))
      : [h("li", { class: "hint" }, "No rooms yet: join one below.")]));
    if (focused) document.querySelector(`#room-list [data-room="${CSS.escape(focused)}"]`)?.focus();
    const quiet = muted();
    const total = rooms.reduce((n, r) => n + (quiet.has(r.id) ? 0 : r.unread || 0), 0);
    const mentioned = rooms.reduce((n, r) => n + (quiet.has(r.id) ? 0 : r.mentions || 0), 0);
    document.title = (mentioned ? `@${mentioned} ` : "") + (total ? `(${total}) ` : "") +
      (cur() ? roomLabel(cur()) + " · " : "") + "Homer";
    $("me").textContent = S.me ? S.me.name : "";
  }

  function renderDirectory() {
    const filter = $("dir-filter").value.trim().toLowerCase();
    const shown = S.directory.filter((d) => !filter || `${d.name} ${d.id} ${d.topic || ""}`.toLowerCase().includes(filter));
    $("directory").replaceChildren(...shown.map((d) => h("li", {},
      h("button", { type: "button", class: "room", onclick: () => joinRoom(d.id, false).catch((err) => toast(err.message)) },
        h("span", { class: "name" }, "#" + d.name), h("span", { class: "hint" }, S.rooms.has(d.id) ? "joined" : "join")),
      d.topic ? h("p", { class: "hint" }, d.topic) : null)));
    $("dir-more").hidden = !S.dirNext;
  }

  function renderHeader() {
    const r = cur();
    $("room-title").textContent = r ? roomLabel(r) : "No room open";
    const editing = $("room-topic").querySelector("input");
    if (!editing || editing.dataset.room !== r?.id) {  // not while its topic is being edited
      $("room-topic").textContent = r ? (r.topic || (r.kind === "dm" ? "Direct conversation" : "No topic")) : "";
    }
    $("leave-button").hidden = !r || r.kind === "dm";
    $("topic-button").hidden = !r || r.kind === "dm" || !moderates(r);
    $("invite-form").hidden = !r || r.kind === "dm";
    $("mute-button").hidden = !r;
    const isMuted = !!r && muted().has(r.id);
    $("mute-button").setAttribute("aria-pressed", isMuted ? "true" : "false");
    $("mute-button").textContent = isMuted ? "Unmute" : "Mute";
    $("composer").disabled = $("send-button").disabled = !r;
    $("composer").placeholder = r ? `Message ${roomLabel(r)}` : "Write a message";
    $("members-toggle").hidden = !r;
    $("empty").hidden = !!r && (r.items.size > 0 || r.pending.length > 0 || !r.loaded);
    $("empty").textContent = r ? "No messages yet: say hello." : "Open a room on the left, or join one.";
  }

  const atBottom = () => {
    const sc = $("scroller");
    return sc.scrollHeight - sc.scrollTop - sc.clientHeight < 40;
  };

  function systemText(it) {
    const who = it.sender || "someone", whom = it.body?.user || "someone";
    switch (it.kind) {
      case "join": return `${who} joined`;
      case "leave": return `${who} left`;
      case "kick": return `${whom} was removed by ${who}`;
      case "ban": return `${whom} was banned by ${who}`;
      case "invite": return `${who} invited ${whom}`;
      case "topic": return `${who} set the topic: ${it.body?.topic || "(none)"}`;
      default: return `${who}: ${it.kind}`;
    }
  }

  function itemEl(it) {
    const when = new Date(it.ts * 1000);
    const time = h("time", { datetime: when.toISOString(), title: when.toLocaleString() }, fmtTime(it.ts));
    if (it.kind !== "msg") return h("li", { class: "sys" }, systemText(it), " · ", time);
    const state = it.state === "pending" ? h("span", { class: "state" }, "Sending…")
      : it.state === "failed" ? h("span", { class: "state" }, `Not sent: ${it.error} `,
        h("button", { type: "button", class: "link", onclick: () => retry(it) }, "Retry"),
        h("button", { type: "button", class: "link", onclick: () => discard(it) }, "Discard"))
        : null;
    const mine = it.uid === S.me?.id ? " mine" : "";
    const b = it.body || {};
    const text = b.redacted ? "Message deleted" : render(h, b.text ?? "", EMOTICONS);
    const edited = b.edits && !b.redacted ? h("span", { class: "state" }, " (edited)") : null;
    const thread = b.thread ? h("span", { class: "thread-mark" }, " · in a thread") : null;
    const replies = b.thread_summary?.replies
      ? h("button", { type: "button", class: "link state", onclick: () => openThread(it.room, it.seq) },
        b.thread_summary.replies === 1 ? "1 reply" : `${b.thread_summary.replies} replies`)
      : null;
    const r = S.rooms.get(it.room) || cur();
    return h("li", { class: `msg${mine} ${it.state}`, tabindex: "-1" },
      h("div", { class: "meta" }, h("span", { class: "who" }, it.sender || "someone"), time, thread),
      h("div", { class: "text" }, text), edited, filesEl(it), reactionsEl(r, it), replies,
      actionsEl(r, it), state);
  }

  // ---- files ---------------------------------------------------------------------------
  /** A file of the server, fetched with the token (an <img> or a link cannot send it). */
  async function fileUrl(path) {
    const res = await fetch(path, { headers: { Authorization: `Bearer ${S.token}` } });
    if (!res.ok) throw failure(`The file could not be read (${res.status}).`, "unavailable");
    return URL.createObjectURL(await res.blob());
  }

  function fileEl(f) {
    const size = f.size < 1024 ? `${f.size} B` : f.size < 1048576 ? `${Math.round(f.size / 1024)} KB`
      : `${(f.size / 1048576).toFixed(1)} MB`;
    const open = async (thumbnail) => fileUrl(`api/files/${encodeURIComponent(f.id)}${thumbnail ? "/thumbnail" : ""}`);
    const link = h("button", { type: "button", class: "link file", onclick: async () => {
      try {
        const url = await open(false);
        const a = h("a", { href: url, download: f.name });
        document.body.append(a);
        a.click();
        a.remove();
        setTimeout(() => URL.revokeObjectURL(url), 60000);
      } catch (err) { toast(err.message); }
    } }, `${f.name} (${size})`);
    if (!f.thumbnail) return h("li", {}, link);
    const img = h("img", { alt: f.name, class: "thumb", width: f.width, height: f.height });
    open(true).then((url) => { img.src = url; }, () => { img.alt = `${f.name} (not available)`; });
    return h("li", {}, img, link);
  }

  function filesEl(it) {
    const files = it.body?.files || [];
    if (!files.length || it.body?.redacted) return null;
    return h("ul", { class: "files", "aria-label": "Files" }, ...files.map(fileEl));
  }

  async function upload(file) {
    const entry = { name: file.name, preview: null, file: null, error: null };
    if (file.type.startsWith("image/")) entry.preview = URL.createObjectURL(file);
    S.attachments.push(entry);
    renderAttachments();
    try {
      const form = new FormData();
      form.append("file", file, file.name);
      const res = await fetch("api/files", { method: "POST", body: form,
        headers: { Authorization: `Bearer ${S.token}` } });
      const data = await res.json().catch(() => ({}));
      if (!res.ok) throw failure(data.message || `The upload failed (${res.status}).`, data.code);
      entry.file = data;
    } catch (err) {
      entry.error = err.message;
      toast(`${file.name}: ${err.message}`);
    }
    renderAttachments();
  }

  function clearAttachments() {
    for (const a of S.attachments) if (a.preview) URL.revokeObjectURL(a.preview);
    S.attachments = [];
    renderAttachments();
  }

  function renderAttachments() {
    const list = $("attachments");
    list.hidden = !S.attachments.length;
    list.replaceChildren(...S.attachments.map((a, i) => h("li", {},
      a.preview ? h("img", { src: a.preview, alt: "", class: "thumb small" }) : null,
      h("span", {}, a.name), " ",
      h("span", { class: "state" }, a.error ? `failed: ${a.error}` : a.file ? "ready" : "uploading…"),
      h("button", { type: "button", class: "link", "aria-label": `Remove ${a.name}`, onclick: () => {
        if (a.preview) URL.revokeObjectURL(a.preview);
        S.attachments.splice(i, 1);
        renderAttachments();
      } }, "✕"))));
  }

  // ---- threads ---------------------------------------------------------------------------
  async function openThread(room, root) {
    const pane = $("thread-view");
    pane.hidden = false;
    S.thread = { room, root };
    $("thread-list").replaceChildren(h("li", { class: "hint" }, "Loading…"));
    try {
      const res = await request("history", { room, thread: root, limit: 100 });
      const line = (m) => h("li", { class: "thread-item" },
        h("span", { class: "meta" }, `${m.sender || "someone"} · ${fmtTime(m.ts)}`),
        h("div", { class: "text" }, m.body?.redacted ? "Message deleted" : render(h, m.body?.text ?? "", EMOTICONS)));
      $("thread-title").textContent = `Thread: ${res.messages.length} ${res.messages.length === 1 ? "reply" : "replies"}`;
      $("thread-list").replaceChildren(line(res.root), ...res.messages.map(line));
    } catch (err) {
      $("thread-list").replaceChildren(h("li", { class: "hint" }, err.message));
    }
  }

  // ---- search ----------------------------------------------------------------------------
  /** ``text`` with the ``[start, end)`` spans marked (as elements, never markup). */
  function highlighted(text, spans) {
    const chars = Array.from(text), out = [];
    let at = 0;
    for (const [start, end] of spans) {
      if (start > at) out.push(chars.slice(at, start).join(""));
      out.push(h("mark", {}, chars.slice(start, end).join("")));
      at = end;
    }
    if (at < chars.length) out.push(chars.slice(at).join(""));
    return out;
  }

  async function search(query) {
    const pane = $("search-results");
    pane.hidden = false;
    $("search-status").textContent = "Searching…";
    $("search-list").replaceChildren();
    try {
      const res = await request("search", { query, limit: 30 });
      $("search-status").textContent = res.results.length
        ? `${res.results.length} result${res.results.length === 1 ? "" : "s"}` : "Nothing found.";
      $("search-list").replaceChildren(...res.results.map(({ message: m, highlights }) => {
        const room = S.rooms.get(m.room);
        return h("li", {}, h("button", { type: "button", class: "result", onclick: () => {
          pane.hidden = true;
          openRoom(m.room);
        } }, h("span", { class: "meta" }, `${room ? roomLabel(room) : m.room} · ${m.sender || "someone"} · ${fmtTime(m.ts)}`),
        h("span", { class: "text" }, ...highlighted(m.body?.text ?? "", highlights))));
      }));
    } catch (err) {
      $("search-status").textContent = err.message;
    }
  }

  // ---- notifications and muted rooms -------------------------------------------------
  // Muting is this browser's preference (kept in localStorage): a muted room shows
  // no badge in the title and raises no notification; its unread count stays.
  const muted = () => new Set(JSON.parse(localStorage.getItem("homer.muted") || "[]"));

  function setMuted(id, on) {
    const rooms = muted();
    if (on) rooms.add(id); else rooms.delete(id);
    localStorage.setItem("homer.muted", JSON.stringify([...rooms]));
    renderHeader();
    renderRooms();
  }

  /** A desktop notification for a mention or a direct message, when the user is
   * not looking at it and has allowed them. */
  function notify(r, ev, why) {
    if (typeof Notification === "undefined" || Notification.permission !== "granted") return;
    if (muted().has(r.id) || ev.uid === S.me?.id) return;
    if (r === cur() && document.visibilityState === "visible") return;
    const text = ev.body?.text ?? "";
    const note = new Notification(`${ev.sender || "someone"} ${why} ${roomLabel(r)}`,
      { body: text.slice(0, 140), tag: `${r.id}:${ev.seq ?? ev.body?.seq}` });
    note.onclick = () => { window.focus(); openRoom(r.id); note.close(); };
  }

  function renderNotify() {
    const button = $("notify-button");
    button.hidden = typeof Notification === "undefined" || Notification.permission !== "default";
  }

  // ---- mention completion -----------------------------------------------------------
  /** The @name being typed before the caret, and the members it may be. */
  function mentionCandidates() {
    const box = $("composer"), r = cur();
    if (!r) return null;
    const before = box.value.slice(0, box.selectionStart);
    const m = /(^|\s)@([\w.-]*)$/.exec(before);
    if (!m) return null;
    const typed = m[2].toLowerCase();
    const names = [...r.members.values()].map((x) => x.name).filter((n) => n && n !== S.me?.name);
    if (r.kind !== "dm") names.push("room");
    const found = names.filter((n) => n.toLowerCase().startsWith(typed)).slice(0, 8);
    return found.length ? { start: before.length - m[2].length, found } : null;
  }

  function renderMentions() {
    const list = $("mention-list"), got = mentionCandidates();
    S.mentioning = got;
    list.hidden = !got;
    if (!got) { $("composer").removeAttribute("aria-activedescendant"); return; }
    S.mentionAt = Math.min(S.mentionAt || 0, got.found.length - 1);
    list.replaceChildren(...got.found.map((name, i) => h("li", { id: `mention-${i}`, role: "option",
      "aria-selected": i === S.mentionAt ? "true" : "false", onmousedown: (e) => { e.preventDefault(); completeMention(name); } },
      "@" + name)));
    $("composer").setAttribute("aria-activedescendant", `mention-${S.mentionAt}`);
  }

  function completeMention(name) {
    const box = $("composer"), got = S.mentioning;
    if (!got) return;
    const end = box.selectionStart;
    box.value = box.value.slice(0, got.start) + name + " " + box.value.slice(end);
    box.selectionStart = box.selectionEnd = got.start + name.length + 1;
    S.mentionAt = 0;
    renderMentions();
  }

  // ---- changing messages -------------------------------------------------------------
  function actionsEl(r, it) {
    if (it.state !== "sent" || !it.seq || it.body?.redacted) return null;
    const mine = it.uid === S.me?.id;
    const act = (label, text, fn) =>
      h("button", { type: "button", class: "act", "aria-label": label, title: label, onclick: fn }, text);
    const bar = h("div", { class: "actions", role: "toolbar", "aria-label": "Message actions" },
      act("React with thumbs up", "👍", () => toggleReaction(r, it, "👍")),
      act("Reply in a thread", "↩", () => startReply(it)),
      mine ? act("Edit message", "✎", () => startEdit(r, it)) : null,
      mine ? act("Delete message", "🗑", () => redactItem(r, it, bar)) : null);
    return bar;
  }

  function reactionsEl(r, it) {
    const list = it.body?.reactions || [];
    if (!list.length || it.body?.redacted) return null;
    return h("div", { class: "reactions" }, ...list.map((x) => h("button", {
      type: "button", class: x.me ? "reaction me" : "reaction", "aria-pressed": x.me ? "true" : "false",
      "aria-label": `${x.key} ${x.count}${x.me ? ", including you" : ""}`,
      onclick: () => toggleReaction(r, it, x.key) }, `${x.key} ${x.count}`)));
  }

  function toggleReaction(r, it, key) {
    const mine = (it.body?.reactions || []).find((x) => x.key === key)?.me;
    request(mine ? "unreact" : "react", { room: r.id, seq: it.seq, key }).catch((err) => toast(err.message));
  }

  /** Ask in place (no window dialog): ``question``, and buttons to go on or not. */
  function confirmIn(holder, question, yes, onYes) {
    const before = [...holder.childNodes];
    const back = () => { holder.replaceChildren(...before); before[0]?.focus?.(); };
    const go = h("button", { type: "button", class: "act danger", onclick: () => { back(); onYes(); } }, yes);
    holder.replaceChildren(h("span", { class: "state", role: "alert" }, question), " ", go, " ",
      h("button", { type: "button", class: "act", onclick: back }, "Cancel"));
    go.focus();
  }

  function redactItem(r, it, holder) {
    confirmIn(holder, "Delete this message for everyone?", "Delete", () =>
      request("redact", { room: r.id, seq: it.seq }).catch((err) => toast(err.message)));
  }

  function startEdit(r, it) {
    const box = h("textarea", { class: "edit-box", "aria-label": "Edit message", rows: "2" });
    box.value = it.body?.text ?? "";
    const done = () => { it.el?.remove(); it.el = null; renderMessages(); $("composer").focus(); };
    const save = () => {
      const text = box.value;
      if (text.trim() && text !== it.body?.text) {
        request("edit", { room: r.id, seq: it.seq, text }).catch((err) => toast(err.message));
      }
      done();
    };
    box.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); save(); }
      else if (e.key === "Escape") { e.preventDefault(); done(); }
    });
    it.el?.querySelector(".text")?.replaceChildren(box,
      h("span", { class: "state" }, "Enter saves · Escape cancels"));
    box.focus();
  }

  function startReply(it) {
    S.reply = { seq: it.seq, thread: it.body?.thread ?? it.seq, who: it.sender || "someone" };
    renderReply();
    $("composer").focus();
  }

  function renderReply() {
    const el = $("reply-banner");
    el.hidden = !S.reply;
    el.replaceChildren(...(S.reply ? [`Replying to ${S.reply.who} in a thread · `,
      h("button", { type: "button", class: "link", onclick: () => { S.reply = null; renderReply(); } }, "Cancel")]
      : []));
  }

  /** Bring the list in line with the room's items, moving only what changed. */
  function renderMessages(mode) {
    const r = cur(), sc = $("scroller"), list = $("messages");
    renderHeader();
    $("older").hidden = !r || !r.more;
    if (!r) return list.replaceChildren();
    const stick = mode === "bottom" || (mode !== "prepend" && atBottom());
    const fromBottom = sc.scrollHeight - sc.scrollTop;
    const items = [...r.items.values()].sort((a, b) => a.seq - b.seq).concat(r.pending);
    const rows = [];
    let prev = null, day = null, divided = r.divider == null;
    r.days = r.days || new Map();
    for (const it of items) {
      const when = new Date(it.ts * 1000), key = when.toDateString();
      if (key !== day) {
        if (!r.days.has(key)) {
          r.days.set(key, h("li", { class: "day" },
            h("time", { datetime: when.toISOString().slice(0, 10) }, when.toLocaleDateString(undefined,
              { weekday: "long", year: "numeric", month: "long", day: "numeric" }))));
        }
        rows.push(r.days.get(key));
        day = key;
        prev = null;
      }
      if (!divided && it.seq > r.divider && it.kind === "msg" && it.uid !== S.me?.id) {
        rows.push(r.dividerEl || (r.dividerEl = h("li", { class: "new-divider" }, "New messages")));
        divided = true;
        prev = null;
      }
      const el = it.el || (it.el = itemEl(it));
      el.classList.toggle("cont", !!prev && prev.kind === "msg" && it.kind === "msg" &&
        prev.uid === it.uid && it.ts - prev.ts < 300);
      rows.push(el);
      prev = it;
    }
    rows.forEach((el, i) => { if (list.children[i] !== el) list.insertBefore(el, list.children[i] || null); });
    while (list.children.length > rows.length) list.lastElementChild.remove();
    if (stick) sc.scrollTop = sc.scrollHeight;
    else if (mode === "prepend") sc.scrollTop = sc.scrollHeight - fromBottom;
    if (r.more && r.loaded && sc.scrollHeight <= sc.clientHeight) loadOlder();
  }

  function renderTyping() {
    const r = cur(), now = Date.now(), names = [];
    if (r) for (const [uid, t] of r.typing) { if (t.until > now) names.push(t.name); else r.typing.delete(uid); }
    $("typing").textContent = names.length === 0 ? "" : names.length === 1 ? `${names[0]} is typing…`
      : names.length === 2 ? `${names[0]} and ${names[1]} are typing…` : "Several people are typing…";
    clearTimeout(S.typingTimer);
    if (names.length) S.typingTimer = setTimeout(renderTyping, 1000);
  }

  /** Whether the user may moderate ``r``: its owner, or ``room.moderate``. */
  function moderates(r) {
    return r?.role === "owner" || (S.permissions || []).includes("room.moderate");
  }

  function memberActions(r, m) {
    if (!moderates(r) || m.uid === S.me?.id || r.kind === "dm") return null;
    const holder = h("span", { class: "member-actions", "data-uid": m.uid });
    const act = (op, label) => h("button", { type: "button", class: "link", "aria-label": `${label} ${m.name}`,
      onclick: () => confirmIn(holder, `${label} ${m.name}?`, label, () =>
        request(op, { room: r.id, user: m.name }).then(() => loadMembers(r), (err) => toast(err.message))) },
      label);
    holder.append(act("kick", "Remove"), " ", act("ban", "Ban"));
    return holder;
  }

  function renderMembers() {
    const r = cur(), rank = { online: 0, away: 1 };
    const members = r ? [...r.members.values()] : [];
    for (const m of members) if (m.uid === S.me?.id && S.ready && m.status !== "away") m.status = "online";
    members.sort((a, b) => (rank[a.status] ?? 2) - (rank[b.status] ?? 2) || String(a.name).localeCompare(String(b.name)));
    // While the page is disconnected nobody's status is known: stale dots would lie.
    const shown = (m) => (S.ready ? m.status || "offline" : "unknown");
    // A question open in the list (remove? ban?) outlives the render: someone's
    // presence changing must not take it from under the moderator's pointer.
    const asking = $("member-list").querySelector(".member-actions .state")?.closest(".member-actions");
    $("member-list").replaceChildren(...members.map((m) => h("li", {},
      h("span", { class: `dot ${shown(m)}`, title: shown(m), "aria-hidden": "true" }),
      h("span", { class: "sr-only" }, `${shown(m)}: `), m.name || "(deleted user)",
      m.role === "owner" ? h("span", { class: "role" }, "owner") : null, memberActions(r, m))));
    if (asking) {
      for (const fresh of $("member-list").querySelectorAll(".member-actions")) {
        if (fresh.dataset.uid === asking.dataset.uid) fresh.replaceWith(asking);
      }
    }
    $("members-title").textContent = r ? `Members (${members.length})` : "Members";
    $("members-toggle").textContent = `Members (${members.length})`;
  }

  function toast(text, action) {
    const el = h("div", { class: "toast" }, h("span", {}, text),
      action ? h("button", { type: "button", onclick: () => { el.remove(); action.run(); } }, action.label) : null,
      h("button", { type: "button", "aria-label": "Dismiss", onclick: () => el.remove() }, "×"));
    $("toasts").append(el);
    setTimeout(() => el.remove(), action ? 20000 : 7000);
  }

  function toggle(cls, buttonId, force) {
    const on = document.body.classList.toggle(cls, force);
    $(buttonId).setAttribute("aria-expanded", String(on));
  }

  function autosize() {
    const box = $("composer");
    box.style.height = "auto";
    box.style.height = Math.min(box.scrollHeight + 2, 160) + "px";
  }

  // ---- wiring ---------------------------------------------------------------------------
  $("login-form").addEventListener("submit", (e) => { e.preventDefault(); signIn(false); });
  $("register-button").addEventListener("click", () => signIn(true));
  $("signout-button").addEventListener("click", signOutEverywhere);
  if (tabs) tabs.onmessage = (e) => { if (e.data === "signed-out" && S.token) signOut(""); };
  $("send-form").addEventListener("submit", (e) => { e.preventDefault(); sendMessage(); });
  $("file-input").addEventListener("change", (e) => {
    for (const file of e.target.files) upload(file);
    e.target.value = "";
  });
  $("composer").addEventListener("paste", (e) => {
    const files = [...(e.clipboardData?.files || [])];
    if (files.length) { e.preventDefault(); files.forEach(upload); }
  });
  $("scroller").addEventListener("dragover", (e) => { if (cur()) e.preventDefault(); });
  $("scroller").addEventListener("drop", (e) => {
    if (!cur()) return;
    e.preventDefault();
    [...(e.dataTransfer?.files || [])].forEach(upload);
  });
  $("search-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const query = $("search-input").value.trim();
    if (query) search(query);
  });
  $("thread-close").addEventListener("click", () => { $("thread-view").hidden = true; S.thread = null; $("composer").focus(); });
  $("thread-reply").addEventListener("click", () => {
    const t = S.thread, r = t && S.rooms.get(t.room);
    if (!r) return;
    S.reply = { seq: t.root, thread: t.root, who: r.items.get(t.root)?.sender || "the thread" };
    renderReply();
    $("composer").focus();
  });
  $("search-close").addEventListener("click", () => { $("search-results").hidden = true; $("search-input").focus(); });
  $("composer").addEventListener("keydown", (e) => {
    const got = S.mentioning;
    if (got && ["ArrowDown", "ArrowUp", "Tab", "Enter", "Escape"].includes(e.key) && !e.isComposing) {
      e.preventDefault();
      if (e.key === "ArrowDown") S.mentionAt = (S.mentionAt + 1) % got.found.length;
      else if (e.key === "ArrowUp") S.mentionAt = (S.mentionAt + got.found.length - 1) % got.found.length;
      else if (e.key === "Escape") { S.mentioning = null; $("mention-list").hidden = true; return; }
      else return completeMention(got.found[S.mentionAt]);
      return renderMentions();
    }
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); sendMessage(); }
    else if (e.key === "ArrowUp" && !$("composer").value) {  // up into the messages
      const last = [...$("messages").querySelectorAll("li.msg")].pop();
      if (last) { e.preventDefault(); last.focus(); }
    }
  });
  $("composer").addEventListener("input", () => { autosize(); typingSignal(); renderMentions(); });
  // Arrow keys move between messages (each focusable, its actions reachable with Tab);
  // Escape goes back to the composer.
  $("messages").addEventListener("keydown", (e) => {
    const item = e.target.closest?.("li.msg");
    if (!item) return;
    if (e.key === "Escape" && !e.target.closest(".edit-box")) { e.preventDefault(); $("composer").focus(); return; }
    if (e.target !== item) return;
    const all = [...$("messages").querySelectorAll("li.msg")], at = all.indexOf(item);
    if (e.key === "ArrowUp" && at > 0) { e.preventDefault(); all[at - 1].focus(); }
    else if (e.key === "ArrowDown") {
      e.preventDefault();
      if (at < all.length - 1) all[at + 1].focus(); else $("composer").focus();
    } else if (e.key === "Escape") { e.preventDefault(); $("composer").focus(); }
  });
  // Arrow keys move between rooms in the list; Alt+Arrow switches room from anywhere.
  $("room-list").addEventListener("keydown", (e) => {
    if (e.key !== "ArrowUp" && e.key !== "ArrowDown") return;
    const all = [...$("room-list").querySelectorAll("button.room")], at = all.indexOf(document.activeElement);
    if (at < 0) return;
    e.preventDefault();
    all[Math.max(0, Math.min(all.length - 1, at + (e.key === "ArrowDown" ? 1 : -1)))].focus();
  });
  document.addEventListener("keydown", (e) => {
    if (!e.altKey || (e.key !== "ArrowUp" && e.key !== "ArrowDown")) return;
    const ids = [...$("room-list").querySelectorAll("button.room")].map((b) => b.dataset.room);
    if (!ids.length) return;
    e.preventDefault();
    const at = ids.indexOf(S.current), writing = document.activeElement === $("composer");
    openRoom(ids[(at + (e.key === "ArrowDown" ? 1 : ids.length - 1)) % ids.length]);
    if (writing) $("composer").focus();  // focus stays in the input
  });
  $("mute-button").addEventListener("click", () => { const r = cur(); if (r) setMuted(r.id, !muted().has(r.id)); });
  $("notify-button").addEventListener("click", () => {
    Notification.requestPermission().then(renderNotify, renderNotify);
  });
  $("scroller").addEventListener("scroll", () => {
    if ($("scroller").scrollTop < 60) loadOlder();
    if (atBottom()) maybeRead();
    $("jump").hidden = atBottom();
  });
  $("jump").addEventListener("click", () => {
    $("scroller").scrollTop = $("scroller").scrollHeight;
    $("jump").hidden = true;
    $("composer").focus();
  });
  $("older").addEventListener("click", loadOlder);
  $("join-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const id = $("join-input").value.trim().toLowerCase();
    if (!id) return;
    $("join-status").textContent = "…";
    joinRoom(id, true).then(() => { $("join-input").value = ""; $("join-status").textContent = ""; },
      (err) => { $("join-status").textContent = err.message; });
  });
  $("dir-filter").addEventListener("input", renderDirectory);
  $("topic-button").addEventListener("click", () => {
    const r = cur();
    if (!r) return;
    const box = h("input", { type: "text", class: "topic-box", "aria-label": `The topic of ${roomLabel(r)}`,
      maxlength: "500" });
    box.value = r.topic || "";
    box.dataset.room = r.id;
    const done = () => { box.remove(); renderHeader(); $("topic-button").focus(); };
    box.addEventListener("keydown", (e) => {
      if (e.key === "Escape") { e.preventDefault(); done(); }
      if (e.key !== "Enter") return;
      e.preventDefault();
      request("topic", { room: r.id, topic: box.value }).then((info) => { upsertRoom(info); done(); },
        (err) => toast(err.message));
    });
    $("room-topic").replaceChildren(box, h("span", { class: "state" }, " Enter saves · Escape cancels"));
    box.focus();
  });
  $("invite-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const r = cur(), name = $("invite-input").value.trim();
    if (!r || !name) return;
    request("invite", { room: r.id, user: name }).then(() => {
      $("invite-input").value = "";
      $("invite-status").textContent = `${name} is invited.`;
    }, (err) => { $("invite-status").textContent = err.message; });
  });
  $("dm-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const name = $("dm-input").value.trim();
    if (!name) return;
    $("dm-status").textContent = "…";
    request("dm", { user: name }).then((info) => {
      upsertRoom(info);
      openRoom(info.id);
      $("dm-input").value = "";
      $("dm-status").textContent = "";
    }, (err) => { $("dm-status").textContent = err.message; });
  });
  $("dir-refresh").addEventListener("click", () => loadDirectory(false));
  $("dir-more").addEventListener("click", () => loadDirectory(true));
  $("leave-button").addEventListener("click", () => {
    const r = cur();
    if (r) request("leave", { room: r.id }).then(() => removeRoom(r.id), (err) => toast(err.message));
  });
  $("nav-toggle").addEventListener("click", () => toggle("show-nav", "nav-toggle"));
  $("members-toggle").addEventListener("click", () => toggle("show-members", "members-toggle"));
  document.addEventListener("click", (e) => {  // a tap outside an open panel closes it
    if (!e.target.closest("#sidebar, #nav-toggle")) toggle("show-nav", "nav-toggle", false);
    if (!e.target.closest("#members, #members-toggle")) toggle("show-members", "members-toggle", false);
  });
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape") { toggle("show-nav", "nav-toggle", false); toggle("show-members", "members-toggle", false); }
  });
  document.addEventListener("visibilitychange", maybeRead);
  window.addEventListener("focus", maybeRead);
  window.addEventListener("online", () => { if (S.token && !S.ws) connect(); });

  if (S.token) startApp(); else resumeSession("");
})();
