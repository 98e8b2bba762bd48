// The admin console: what one onebin process and its database are doing, from the
// JSON API under /_onebin/api/. Plain JavaScript served as it is: no build step.
//
// Every string the API returns goes into the page as text (textContent, DOM nodes),
// never as HTML: request paths and job errors come from strangers.
//
// The admin token lives in sessionStorage only: gone when the tab closes, never sent
// by the browser on its own (no cookie), so no other site can make use of it.

const TOKEN_KEY = "onebin.console.token";
const AUTO_REFRESH_MS = 5000;
// Resolved against this script's URL, so the page works at /_onebin and /_onebin/.
const API = new URL("api/", import.meta.url);

const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------------------
// Talking to the API

class ApiFailure extends Error {
  constructor(status, code, message, retryAfter = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }

  get signsOut() {
    return this.status === 401 || (this.status === 403 && this.code === "admin_required");
  }
}

async function failure(response) {
  const body = await response.json().catch(() => null);
  const error = body && body.error ? body.error : {};
  return new ApiFailure(
    response.status,
    error.code || "http_error",
    error.message || `the server answered ${response.status}`,
    response.headers.get("retry-after"),
  );
}

/** The response to ``path`` (relative to /_onebin/api/), sent with ``token``. */
async function request(path, { method = "GET", body, token = session.token } = {}) {
  const headers = { Authorization: `Bearer ${token}` };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
  }
  let response;
  try {
    response = await fetch(new URL(path, API), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
  } catch (error) {
    throw new ApiFailure(0, "network", `the server could not be reached (${error.message})`);
  }
  if (!response.ok) {
    throw await failure(response);
  }
  return response;
}

async function call(path, options) {
  return (await request(path, options)).json();
}

/** What to tell someone whose token the server refused, or null for other failures. */
function refusal(error) {
  if (error.status === 403 && error.code === "admin_required") {
    return (
      "This token is not an admin token: it cannot open the console. Create an admin " +
      "token on the server with token create --name NAME --admin."
    );
  }
  if (error.status === 429) {
    const wait = error.retryAfter ? ` (wait ${error.retryAfter} s)` : "";
    return `${error.message}${wait}`;
  }
  if (error.status === 401) {
    return `The token was refused: ${error.message}`;
  }
  return null;
}

// ---------------------------------------------------------------------------
// Building the page from data, as text

/** An element with attributes and children; strings become text nodes. */
function h(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "class") {
      node.className = value;
    } else if (name.startsWith("on")) {
      node.addEventListener(name.slice(2), value);
    } else if (value !== null && value !== undefined && value !== false) {
      node.setAttribute(name, value === true ? "" : String(value));
    }
  }
  node.append(...children.flat().filter((child) => child !== null && child !== undefined));
  return node;
}

/** A table in a box of its own that scrolls sideways, so the page never does.
 * ``rows`` are lists of cells, each a string or a node. */
function table(caption, headings, rows, { captionShown = true } = {}) {
  return h(
    "div",
    { class: "scroll", tabindex: "0", role: "group", "aria-label": caption },
    h(
      "table",
      {},
      // A caption that would repeat the section's heading is for screen readers only.
      h("caption", { class: captionShown ? null : "visually-hidden" }, caption),
      h("thead", {}, h("tr", {}, headings.map((heading) => h("th", { scope: "col" }, heading)))),
      h(
        "tbody",
        {},
        rows.map((cells) => h("tr", {}, cells.map((cell) => h("td", {}, cell)))),
      ),
    ),
  );
}

/** A list of facts: [[term, value], ...]; a null value is left out. */
function facts(pairs) {
  return h(
    "dl",
    { class: "facts" },
    pairs
      .filter(([, value]) => value !== null && value !== undefined)
      .map(([term, value]) => h("div", {}, h("dt", {}, term), h("dd", {}, value))),
  );
}

function note(text) {
  return h("p", { class: "muted" }, text);
}

/** Show ``text`` in an error or status line, or hide the line when it is empty. */
function say(element, text) {
  element.textContent = text;
  element.hidden = !text;
}

const UNITS = ["KiB", "MiB", "GiB", "TiB"];
const ENGINES = { sqlite: "SQLite", postgresql: "PostgreSQL" };

function size(bytes) {
  if (bytes === null || bytes === undefined) {
    return "unknown";
  }
  if (bytes < 1024) {
    return `${bytes} bytes`;
  }
  let value = bytes;
  let unit = -1;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const exact = `${bytes.toLocaleString("en")} bytes`;
  return h("span", { title: exact }, `${value.toFixed(1)} ${UNITS[unit]}`);
}

function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  const parts = [
    [Math.floor(s / 86400), "d"],
    [Math.floor((s % 86400) / 3600), "h"],
    [Math.floor((s % 3600) / 60), "min"],
    [s % 60, "s"],
  ];
  const first = parts.findIndex(([count]) => count > 0);
  if (first === -1) {
    return "0 s";
  }
  return parts
    .slice(first, first + 2)
    .filter(([count]) => count > 0)
    .map(([count, unit]) => `${count} ${unit}`)
    .join(" ");
}

function moment(iso, { timeOnly = false } = {}) {
  if (!iso) {
    return "—";
  }
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) {
    return iso;
  }
  const text = timeOnly ? date.toLocaleTimeString() : date.toLocaleString();
  return h("time", { datetime: iso, title: iso }, text);
}

/** The heading of a column of buttons: read out, not shown (the buttons say it). */
function actions() {
  return h("span", { class: "visually-hidden" }, "Actions");
}

function button(text, onclick, label) {
  return h("button", { type: "button", onclick, "aria-label": label }, text);
}

// ---------------------------------------------------------------------------
// The sections

function renderOverview(overview) {
  const { versions, process, health, database, certificates, jobs, backups, search } = overview;
  const app = `${versions.app.name} ${versions.app.version}`;
  $("app-name").textContent = `· ${app}`;
  document.title = `${versions.app.name} – onebin console`;

  const ready = health.status === "ready";
  $("health").replaceChildren(
    h(
      "p",
      { class: `health-status ${ready ? "good" : "bad"}` },
      "Status: ",
      h("strong", { "data-testid": "health-status" }, health.status),
    ),
    table(
      "Checks",
      ["Check", "Result"],
      Object.entries(health.checks).map(([name, result]) => [
        name,
        h("span", { class: result === "ok" ? "good" : "bad" }, String(result)),
      ]),
    ),
    facts([
      ["App", app],
      ["onebin", versions.onebin],
      ["Python", versions.python],
      ["SQLite", versions.sqlite],
      ["OpenSSL", versions.openssl],
      ...(process
        ? [
            ["Process ID", String(process.pid)],
            ["Workers", String(process.workers)],
            ["Started", moment(process.started_at)],
            ["Uptime", duration(process.uptime_seconds)],
          ]
        : []),
    ]),
  );

  const sqlite = database.engine === "sqlite";
  const engine = ENGINES[database.engine] || database.engine;
  $("database").replaceChildren(
    facts([
      ["Engine", engine],
      ["Location", h("span", { class: "breakable" }, database.location)],
      ["Size", size(database.size_bytes)],
      ["WAL size", sqlite ? size(database.wal_bytes) : null],
    ]),
  );

  $("certificates").replaceChildren(
    certificates.length === 0
      ? note("No certificates (HTTPS is off)")
      : table(
          "Certificates",
          ["Domain", "Issuer", "Expires", "Next renewal", "Last error"],
          certificates.map((cert) => [
            cert.domain,
            cert.issuer || "—",
            moment(cert.not_after),
            moment(cert.next_renewal),
            cert.last_error ? h("span", { class: "bad breakable" }, cert.last_error) : "none",
          ]),
          { captionShown: false },
        ),
  );

  const collections = Object.entries(search.collections);
  $("search-card").hidden = collections.length === 0;
  $("search").replaceChildren(
    facts([["Model", search.model]]),
    table(
      "Collections",
      ["Collection", "Embedded", "Waiting"],
      collections.map(([name, counts]) => [name, String(counts.embedded), String(counts.waiting)]),
    ),
  );

  const counts = Object.entries(jobs.counts);
  $("job-counts").replaceChildren(
    table(
      "Jobs by state",
      ["State", "Jobs"],
      counts.map(([state, count]) => [state, String(count)]),
    ),
    note(
      jobs.oldest_due_seconds > 0
        ? `The oldest due job has waited ${duration(jobs.oldest_due_seconds)}.`
        : "No job is overdue (queued jobs may be scheduled for later).",
    ),
  );

  let schedule = "";
  if (backups.supported) {
    schedule = backups.every_seconds
      ? `Automatic backups every ${duration(backups.every_seconds)}.`
      : "No automatic backups (start the server with --backup-every to take them).";
  }
  say($("backup-schedule"), schedule);
}

function renderTokens({ tokens }) {
  $("tokens").replaceChildren(
    tokens.length === 0
      ? note("No tokens.")
      : table(
          "Tokens",
          ["Name", "Kind", "Created", "Status", actions()],
          tokens.map((token) => [
            h("span", { class: "breakable" }, token.name),
            token.admin ? "admin" : "write",
            moment(token.created_at),
            token.revoked_at ? h("span", {}, "revoked ", moment(token.revoked_at)) : "active",
            token.revoked_at
              ? ""
              : button("Revoke", () => revokeToken(token.name), `Revoke ${token.name}`),
          ]),
          { captionShown: false },
        ),
  );
}

function renderBackups({ supported, backups }) {
  $("backup-actions").hidden = !supported;
  if (!supported) {
    $("backups").replaceChildren(
      note(
        "Backups of PostgreSQL are pg_dump's job (for example pg_dump -Fc -f app.dump URL): " +
          "the console takes and lists backups of SQLite only.",
      ),
    );
    return;
  }
  $("backups").replaceChildren(
    backups.length === 0
      ? note("No backups yet.")
      : table(
          "Backups, newest first",
          ["Name", "Size", "Created", actions()],
          backups.map((backup) => [
            h("span", { class: "breakable" }, backup.name),
            size(backup.size_bytes),
            moment(backup.created_at),
            button("Download", () => download(backup.name), `Download ${backup.name}`),
          ]),
        ),
  );
}

function renderDeadJobs({ jobs }) {
  $("dead-jobs").replaceChildren(
    jobs.length === 0
      ? note("No dead jobs.")
      : table(
          "Dead jobs",
          ["ID", "Kind", "Attempts", "Last error", "Created", actions()],
          jobs.map((job) => [
            String(job.id),
            job.kind,
            `${job.attempts}/${job.max_attempts}`,
            h("span", { class: "job-error" }, job.last_error || "—"),
            moment(job.created_at),
            button("Retry", () => retryJob(job.id), `Retry job ${job.id}`),
          ]),
        ),
  );
}

function renderWebhooks({ webhooks }) {
  $("webhooks").replaceChildren(
    webhooks.length === 0
      ? note("No webhooks.")
      : table(
          "Webhooks",
          ["ID", "URL", "Events", "Created"],
          webhooks.map((hook) => [
            String(hook.id),
            h("span", { class: "breakable" }, hook.url),
            hook.events.join(", "),
            moment(hook.created_at),
          ]),
          { captionShown: false },
        ),
  );
}

const ownRequest = (path) => path === "/_onebin" || path.startsWith("/_onebin/");

function renderRequests({ requests }) {
  session.requests = requests;
  drawRequests();
}

/** The requests last read, without the console's own unless they are asked for. */
function drawRequests() {
  const all = session.requests;
  if (!all) {
    return;
  }
  const requests = $("own-requests").checked ? all : all.filter((entry) => !ownRequest(entry.path));
  const left = all.length - requests.length;
  $("requests").replaceChildren(
    left ? note(`${left} of the console's own requests not shown.`) : "",
    requests.length === 0
      ? note("No requests yet.")
      : table(
          "Recent requests, newest first",
          ["Time", "Method", "Path", "Status", "Duration (ms)", "Request ID"],
          requests.map((entry) => [
            moment(entry.time, { timeOnly: true }),
            entry.method,
            h("span", { class: "path" }, entry.path),
            h(
              "span",
              { class: `http-status status-${Math.floor(entry.status / 100)}xx` },
              String(entry.status),
            ),
            h("span", { class: "number" }, entry.duration_ms.toFixed(1)),
            h("code", {}, entry.request_id),
          ]),
        ),
  );
}

// Each part of the dashboard: where its data comes from, how it is drawn, where its
// errors go.
const PARTS = {
  overview: { path: "overview", render: renderOverview, error: "health-error" },
  tokens: { path: "tokens", render: renderTokens, error: "tokens-error" },
  backups: { path: "backups", render: renderBackups, error: "backups-error" },
  deadJobs: { path: "jobs?state=dead&limit=50", render: renderDeadJobs, error: "jobs-error" },
  webhooks: { path: "webhooks", render: renderWebhooks, error: "webhooks-error" },
  requests: { path: "requests?limit=100", render: renderRequests, error: "requests-error" },
};
const ALL = Object.keys(PARTS);
const LIVE = ["overview", "requests"];
// What sign-out empties: every container drawn from data, every message about it.
const DRAWN = [
  ...["health", "database", "search", "certificates", "tokens", "backups"],
  ...["job-counts", "dead-jobs", "webhooks", "requests"],
];
const SAID = [
  ...Object.values(PARTS).map((part) => part.error),
  ...["backup-schedule", "backup-status", "token-form-error", "updated"],
];

// ---------------------------------------------------------------------------
// The session

const session = {
  token: null,
  // Bumped at each sign-in and sign-out: answers to an older session are dropped.
  generation: 0,
  loading: 0, // loads under way: the auto-refresh waits for them
  requests: null, // the recent requests last read, drawn with or without the console's
  timer: null,
};

/** Fetch and draw ``parts``; a refused token signs out with ``refusedMessage`` or why. */
async function load(parts, { refusedMessage = null } = {}) {
  const generation = session.generation;
  session.loading += 1;
  try {
    const results = await Promise.allSettled(parts.map((part) => call(PARTS[part].path)));
    if (generation !== session.generation) {
      return;
    }
    for (const [index, result] of results.entries()) {
      const part = PARTS[parts[index]];
      if (result.status === "fulfilled") {
        say($(part.error), "");
        part.render(result.value);
        continue;
      }
      const error = result.reason;
      if (error instanceof ApiFailure && error.signsOut) {
        signOut(refusedMessage || `Signed out. ${refusal(error)}`);
        return;
      }
      say($(part.error), `Could not load: ${error.message}`);
    }
    say($("updated"), `Updated ${new Date().toLocaleTimeString()}`);
  } finally {
    session.loading -= 1;
  }
}

async function signIn(token, { saved = false } = {}) {
  const error = $("sign-in-error");
  say(error, "");
  let overview;
  try {
    // The overview proves the token is an admin token before anything else is asked.
    overview = await call("overview", { token });
  } catch (failed) {
    const refused = refusal(failed);
    if (saved && refused) {
      sessionStorage.removeItem(TOKEN_KEY);
    }
    const why = refused || `Could not sign in: ${failed.message}`;
    say(error, saved && refused ? `Your saved token no longer works. ${why}` : why);
    $("token").focus();
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  session.token = token;
  session.generation += 1;
  $("token").value = "";
  $("sign-in").hidden = true;
  $("dashboard").hidden = false;
  $("controls").hidden = false;
  PARTS.overview.render(overview);
  await load(ALL.filter((part) => part !== "overview"));
}

/** Forget the token and every piece of data drawn with it. */
function signOut(message = "") {
  sessionStorage.removeItem(TOKEN_KEY);
  session.token = null;
  session.generation += 1;
  session.requests = null;
  setAutoRefresh(false);
  for (const id of DRAWN) {
    $(id).replaceChildren();
  }
  for (const id of SAID) {
    say($(id), "");
  }
  $("backup-actions").hidden = true;
  $("token-form").reset();
  hideSecret();
  $("app-name").textContent = "";
  document.title = "onebin console";
  $("dashboard").hidden = true;
  $("controls").hidden = true;
  $("sign-in").hidden = false;
  say($("sign-in-error"), message);
  $("token").focus();
}

function setAutoRefresh(on) {
  $("auto-refresh").checked = on;
  clearInterval(session.timer);
  session.timer = on ? setInterval(tick, AUTO_REFRESH_MS) : null;
}

function tick() {
  // A hidden tab asks nothing: nobody is looking, and each ask is a logged request.
  if (!document.hidden && !session.loading && session.token) {
    load(LIVE);
  }
}

// ---------------------------------------------------------------------------
// Actions

/** An action failed: a refused token signs out; anything else is told beside it. */
function fail(failed, element, what) {
  if (failed.signsOut) {
    signOut(`Signed out. ${refusal(failed)}`);
  } else {
    say(element, `${what}: ${failed.message}`);
  }
}

async function createToken(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const error = $("token-form-error");
  say(error, "");
  hideSecret();
  const name = $("new-token-name").value.trim();
  const admin = $("new-token-admin").checked;
  const submit = form.querySelector("button[type=submit]");
  submit.disabled = true;
  try {
    const created = await call("tokens", { method: "POST", body: { name, admin } });
    form.reset();
    showSecret(created);
    await load(["tokens"]);
  } catch (failed) {
    fail(failed, error, "Not created");
  } finally {
    submit.disabled = false;
  }
}

function showSecret(created) {
  $("new-secret-heading").textContent =
    `New ${created.admin ? "admin token" : "token"} “${created.name}”`;
  $("new-secret-value").value = created.token;
  say($("copy-status"), "");
  $("new-secret").hidden = false;
  $("new-secret-value").focus();
  $("new-secret-value").select();
}

function hideSecret() {
  $("new-secret-value").value = "";
  $("new-secret").hidden = true;
}

async function copySecret() {
  const field = $("new-secret-value");
  field.select();
  try {
    await navigator.clipboard.writeText(field.value);
    say($("copy-status"), "Copied.");
  } catch {
    // No clipboard API (a page served over plain HTTP from afar): the text is selected.
    say($("copy-status"), "Selected: press Ctrl+C (⌘C) to copy.");
  }
}

async function revokeToken(name) {
  if (!confirm(`Revoke the token “${name}”? Whatever uses it is refused from now on.`)) {
    return;
  }
  try {
    await call(`tokens/${encodeURIComponent(name)}`, { method: "DELETE" });
  } catch (failed) {
    fail(failed, $("tokens-error"), "Not revoked");
    return;
  }
  const refusedMessage =
    `You revoked “${name}”, the token this tab was signed in with. ` +
    "Sign in with another admin token.";
  await load(["tokens"], { refusedMessage });
}

async function backUp() {
  const status = $("backup-status");
  const trigger = $("back-up");
  say($("backups-error"), "");
  say(status, "Backing up…");
  trigger.disabled = true;
  try {
    const backup = await call("backups", { method: "POST" });
    say(status, `Backed up to ${backup.name}.`);
    await load(["backups", "overview"]);
  } catch (failed) {
    say(status, "");
    fail(failed, $("backups-error"), "Not backed up");
  } finally {
    trigger.disabled = false;
  }
}

/** Download with the token in a header (a plain link could not send it). */
async function download(name) {
  say($("backups-error"), "");
  let blob;
  try {
    blob = await (await request(`backups/${encodeURIComponent(name)}`)).blob();
  } catch (failed) {
    fail(failed, $("backups-error"), "Not downloaded");
    return;
  }
  const url = URL.createObjectURL(blob);
  const link = h("a", { href: url, download: name, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  // The browser reads the blob after the click returns; give it time before freeing it.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

async function retryJob(id) {
  say($("jobs-error"), "");
  try {
    await call(`jobs/${id}/retry`, { method: "POST" });
  } catch (failed) {
    fail(failed, $("jobs-error"), "Not retried");
    return;
  }
  await load(["deadJobs", "overview"]);
}

// ---------------------------------------------------------------------------
// Start

$("sign-in-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const token = $("token").value.trim();
  if (token) {
    signIn(token);
  }
});
$("sign-out").addEventListener("click", () => signOut());
$("refresh").addEventListener("click", () => load(ALL));
$("auto-refresh").addEventListener("change", (event) => setAutoRefresh(event.target.checked));
document.addEventListener("visibilitychange", () => session.timer && tick());
$("back-up").addEventListener("click", backUp);
$("token-form").addEventListener("submit", createToken);
$("copy-secret").addEventListener("click", copySecret);
$("own-requests").addEventListener("change", drawRequests);
$("hide-secret").addEventListener("click", hideSecret);

const saved = sessionStorage.getItem(TOKEN_KEY);
if (saved) {
  signIn(saved, { saved: true });
} else {
  $("token").focus();
}
