// The GridTokenX dashboard: plain ES modules, no build step, every asset local.
import { chart } from "./chart.js";
import { b58encode, b64, browserWallet, devWallet } from "./wallet.js";

const KWH = 1e9;          // energy base units per kWh
const CREDIT = 1e6;       // payment base units per credit
const $ = (sel) => document.querySelector(sel);
let me = null;
let wallet = null;

async function api(path, { method = "GET", body } = {}) {
  const r = await fetch(`/api/v1${path}`, {
    method, credentials: "same-origin",
    headers: body ? { "Content-Type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  if (r.status === 204) return null;
  const data = await r.json();
  if (!r.ok) throw Object.assign(new Error(data.detail?.message || r.statusText),
    { code: data.detail?.code, status: r.status });
  return data;
}

function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  node.append(...children.flat().map((c) => (c instanceof Node ? c : String(c ?? ""))));
  return node;
}

function table(headers, rows) {
  return h("table", {}, h("tr", {}, headers.map((x) => h("th", {}, x))),
    rows.map((r) => h("tr", {}, r.map((c) => (c instanceof Node && c.tagName === "TD"
      ? c : h("td", typeof c === "number" ? { class: "num" } : {}, c))))));
}

const kwh = (base) => (base / KWH).toFixed(3);
const credits = (base) => (base / CREDIT).toFixed(2);
const short = (a) => (a ? `${a.slice(0, 4)}…${a.slice(-4)}` : "");
const when = (ts) => new Date(ts * 1000).toISOString().slice(5, 16).replace("T", " ");

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
    await start();
  } catch (e) {
    $("#login-error").textContent = `Sign-in failed: ${e.message}`;
  }
}

async function start() {
  try { me = await api("/me"); } catch { me = null; }
  $("#login").hidden = !!me;
  $("#page").hidden = !me;
  $("#nav").hidden = !me;
  $("#logout").hidden = !me;
  $("#whoami").textContent = me ? `${short(me.address)} · ${me.roles.join(", ")}` : "";
  $("#whoami").dataset.address = me ? me.address : "";
  for (const a of document.querySelectorAll("[data-role]")) {
    a.hidden = !me || !a.dataset.role.split(" ").some((r) => me.roles.includes(r));
  }
  if (me) { listen(); await render(); }
  document.body.dataset.state = "ready";
}

// --- emergency controls: a banner for everyone ----------------------------------------
const SCOPE_WORDS = { orders: "placing orders", clearing: "clearing",
  settlement: "settlement", minting: "minting" };

async function showControls() {
  const banner = $("#banner");
  try {
    const c = await api("/governance/controls");
    banner.hidden = c.paused.length === 0;
    banner.classList.toggle("partial", !c.maintenance);
    banner.textContent = c.maintenance
      ? `Maintenance: the market is paused by the REC authority (${c.paused[0].reason}). `
        + "Readings are still recorded; nothing is lost."
      : c.paused.map((p) => `${SCOPE_WORDS[p.scope] || p.scope} is paused since `
        + `${p.since.slice(0, 16).replace("T", " ")} UTC: ${p.reason}`).join(" · ");
  } catch { banner.hidden = true; }
}

async function control(action, form) {
  const f = new FormData(form);
  const out = $("#control-status");
  try {
    const r = await api(`/governance/controls/${action}`, { method: "POST",
      body: { scopes: f.getAll("scope"), reason: f.get("reason") } });
    out.textContent = `${action}d: ${r.scopes.join(", ")}`
      + (r.memo_error ? ` (memo not recorded: ${r.memo_error})` : "");
    await showControls();
    await render();
  } catch (e) { out.textContent = e.message; out.className = "error"; }
}

// Energy of a closed epoch not minted (yet): withheld, with the reason in words, or pending.
function notMinted(r) {
  if (r.withheld_base_units) return `${kwh(r.withheld_base_units)} kWh withheld: ${r.withheld_reason_text}`;
  if (r.pending_base_units) return `${kwh(r.pending_base_units)} kWh to mint`;
  return "";
}

// --- pages ------------------------------------------------------------------------------
const pages = {
  async energy() {
    const { items } = await api("/me/energy?limit=48");
    const rows = items.slice().reverse();
    return [h("h1", {}, "My energy"),
      h("p", { class: "legend" }, h("span", { class: "exp" }, "■ exported"),
        h("span", { class: "imp" }, "■ imported"), "Wh per epoch"),
      chart([{ values: rows.map((r) => r.export_wh), color: "#0a7d55" },
        { values: rows.map((r) => r.import_wh), color: "#c0562b" }],
      rows.map((r) => when(r.start))),
      table(["epoch", "start (UTC)", "exported Wh", "imported Wh", "minted kWh", "not minted"],
        items.map((r) => [r.epoch, when(r.start), r.export_wh, r.import_wh,
          r.closed ? kwh(r.minted_base_units) : "open", notMinted(r)]))];
  },
  async tokens() {
    const [balances, mints, trades] = await Promise.all([
      api("/balances").catch((e) => ({ error: e.message })),
      api("/me/mints?limit=96"), api("/trades?limit=200")]);
    const minted = mints.items.reduce((s, r) => s + r.minted_base_units, 0);
    const earned = trades.items.filter((t) => t.side === "sell" && t.status === "settled")
      .reduce((s, t) => s + t.payment, 0);
    return [h("h1", {}, "My tokens and earnings"),
      h("div", { class: "cards" },
        h("div", { class: "card", id: "energy-balance" }, "Energy tokens",
          h("b", {}, balances.error ? "—" : `${kwh(balances.energy_base_units)} kWh`)),
        h("div", { class: "card", id: "payment-balance" }, "Payment credits",
          h("b", {}, balances.error ? "—" : credits(balances.payment_base_units))),
        h("div", { class: "card" }, "Minted (recent epochs)", h("b", {}, `${kwh(minted)} kWh`)),
        h("div", { class: "card" }, "Earned from sales", h("b", {}, credits(earned)))),
      balances.error ? h("p", { class: "error" }, balances.error) : ""];
  },
  async book() {
    const [book, mine] = await Promise.all([api("/orders/book"), api("/orders?limit=20")]);
    const form = h("form", { class: "inline", id: "order-form", onsubmit: placeOrder },
      h("label", {}, "side", h("select", { name: "side" }, h("option", {}, "sell"),
        h("option", {}, "buy"))),
      h("label", {}, "kWh", h("input", { name: "kwh", type: "number", step: "0.001",
        min: "0.001", value: "1" })),
      h("label", {}, "limit (credits/kWh)", h("input", { name: "price", type: "number",
        step: "0.01", min: "0.01", value: "0.25" })),
      h("button", { type: "submit" }, "Place order"), h("span", { id: "order-status" }));
    return [h("h1", {}, `Order book: epoch ${book.epoch}`), form,
      table(["side", "limit (credits/kWh)", "kWh", "orders"],
        book.levels.map((l) => [l.side, credits(l.limit_price), kwh(l.quantity), l.orders])),
      h("h2", {}, "My orders"),
      table(["id", "side", "epoch", "kWh", "limit", "status", "why", ""], mine.items.map((o) => [
        o.order_id, o.side, o.epoch, kwh(o.quantity), credits(o.limit_price), o.status,
        o.reason_text || "",
        ["pending", "open"].includes(o.status)
          ? h("button", { onclick: () => cancel(o.order_id) }, "Cancel") : ""]))];
  },
  async trades() {
    const { items } = await api("/trades?limit=100");
    return [h("h1", {}, "My trades"), table(
      ["epoch", "side", "counterparty", "kWh", "price", "credits", "status", "transaction"],
      items.map((t) => [t.epoch, t.side, short(t.counterparty), kwh(t.quantity),
        credits(t.price), credits(t.payment), t.status, t.signature ? short(t.signature)
          : t.error || ""]))];
  },
  async epochs() {
    const { items } = await api("/epochs?limit=48");
    const rows = items.slice().reverse();
    return [h("h1", {}, "Epoch results"),
      h("p", { class: "legend" }, h("span", { class: "exp" }, "■ volume (kWh)"),
        h("span", {}, "— clearing price")),
      chart([{ values: rows.map((r) => (r.volume ?? 0) / KWH), color: "#0a7d55" },
        { values: rows.map((r) => (r.clearing_price == null ? null : r.clearing_price / CREDIT)),
          color: "#333", kind: "line" }], rows.map((r) => when(r.start))),
      table(["epoch", "readings", "exported Wh", "minted kWh", "price", "volume kWh", "root"],
        items.map((r) => [r.epoch, r.reading_count, r.total_export_wh, kwh(r.mint_base_units),
          r.clearing_price == null ? "—" : credits(r.clearing_price),
          r.volume == null ? "—" : kwh(r.volume), r.merkle_root.slice(0, 12)]))];
  },
  async admin() {
    const isAdmin = me.roles.includes("admin");
    const out = [h("h1", {}, "Operations")];
    if (isAdmin) {
      const [gws, reasons, tokens] = await Promise.all([api("/admin/gateways/status?limit=200"),
        api("/admin/rejected-readings/by-reason"), api("/admin/enrolment-tokens?limit=20")]);
      out.push(h("h2", {}, "Gateways"), table(["gateway", "status", "meters", "last seen", ""],
        gws.items.map((g) => [short(g.gateway_id), g.status, g.meter_count,
          g.last_seen_ts ? when(g.last_seen_ts) : "never",
          h("td", { class: g.online ? "online" : "offline" }, g.online ? "online" : "offline")])),
      h("h2", {}, "Rejected readings by reason"),
      table(["reason", "count"], Object.entries(reasons).map(([k, v]) => [k, v])),
      h("h2", {}, "Enrolment tokens"),
      h("form", { class: "inline", onsubmit: issueToken },
        h("label", {}, "owner wallet", h("input", { name: "owner", size: 44 })),
        h("button", { type: "submit" }, "Issue token"), h("code", { id: "new-token" })),
      table(["owner", "note", "expires", "used by"], tokens.items.map((t) => [short(t.owner),
        t.note, t.expires_at.slice(0, 16), t.used_by ? short(t.used_by) : "unused"])));
    }
    if (me.roles.includes("rec_authority")) {
      const c = await api("/governance/controls");
      const paused = new Set(c.paused.map((p) => p.scope));
      const scopes = Object.keys(SCOPE_WORDS).map((s) => h("label", {},
        h("input", { type: "checkbox", name: "scope", value: s }),
        `${s}${paused.has(s) ? " (paused)" : ""}`));
      out.push(h("h2", {}, "Emergency controls"),
        h("form", { class: "inline", id: "controls-form" }, ...scopes,
          h("label", {}, "reason", h("input", { name: "reason", size: 30, required: "" })),
          h("button", { type: "button", id: "pause",
            onclick: (e) => control("pause", e.target.form) }, "Pause"),
          h("button", { type: "button", id: "resume",
            onclick: (e) => control("resume", e.target.form) }, "Resume"),
          h("span", { id: "control-status" })));
    }
    const params = await api("/governance/params");
    out.push(h("h2", {}, `Governed parameters (epoch ${params.epoch})`),
      table(["parameter", "value", "", "from epoch", "by"], params.values.map((v) => [v.name,
        v.value, v.in_force ? "in force" : "scheduled", v.from_epoch ?? "default",
        `${v.authority ? short(v.authority) : ""}${v.applied ? "" : " (not applied)"}`])));
    const actions = await api("/governance/actions?limit=20");
    out.push(h("h2", {}, "Governance actions"),
      table(["when", "by", "action", "target", "outcome", "tx"],
        actions.items.map((a) => [a.at.slice(0, 19), short(a.actor), a.action,
          short(a.target), a.outcome, short(a.detail.signature)
            || a.detail.code || ""])));
    return out;
  },
};

async function render() {
  const name = location.hash.slice(1) || "energy";
  for (const a of document.querySelectorAll("nav a")) {
    a.classList.toggle("active", a.getAttribute("href") === `#${name}`);
  }
  const page = $("#page");
  try {
    page.replaceChildren(...(await (pages[name] || pages.energy)()));
  } catch (e) {
    page.replaceChildren(h("p", { class: "error" }, e.message));
  }
  page.dataset.page = name;
}

// --- actions ----------------------------------------------------------------------------
async function signApproval(approval) {
  if (!wallet) wallet = me && localStorage.getItem("gtx-dev-key") ? await devWallet()
    : await browserWallet();
  const signed = await wallet.signTransaction(b64.decode(approval.transaction));
  return api("/orders/approval", { method: "POST", body: { transaction: b64.encode(signed) } });
}

async function placeOrder(event) {
  event.preventDefault();
  const f = new FormData(event.target);
  const status = $("#order-status");
  try {
    status.textContent = "placing…";
    const placed = await api("/orders", { method: "POST", body: {
      side: f.get("side"), quantity: Math.round(Number(f.get("kwh")) * KWH),
      limit_price: Math.round(Number(f.get("price")) * CREDIT) } });
    if (placed.approval) { status.textContent = "sign the escrow approval…";
      await signApproval(placed.approval); }
    await render();
    $("#order-status").textContent = "order placed";
  } catch (e) {
    status.textContent = `refused: ${e.message}`;
    status.className = "error";
  }
}

async function cancel(orderId) {
  await api(`/orders/${orderId}`, { method: "DELETE" });
  await render();
}

async function issueToken(event) {
  event.preventDefault();
  const owner = new FormData(event.target).get("owner");
  try {
    const t = await api("/admin/enrolment-tokens", { method: "POST", body: { owner } });
    $("#new-token").textContent = t.token;
  } catch (e) { $("#new-token").textContent = e.message; }
}

// --- live updates -----------------------------------------------------------------------
let source = null;
function listen() {
  if (source) return;
  source = new EventSource("/api/v1/events");
  for (const kind of ["epoch", "reading"]) source.addEventListener(kind, () => render());
  source.addEventListener("epoch", () => showControls());
}

$("#wallet-login").addEventListener("click", () => signIn(browserWallet));
$("#dev-login").addEventListener("click", () => signIn(devWallet));
$("#logout").addEventListener("click", async () => {
  await api("/auth/logout", { method: "POST" }).catch(() => {});
  source?.close(); source = null; wallet = null; await start();
});
window.addEventListener("hashchange", () => me && render());
api("/auth/config").then((c) => { $("#dev").hidden = !c.dev_login; }).catch(() => {});
showControls();
setInterval(showControls, 15000);
start();
