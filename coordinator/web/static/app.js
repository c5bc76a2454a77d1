// The GridTokenX dashboard: plain ES modules, no build step, every asset served by
// the coordinator itself (vendored libraries in ./vendor).
//
// Routing is by the URL's hash (#market, #trade, #tx/<signature> ...). A page is
// built when it is opened; after that, live updates (server-sent events: the user's
// stream when signed in, the market's on the public page) and the epoch clock only
// refresh its data regions.
// Above every page, signed in or not, a banner says when the REC authority has
// paused the market (GET /governance/controls).
import { h } from "./dom.js";
import { controlsText, setRules } from "./format.js";
import { PAGES } from "./pages.js";
import { b58encode, b64, browserWallet, devWallet } from "./wallet.js";

const $ = (sel) => document.querySelector(sel);
const CONTROLS_REFRESH_S = 15; // the emergency controls' banner, signed in or not
let me = null;
let wallet = null;
let summary = null;
let clockOffset = 0; // server clock minus this browser's, seconds
let current = null; // { name, page }
let authConfig = { dev_login: false, domain: location.host };
let demo = null; // the demo's simulated users (GET /demo/users), only under `gridtokenx demo`
const isDemoUser = () => !!(me && demo?.users.some((u) => u.wallet === me.address));

async function api(path, { method = "GET", body } = {}) {
  const r = await fetch(`/api/v1${path}`, {
    method, credentials: "same-origin",
    headers: body ? { "Content-Type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  if (r.status === 204) return null;
  const data = await r.json().catch(() => ({}));
  if (!r.ok) {
    const detail = data.detail;
    const message = typeof detail === "string" ? detail
      : detail?.message || (Array.isArray(detail) ? detail.map((d) => d.msg).join("; ") : "")
        || r.statusText;
    throw Object.assign(new Error(message), { code: detail?.code, status: r.status });
  }
  return data;
}

const now = () => Date.now() / 1000 + clockOffset;

async function loadSummary() {
  summary = await api("/market/summary");
  clockOffset = summary.now - Date.now() / 1000;
  setRules(summary);
  return summary;
}

// --- the emergency controls: a banner for everyone ---------------------------------------

let controlsKey = null;

async function showControls() {
  const c = await api("/governance/controls").catch(() => null);
  const paused = c?.paused ?? [];
  const key = JSON.stringify([paused, c?.maintenance]);
  if (key === controlsKey) return; // unchanged: not announced again
  controlsKey = key;
  const banner = $("#banner");
  banner.hidden = paused.length === 0;
  banner.classList.toggle("partial", !c?.maintenance);
  banner.textContent = paused.length ? controlsText(c) : "";
}

// --- sign-in ----------------------------------------------------------------------------

async function signIn(makeWallet) {
  $("#login-error").textContent = "";
  try {
    wallet = await makeWallet();
    const { message } = await api("/auth/nonce", { method: "POST",
      body: { address: wallet.address } });
    const signature = await wallet.signMessage(new TextEncoder().encode(message));
    await api("/auth/login", { method: "POST",
      body: { message, signature: b58encode(signature) } });
    await whoAmI();
    go(["", "#signin"].includes(location.hash) ? "#energy" : location.hash);
  } catch (e) {
    $("#login-error").textContent = `Sign-in failed: ${e.message}`;
  }
}

async function whoAmI() {
  try { me = await api("/me"); } catch { me = null; }
  for (const a of document.querySelectorAll("#nav [data-auth]")) {
    const roles = a.dataset.role?.split(" ");
    a.hidden = !me || (roles && !roles.some((r) => me.roles.includes(r)));
  }
  $("#signin-link").hidden = !!me;
  $("#logout").hidden = !me;
  $("#whoami").textContent = me
    ? `${me.address.slice(0, 4)}…${me.address.slice(-4)} · ${me.roles.join(", ")}` : "";
  $("#whoami").dataset.address = me ? me.address : "";
  listen();
}

function signInPage() {
  const node = $("#signin-template").content.cloneNode(true);
  node.querySelector(".signin-domain").textContent = authConfig.domain;
  node.querySelector("#dev").hidden = !authConfig.dev_login;
  node.querySelector("#wallet-login").addEventListener("click", () => signIn(browserWallet));
  node.querySelector("#dev-login").addEventListener("click", () => signIn(devWallet));
  if (demo) {
    node.querySelector("#demo-users").hidden = false;
    node.querySelector(".demo-about").textContent = demo.about;
    node.querySelector(".demo-admin").textContent = demo.become_admin;
    const ROLE = { admin: "admin", rec_authority: "REC authority" };
    node.querySelector(".demo-list").append(...demo.users.map((u) => {
      const extra = u.roles.filter((r) => ROLE[r]).map((r) => ROLE[r]);
      return h("li", {},
        h("button", { type: "button", class: "demo-user", dataset: { wallet: u.wallet },
          onclick: () => signInAsDemoUser(u.wallet) }, `Sign in as ${u.name}`),
        h("span", {}, h("b", {}, u.kind), extra.length ? ` (${extra.join(", ")})` : "",
          h("br"), h("span", { class: "hint" }, u.description,
            u.by_hand ? " (someone drives this user now)" : "")));
    }));
  }
  return { node };
}

async function signInAsDemoUser(address) {
  $("#login-error").textContent = "";
  try {
    await api("/demo/login", { method: "POST", body: { wallet: address } });
    wallet = null;
    await whoAmI();
    go(["", "#signin"].includes(location.hash) ? "#energy" : location.hash);
  } catch (e) {
    $("#login-error").textContent = `Sign-in failed: ${e.message}`;
  }
}

async function signApproval(approval) {
  if (isDemoUser()) return api("/demo/approval", { method: "POST" }); // the demo holds the key
  if (!wallet) {
    wallet = me && localStorage.getItem("gtx-dev-key") ? await devWallet() : await browserWallet();
  }
  const signed = await wallet.signTransaction(b64.decode(approval.transaction));
  return api("/orders/approval", { method: "POST", body: { transaction: b64.encode(signed) } });
}

// --- pages ------------------------------------------------------------------------------

const ctx = {
  api, now, signApproval,
  me: () => me,
  summary: () => summary,
  refresh: () => refresh(),
  controlsChanged: () => showControls(),
};

function route() {
  const [name, arg] = location.hash.slice(1).split("/");
  if (name === "signin") return me ? { name: "energy" } : { name };
  const spec = PAGES[name];
  if (!spec) return { name: me ? "energy" : "market" };
  if (!spec.public && !me) return { name: "signin", wanted: name };
  if (spec.roles && !spec.roles.some((r) => me.roles.includes(r))) return { name: "energy" };
  return { name, arg: arg && decodeURIComponent(arg) };
}

async function open() {
  const { name, arg, wanted } = route();
  const main = $("#page");
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.getAttribute("href") === `#${name}`) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const page = name === "signin" ? signInPage() : PAGES[name].make(ctx, arg);
  current = { name, page };
  main.replaceChildren(page.node);
  if (wanted) main.prepend(h("p", { class: "notice" }, "Sign in to see that page."));
  document.title = `${name === "signin" ? "Sign in" : PAGES[name].title} · GridTokenX`;
  page.mounted?.();
  main.dataset.page = name;
  main.dataset.refreshed = "0";
  await refresh();
}

// Show page `hash`: through the hashchange event, or at once when it is already there.
function go(hash) {
  if (location.hash === hash) open();
  else location.hash = hash;
}

let refreshing = null;
let again = false;

// Refill the open page's regions; calls during a refresh fold into one more after it.
async function refresh() {
  if (!current) return null;
  if (refreshing) { again = true; return refreshing; }
  const target = current;
  refreshing = (async () => {
    try {
      await loadSummary().catch(() => {});
      if (target.page.refresh) await target.page.refresh();
      target.page.tick?.(now());
      if (target === current) {  // how often the open page got fresh data (tests wait on it)
        $("#page").dataset.refreshed = String(Number($("#page").dataset.refreshed || 0) + 1);
      }
    } catch (e) {
      if (e.status === 401) { await whoAmI(); await open(); return; }
      showError(e);
    } finally {
      refreshing = null;
    }
    if (again) { again = false; await refresh(); }
  })();
  return refreshing;
}

function showError(e) {
  let box = $("#page .load-error");
  if (!box) {
    box = h("p", { class: "load-error error", role: "alert" });
    $("#page").prepend(box);
  }
  box.textContent = `Could not load everything: ${e.message}`;
}

// --- live updates -----------------------------------------------------------------------

let source = null;

function live(kind) {
  document.body.dataset.liveEvents = String(Number(document.body.dataset.liveEvents || 0) + 1);
  document.body.dataset.lastEvent = kind;
  const counter = `${kind}Events`; // e.g. data-epoch-events: what the tests wait on
  document.body.dataset[counter] = String(Number(document.body.dataset[counter] || 0) + 1);
  refresh();
}

// One stream at a time: the user's (epochs and their meters' readings) when signed in,
// the market's (epochs) when not; the server pushes, nothing here polls.
function listen() {
  const path = me ? "/api/v1/events" : "/api/v1/market/events";
  if (source && new URL(source.url).pathname === path) return;
  source?.close();
  source = new EventSource(path);
  document.body.dataset.stream = path;
  for (const kind of ["epoch", "reading"]) source.addEventListener(kind, () => live(kind));
  source.addEventListener("epoch", () => showControls());
}

// The epoch clock: every second, and a refresh just after each close (the clearing).
let lastClose = null;
setInterval(() => {
  if (!current || !summary) return;
  current.page.tick?.(now());
  if (now() >= summary.closes_at + 2 && lastClose !== summary.closes_at) {
    lastClose = summary.closes_at;
    live("clock");
  }
}, 1000);

$("#logout").addEventListener("click", async () => {
  // A simulated user goes back to the simulation, which trades for it again.
  if (isDemoUser()) await api("/demo/login", { method: "DELETE" }).catch(() => {});
  await api("/auth/logout", { method: "POST" }).catch(() => {});
  wallet = null;
  await whoAmI();
  go("#market");
});
// After a move to another page, keyboard and screen-reader users start at its content.
window.addEventListener("hashchange", async () => {
  await open();
  $("#page").focus({ preventScroll: true });
});

setInterval(showControls, CONTROLS_REFRESH_S * 1000);

(async () => {
  showControls();
  authConfig = await api("/auth/config").catch(() => authConfig);
  if (authConfig.dev_login) demo = await api("/demo/users").catch(() => null);
  await loadSummary().catch(() => {});
  await whoAmI();
  await open();
  document.body.dataset.state = "ready";
})();
