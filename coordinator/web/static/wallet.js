// Wallets: Wallet Standard, the injected `window.solana` provider, and a clearly
// marked development key (WebCrypto Ed25519, kept in localStorage).

const ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

export function b58encode(bytes) {
  let n = 0n;
  for (const b of bytes) n = n * 256n + BigInt(b);
  let out = "";
  while (n > 0n) { out = ALPHABET[Number(n % 58n)] + out; n /= 58n; }
  for (const b of bytes) { if (b !== 0) break; out = "1" + out; }
  return out;
}

export function b58decode(text) {
  let n = 0n;
  for (const c of text) {
    const v = ALPHABET.indexOf(c);
    if (v < 0) throw new Error("not base58");
    n = n * 58n + BigInt(v);
  }
  const out = [];
  while (n > 0n) { out.unshift(Number(n % 256n)); n /= 256n; }
  for (const c of text) { if (c !== "1") break; out.unshift(0); }
  return new Uint8Array(out);
}

const b64 = {
  encode: (bytes) => btoa(String.fromCharCode(...bytes)),
  decode: (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0)),
};

// --- Wallet Standard discovery --------------------------------------------------------
const standard = [];
function register(...wallets) { standard.push(...wallets); return () => {}; }
window.addEventListener("wallet-standard:register-wallet", (e) => e.detail?.({ register }));
window.dispatchEvent(new CustomEvent("wallet-standard:app-ready", { detail: { register } }));

function standardWallet() {
  return standard.find((w) => w.features?.["solana:signMessage"] && w.features?.["standard:connect"]);
}

// A wallet: { address, signMessage(bytes) -> Uint8Array(64), signTransaction(bytes) -> bytes }.
export async function browserWallet() {
  const w = standardWallet();
  if (w) {
    const { accounts } = await w.features["standard:connect"].connect();
    const account = accounts[0];
    return {
      address: account.address,
      async signMessage(message) {
        const [out] = await w.features["solana:signMessage"].signMessage({ account, message });
        return out.signature;
      },
      async signTransaction(tx) {
        const feature = w.features["solana:signTransaction"];
        if (!feature) throw new Error("this wallet cannot sign transactions");
        const [out] = await feature.signTransaction({ account, transaction: tx });
        return out.signedTransaction;
      },
    };
  }
  const provider = window.solana;
  if (!provider) throw new Error("no Solana wallet found in this browser");
  const { publicKey } = await provider.connect();
  const address = publicKey.toString();
  return {
    address,
    async signMessage(message) {
      const out = await provider.signMessage(message, "utf8");
      return out.signature;
    },
    async signTransaction(tx) {
      const message = transactionMessage(tx);
      const out = await provider.request({ method: "signTransaction",
        params: { message: b58encode(message) } });
      return placeSignature(tx, b58decode(address), b58decode(out.signature));
    },
  };
}

// --- Development key (WebCrypto Ed25519) ------------------------------------------------
const DEV_KEY = "gtx-dev-key";

export async function devWallet() {
  let stored = JSON.parse(localStorage.getItem(DEV_KEY) || "null");
  let privateKey;
  if (stored) {
    privateKey = await crypto.subtle.importKey("pkcs8", b64.decode(stored.pkcs8),
      { name: "Ed25519" }, false, ["sign"]);
  } else {
    const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"]);
    const raw = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
    const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey));
    stored = { address: b58encode(raw), pkcs8: b64.encode(pkcs8) };
    localStorage.setItem(DEV_KEY, JSON.stringify(stored));
    privateKey = pair.privateKey;
  }
  const sign = async (bytes) =>
    new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, privateKey, bytes));
  return {
    address: stored.address,
    dev: true,
    signMessage: sign,
    async signTransaction(tx) {
      const signature = await sign(transactionMessage(tx));
      return placeSignature(tx, b58decode(stored.address), signature);
    },
  };
}

// --- Legacy transaction layout: [n][n x 64-byte signatures][message] ---------------------
function compactU16(bytes, at) {
  let value = 0, shift = 0, i = at;
  for (;;) {
    const b = bytes[i++];
    value |= (b & 0x7f) << shift;
    if (!(b & 0x80)) return [value, i];
    shift += 7;
  }
}

export function transactionMessage(tx) {
  const [count, at] = compactU16(tx, 0);
  return tx.slice(at + 64 * count);
}

export function placeSignature(tx, publicKey, signature) {
  const [count, at] = compactU16(tx, 0);
  const message = tx.slice(at + 64 * count);
  const required = message[0];
  const [, keysAt] = compactU16(message, 3);
  for (let i = 0; i < required; i++) {
    const key = message.slice(keysAt + 32 * i, keysAt + 32 * (i + 1));
    if (key.every((b, j) => b === publicKey[j])) {
      const out = tx.slice();
      out.set(signature, at + 64 * i);
      return out;
    }
  }
  throw new Error("this wallet is not a signer of the transaction");
}

export { b64 };
