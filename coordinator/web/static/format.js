// Units and words: base units to kWh and credits, times, and the reasons the
// market gives in codes, said the way a person would.

export const KWH = 1e9; // energy base units per kWh (9 decimals)
export const CREDIT = 1e6; // payment base units per credit (6 decimals)

// The market's steps; replaced by the server's rules once /market/summary answers.
export const rules = { tick: 1000, lot: 1e6, epochLength: 900 };

export function setRules(summary) {
  rules.tick = summary.tick;
  rules.lot = summary.lot;
  rules.epochLength = summary.epoch_length_s;
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
export function epochWindow(epoch, length = rules.epochLength) {
  const start = epoch * length;
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

const REASON = {
  insufficient_escrow: (side) => (side === "buy"
    ? "not enough credit approved for this order"
    : "not enough energy tokens approved for this order"),
  escrow_capped: (side) => (side === "buy"
    ? "only part of the order was covered by the credit you approved"
    : "only part of the order was covered by the energy you approved"),
  escrow_not_verified: () => "the approval was never signed, or never reached the ledger",
  expired: () => "it expired before its epoch closed",
  wrong_epoch: () => "it was placed for another epoch",
  epoch_closed: () => "its epoch had already closed",
  epoch_too_far: () => "its epoch is too far ahead",
  dust_quantity: () => "the quantity is below the smallest lot",
  off_lot_quantity: () => "the quantity is not a whole number of lots",
  off_tick_price: () => "the price is not a whole number of price steps",
  non_positive_quantity: () => "the quantity must be more than zero",
  non_positive_price: () => "the price must be more than zero",
  quantity_too_large: () => "the quantity is too large",
  notional_too_large: () => "quantity times price is too large",
  bad_owner: () => "the owner is not a valid wallet",
  bad_order_id: () => "the order id is not valid",
  bad_sequence: () => "the order's sequence is not valid",
  unknown_user: () => "sign in once more so your token accounts are created",
};

// Why an order ended as it did, in words (empty when there is nothing to explain).
export function reasonText(order) {
  if (order.reason) {
    const said = REASON[order.reason];
    return said ? said(order.side) : order.reason.replaceAll("_", " ");
  }
  if (order.status === "unfilled") {
    return order.side === "buy" ? "the clearing price was above your limit, or nobody sold"
      : "the clearing price was below your limit, or nobody bought";
  }
  if (order.status === "pending") return "sign the escrow approval to enter the auction";
  return "";
}
