// Units and words: base units to kWh and credits, times, an order's outcome and the
// emergency controls said the way a person would (reason codes come in words from
// the server: `reason_text`).

export const KWH = 1e9; // energy base units per kWh (9 decimals)
export const CREDIT = 1e6; // payment base units per credit (6 decimals)

// The market's steps and the epoch calendar; replaced by the server's once
// /market/summary answers.
export const rules = {
  tick: 1000, lot: 1e6, epochLength: 900,
  segments: [{ first_epoch: 0, start: 0, length_s: 900 }],
};

export function setRules(summary) {
  rules.tick = summary.tick;
  rules.lot = summary.lot;
  rules.epochLength = summary.epoch_length_s;
  rules.segments = summary.epoch_segments
    ?? [{ first_epoch: 0, start: 0, length_s: summary.epoch_length_s }];
}

// The calendar's segment an epoch is in (the governed epoch length can change).
function segmentOf(epoch) {
  let seg = rules.segments[0];
  for (const s of rules.segments) if (s.first_epoch <= epoch) seg = s;
  return seg;
}

// The epoch an instant (Unix seconds) is in.
export function epochAt(ts) {
  let seg = rules.segments[0];
  for (const s of rules.segments) if (s.start <= ts) seg = s;
  return seg.first_epoch + Math.floor((ts - seg.start) / seg.length_s);
}

export function epochStart(epoch) {
  const seg = segmentOf(epoch);
  return seg.start + (epoch - seg.first_epoch) * seg.length_s;
}

// How many decimals a multiple of `step` base units needs, in units of `per`.
function decimalsOf(step, per) {
  let d = 0;
  while (d < 9 && Math.abs(Math.round((step / per) * 10 ** d) - (step / per) * 10 ** d) > 1e-9) d++;
  return d;
}

export const priceDecimals = () => Math.max(2, decimalsOf(rules.tick, CREDIT));
export const kwhDecimals = () => Math.max(3, decimalsOf(rules.lot, KWH));

const number = (value, decimals) =>
  value.toLocaleString("en", { minimumFractionDigits: decimals, maximumFractionDigits: decimals });

export const kwh = (base) => number(base / KWH, kwhDecimals());
export const wh = (value) => number(value, 0);
// A limit or clearing price, to the tick's precision.
export const price = (base) => number(base / CREDIT, priceDecimals());
// An amount of credits: every decimal the token has, so a tiny trade is not 0.00.
export function credits(base) {
  const decimals = (base / CREDIT).toFixed(6).replace(/0{1,4}$/, "").split(".")[1].length;
  return number(base / CREDIT, decimals);
}

export const short = (a) => (a ? `${a.slice(0, 4)}…${a.slice(-4)}` : "");

const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "local time";
export const timeZone = () => (zone === "Etc/UTC" || zone === "UTC" ? "UTC" : zone);

const hm = new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit" });
const hms = new Intl.DateTimeFormat("en-GB",
  { hour: "2-digit", minute: "2-digit", second: "2-digit" });
const dayHm = new Intl.DateTimeFormat("en-GB",
  { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });

export const clock = (ts) => hms.format(new Date(ts * 1000));
export const when = (ts) => dayHm.format(new Date(ts * 1000));
export const hour = (ts) => hm.format(new Date(ts * 1000));

// An epoch as people read it: its delivery window, e.g. "14:15:00–14:15:20".
export function epochWindow(epoch) {
  const start = epochStart(epoch);
  const length = segmentOf(epoch).length_s;
  const fmt = length % 60 ? clock : hour;
  return `${fmt(start)}–${fmt(start + length)}`;
}

export function countdown(seconds) {
  const s = Math.max(0, Math.round(seconds));
  const m = Math.floor(s / 60);
  return m >= 60 ? `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} min`
    : `${m}:${String(s % 60).padStart(2, "0")}`;
}

// --- orders and trades in words -----------------------------------------------------------

const STATUS = {
  pending: "waiting for your approval",
  open: "in the book",
  filled: "filled",
  partial: "partly filled",
  unfilled: "not matched",
  excluded: "left out of the auction",
  cancelled: "cancelled",
  expired: "expired",
};

export const statusText = (status) => STATUS[status] || status;

// Why an order ended as it did, in words (empty when there is nothing to explain). The
// words for a reason code are the server's (`reason_text`, coordinator/api/reasons.py);
// only an order with no code is explained here, by its status.
export function reasonText(order) {
  if (order.reason_text || order.reason) return order.reason_text || order.reason;
  if (order.status === "unfilled") {
    return order.side === "buy" ? "the clearing price was above your limit, or nobody sold"
      : "the clearing price was below your limit, or nobody bought";
  }
  if (order.status === "pending") return "sign the escrow approval to enter the auction";
  return "";
}

// Energy of a closed epoch not minted (yet): withheld, with the reason in words, or pending.
export function notMinted(r) {
  if (r.withheld_base_units) {
    const why = r.withheld_reason_text || r.withheld_reason;
    return `${kwh(r.withheld_base_units)} kWh withheld: ${why}`;
  }
  if (r.pending_base_units) return `${kwh(r.pending_base_units)} kWh to mint`;
  return "";
}

// --- the REC authority's emergency controls ---------------------------------------------

export const SCOPE_WORDS = { orders: "placing orders", clearing: "clearing",
  settlement: "settlement", minting: "minting" };

// An API time in Unix seconds (a time with no zone is the server's UTC).
export const seconds = (iso) =>
  Date.parse(/(Z|[+-]\d\d:?\d\d)$/i.test(iso) ? iso : `${iso}Z`) / 1000;

// A pause's time as the banner says it, in UTC: "2026-12-04 10:00 UTC".
const utcMinute = (iso) =>
  `${new Date(seconds(iso) * 1000).toISOString().slice(0, 16).replace("T", " ")} UTC`;

// The banner over every page while anything is paused (GET /governance/controls).
export function controlsText(c) {
  if (c.maintenance) {
    return `Maintenance: the market is paused by the REC authority (${c.paused[0].reason}). `
      + "Readings are still recorded; nothing is lost.";
  }
  return c.paused.map((p) => `${SCOPE_WORDS[p.scope] || p.scope} is paused since `
    + `${utcMinute(p.since)}: ${p.reason}`).join(" · ");
}
