// The systems under test and their configuration: D (the client straight to the
// backend), W (wsgate standalone), N (nginx) and H (HAProxy), each proxy with one
// worker/thread, no access log, TCP_NODELAY, 1 h idle timeouts, and one backend.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { openWebSocket, sleep, HOST, SERVER_NAME } from "./ws.mjs";
import { run, start, stop, tryRun } from "./procs.mjs";

export const PORTS = {
  backend: 28001,
  backendTls: 28002,
  wsgate: 28080,
  wsgateTls: 28443,
  wsgateAdmin: 28090,
  nginx: 28081,
  nginxTls: 28444,
  haproxy: 28082,
  haproxyTls: 28445,
  // P: a second wsgate build (--compare DIR), e.g. a prototype of a src/ change.
  prototype: 28083,
  prototypeTls: 28446,
  prototypeAdmin: 28091,
};

/**
 * The Node/V8 flags of a wsgate build's `#!/usr/bin/env -S node FLAGS` line: the Dockerfile's
 * ENTRYPOINT repeats them (a test keeps them equal), so the bench measures what ships.
 */
export function shebangNodeFlags(mainJs) {
  const first = readFileSync(mainJs, "utf8").split("\n")[0] ?? "";
  const m = first.match(/^#!\/usr\/bin\/env -S node (.*)$/);
  return m ? m[1].split(/\s+/).filter(Boolean) : [];
}

/** Fails early with a readable message when one of our ports is taken. */
export async function checkPortsFree() {
  for (const [name, port] of Object.entries(PORTS)) {
    await new Promise((resolve, reject) => {
      const server = net.createServer();
      server.once("error", (err) =>
        reject(new Error(`port ${port} (${name}) on ${HOST} is in use: ${err.message}`, { cause: err })),
      );
      server.listen(port, HOST, () => server.close(resolve));
    });
  }
}

/** A self-signed ECDSA P-256 certificate for bench.local, shared by every system. */
export function makeCertificate(dir) {
  const cert = join(dir, "cert.pem");
  const key = join(dir, "key.pem");
  run([
    "openssl",
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-days",
    "7",
    "-subj",
    `/CN=${SERVER_NAME}`,
    "-addext",
    `subjectAltName=DNS:${SERVER_NAME}`,
    "-keyout",
    key,
    "-out",
    cert,
  ]);
  return { cert, key };
}

function which(program) {
  const found = tryRun(["sh", "-c", `command -v ${program} || ls /usr/sbin/${program} 2>/dev/null`]);
  return found?.trim().split("\n")[0] || undefined;
}

/**
 * Makes sure nginx and HAProxy are installed, from Debian's packages when missing
 * and we are root (openssl too). Returns `{ nginx?, haproxy?, openssl?, skipped: { N?, H? } }`
 * with paths, and for each peer that cannot run, the reason.
 */
export function ensurePeers({ install = true, log }) {
  // Program → Debian package. openssl makes the certificate every TLS listener shares.
  const wanted = { nginx: "nginx", haproxy: "haproxy", openssl: "openssl" };
  const found = { nginx: which("nginx"), haproxy: which("haproxy"), openssl: which("openssl") };
  const missing = Object.keys(wanted).filter((p) => !found[p]);
  const reasons = {};
  if (missing.length > 0) {
    const isRoot = process.getuid?.() === 0;
    const hasApt = Boolean(which("apt-get"));
    if (!install) {
      for (const p of missing) reasons[p] = `${p} is not installed (--no-install)`;
    } else if (!isRoot || !hasApt) {
      for (const p of missing)
        reasons[p] = `${p} is not installed and ${isRoot ? "apt-get is missing" : "we are not root"}`;
    } else {
      log(`installing ${missing.join(" ")} from Debian's packages (apt-get)…`);
      // Keep the packages' init scripts from starting system-wide daemons.
      const policy = "/usr/sbin/policy-rc.d";
      const ownPolicy = !existsSync(policy);
      if (ownPolicy) writeFileSync(policy, "#!/bin/sh\nexit 101\n", { mode: 0o755 });
      try {
        run(["apt-get", "update", "-qq"], { timeoutMs: 300_000 });
        run(
          [
            "env",
            "DEBIAN_FRONTEND=noninteractive",
            "apt-get",
            "install",
            "-y",
            "-qq",
            "--no-install-recommends",
            ...missing.map((p) => wanted[p]),
          ],
          { timeoutMs: 600_000 },
        );
      } catch (err) {
        for (const p of missing) reasons[p] = `apt-get install ${p} failed: ${err.message.split("\n")[0]}`;
      } finally {
        if (ownPolicy) tryRun(["rm", "-f", policy]);
      }
      for (const p of missing) found[p] = which(p);
    }
  }
  for (const p of missing)
    if (!found[p] && !reasons[p]) reasons[p] = `${p} is still missing after apt-get install`;
  if (found.nginx && !tryRun([found.nginx, "-v"])) reasons.nginx = "nginx -v failed";
  if (!found.openssl) throw new Error(`openssl is needed for the TLS certificate: ${reasons.openssl}`);
  const skipped = {};
  if (!found.nginx) skipped.N = reasons.nginx;
  if (!found.haproxy) skipped.H = reasons.haproxy;
  return { ...found, skipped };
}

export function versions(paths) {
  const first = (text) => text?.split("\n")[0].trim();
  const nginx = paths.nginx
    ? first(
        (() => {
          try {
            // nginx -v prints to stderr.
            return run(["sh", "-c", `${paths.nginx} -v 2>&1`]);
          } catch {
            return undefined;
          }
        })(),
      )
    : undefined;
  const haproxy = paths.haproxy ? first(tryRun([paths.haproxy, "-v"])) : undefined;
  return { nginx, haproxy };
}

function nginxConfig(dir, { cert, key }, fdLimit) {
  const tmp = join(dir, "nginx-tmp");
  mkdirSync(tmp, { recursive: true });
  return `# wsgate benchmark: nginx as a WebSocket reverse proxy, one worker.
daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile ${fdLimit};
pid ${dir}/nginx.pid;
error_log ${dir}/nginx-error.log warn;
events { worker_connections ${fdLimit - 100}; }
http {
  access_log off;
  client_body_temp_path ${tmp}/body;
  proxy_temp_path ${tmp}/proxy;
  fastcgi_temp_path ${tmp}/fastcgi;
  uwsgi_temp_path ${tmp}/uwsgi;
  scgi_temp_path ${tmp}/scgi;
  tcp_nodelay on;
  upstream echo { server ${HOST}:${PORTS.backend}; }
  map $http_upgrade $connection_upgrade { default upgrade; "" close; }
  server {
    listen ${HOST}:${PORTS.nginx} backlog=4096;
    listen ${HOST}:${PORTS.nginxTls} ssl backlog=4096;
    server_name ${SERVER_NAME};
    ssl_certificate ${cert};
    ssl_certificate_key ${key};
    ssl_protocols TLSv1.2 TLSv1.3;
    location / {
      proxy_pass http://echo;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_connect_timeout 5s;
      proxy_read_timeout 3600s;
      proxy_send_timeout 3600s;
    }
  }
}
`;
}

function haproxyConfig(dir, { combined }, maxconn) {
  return `# wsgate benchmark: HAProxy as a WebSocket reverse proxy, one thread.
global
  nbthread 1
  maxconn ${maxconn}
  ssl-server-verify none
defaults
  mode http
  maxconn ${maxconn}
  timeout connect 5s
  timeout client 1h
  timeout server 1h
  timeout tunnel 1h
  timeout http-request 10s
  # TCP_NODELAY on both sides, as wsgate and nginx (tcp_nodelay on) do for WebSockets.
  option http-no-delay
  option forwardfor
frontend ws
  bind ${HOST}:${PORTS.haproxy} backlog 4096
  bind ${HOST}:${PORTS.haproxyTls} ssl crt ${combined} backlog 4096
  default_backend echo
backend echo
  server echo1 ${HOST}:${PORTS.backend}
`;
}

function wsgateManifests(dir, { certPem, keyPem }) {
  const manifests = join(dir, "wsgate-manifests");
  mkdirSync(manifests, { recursive: true });
  const b64 = (text) => Buffer.from(text).toString("base64");
  writeFileSync(
    join(manifests, "bench.yaml"),
    `# wsgate benchmark: one route to one endpoint, TLS from a kubernetes.io/tls Secret.
apiVersion: v1
kind: Service
metadata: { name: echo, namespace: bench }
spec:
  ports: [{ name: ws, port: 80, targetPort: ${PORTS.backend} }]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: echo-1
  namespace: bench
  labels: { kubernetes.io/service-name: echo }
addressType: IPv4
ports: [{ name: ws, port: ${PORTS.backend}, protocol: TCP }]
endpoints:
  - addresses: [${HOST}]
    conditions: { ready: true }
---
apiVersion: v1
kind: Secret
metadata: { name: bench-tls, namespace: bench }
type: kubernetes.io/tls
data:
  tls.crt: ${b64(certPem)}
  tls.key: ${b64(keyPem)}
---
apiVersion: wsgate.io/v1alpha1
kind: WebSocketRoute
metadata: { name: echo, namespace: bench }
spec:
  hostnames: [${SERVER_NAME}]
  tls: { secretName: bench-tls }
  rules:
    - matches: [{ path: { type: PathPrefix, value: / } }]
      backendRefs: [{ name: echo, port: 80 }]
  timeouts: { connect: 5s, idle: 1h }
`,
  );
  return manifests;
}

/** What `wsgate serve --help` says this build supports. */
export function wsgateFeatures(root) {
  const help = tryRun([process.execPath, join(root, "dist/cli/main.js"), "serve", "--help"]) ?? "";
  return {
    https: help.includes("--https-listen"),
    shutdownDrain: help.includes("--shutdown-drain"),
    workers: help.includes("--workers"),
  };
}

/**
 * Builds the system table. Each system has `port`, `tlsPort`, and `start(opts)`
 * returning a handle `{ pid, stop() }` (D starts nothing: pid 0).
 */
export function defineSystems({
  dir,
  root,
  compare,
  compareArgs = [],
  peers,
  certificate,
  certPem,
  keyPem,
  features,
  fdLimit,
}) {
  const nginxConf = join(dir, "nginx.conf");
  writeFileSync(nginxConf, nginxConfig(dir, certificate, fdLimit));
  const combined = join(dir, "haproxy.pem");
  writeFileSync(combined, `${certPem.trim()}\n${keyPem.trim()}\n`);
  const haproxyCfg = join(dir, "haproxy.cfg");
  // HAProxy refuses to start when 2 × maxconn (plus its own) exceeds the open-file limit.
  writeFileSync(haproxyCfg, haproxyConfig(dir, { combined }, Math.floor((fdLimit - 200) / 2)));
  const manifests = wsgateManifests(dir, { certPem, keyPem });

  const wsgateArgs = (dist, features, ports) => [
    process.execPath,
    // As the image and the `wsgate` command run it: with the V8 flags of its shebang.
    ...shebangNodeFlags(join(dist, "cli/main.js")),
    join(dist, "cli/main.js"),
    "serve",
    "--manifests",
    manifests,
    "--http-listen",
    `${HOST}:${ports.http}`,
    "--admin-listen",
    `${HOST}:${ports.admin}`,
    // Per-connection log lines off, as nginx's access_log off and HAProxy without `log`.
    "--log-level",
    "warn",
    ...(features.https ? ["--https-listen", `${HOST}:${ports.https}`] : []),
    ...(features.shutdownDrain ? ["--shutdown-drain", "0s"] : []),
    // One thread, as nginx's and HAProxy's single worker here (W8 measures threads).
    ...(features.workers ? ["--workers", "1"] : []),
  ];

  const proxy = (command, name) => ({
    start: ({ cpus, nice, nodeFlags = [], env }) => {
      const argv =
        command[0] === process.execPath ? [command[0], ...nodeFlags, ...command.slice(1)] : command;
      const child = start(argv, { cpus, nice, env, stderrFile: "pipe" });
      let stderr = "";
      child.stderr.setEncoding("utf8");
      child.stderr.on("data", (t) => (stderr = (stderr + t).slice(-4000)));
      return { pid: child.pid, child, name, stderr: () => stderr, stop: (graceMs) => stop(child, graceMs) };
    },
  });

  const systems = {
    D: {
      id: "D",
      name: "direct",
      port: PORTS.backend,
      tlsPort: PORTS.backendTls,
      start: () => ({ pid: 0, stop: async () => {}, stderr: () => "" }),
    },
    W: {
      id: "W",
      name: "wsgate",
      port: PORTS.wsgate,
      tlsPort: features.https ? PORTS.wsgateTls : undefined,
      tlsUnavailable: features.https ? undefined : "wsgate: TLS listener not available in this build",
      ...proxy(
        wsgateArgs(join(root, "dist"), features, {
          http: PORTS.wsgate,
          https: PORTS.wsgateTls,
          admin: PORTS.wsgateAdmin,
        }),
        "wsgate",
      ),
    },
  };
  if (compare) {
    const other = wsgateFeatures(compare);
    systems.P = {
      id: "P",
      name: `wsgate at ${compare}`,
      port: PORTS.prototype,
      tlsPort: other.https ? PORTS.prototypeTls : undefined,
      ...proxy(
        [
          ...wsgateArgs(join(compare, "dist"), other, {
            http: PORTS.prototype,
            https: PORTS.prototypeTls,
            admin: PORTS.prototypeAdmin,
          }),
          // --compare-args: extra `wsgate serve` arguments for P only (e.g. --http2=false).
          ...compareArgs,
        ],
        "wsgate (compared build)",
      ),
    };
  }
  if (peers.nginx) {
    systems.N = {
      id: "N",
      name: "nginx",
      port: PORTS.nginx,
      tlsPort: PORTS.nginxTls,
      ...proxy([peers.nginx, "-p", dir, "-c", nginxConf, "-e", join(dir, "nginx-error.log")], "nginx"),
    };
  }
  if (peers.haproxy) {
    systems.H = {
      id: "H",
      name: "haproxy",
      port: PORTS.haproxy,
      tlsPort: PORTS.haproxyTls,
      ...proxy([peers.haproxy, "-f", haproxyCfg, "-db"], "haproxy"),
    };
  }
  return systems;
}

/** Waits until a WebSocket handshake through `port` succeeds (the whole path is up). */
export async function waitReady(port, { secure = false, timeoutMs = 15_000, handle } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    if (handle?.child && handle.child.exitCode !== null) {
      throw new Error(`${handle.name} exited with ${handle.child.exitCode}: ${handle.stderr().trim()}`);
    }
    try {
      const { socket } = await openWebSocket({ port, secure, timeoutMs: 2000 });
      socket.destroy();
      return;
    } catch (err) {
      last = err;
      await sleep(50);
    }
  }
  throw new Error(`not ready on ${port} after ${timeoutMs} ms: ${last?.message}`, { cause: last });
}
