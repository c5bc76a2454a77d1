// The dashboard's pages. Each is built once when opened (`build`) and then only
// refreshed (`refresh`): live updates refill its regions and give its charts new
// data; forms are never rebuilt, so what the user types or selects stays put.
import { chart, COLORS } from "./charts.js";
import { h, region, stat, table } from "./dom.js";
import {
  CREDIT, KWH, SCOPE_WORDS, countdown, credits, epochAt, epochWindow, hour, kwh, kwhDecimals,
  notMinted, price, priceDecimals, reasonText, rules, seconds, short, statusText, when, wh,
} from "./format.js";

// --- shared parts -----------------------------------------------------------------------

// The call auction's clock: which epoch orders go into, when its book closes, and
// two lines on why the book may look crossed. `update(summary, now)` every second.
function auctionClock() {
  const epoch = h("b", { id: "open-epoch" });
  const window = h("span");
  const left = h("b", { class: "countdown", role: "timer", "aria-label": "time left" });
  const node = h("section", { class: "clock", "aria-labelledby": "clock-title" },
    h("h2", { id: "clock-title" }, "Next clearing"),
    h("p", { class: "clock-line" }, "Orders now go into the epoch delivered ", window,
      " (epoch ", epoch, "). Its book closes and clears in ", left, "."),
    h("p", { class: "explain" },
      "This market is a call auction: orders collect until the close, then all clear at once ",
      "at one price where supply meets demand, and every trade pays that price.",
      h("br"),
      "Nothing trades before the close, so bids above asks can wait in the book together ",
      "(it looks crossed)."));
  return {
    node,
    update(summary, now) {
      if (!summary) return;
      epoch.textContent = summary.open_epoch;
      epoch.dataset.epoch = summary.open_epoch;
      window.textContent = epochWindow(summary.open_epoch);
      const remaining = summary.closes_at - now;
      left.textContent = remaining > 0 ? countdown(remaining) : "now (clearing…)";
    },
  };
}

function txLink(signature, ctx) {
  if (!signature) return "";
  const explorer = ctx.summary()?.explorer_tx_url;
  return explorer
    ? h("a", { href: explorer.replace("{signature}", signature), rel: "noopener noreferrer",
      target: "_blank" }, short(signature),
    h("span", { class: "sr-only" }, " (opens a block explorer)"))
    : h("a", { href: `#tx/${signature}` }, short(signature),
      h("span", { class: "sr-only" }, " (transaction details)"));
}

const section = (title, ...children) => h("section", {}, h("h2", {}, title), ...children);
const sum = (rows, key) => rows.reduce((s, r) => s + (r[key] ?? 0), 0);

// Every one of the last 24 UTC hours (the API leaves out hours with nothing), so that
// each bar is an hour wide.
function dayOfHours(rows, now) {
  const byStart = new Map(rows.map((r) => [r.start, r]));
  const last = Math.floor(now / 3600) * 3600;
  return Array.from({ length: 24 }, (_, i) => {
    const start = last - (23 - i) * 3600;
    return byStart.get(start) ?? { start, import_wh: 0, export_wh: 0, volume: 0, turnover: 0 };
  });
}
const host = () => h("div", { class: "chart-host" });
// Time axes: bars per epoch (x = its start) and per hour over the last day.
const EPOCH_X = { time: true, step: () => rules.epochLength,
  format: (x) => epochWindow(epochAt(x)) };
const HOUR_X = { time: true, step: () => 3600, span: 24 * 3600,
  format: (x) => `${hour(x)}–${hour(x + 3600)}` };

// Charts of energy per epoch and per hour: production against consumption.
function energyCharts(what) {
  const perEpoch = host();
  const perHour = host();
  const series = [
    { label: "produced (fed in)", color: COLORS.production, unit: "Wh", kind: "bars", align: -1,
      size: 0.4, format: wh },
    { label: "consumed (drawn)", color: COLORS.consumption, unit: "Wh", kind: "bars", align: 1,
      size: 0.4, format: wh },
  ];
  return {
    perEpoch, perHour,
    epochChart: () => chart(perEpoch, { x: EPOCH_X, y: { label: "energy per epoch", unit: "Wh" },
      label: `${what} production and consumption per epoch`, series }),
    hourChart: () => chart(perHour, { x: HOUR_X, y: { label: "energy per hour", unit: "Wh" },
      label: `${what} production and consumption per hour, last 24 hours`, series }),
  };
}

// --- the public market ------------------------------------------------------------------

function market(ctx) {
  const auction = auctionClock();
  const [stats, statsRegion] = region({ class: "stats" });
  const priceHost = host();
  const energy = energyCharts("Campus");
  const [recent, recentRegion] = region();
  const node = h("div", {},
    h("h1", {}, "Campus market"),
    h("p", { class: "lede" }, "Energy the campus's solar roofs feed in, traded between ",
      "prosumers and consumers every epoch; everything here is public."),
    auction.node, stats,
    section("Clearing price and volume", priceHost),
    section("Campus production and consumption per epoch", energy.perEpoch),
    section("The last 24 hours", energy.perHour),
    section("Recent clearings", recent));
  let priceChart, epochChart, hourChart;
  return {
    node,
    mounted() {
      priceChart = chart(priceHost, { x: EPOCH_X, label: "Clearing price and traded volume per epoch",
        y: { label: "volume", unit: "kWh" }, y2: { label: "price", unit: "credits/kWh" },
        series: [
          { label: "volume", color: COLORS.volume, unit: "kWh", kind: "bars",
            format: (v) => v.toFixed(kwhDecimals()) },
          { label: "clearing price", color: COLORS.price, unit: "credits/kWh", scale: "y2",
            format: (v) => v.toFixed(priceDecimals()) },
        ] });
      epochChart = energy.epochChart();
      hourChart = energy.hourChart();
    },
    tick: (now) => auction.update(ctx.summary(), now),
    async refresh() {
      const [clearings, campus, hours] = await Promise.all([
        ctx.api("/market/clearings?limit=96"), ctx.api("/market/energy?limit=96"),
        ctx.api("/market/energy/hourly?hours=24")]);
      const summary = ctx.summary();
      auction.update(summary, ctx.now());
      const c = clearings.items.slice().reverse();
      priceChart.set(c.map((r) => r.start), c.map((r) => r.volume / KWH),
        c.map((r) => (r.clearing_price == null ? null : r.clearing_price / CREDIT)));
      const e = campus.items.slice().reverse();
      epochChart.set(e.map((r) => r.start), e.map((r) => r.total_export_wh),
        e.map((r) => r.total_import_wh));
      const day = dayOfHours(hours, ctx.now());
      hourChart.set(day.map((r) => r.start), day.map((r) => r.export_wh),
        day.map((r) => r.import_wh));
      const last = summary?.last_clearing;
      const lastHour = hours.at(-1);
      statsRegion.set({ last, lastHour, traded: sum(hours, "volume") }, () => [
        stat("Last clearing price", last ? `${price(last.clearing_price)} credits/kWh` : "none yet",
          last ? `epoch delivered ${epochWindow(last.epoch)}` : ""),
        stat("Last volume", last ? `${kwh(last.volume)} kWh` : "—",
          last ? `${last.match_count} trades` : ""),
        stat("Produced this hour", lastHour ? `${wh(lastHour.export_wh)} Wh` : "—",
          "closed epochs, campus-wide"),
        stat("Traded in 24 h", `${kwh(sum(hours, "volume"))} kWh`),
      ]);
      recentRegion.set(clearings.items.slice(0, 24), (rows) => table("Recent clearings", [
        { label: "delivered" }, { label: "price (credits/kWh)", num: true },
        { label: "volume (kWh)", num: true }, { label: "paid (credits)", num: true },
        { label: "orders", num: true }, { label: "trades", num: true }],
      rows.map((r) => [epochWindow(r.epoch),
        r.clearing_price == null ? "no trade" : price(r.clearing_price), kwh(r.volume),
        credits(r.turnover), r.order_count, r.match_count]), { empty: "no epoch cleared yet" }));
    },
  };
}

// --- my energy --------------------------------------------------------------------------

function energy(ctx) {
  const [stats, statsRegion] = region({ class: "stats" });
  const charts = energyCharts("My");
  const [list, listRegion] = region();
  const [green, greenRegion] = region({ id: "matched-share" });
  const [certs, certsRegion] = region({ id: "certificates" });
  const [grid, gridRegion] = region({ id: "bill" });
  const node = h("div", {}, h("h1", {}, "My energy"), stats,
    section("Production and consumption per epoch", charts.perEpoch),
    section("Over the last 24 hours", charts.perHour),
    section("Consumption met by my energy tokens", h("p", { class: "hint" },
      "Each epoch your metered consumption is met by the energy tokens you hold, oldest first, ",
      "as far as your approval allows; those tokens are retired and become certificates naming ",
      "the meter that produced the energy and when."), green, certs),
    section("Against the grid", h("p", { class: "hint" }, "What your energy cost with the ",
      "market, beside the bill the grid alone would have sent: everything you used bought at ",
      "its retail price, everything you fed in sold at its feed-in price. The CO\u2082 avoided ",
      "is the energy retired above, certified, at the grid's emission factor. Closed epochs of ",
      "the last week."), grid),
    section("Per epoch", list));
  let epochChart, hourChart;
  return {
    node,
    mounted() { epochChart = charts.epochChart(); hourChart = charts.hourChart(); },
    async refresh() {
      const [balances, mine, hours, days, mycerts, bill] = await Promise.all([
        ctx.api("/balances").catch((e) => ({ error: e.message })),
        ctx.api("/me/energy?limit=48"), ctx.api("/me/energy/hourly?hours=24"),
        ctx.api("/retirement/statement?period=day").catch((e) => ({ error: e.message })),
        ctx.api("/retirement/certificates?limit=20").catch((e) => ({ error: e.message })),
        ctx.api("/me/bill?period=day").catch((e) => ({ error: e.message }))]);
      const failed = (what, e) => h("p", { class: "hint" }, `${what}: could not load (${e})`);
      greenRegion.set(days, (rows) => rows.error ? failed("matched share", rows.error) : table("Matched renewable share per day", [
        { label: "day (UTC)" }, { label: "consumed (Wh)", num: true },
        { label: "met by my tokens (Wh)", num: true }, { label: "share", num: true }],
      rows.slice().reverse().map((r) => [r.start.slice(0, 10), wh(r.import_wh), wh(r.matched_wh),
        `${Math.round(r.share * 100)} %`]),
      { empty: "nothing retired yet", visible: true }));
      certsRegion.set(mycerts, (rows) => rows.error ? failed("certificates", rows.error) : table("My latest certificates", [
        { label: "covered" }, { label: "produced by" }, { label: "produced" },
        { label: "energy (kWh)", num: true }, { label: "status" }, { label: "certificate" }],
      rows.map((c) => [epochWindow(c.epoch), `${short(c.gateway_id)}/${c.meter_id}`,
        epochWindow(c.production_epoch), kwh(c.base_units), c.status,
        h("code", { title: c.leaf }, short(c.leaf))]),
      { empty: "no certificates yet", visible: true }));
      if (bill.error) gridRegion.error(bill.error);
      else gridRegion.set(bill, billView);
      const rows = mine.items.slice().reverse();
      epochChart.set(rows.map((r) => r.start), rows.map((r) => r.export_wh),
        rows.map((r) => r.import_wh));
      const day = dayOfHours(hours, ctx.now());
      hourChart.set(day.map((r) => r.start), day.map((r) => r.export_wh),
        day.map((r) => r.import_wh));
      statsRegion.set({ balances, p: sum(hours, "export_wh"), c: sum(hours, "import_wh") }, (d) => [
        balanceStats(d.balances),
        stat("Produced in 24 h", `${wh(d.p)} Wh`, "fed into the campus grid"),
        stat("Consumed in 24 h", `${wh(d.c)} Wh`, "drawn from the campus grid"),
      ]);
      listRegion.set(mine.items, (items) => table("My energy per epoch", [
        { label: "delivered" }, { label: "produced (Wh)", num: true },
        { label: "consumed (Wh)", num: true }, { label: "energy tokens minted (kWh)", num: true },
        { label: "not minted" }],
      items.map((r) => [epochWindow(r.epoch), wh(r.export_wh), wh(r.import_wh),
        r.closed ? kwh(r.minted_base_units) : "epoch open",
        h("span", { class: "reason-cell" }, notMinted(r))]),
      { empty: "no readings from your meters yet" }));
    },
  };
}

// A bill's money: negative is money earned, said so.
const cost = (base) => (base < 0 ? `${credits(-base)} earned` : `${credits(base)}`);
const kg = (mg) => (mg / 1e6).toLocaleString("en", { maximumFractionDigits: 3 });
const co2 = (mg) => `${kg(mg)} kg`;

function billView(bill) {
  const t = bill.total;
  return [
    h("div", { class: "stats" },
      stat("Saved against the grid", credits(t.savings), "credits, grid-only bill less actual"),
      stat("Actual cost", cost(t.actual_cost), "market and grid, credits"),
      stat("Grid-only bill", cost(t.grid_only_cost), "credits, without the market"),
      stat("CO₂ avoided", co2(t.avoided_co2_mg), "by your retired energy tokens")),
    table("My bill per day: energy in kWh, money in credits, CO\u2082 in kg", [
      { label: "day (UTC)" }, { label: "used", num: true }, { label: "fed in", num: true },
      { label: "bought", num: true }, { label: "sold", num: true },
      { label: "actual", num: true }, { label: "grid only", num: true },
      { label: "saved", num: true }, { label: "CO\u2082 avoided", num: true }],
    bill.lines.slice().reverse().map((l) => [
      new Date(l.start * 1000).toISOString().slice(0, 10),
      kwh(l.import_energy), kwh(l.export_energy), kwh(l.bought), kwh(l.sold),
      cost(l.actual_cost), cost(l.grid_only_cost), credits(l.savings), kg(l.avoided_co2_mg)]),
    { empty: "no closed epochs with energy or trades in the last week", visible: true }),
  ];
}

function campusView(totals) {
  const t = totals.total;
  return h("div", { class: "stats" },
    stat("Users billed", String(totals.users), "metered or traded this week"),
    stat("Saved against the grid", credits(t.savings), "credits, campus total"),
    stat("Actual cost", cost(t.actual_cost), "market and grid, credits"),
    stat("Grid-only bill", cost(t.grid_only_cost), "credits, without the market"),
    stat("Traded on the market", `${kwh(t.bought)} kWh`, `${credits(t.paid)} credits paid`),
    stat("CO\u2082 avoided", co2(t.avoided_co2_mg), "by energy tokens retired on campus"));
}

function balanceStats(b) {
  if (b.error) return [stat("Energy tokens", "—", b.error), stat("Credits", "—", "")];
  return [
    h("div", { class: "stat", id: "energy-balance" }, h("span", { class: "stat-label" },
      "Energy tokens"), h("b", {}, `${kwh(b.energy_base_units)} kWh`), h("small", {}, "to sell")),
    h("div", { class: "stat", id: "payment-balance" }, h("span", { class: "stat-label" },
      "Credits"), h("b", {}, credits(b.payment_base_units)), h("small", {}, "to buy with")),
  ];
}

// --- trade: the book, the order form, my orders ------------------------------------------

function aggregate(levels, side) {
  const rows = levels.filter((l) => l.side === side);
  rows.sort((a, b) => (side === "buy" ? b.limit_price - a.limit_price
    : a.limit_price - b.limit_price));
  let total = 0;
  return rows.map((l) => ({ ...l, cumulative: (total += l.quantity) }));
}

// Cumulative depth on one price axis: bids from the highest down, asks from the lowest up.
function depth(bids, asks) {
  const prices = [...new Set([...bids, ...asks].map((l) => l.limit_price))].sort((a, b) => a - b);
  const bidAt = (p) => {
    const q = sum(bids.filter((l) => l.limit_price >= p), "quantity");
    return p <= (bids[0]?.limit_price ?? -1) ? q / KWH : null;
  };
  const askAt = (p) => {
    const q = sum(asks.filter((l) => l.limit_price <= p), "quantity");
    return p >= (asks[0]?.limit_price ?? Infinity) ? q / KWH : null;
  };
  return [prices.map((p) => p / CREDIT), prices.map(bidAt), prices.map(askAt)];
}

function trade(ctx) {
  const auction = auctionClock();
  const [stats, statsRegion] = region({ class: "stats" });
  const status = h("output", { id: "order-status", "aria-live": "polite" });
  // Text fields with a decimal keypad: a number field would change its value on a
  // stray scroll wheel and hides the selection from scripts.
  const decimal = (id, name, value, hint) => h("input", { id, name, type: "text", value,
    inputmode: "decimal", autocomplete: "off", required: true, pattern: "[0-9]*[.,]?[0-9]*",
    "aria-describedby": hint });
  const kwhInput = decimal("order-kwh", "kwh", "1", "order-kwh-hint");
  const priceInput = decimal("order-price", "price", "0.250", "order-price-hint");
  const form = h("form", { class: "order-form", id: "order-form", onsubmit: (e) => place(e) },
    h("div", { class: "field" }, h("label", { for: "order-side" }, "Side"),
      h("select", { id: "order-side", name: "side" }, h("option", { value: "sell" }, "sell"),
        h("option", { value: "buy" }, "buy"))),
    h("div", { class: "field" }, h("label", { for: "order-kwh" }, "Energy (kWh)"), kwhInput,
      h("small", { id: "order-kwh-hint" }, `steps of ${1 / 10 ** kwhDecimals()} kWh`)),
    h("div", { class: "field" }, h("label", { for: "order-price" }, "Limit (credits/kWh)"),
      priceInput, h("small", { id: "order-price-hint" }, `steps of ${1 / 10 ** priceDecimals()}`)),
    h("button", { type: "submit" }, "Place order"), status);
  const [summaryNode, bookSummary] = region({ class: "book-summary" });
  const [bookNode, book] = region({ class: "book" });
  const depthHost = host();
  const [ordersNode, orders] = region();
  const node = h("div", {}, h("h1", {}, "Trade energy"), auction.node, stats,
    section("Place an order", h("p", { class: "hint" }, "A sell order offers your energy tokens ",
      "at no less than the limit; a buy order spends credits at no more than it. Orders go into ",
      "the next clearing; the wallet signs an approval covering them."), form),
    h("section", { "aria-labelledby": "book-title" },
      h("h2", { id: "book-title" }, "Order book"), summaryNode, depthHost, bookNode),
    section("My orders", ordersNode));
  let depthChart;

  async function place(event) {
    event.preventDefault();
    const f = new FormData(form);
    const amount = (name) => Number(String(f.get(name)).trim().replace(",", "."));
    const [energyKwh, limit] = [amount("kwh"), amount("price")];
    status.className = "error";
    if (!(energyKwh > 0)) { status.textContent = "Enter the energy in kWh, e.g. 0.5"; return; }
    if (!(limit > 0)) { status.textContent = "Enter a limit in credits per kWh, e.g. 0.25"; return; }
    status.className = "";
    try {
      status.textContent = "placing…";
      const placed = await ctx.api("/orders", { method: "POST", body: {
        side: f.get("side"), quantity: Math.round(energyKwh * KWH),
        limit_price: Math.round(limit * CREDIT) } });
      if (placed.approval) {
        status.textContent = "sign the escrow approval in your wallet…";
        await ctx.signApproval(placed.approval);
      }
      status.textContent = `order placed for the epoch delivered ${epochWindow(placed.order.epoch)}`;
      status.className = "ok";
      await ctx.refresh();
    } catch (e) {
      status.textContent = `refused: ${e.message}`;
      status.className = "error";
    }
  }

  async function cancel(orderId) {
    try {
      await ctx.api(`/orders/${encodeURIComponent(orderId)}`, { method: "DELETE" });
      status.textContent = "order cancelled";
      status.className = "ok";
    } catch (e) {
      status.textContent = `not cancelled: ${e.message}`;
      status.className = "error";
    }
    await ctx.refresh();
  }

  return {
    node,
    mounted() {
      depthChart = chart(depthHost, { label: "Order book depth: cumulative kWh bid and asked by price",
        x: { label: "limit price (credits/kWh)", format: (v) => v.toFixed(priceDecimals()) },
        y: { label: "cumulative", unit: "kWh" },
        series: [
          { label: "bids (buy)", color: COLORS.bid, unit: "kWh", kind: "steps", align: -1,
            format: (v) => v.toFixed(kwhDecimals()) },
          { label: "asks (sell)", color: COLORS.ask, unit: "kWh", kind: "steps", align: 1,
            format: (v) => v.toFixed(kwhDecimals()) },
        ] });
    },
    tick: (now) => auction.update(ctx.summary(), now),
    async refresh() {
      const [bookData, mine, balances] = await Promise.all([
        ctx.api("/orders/book"), ctx.api("/orders?limit=50"),
        ctx.api("/balances").catch((e) => ({ error: e.message }))]);
      auction.update(ctx.summary(), ctx.now());
      statsRegion.set(balances, balanceStats);
      const bids = aggregate(bookData.levels, "buy");
      const asks = aggregate(bookData.levels, "sell");
      depthChart.set(...depth(bids, asks));
      bookSummary.set({ epoch: bookData.epoch, bid: bids[0]?.limit_price,
        ask: asks[0]?.limit_price }, (d) => {
        const spread = d.bid != null && d.ask != null ? d.ask - d.bid : null;
        return [
          h("p", {}, `Book of the epoch delivered ${epochWindow(d.epoch)} (epoch ${d.epoch}).`),
          h("dl", { class: "spread" },
            h("div", {}, h("dt", {}, "best bid"), h("dd", {}, d.bid == null ? "none" : price(d.bid))),
            h("div", {}, h("dt", {}, "best ask"), h("dd", {}, d.ask == null ? "none" : price(d.ask))),
            h("div", {}, h("dt", {}, "spread"), h("dd", {}, spread == null ? "—" : price(spread)))),
          spread != null && spread < 0 ? h("p", { class: "hint" }, "The best bid is above the ",
            "best ask (a negative spread): they will match at the close, at the one clearing ",
            "price.") : "",
        ];
      });
      book.set({ bids, asks }, (d) => {
        const cols = (what) => [{ label: `${what} limit (credits/kWh)`, num: true },
          { label: "kWh", num: true }, { label: "cumulative kWh", num: true },
          { label: "orders", num: true }];
        const rows = (levels) => levels.map((l) => [price(l.limit_price), kwh(l.quantity),
          kwh(l.cumulative), l.orders]);
        return [table("Bids (buy orders), best first", cols("bid"), rows(d.bids),
          { empty: "no bids", visible: true }),
        table("Asks (sell orders), best first", cols("ask"), rows(d.asks),
          { empty: "no asks", visible: true })];
      });
      orders.set(mine.items, (items) => table("My orders", [
        { label: "placed" }, { label: "delivered" }, { label: "side" }, { label: "kWh", num: true },
        { label: "limit (credits/kWh)", num: true }, { label: "outcome" },
        { label: "filled kWh", num: true }, { label: "credits", num: true },
        { label: h("span", { class: "sr-only" }, "actions") }],
      items.map((o) => [when(Date.parse(o.created_at) / 1000), epochWindow(o.epoch), o.side,
        kwh(o.quantity), price(o.limit_price),
        h("span", { class: `outcome ${o.status}`, dataset: { status: o.status } },
          h("b", {}, statusText(o.status)),
          reasonText(o) ? h("span", { class: "reason" }, reasonText(o)) : ""),
        kwh(o.filled), o.payment ? credits(o.payment) : "—",
        ["pending", "open"].includes(o.status) ? h("button", { type: "button",
          "aria-label": `Cancel order ${o.order_id}`, onclick: () => cancel(o.order_id) }, "Cancel")
          : ""]), { empty: "no orders yet: place one above" }));
    },
  };
}

// --- my trades --------------------------------------------------------------------------

function trades(ctx) {
  const [stats, statsRegion] = region({ class: "stats" });
  const [list, listRegion] = region();
  const node = h("div", {}, h("h1", {}, "My trades"), stats, section("Trades", list));
  return {
    node,
    async refresh() {
      const { items } = await ctx.api("/trades?limit=200");
      const settled = items.filter((t) => t.status === "settled");
      const of = (side, key) => sum(settled.filter((t) => t.side === side), key);
      statsRegion.set(items, () => [
        stat("Bought", `${kwh(of("buy", "quantity"))} kWh`,
          `paid ${credits(of("buy", "payment"))} credits`),
        stat("Sold", `${kwh(of("sell", "quantity"))} kWh`,
          `earned ${credits(of("sell", "payment"))} credits`),
        stat("Settling", String(items.filter((t) => t.status === "pending").length),
          "trades not yet on chain"),
      ]);
      listRegion.set(items, (rows) => table("My trades, newest first", [
        { label: "traded" }, { label: "delivered" }, { label: "side" }, { label: "counterparty" },
        { label: "kWh", num: true }, { label: "price (credits/kWh)", num: true },
        { label: "amount (credits)", num: true }, { label: "status" }, { label: "transaction" }],
      rows.map((t) => [t.cleared_at ? when(Date.parse(t.cleared_at) / 1000) : "—",
        epochWindow(t.epoch), t.side, short(t.counterparty), kwh(t.quantity), price(t.price),
        credits(t.payment),
        t.status === "failed" ? `failed: ${t.error_text || t.error || "unknown"}` : t.status,
        txLink(t.signature, ctx)]), { empty: "no trades yet" }));
    },
  };
}

// --- epochs -----------------------------------------------------------------------------

function epochs(ctx) {
  const [list, listRegion] = region();
  const node = h("div", {}, h("h1", {}, "Epoch results"),
    h("p", { class: "lede" }, "Each closed epoch: the readings it took, the energy it minted as ",
      "tokens, its Merkle root (attested on chain) and its market's clearing."), list);
  return {
    node,
    async refresh() {
      const { items } = await ctx.api("/epochs?limit=96");
      listRegion.set(items, (rows) => table("Closed epochs, newest first", [
        { label: "delivered" }, { label: "epoch", num: true }, { label: "readings", num: true },
        { label: "produced (Wh)", num: true }, { label: "minted (kWh)", num: true },
        { label: "price (credits/kWh)", num: true }, { label: "volume (kWh)", num: true },
        { label: "Merkle root" }],
      rows.map((r) => [epochWindow(r.epoch), r.epoch, r.reading_count,
        wh(r.total_export_wh), kwh(r.mint_base_units),
        r.clearing_price == null ? "—" : price(r.clearing_price),
        r.volume == null ? "—" : kwh(r.volume), h("code", {}, r.merkle_root.slice(0, 12))]),
      { empty: "no epoch closed yet" }));
    },
  };
}

// --- operations -------------------------------------------------------------------------

function admin(ctx) {
  const isAdmin = ctx.me().roles.includes("admin");
  const isAuthority = ctx.me().roles.includes("rec_authority");
  const [gws, gwsRegion] = region();
  const [reasons, reasonsRegion] = region();
  const [tokens, tokensRegion] = region();
  const [paused, pausedRegion] = region();
  const [params, paramsRegion] = region();
  const [actions, actionsRegion] = region();
  const [campus, campusRegion] = region({ id: "campus-totals" });
  const issued = h("output", { id: "new-token", "aria-live": "polite" });
  const ownerInput = h("input", { id: "token-owner", name: "owner", required: true,
    autocomplete: "off", spellcheck: "false" });
  const form = h("form", { class: "order-form", onsubmit: async (event) => {
    event.preventDefault();
    try {
      const t = await ctx.api("/admin/enrolment-tokens", { method: "POST",
        body: { owner: ownerInput.value.trim() } });
      issued.textContent = t.token;
      issued.className = "ok";
      await ctx.refresh();
    } catch (e) { issued.textContent = e.message; issued.className = "error"; }
  } }, h("div", { class: "field wide" }, h("label", { for: "token-owner" }, "Owner wallet"),
    ownerInput), h("button", { type: "submit" }, "Issue token"), issued);

  // The REC authority's emergency controls: pause or resume scopes, with a public reason.
  const controlStatus = h("output", { id: "control-status", "aria-live": "polite" });
  const controlReason = h("input", { id: "control-reason", name: "reason", required: true,
    maxlength: "200", autocomplete: "off", "aria-describedby": "control-reason-hint" });
  const controlsForm = h("form", { class: "order-form", id: "controls-form",
    onsubmit: (event) => { event.preventDefault(); control(event.submitter?.value || "pause"); } },
  h("fieldset", { class: "scopes" }, h("legend", {}, "Scopes"),
    Object.entries(SCOPE_WORDS).map(([scope, words]) => h("label", { class: "check" },
      h("input", { type: "checkbox", name: "scope", value: scope }), ` ${words}`))),
  h("div", { class: "field wide" }, h("label", { for: "control-reason" }, "Reason"),
    controlReason, h("small", { id: "control-reason-hint" },
      "public: everyone sees it in the banner")),
  h("button", { type: "submit", id: "pause", value: "pause", class: "danger" }, "Pause"),
  h("button", { type: "submit", id: "resume", value: "resume" }, "Resume"), controlStatus);

  async function control(action) {
    const f = new FormData(controlsForm);
    const scopes = f.getAll("scope");
    controlStatus.className = "error";
    if (!scopes.length) { controlStatus.textContent = "Choose at least one scope"; return; }
    try {
      const r = await ctx.api(`/governance/controls/${action}`, { method: "POST",
        body: { scopes, reason: String(f.get("reason")).trim() } });
      controlStatus.textContent = `${action === "pause" ? "paused" : "resumed"}: `
        + `${r.scopes.join(", ") || "nothing changed"}`
        + (r.memo_error ? ` (memo not recorded: ${r.memo_error})` : "");
      controlStatus.className = "ok";
      await ctx.controlsChanged();
      await ctx.refresh();
    } catch (e) { controlStatus.textContent = e.message; }
  }

  const node = h("div", {}, h("h1", {}, "Operations"),
    isAdmin ? [section("Gateways", gws), section("Rejected readings by reason", reasons),
      section("Enrolment tokens", form, tokens)] : [],
    section("Emergency controls", paused, isAuthority ? controlsForm : []),
    section("Campus against the grid", h("p", { class: "hint" }, "Every user's bills over the ",
      "closed epochs of the last week, beside what the grid alone would have billed."), campus),
    section("Governed parameters", params),
    section("Governance actions", actions));
  return {
    node,
    async refresh() {
      if (isAdmin) {
        const [g, r, t] = await Promise.all([ctx.api("/admin/gateways/status?limit=200"),
          ctx.api("/admin/rejected-readings/by-reason"), ctx.api("/admin/enrolment-tokens?limit=20")]);
        gwsRegion.set(g.items, (items) => table("Gateways", [{ label: "gateway" },
          { label: "status" }, { label: "meters", num: true }, { label: "last seen" },
          { label: "online" }], items.map((x) => [short(x.gateway_id), x.status, x.meter_count,
          x.last_seen_ts ? when(x.last_seen_ts) : "never",
          h("span", { class: x.online ? "online" : "offline" }, x.online ? "online" : "offline")])));
        reasonsRegion.set(r, (data) => table("Rejected readings by reason",
          [{ label: "reason" }, { label: "count", num: true }], Object.entries(data),
          { empty: "none rejected" }));
        tokensRegion.set(t.items, (items) => table("Enrolment tokens", [{ label: "owner" },
          { label: "note" }, { label: "expires" }, { label: "used by" }], items.map((x) => [
          short(x.owner), x.note, when(Date.parse(x.expires_at) / 1000),
          x.used_by ? short(x.used_by) : "unused"]), { empty: "none issued" }));
      }
      const [c, p, a, totals] = await Promise.all([ctx.api("/governance/controls"),
        ctx.api("/governance/params"), ctx.api("/governance/actions?limit=20"),
        ctx.api("/campus/totals").catch((e) => ({ error: e.message }))]);
      if (totals.error) campusRegion.error(totals.error);
      else campusRegion.set(totals, campusView);
      pausedRegion.set(c, (data) => table("Paused now", [{ label: "scope" }, { label: "since" },
        { label: "epoch", num: true }, { label: "by" }, { label: "reason" }],
      data.paused.map((x) => [SCOPE_WORDS[x.scope] || x.scope, when(seconds(x.since)),
        x.since_epoch, short(x.by), x.reason]),
      { empty: "nothing is paused: the market runs", visible: true }));
      paramsRegion.set(p, (data) => table(`Governed parameters at epoch ${data.epoch}`, [
        { label: "parameter" }, { label: "value" }, { label: "state" }, { label: "from epoch" },
        { label: "by" }],
      data.values.map((v) => [v.name, v.value, v.in_force ? "in force" : "scheduled",
        v.from_epoch === null ? "default" : `${v.from_epoch} (${epochWindow(v.from_epoch)})`,
        v.authority ? short(v.authority) : ""]),
      { empty: "none", visible: true }));
      actionsRegion.set(a.items, (items) => table("Governance actions", [{ label: "when" },
        { label: "by" }, { label: "action" }, { label: "target" }, { label: "outcome" },
        { label: "transaction" }],
      items.map((x) => [when(Date.parse(x.at) / 1000), short(x.actor), x.action,
        x.target?.length > 12 ? short(x.target) : x.target ?? "", x.outcome, x.detail?.signature ? txLink(x.detail.signature, ctx) : x.detail?.code || ""]),
      { empty: "none yet" }));
    },
  };
}

// --- a transaction ----------------------------------------------------------------------

function transaction(ctx, signature) {
  const [info, infoRegion] = region();
  const node = h("div", {}, h("h1", {}, "Transaction"), info,
    h("p", {}, h("a", { href: ctx.me() ? "#trades" : "#market" },
      ctx.me() ? "Back to my trades" : "Back to the market")));
  return {
    node,
    async refresh() {
      const tx = await ctx.api(`/market/transactions/${encodeURIComponent(signature)}`);
      infoRegion.set(tx, (t) => h("dl", { class: "facts" },
        h("dt", {}, "signature"), h("dd", {}, h("code", { class: "wrap" }, t.signature)),
        h("dt", {}, "on the ledger"), h("dd", {}, t.found ? `yes, slot ${t.slot}` : "not found"),
        h("dt", {}, "outcome"), h("dd", {}, !t.found ? "—" : t.ok ? "succeeded" : `failed: ${t.error}`),
        t.explorer_url ? [h("dt", {}, "explorer"), h("dd", {}, h("a", { href: t.explorer_url,
          rel: "noopener noreferrer", target: "_blank" }, "open in a block explorer"))] : []));
    },
  };
}

// --- notifications ----------------------------------------------------------------------

const KIND_WORDS = {
  order_excluded: "an order of mine is left out of the clearing (with the reason)",
  trade_settled: "a trade of mine settles",
  energy_minted: "energy my meters exported is minted to me",
  gateway_silent: "a gateway behind my meters goes silent",
  gateway_revoked: "a gateway behind my meters is revoked",
  test: "test",
};

function notifications(ctx) {
  const status = h("output", { id: "notify-status", "aria-live": "polite" });
  const secretBox = h("div", { id: "notify-secret", class: "notice", hidden: true });
  const email = h("input", { id: "notify-email", name: "email", type: "email",
    autocomplete: "email", "aria-describedby": "notify-email-hint" });
  const emailHint = h("small", { id: "notify-email-hint" }, "plain-text emails");
  const hook = h("input", { id: "notify-webhook", name: "webhook_url", type: "url",
    autocomplete: "off", placeholder: "https://", "aria-describedby": "notify-webhook-hint" });
  const kinds = h("fieldset", { class: "kinds" }, h("legend", {}, "Tell me when"));
  const form = h("form", { id: "notify-form", class: "notify-form", onsubmit: (e) => save(e) },
    h("div", { class: "field" }, h("label", { for: "notify-email" }, "Email address"), email,
      emailHint),
    h("div", { class: "field" }, h("label", { for: "notify-webhook" }, "Webhook URL"), hook,
      h("small", { id: "notify-webhook-hint" }, "signed JSON POSTs; public addresses only")),
    kinds,
    h("div", { class: "actions" },
      h("button", { type: "submit" }, "Save"),
      h("button", { type: "button", id: "notify-test", onclick: () => test() }, "Send a test"),
      h("button", { type: "button", id: "notify-rotate", onclick: () => rotate() },
        "New webhook secret"),
      status));
  const [history, historyRegion] = region();
  const node = h("div", {}, h("h1", {}, "Notifications"),
    h("p", { class: "lede" }, "Be told by email or webhook when something happens to your ",
      "orders, trades, energy or gateways, instead of finding out on this dashboard."),
    section("Where and what", form, secretBox), section("Recent deliveries", history));
  let loaded = false;

  function say(text, ok) {
    status.textContent = text;
    status.className = ok ? "ok" : "error";
  }

  function showSecret(secret) {
    if (!secret) return;
    secretBox.hidden = false;
    secretBox.replaceChildren(h("p", {}, "Your webhook signing secret, shown only now: keep it ",
      "where your receiver checks signatures."), h("code", { id: "notify-secret-value" }, secret));
  }

  function fill(sub) {
    email.value = sub.email ?? "";
    email.disabled = !sub.email_available;
    emailHint.textContent = sub.email_available ? "plain-text emails"
      : "this coordinator has no mail server configured";
    hook.value = sub.webhook_url ?? "";
    kinds.replaceChildren(h("legend", {}, "Tell me when"), ...sub.available_kinds.map((k) =>
      h("label", { class: "check" }, h("input", { type: "checkbox", name: "kinds", value: k,
        checked: sub.kinds.includes(k) }), ` ${KIND_WORDS[k] ?? k}`)));
  }

  async function save(event) {
    event.preventDefault();
    const f = new FormData(form);
    try {
      const sub = await ctx.api("/me/notifications", { method: "PUT", body: {
        email: String(f.get("email") ?? "").trim() || null,
        webhook_url: String(f.get("webhook_url") ?? "").trim() || null,
        kinds: f.getAll("kinds").map(String) } });
      fill(sub);
      showSecret(sub.webhook_secret);
      say("saved", true);
    } catch (e) {
      say(`not saved: ${e.message}`, false);
    }
  }

  async function test() {
    try {
      const sent = await ctx.api("/me/notifications/test", { method: "POST" });
      say(`test queued on ${sent.deliveries.length} channel(s): see below`, true);
      await ctx.refresh();
    } catch (e) {
      say(`no test sent: ${e.message}`, false);
    }
  }

  async function rotate() {
    try {
      showSecret((await ctx.api("/me/notifications/webhook-secret", { method: "POST" }))
        .webhook_secret);
      say("new secret made; the old one no longer signs", true);
    } catch (e) {
      say(`no new secret: ${e.message}`, false);
    }
  }

  return {
    node,
    async refresh() {
      if (!loaded) {
        fill(await ctx.api("/me/notifications"));
        loaded = true;
      }
      const rows = await ctx.api("/me/notifications/deliveries?limit=20");
      historyRegion.set(rows, (items) => table("My last notifications, newest first", [
        { label: "queued" }, { label: "what" }, { label: "channel" }, { label: "status" },
        { label: "attempts", num: true }, { label: "last error" }],
      items.map((d) => [when(Date.parse(d.created_at) / 1000), KIND_WORDS[d.kind] ?? d.kind,
        d.channel, d.status, String(d.attempts), d.last_error ?? ""]),
      { empty: "no notifications yet" }));
    },
  };
}

export const PAGES = {
  market: { title: "Market", make: market, public: true },
  energy: { title: "My energy", make: energy },
  trade: { title: "Trade", make: trade },
  trades: { title: "My trades", make: trades },
  epochs: { title: "Epochs", make: epochs },
  notifications: { title: "Notifications", make: notifications },
  admin: { title: "Operations", make: admin, roles: ["admin", "rec_authority"] },
  tx: { title: "Transaction", make: transaction, public: true },
};
