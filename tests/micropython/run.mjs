// Runs a Python script under MicroPython (the WebAssembly port) in Node >= 20.
//
//   node run.mjs [--heap BYTES] SCRIPT [VFS_PATH=HOST_PATH ...]
//
// Each VFS_PATH=HOST_PATH copies a host file (source, .mpy or data) to
// /app/VFS_PATH in MicroPython's in-memory filesystem. The script then runs
// with /app as the working directory and first on sys.path, so
// `wire/reading.py` imports as `wire.reading`. The script's stdout goes to
// stdout; an uncaught Python exception prints its traceback to stderr and
// exits with status 1.
import { readFileSync } from "node:fs";
import { loadMicroPython } from "@micropython/micropython-webassembly-pyscript";

const APP = "/app";

function parseArgs(argv) {
  let heapsize = 4 * 1024 * 1024;
  const rest = [...argv];
  if (rest[0] === "--heap") {
    heapsize = Number.parseInt(rest[1], 10);
    rest.splice(0, 2);
  }
  const [script, ...mappings] = rest;
  if (!script || !Number.isInteger(heapsize) || heapsize <= 0) {
    throw new Error("usage: node run.mjs [--heap BYTES] SCRIPT [VFS_PATH=HOST_PATH ...]");
  }
  const files = mappings.map((arg) => {
    const eq = arg.indexOf("=");
    if (eq <= 0) throw new Error(`expected VFS_PATH=HOST_PATH, got ${arg}`);
    return { vfsPath: arg.slice(0, eq), hostPath: arg.slice(eq + 1) };
  });
  return { heapsize, script, files };
}

function mkdirs(fs, dir) {
  let path = "";
  for (const part of dir.split("/").filter(Boolean)) {
    path += `/${part}`;
    if (!fs.analyzePath(path).exists) fs.mkdir(path);
  }
}

async function main() {
  const { heapsize, script, files } = parseArgs(process.argv.slice(2));
  const decoder = new TextDecoder();
  // The port hands stdout over as strings or byte arrays depending on buffering.
  const writeTo = (stream) => (chunk) =>
    stream.write(typeof chunk === "string" ? chunk : decoder.decode(chunk));
  const mp = await loadMicroPython({
    heapsize,
    stdout: writeTo(process.stdout),
    stderr: writeTo(process.stderr),
    linebuffer: false,
  });
  for (const { vfsPath, hostPath } of files) {
    const target = `${APP}/${vfsPath}`;
    mkdirs(mp.FS, target.slice(0, target.lastIndexOf("/")));
    mp.FS.writeFile(target, readFileSync(hostPath));
  }
  mkdirs(mp.FS, APP);
  mp.runPython(`import os, sys\nos.chdir("${APP}")\nsys.path.insert(0, "${APP}")`);
  mp.runPython(readFileSync(script, "utf8"));
}

try {
  await main();
} catch (err) {
  process.stderr.write(`${err.message ?? err}\n`);
  process.exitCode = 1;
}
