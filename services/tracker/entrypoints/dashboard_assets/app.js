/* Tell Us Once operator dashboard: reads the /ops API with the operator's bearer token.
 *
 * Everything shown comes from the API and is inserted as text (textContent or text nodes),
 * never as markup. The token is kept in sessionStorage, so it ends with the browser tab.
 */
"use strict";

(() => {
  const TOKEN_KEY = "tuo.ops.token";
  const POLL_MS = 3000;
  const PAGE = 100;
  const MAX_LIMIT = 1000;
  const STATUSES = ["pending", "retrying", "held", "delivered", "rejected", "failed"];
  const FINISHED = new Set(["delivered", "rejected", "failed"]);
  // Fields with a column of their own; anything else the API adds gets a generic column.
  const KNOWN_FIELDS = new Set([
    "id", "name", "delivered_per_min", "failure_rate", "backlog", "oldest_pending_s",
    "failed", "circuit", "paused",
  ]);
  // The change view lists what needs a person first.
  const STATUS_ORDER = ["failed", "rejected", "held", "retrying", "pending", "delivered"];
  const STALE_BACKLOG_S = 60;
  const FAILURE_RATE_WARNING = 0.05;

  const $ = (id) => document.getElementById(id);
  const state = {
    token: sessionStorage.getItem(TOKEN_KEY),
    departments: [],
    limit: PAGE,
    frame: "",
    timer: null,
    running: false,
    again: false,
  };
  const shown = new WeakMap(); // element -> signature of the data it shows

  class ApiError extends Error {
    constructor(status, detail) {
      super(detail);
      this.status = status;
      this.detail = detail;
    }
  }

  // ---- DOM: elements and text nodes only ----

  function h(tag, attributes, ...children) {
    const element = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") element.className = value;
      else if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
      else if (name === "data") Object.assign(element.dataset, value);
      else element.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      element.append(child instanceof Node ? child : String(child));
    }
    return element;
  }

  /** Rebuild ``container`` from ``build()`` only if ``signature`` changed; keep focus. */
  function render(container, signature, build) {
    if (shown.get(container) === signature) return;
    const active = document.activeElement;
    const focusKey = active && container.contains(active) ? active.dataset.focus : undefined;
    container.replaceChildren(...[build()].flat(Infinity));
    shown.set(container, signature);
    if (focusKey) {
      for (const candidate of container.querySelectorAll("[data-focus]")) {
        if (candidate.dataset.focus === focusKey && !candidate.disabled) candidate.focus();
      }
    }
  }

  function setText(element, text) {
    if (element.textContent !== text) element.textContent = text;
  }

  // ---- formatting ----

  const number = (value) => (typeof value === "number" && Number.isFinite(value) ? value : 0);

  function percent(ratio) {
    const value = number(ratio) * 100;
    return `${value.toFixed(value > 0 && value < 10 ? 1 : 0)}%`;
  }

  function duration(seconds) {
    const s = Math.round(number(seconds));
    if (s < 60) return `${s} s`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m} min ${s % 60} s`;
    const hours = Math.floor(m / 60);
    if (hours < 48) return `${hours} h ${m % 60} min`;
    return `${Math.floor(hours / 24)} d ${hours % 24} h`;
  }

  function utc(iso) {
    if (!iso) return "—";
    const moment = new Date(iso);
    if (Number.isNaN(moment.getTime())) return String(iso);
    return moment.toISOString().replace("T", " ").replace("Z", "");
  }

  function clock(moment) {
    return moment.toLocaleTimeString([], { hour12: false });
  }

  /** A field the API added after this page was written: ages and times made readable. */
  function anyValue(field, value) {
    if (value === null || value === undefined) return "—";
    if (field.endsWith("_at") && typeof value === "string") {
      const moment = new Date(value);
      if (!Number.isNaN(moment.getTime())) {
        const age = (Date.now() - moment.getTime()) / 1000;
        return age >= 0 ? h("span", { title: utc(value) }, `${duration(age)} ago`) : utc(value);
      }
    }
    if (field.endsWith("_s") && typeof value === "number") return duration(value);
    if (typeof value === "boolean") return value ? "yes" : "no";
    if (typeof value === "number") return Number.isInteger(value) ? String(value) : value.toFixed(2);
    if (typeof value === "string") return value;
    return JSON.stringify(value);
  }

  const label = (field) => field.replace(/_/g, " ").replace(/^./, (c) => c.toUpperCase());
  const nameOf = (id) => state.departments.find((d) => d.id === id)?.name || id;
  const shortId = (id) => (String(id).length > 12 ? `${String(id).slice(0, 8)}…` : String(id));

  /** Column headings; a leading "#" marks a numeric (right-aligned) column. */
  function headings(texts) {
    return texts.map((text) => text.startsWith("#")
      ? h("th", { scope: "col", class: "num" }, text.slice(1))
      : h("th", { scope: "col" }, text));
  }

  function badge(level, text) {
    return h("span", { class: `badge ${level}` }, text);
  }

  function statusBadge(status) {
    const known = STATUSES.includes(status) ? status : "unknown";
    return h("span", { class: `badge status-${known}`, data: { status: String(status) } }, status);
  }

  function circuitBadge(circuit) {
    const text = circuit === undefined || circuit === null ? "unknown" : String(circuit);
    const level = { open: "bad", half_open: "warn", "half-open": "warn", closed: "ok" }[text];
    return badge(level || "muted", text.replace("_", "-"));
  }

  // ---- the API ----

  async function api(path, options = {}) {
    const headers = { Accept: "application/json", Authorization: `Bearer ${state.token}` };
    let response;
    try {
      response = await fetch(path, { ...options, headers, cache: "no-store", credentials: "omit" });
    } catch {
      throw new ApiError(0, "The operator API cannot be reached.");
    }
    let body = null;
    if ((response.headers.get("content-type") || "").includes("json")) {
      try {
        body = await response.json();
      } catch {
        body = null;
      }
    }
    if (!response.ok) {
      const detail = typeof body?.detail === "string" ? body.detail : response.statusText;
      throw new ApiError(response.status, detail || `HTTP ${response.status}`);
    }
    return body;
  }

  function showAlert(text) {
    setText($("alert"), text);
    $("alert").hidden = false;
  }

  function hideAlert() {
    $("alert").hidden = true;
    setText($("alert"), "");
  }

  function say(text, failed = false) {
    $("notice").classList.toggle("failed", failed);
    setText($("notice"), `${clock(new Date())} · ${text}`);
  }

  function explain(error) {
    if (!(error instanceof ApiError)) return `Something went wrong in this page: ${error}`;
    if (error.status === 0) return `${error.detail} Trying again every ${POLL_MS / 1000} s.`;
    if (error.status === 403) return `Not allowed with this token (403): ${error.detail}`;
    return `The operator API answered ${error.status}: ${error.detail}`;
  }

  function isUnauthorised(error) {
    return error instanceof ApiError && error.status === 401;
  }

  async function act(button, path, done) {
    button.disabled = true;
    try {
      await api(path, { method: "POST" });
      say(done);
      refresh();
    } catch (error) {
      if (isUnauthorised(error)) signOut(tokenRefused());
      else say(explain(error), true);
    } finally {
      button.disabled = false;
    }
  }

  // ---- departments ----

  function problemsOf(d) {
    const found = [];
    if (number(d.failed) > 0) found.push(["bad", `${d.failed} failed`]);
    if (d.circuit === "open") found.push(["bad", "circuit open"]);
    else if (d.circuit === "half_open" || d.circuit === "half-open") {
      found.push(["warn", "circuit half-open"]);
    }
    if (d.paused) found.push(["warn", "paused"]);
    if (number(d.rejected) > 0) found.push(["warn", `${d.rejected} rejected`]);
    if (number(d.backlog) > 0 && number(d.oldest_pending_s) >= STALE_BACKLOG_S) {
      found.push(["warn", "backlog waiting"]);
    }
    if (number(d.failure_rate) >= FAILURE_RATE_WARNING) {
      found.push(["warn", `${percent(d.failure_rate)} failing`]);
    }
    return found;
  }

  /** Problems first: dead letters, open circuit, paused, backlog, failure rate; then name. */
  function byUrgency(a, b) {
    const key = (d) => [
      number(d.failed),
      d.circuit === "open" ? 1 : 0,
      d.paused ? 1 : 0,
      number(d.backlog),
      number(d.failure_rate),
    ];
    const ka = key(a);
    const kb = key(b);
    for (let i = 0; i < ka.length; i += 1) {
      if (ka[i] !== kb[i]) return kb[i] - ka[i];
    }
    return String(a.name || a.id).localeCompare(String(b.name || b.id));
  }

  function pauseButton(d) {
    const action = d.paused ? "resume" : "pause";
    const text = d.paused ? "Resume" : "Pause";
    const button = h("button", {
      type: "button",
      class: d.paused ? "small-button" : "secondary small-button",
      "aria-label": `${text} deliveries to ${d.name || d.id}`,
      data: { focus: `${action}:${d.id}`, action },
      onclick: () =>
        act(
          button,
          `departments/${encodeURIComponent(d.id)}/${action}`,
          `${text} requested for ${d.name || d.id}.`,
        ),
    }, text);
    return button;
  }

  /** Only offered while the department has dead letters. */
  function redeliverFailedButton(d) {
    if (number(d.failed) === 0) return null;
    const button = h("button", {
      type: "button",
      class: "secondary small-button",
      "aria-label": `Redeliver all failed deliveries to ${d.name || d.id}`,
      data: { focus: `redeliver-failed:${d.id}`, action: "redeliver-failed" },
      onclick: () =>
        act(
          button,
          `departments/${encodeURIComponent(d.id)}/redeliver-failed`,
          `Redelivery of every failed delivery to ${d.name || d.id} requested.`,
        ),
    }, "Redeliver failed");
    return button;
  }

  function departmentRow(d, extras) {
    const found = problemsOf(d);
    const level = found.some(([l]) => l === "bad") ? "bad" : found.length ? "warn" : "ok";
    const failed = number(d.failed);
    return h("tr", { class: `row-${level}`, data: { department: String(d.id) } },
      h("th", { scope: "row" },
        h("a", { href: `#department=${encodeURIComponent(d.id)}`, data: { focus: `open:${d.id}` } },
          d.name || d.id),
        h("div", { class: "muted small" }, d.id)),
      h("td", { data: { field: "health" } },
        found.length ? found.map(([l, text]) => badge(l, text)) : badge("ok", "healthy")),
      h("td", { class: "num", data: { field: "failed" } },
        failed > 0
          ? h("a", {
            href: `#department=${encodeURIComponent(d.id)}&status=failed`,
            class: "count-bad",
            "aria-label": `${failed} failed deliveries to ${d.name || d.id}`,
            data: { focus: `failed:${d.id}` },
          }, String(failed))
          : "0"),
      h("td", { data: { field: "circuit" } }, circuitBadge(d.circuit)),
      h("td", { class: "num", data: { field: "backlog" } }, String(number(d.backlog))),
      h("td", { class: "num", data: { field: "oldest_pending_s" } },
        number(d.backlog) > 0 ? duration(d.oldest_pending_s) : "—"),
      h("td", { class: "num", data: { field: "delivered_per_min" } },
        number(d.delivered_per_min).toFixed(1)),
      h("td", { class: "num", data: { field: "failure_rate" } }, percent(d.failure_rate)),
      extras.map((field) => h("td", { data: { field } }, anyValue(field, d[field]))),
      h("td", { class: "actions" }, pauseButton(d), redeliverFailedButton(d)));
  }

  function renderDepartments(list) {
    const departments = list.filter((d) => d && typeof d === "object").sort(byUrgency);
    state.departments = departments;
    const extras = [...new Set(departments.flatMap((d) => Object.keys(d)))]
      .filter((field) => !KNOWN_FIELDS.has(field))
      .sort();
    const table = $("departments");
    render(table.tHead, JSON.stringify(extras), () => h("tr", {},
      headings(["Department", "Health", "#Failed", "Circuit", "#Backlog", "#Oldest waiting",
        "#Delivered / min", "#Failure rate (1 h)", ...extras.map(label), "Actions"])));
    render(table.tBodies[0], JSON.stringify(departments), () => departments.length
      ? departments.map((d) => departmentRow(d, extras))
      : h("tr", {}, h("td", { colspan: 9 + extras.length }, "No departments.")));
    const count = (test) => departments.filter(test).length;
    const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;
    const parts = [
      plural(departments.length, "department", "departments"),
      `${count((d) => number(d.failed) > 0)} with failed deliveries`,
      plural(count((d) => d.circuit === "open"), "circuit open", "circuits open"),
      `${count((d) => d.paused)} paused`,
      plural(departments.reduce((n, d) => n + number(d.backlog), 0), "delivery waiting",
        "deliveries waiting"),
    ];
    setText($("summary"), parts.join(" · "));
  }

  // ---- the detail pane: one department's deliveries, or one change ----

  function currentView() {
    const params = new URLSearchParams(location.hash.replace(/^#/, ""));
    const reference = (params.get("reference") || "").trim();
    if (reference) return { kind: "change", reference };
    const department = params.get("department");
    if (department) {
      const status = params.get("status");
      return { kind: "department", department, status: STATUSES.includes(status) ? status : "" };
    }
    return { kind: "none" };
  }

  function go(params) {
    const hash = new URLSearchParams(params).toString();
    if (location.hash.replace(/^#/, "") === hash) refresh();
    else location.hash = hash;
  }

  function redeliverButton(delivery) {
    const finished = FINISHED.has(delivery.status);
    const button = h("button", {
      type: "button",
      class: "secondary small-button",
      disabled: !finished,
      title: finished ? null : "Only a finished delivery can be redelivered",
      "aria-label": `Redeliver ${shortId(delivery.delivery_id)} to ${nameOf(delivery.department)}`,
      data: { focus: `redeliver:${delivery.delivery_id}`, action: "redeliver" },
      onclick: () =>
        act(
          button,
          `deliveries/${encodeURIComponent(delivery.delivery_id)}/redeliver`,
          `Redelivery of ${shortId(delivery.delivery_id)} to ${nameOf(delivery.department)} requested.`,
        ),
    }, "Redeliver");
    return button;
  }

  function referenceLink(reference) {
    if (!reference) return "—";
    return h("a", {
      href: `#reference=${encodeURIComponent(reference)}`,
      class: "mono",
      data: { focus: `reference:${reference}` },
    }, reference);
  }

  function lastProblem(delivery) {
    if (delivery.reason) return `Reason: ${delivery.reason}`;
    const last = (delivery.attempts || []).at(-1);
    return last?.error ? last.error : "";
  }

  function deliveriesTable(items) {
    return h("div", { class: "table-wrap" }, h("table", { class: "grid", id: "deliveries" },
      h("caption", { class: "visually-hidden" }, "Deliveries, oldest first"),
      h("thead", {}, h("tr", {}, headings(["Reference", "Delivery", "Status", "#Attempts",
        "Last attempt (UTC)", "#Code", "#Latency", "Error or reason", "Action"]))),
      h("tbody", {}, items.map((d) => {
        const attempts = d.attempts || [];
        const last = attempts.at(-1);
        return h("tr", { data: { delivery: String(d.delivery_id) } },
          h("td", {}, referenceLink(d.reference)),
          h("td", { class: "mono", title: String(d.delivery_id) }, shortId(d.delivery_id)),
          h("td", { data: { field: "status" } }, statusBadge(d.status)),
          h("td", { class: "num", data: { field: "attempts" } }, String(attempts.length)),
          h("td", { class: "mono" }, last ? utc(last.at) : "—"),
          h("td", { class: "num" }, last?.status_code ?? "—"),
          h("td", { class: "num" }, last ? `${Math.round(number(last.latency_ms))} ms` : "—"),
          h("td", { class: "wrap" }, lastProblem(d)),
          h("td", {}, redeliverButton(d)));
      }))));
  }

  function departmentBody(view, page) {
    const d = state.departments.find((x) => x.id === view.department);
    const items = Array.isArray(page?.items) ? page.items : [];
    const parts = [];
    if (d) {
      parts.push(h("div", { class: "toolbar" },
        h("span", {}, problemsOf(d).map(([l, text]) => badge(l, text))),
        pauseButton(d), redeliverFailedButton(d)));
    }
    const filter = view.status ? ` with status “${view.status}”` : "";
    parts.push(items.length
      ? deliveriesTable(items)
      : h("p", { class: "empty" }, `No deliveries${filter}.`));
    if (page?.next) {
      parts.push(state.limit < MAX_LIMIT
        ? h("button", {
          type: "button",
          class: "secondary",
          data: { focus: "more" },
          onclick: () => {
            state.limit = Math.min(MAX_LIMIT, state.limit + PAGE);
            refresh();
          },
        }, `Show ${PAGE} more`)
        : h("p", { class: "muted" },
          `Showing the first ${MAX_LIMIT}; narrow the list by status or find a change.`));
    }
    return parts;
  }

  function attemptsTable(attempts) {
    if (!attempts.length) return h("p", { class: "muted" }, "No attempt yet.");
    return h("table", { class: "grid compact attempts" },
      h("caption", { class: "visually-hidden" }, "Every attempt, in order"),
      h("colgroup", {}, ["n", "time", "code", "latency", "error"]
        .map((name) => h("col", { class: `col-${name}` }))),
      h("thead", {}, h("tr", {}, headings(["##", "Time (UTC)", "#Status code", "#Latency",
        "Error"]))),
      h("tbody", {}, attempts.map((a, i) => h("tr", { data: { attempt: String(i + 1) } },
        h("td", { class: "num" }, String(i + 1)),
        h("td", { class: "mono" }, utc(a.at)),
        h("td", { class: "num", data: { field: "status_code" } }, a.status_code ?? "—"),
        h("td", { class: "num" }, `${Math.round(number(a.latency_ms))} ms`),
        h("td", { class: "wrap" }, a.error || "")))));
  }

  function changeBody(view, page) {
    const rank = (d) => (STATUS_ORDER.includes(d.status) ? STATUS_ORDER.indexOf(d.status) : 0);
    const items = (Array.isArray(page?.items) ? [...page.items] : []).sort((a, b) => rank(a) - rank(b));
    if (!items.length) {
      return h("p", { class: "empty" },
        `No deliveries found for reference ${view.reference}` +
        " (or none to a department this token covers).");
    }
    const tally = new Map();
    for (const d of items) tally.set(d.status, (tally.get(d.status) || 0) + 1);
    return [
      h("dl", { class: "facts" },
        h("dt", {}, "Event id"), h("dd", { class: "mono" }, items[0].event_id),
        h("dt", {}, "Deliveries"),
        h("dd", {}, [...tally].map(([status, n]) => `${n} ${status}`).join(", "))),
      items.map((d) => h("article", {
        class: "delivery",
        data: { delivery: String(d.delivery_id), department: String(d.department) },
        "aria-label": `Delivery to ${nameOf(d.department)}`,
      },
      h("div", { class: "delivery-head" },
        h("h3", {}, nameOf(d.department)),
        h("span", { data: { field: "status" } }, statusBadge(d.status)),
        h("span", { class: "muted mono small", title: "Delivery id (webhook-id)" }, d.delivery_id),
        redeliverButton(d)),
      d.reason ? h("p", { class: "reason" }, `Reason: ${d.reason}`) : null,
      attemptsTable(d.attempts || []))),
    ];
  }

  /** Build the pane's frame when the view changes; its body is filled by ``refresh``. */
  function showDetail() {
    const view = currentView();
    const section = $("detail");
    const frame = view.kind === "department" ? `department:${view.department}`
      : view.kind === "change" ? `change:${view.reference}` : "";
    if (frame === state.frame) {
      const select = $("status-filter");
      if (select) select.value = view.status || "";
      return;
    }
    state.frame = frame;
    state.limit = PAGE;
    if (view.kind === "none") {
      section.hidden = true;
      section.replaceChildren();
      return;
    }
    const title = h("h2", { id: "detail-title", tabindex: "-1" },
      view.kind === "change" ? `Change ${view.reference}` : `Deliveries to ${nameOf(view.department)}`);
    const close = h("button", { type: "button", class: "secondary", onclick: () => go({}) }, "Close");
    const parts = [h("div", { class: "section-head" }, title, close)];
    if (view.kind === "department") {
      const select = h("select", {
        id: "status-filter",
        onchange: () => go(select.value
          ? { department: view.department, status: select.value }
          : { department: view.department }),
      }, h("option", { value: "" }, "All statuses"), STATUSES.map((s) => h("option", { value: s }, s)));
      select.value = view.status;
      parts.push(h("div", { class: "toolbar" }, h("label", { for: "status-filter" }, "Status"), select,
        h("span", { class: "muted small" }, "Oldest first.")));
    }
    parts.push(h("div", { id: "detail-body", "aria-live": "off" }, h("p", { class: "muted" }, "Loading…")));
    section.replaceChildren(...parts);
    section.hidden = false;
    title.focus();
  }

  async function refreshDetail() {
    const view = currentView();
    const key = JSON.stringify(view);
    const body = $("detail-body");
    if (view.kind === "none" || !body) return;
    let page;
    if (view.kind === "department") {
      const params = new URLSearchParams({ department: view.department, limit: String(state.limit) });
      if (view.status) params.set("status", view.status);
      page = await api(`deliveries?${params}`);
    } else {
      page = await api(`deliveries?${new URLSearchParams({ reference: view.reference, limit: "100" })}`);
    }
    if (JSON.stringify(currentView()) !== key || !body.isConnected) return; // navigated away
    if (view.kind === "department") {
      setText($("detail-title"), `Deliveries to ${nameOf(view.department)}`);
      const department = state.departments.find((x) => x.id === view.department);
      render(body, JSON.stringify([page, department, state.limit]), () => departmentBody(view, page));
    } else {
      const found = Array.isArray(page?.items) ? page.items[0] : undefined;
      setText($("detail-title"), `Change ${found?.reference || view.reference}`);
      render(body, JSON.stringify(page), () => changeBody(view, page));
    }
  }

  // ---- polling ----

  function schedule() {
    clearTimeout(state.timer);
    if (state.token && $("live").checked && !document.hidden) state.timer = setTimeout(refresh, POLL_MS);
  }

  async function refresh() {
    if (!state.token) return;
    if (state.running) {
      state.again = true;
      return;
    }
    state.running = true;
    clearTimeout(state.timer);
    let problem = null;
    try {
      const list = await api("departments");
      renderDepartments(Array.isArray(list) ? list : []);
      await refreshDetail();
      setText($("updated"), `Updated ${clock(new Date())}`);
    } catch (error) {
      problem = error;
    } finally {
      state.running = false;
    }
    if (isUnauthorised(problem)) {
      signOut(tokenRefused());
      return;
    }
    if (problem) showAlert(explain(problem));
    else hideAlert();
    if (state.again) {
      state.again = false;
      refresh();
    } else {
      schedule();
    }
  }

  // ---- the token ----

  function tokenRefused() {
    return "That operator token was not accepted (401). Enter a valid operator token.";
  }

  function showApp() {
    $("login").hidden = true;
    $("app").hidden = false;
    $("controls").hidden = false;
  }

  function signOut(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    state.token = null;
    clearTimeout(state.timer);
    $("app").hidden = true;
    $("controls").hidden = true;
    $("login").hidden = false;
    $("token").value = "";
    // Leave nothing the last token could see in the page.
    const table = $("departments");
    for (const element of [table.tHead, table.tBodies[0], $("detail")]) {
      element.replaceChildren();
      shown.delete(element);
    }
    $("detail").hidden = true;
    state.frame = "";
    state.departments = [];
    setText($("summary"), "");
    setText($("notice"), "");
    if (message) showAlert(message);
    else hideAlert();
    $("token").focus();
  }

  async function signIn(event) {
    event.preventDefault();
    const token = $("token").value.trim();
    // A header value must be printable ASCII; say so rather than fail inside fetch().
    if (!/^[\x21-\x7e]+$/.test(token)) {
      showAlert("An operator token is printable ASCII without spaces.");
      return;
    }
    state.token = token;
    try {
      await api("departments");
    } catch (error) {
      state.token = null;
      showAlert(isUnauthorised(error) ? tokenRefused() : explain(error));
      $("token").select();
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, token);
    $("token").value = "";
    hideAlert();
    showApp();
    showDetail();
    refresh();
  }

  function start() {
    $("login-form").addEventListener("submit", signIn);
    $("sign-out").addEventListener("click", () => signOut());
    $("refresh").addEventListener("click", () => refresh());
    $("live").addEventListener("change", () => ($("live").checked ? refresh() : clearTimeout(state.timer)));
    $("find-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const reference = $("find-reference").value.trim();
      if (reference) go({ reference });
    });
    window.addEventListener("hashchange", () => {
      showDetail();
      refresh();
    });
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden) refresh();
    });
    if (state.token) {
      showApp();
      showDetail();
      refresh();
    } else {
      signOut();
    }
  }

  start();
})();
