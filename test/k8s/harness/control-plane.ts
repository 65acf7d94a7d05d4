/**
 * A real Kubernetes control plane for tests, envtest-style: etcd and
 * kube-apiserver on free ports, certificates generated with openssl, client
 * certificate auth for the test's own admin user, service-account tokens for the
 * controller, `--authorization-mode=RBAC`, and wsgate's CRD installed and
 * Established. No kubelet, no controller-manager: tests create EndpointSlices
 * themselves, as the EndpointSlice controller would.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { parse } from "yaml";
import { KubeRest, isNotFound } from "../../../src/kube/rest.js";
import { waitFor } from "./wait.js";

const REPO = new URL("../../../", import.meta.url).pathname;

/** The directory of kube-apiserver, etcd, kubectl and helm: from scripts/test-k8s.sh, else provisioned now. */
export function k8sBinDir(): string {
  const fromEnv = process.env.WSGATE_K8S_BIN_DIR;
  if (fromEnv) return fromEnv;
  const out = execFileSync("bash", [join(REPO, "scripts/k8s-bins.sh")], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  const lines = out.trim().split("\n");
  return lines[lines.length - 1] as string;
}

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function openssl(dir: string, ...args: string[]): void {
  execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
}

/** CA, serving certificate, admin client certificate (system:masters) and the service-account key pair. */
function generateCertificates(dir: string): void {
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  openssl(
    dir,
    "req",
    "-x509",
    ...ec,
    "-keyout",
    "ca.key",
    "-out",
    "ca.crt",
    "-days",
    "2",
    "-subj",
    "/CN=wsgate-test-ca",
  );
  const sign = (name: string, subject: string, ext: string): void => {
    writeFileSync(join(dir, `${name}.ext`), ext);
    openssl(dir, "req", ...ec, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", subject);
    openssl(
      dir,
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      `${name}.crt`,
      "-days",
      "2",
      "-extfile",
      `${name}.ext`,
    );
  };
  sign(
    "apiserver",
    "/CN=kube-apiserver",
    "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
  );
  sign("admin", "/O=system:masters/CN=wsgate-test-admin", "extendedKeyUsage=clientAuth\n");
  openssl(dir, "genrsa", "-out", "sa.key", "2048");
  openssl(dir, "rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub");
}

interface Proc {
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
}

const children = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of children) child.kill("SIGKILL");
});

function run(binary: string, args: string[], logFile: string): Proc {
  const log = createWriteStream(logFile, { flags: "a" });
  const child = spawn(binary, args, { stdio: ["ignore", "pipe", "pipe"] });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  children.add(child);
  const exited = new Promise<void>((resolve) =>
    child.once("exit", () => {
      children.delete(child);
      resolve();
    }),
  );
  return { child, exited };
}

async function terminate(proc: Proc | undefined, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  if (!proc || proc.child.exitCode !== null || proc.child.signalCode !== null) return;
  proc.child.kill(signal);
  const killer = setTimeout(() => proc.child.kill("SIGKILL"), 10_000);
  await proc.exited;
  clearTimeout(killer);
}

export interface ControlPlane {
  readonly dir: string;
  readonly binDir: string;
  /** `https://127.0.0.1:PORT`. */
  readonly server: string;
  /** Kubeconfig of the test's cluster-admin user (client certificate). */
  readonly adminKubeconfig: string;
  /** JSON client as cluster admin. */
  readonly admin: KubeRest;
  /**
   * Stops kube-apiserver only (etcd keeps the data): the API is unreachable until
   * {@link startApiServer}. SIGKILL is a crash: connections are reset, nothing is drained.
   */
  stopApiServer(signal?: NodeJS.Signals): Promise<void>;
  /** Starts kube-apiserver again on the same port and waits until it is ready. */
  startApiServer(): Promise<void>;
  /** Writes a kubeconfig that authenticates with a bearer token. */
  writeTokenKubeconfig(name: string, token: string): string;
  stop(): Promise<void>;
}

export async function startControlPlane(): Promise<ControlPlane> {
  const binDir = k8sBinDir();
  const dir = mkdtempSync(join(tmpdir(), "wsgate-k8s-"));
  generateCertificates(dir);
  const [etcdClient, etcdPeer, apiPort] = [await freePort(), await freePort(), await freePort()];

  const etcd = run(
    join(binDir, "etcd"),
    [
      "--data-dir",
      join(dir, "etcd"),
      "--listen-client-urls",
      `http://127.0.0.1:${etcdClient}`,
      "--advertise-client-urls",
      `http://127.0.0.1:${etcdClient}`,
      "--listen-peer-urls",
      `http://127.0.0.1:${etcdPeer}`,
      "--initial-advertise-peer-urls",
      `http://127.0.0.1:${etcdPeer}`,
      "--initial-cluster",
      `default=http://127.0.0.1:${etcdPeer}`,
      "--unsafe-no-fsync",
      "--log-level",
      "warn",
    ],
    join(dir, "etcd.log"),
  );

  const apiArgs = [
    `--etcd-servers=http://127.0.0.1:${etcdClient}`,
    `--secure-port=${apiPort}`,
    "--bind-address=127.0.0.1",
    "--advertise-address=127.0.0.1",
    `--cert-dir=${join(dir, "certs")}`,
    `--tls-cert-file=${join(dir, "apiserver.crt")}`,
    `--tls-private-key-file=${join(dir, "apiserver.key")}`,
    `--client-ca-file=${join(dir, "ca.crt")}`,
    "--authorization-mode=RBAC",
    "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
    `--service-account-key-file=${join(dir, "sa.pub")}`,
    `--service-account-signing-key-file=${join(dir, "sa.key")}`,
    "--service-cluster-ip-range=10.96.0.0/16",
    // No kubelets, no kube-proxy: the `kubernetes` Service's endpoints are of no use here.
    "--endpoint-reconciler-type=none",
    "--allow-privileged=true",
    "--profiling=false",
    "--enable-priority-and-fairness=false",
  ];
  const server = `https://127.0.0.1:${apiPort}`;
  const adminKubeconfig = join(dir, "admin.kubeconfig");
  writeFileSync(
    adminKubeconfig,
    JSON.stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "test", cluster: { server, "certificate-authority": join(dir, "ca.crt") } }],
      users: [
        {
          name: "admin",
          user: { "client-certificate": join(dir, "admin.crt"), "client-key": join(dir, "admin.key") },
        },
      ],
      contexts: [{ name: "test", context: { cluster: "test", user: "admin" } }],
      "current-context": "test",
    }),
  );
  const kc = new KubeConfig();
  kc.loadFromFile(adminKubeconfig);
  const admin = new KubeRest(kc, { timeoutMs: 10_000 });

  let apiserver: Proc | undefined;
  const startApiServer = async (): Promise<void> => {
    apiserver = run(join(binDir, "kube-apiserver"), apiArgs, join(dir, "kube-apiserver.log"));
    const proc = apiserver;
    await waitFor(
      async () => {
        if (proc.child.exitCode !== null) {
          throw new Error(
            `kube-apiserver exited (${proc.child.exitCode}); see ${join(dir, "kube-apiserver.log")}`,
          );
        }
        try {
          return (await admin.request<string>("GET", "/readyz")) === "ok";
        } catch {
          return false;
        }
      },
      { timeoutMs: 60_000, intervalMs: 100, what: "kube-apiserver /readyz" },
    );
  };

  try {
    await startApiServer();
    await installCrds(admin);
  } catch (err) {
    await terminate(apiserver);
    await terminate(etcd);
    throw err;
  }

  return {
    dir,
    binDir,
    server,
    adminKubeconfig,
    admin,
    async stopApiServer(signal: NodeJS.Signals = "SIGTERM") {
      await terminate(apiserver, signal);
      apiserver = undefined;
    },
    startApiServer,
    writeTokenKubeconfig(name, token) {
      const file = join(dir, `${name}.kubeconfig`);
      writeFileSync(
        file,
        JSON.stringify({
          apiVersion: "v1",
          kind: "Config",
          clusters: [{ name: "test", cluster: { server, "certificate-authority": join(dir, "ca.crt") } }],
          users: [{ name, user: { token } }],
          contexts: [{ name: "test", context: { cluster: "test", user: name } }],
          "current-context": "test",
        }),
      );
      return file;
    },
    async stop() {
      await terminate(apiserver);
      await terminate(etcd);
      if (!process.env.WSGATE_K8S_KEEP) rmSync(dir, { recursive: true, force: true });
      else process.stderr.write(`control plane files kept in ${dir}\n`);
    },
  };
}

/** Installs every CRD in crds/ and waits until the API serves it. */
async function installCrds(admin: KubeRest): Promise<void> {
  const crdDir = join(REPO, "crds");
  for (const file of readdirSync(crdDir).filter((f) => f.endsWith(".yaml"))) {
    const crd = parse(readFileSync(join(crdDir, file), "utf8")) as {
      metadata: { name: string };
      spec: { group: string; names: { plural: string }; versions: { name: string }[] };
    };
    await admin.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd);
    await waitFor(
      async () => {
        const live = await admin.get<{ status?: { conditions?: { type: string; status: string }[] } }>(
          `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}`,
        );
        return live.status?.conditions?.some((c) => c.type === "Established" && c.status === "True") ?? false;
      },
      { timeoutMs: 30_000, intervalMs: 100, what: `CRD ${crd.metadata.name} Established` },
    );
    // Established can precede the first successful request by a moment (discovery, handler installation).
    const { group, names, versions } = crd.spec;
    await waitFor(
      async () => {
        try {
          await admin.get(`/apis/${group}/${versions[0]?.name}/${names.plural}`);
          return true;
        } catch (err) {
          if (isNotFound(err)) return false;
          throw err;
        }
      },
      { timeoutMs: 30_000, intervalMs: 100, what: `${names.plural} served` },
    );
  }
}
