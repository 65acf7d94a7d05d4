/**
 * Command line and `WSGATE_*` environment → one frozen, validated configuration.
 * Parsed once in the CLI and injected; nothing reads `process.env` anywhere else.
 */
import { parseArgs } from "node:util";
import { z } from "zod";
import { DURATION_PATTERN, durationToMs } from "../api/duration.js";
import { formatIssues } from "../api/parse.js";

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

/** Parses `HOST:PORT`, `[IPv6]:PORT` or `:PORT` (all interfaces). */
export function parseListen(text: string): ListenAddress {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new Error(`"${text}" is not HOST:PORT (e.g. 0.0.0.0:8080, [::]:8080, :8080)`);
  return { host: m[1] ?? (m[2] || "0.0.0.0"), port };
}

const listen = z.string().transform((text, ctx) => {
  try {
    return parseListen(text);
  } catch (err) {
    ctx.addIssue({ code: "custom", message: (err as Error).message });
    return z.NEVER;
  }
});

const serveSchema = z.object({
  manifests: z.string().min(1, "--manifests needs a directory").optional(),
  kubeconfig: z.string().min(1).optional(),
  namespaces: z
    .string()
    .default("")
    .transform((text) =>
      [
        ...new Set(
          text
            .split(",")
            .map((s) => s.trim())
            .filter(Boolean),
        ),
      ].sort(),
    )
    .pipe(z.array(z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, "must be a namespace name")).max(64)),
  leaderElectionNamespace: z
    .string()
    .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, "must be a namespace name")
    .optional(),
  leaderElectionId: z
    .string()
    .regex(/^[a-z0-9]([-.a-z0-9]*[a-z0-9])?$/, "must be a Lease name (DNS subdomain)")
    .optional(),
  leaderElectionLeaseDuration: z
    .string()
    .regex(new RegExp(DURATION_PATTERN), "must be a duration such as 15s")
    .default("15s")
    .transform(durationToMs)
    .pipe(z.number().min(2_000, "must be at least 2s")),
  httpListen: listen.prefault("0.0.0.0:8080"),
  httpsListen: listen.prefault("0.0.0.0:8443"),
  adminListen: listen.prefault("0.0.0.0:9090"),
  ingressClass: z.string().min(1).default("wsgate"),
  defaultTlsSecret: z
    .string()
    .regex(
      /^[a-z0-9]([-a-z0-9]*[a-z0-9])?\/[a-z0-9]([-.a-z0-9]*[a-z0-9])?$/,
      "must be NAMESPACE/NAME of a kubernetes.io/tls Secret",
    )
    .optional(),
  logLevel: z.enum(LOG_LEVELS).default("info"),
  trustedProxies: z
    .string()
    .default("")
    .transform((text) =>
      text
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean),
    ),
  proxyProtocol: z
    .enum(["true", "false"])
    .default("false")
    .transform((v) => v === "true"),
  shutdownDrain: z
    .string()
    .regex(new RegExp(DURATION_PATTERN), "must be a duration such as 30s or 1m")
    .default("30s")
    .transform(durationToMs),
  headerTimeout: z
    .string()
    .regex(new RegExp(DURATION_PATTERN), "must be a duration such as 10s")
    .default("10s")
    .transform(durationToMs)
    .pipe(z.number().min(1_000, "must be at least 1s")),
  clientAddressHeader: z.enum(["X-Forwarded-For", "Forwarded", "X-Real-IP"]).default("X-Forwarded-For"),
  statusShowClients: z
    .enum(["true", "false"])
    .default("false")
    .transform((v) => v === "true"),
  otlpEndpoint: z
    .url({ protocol: /^https?$/, error: "must be an http:// or https:// URL of an OTLP/HTTP collector" })
    .optional(),
  traceSampleRatio: z.coerce
    .number({ error: "must be a number from 0 to 1" })
    .min(0, "must be a number from 0 to 1")
    .max(1, "must be a number from 0 to 1")
    .default(1),
  /** `--http2`: ALPN h2 and WebSockets over HTTP/2 (RFC 8441) on the HTTPS listener; on by default. */
  http2: z
    .enum(["true", "false"])
    .default("true")
    .transform((v) => v === "true"),
  underscoresInHeaders: z
    .enum(["true", "false"])
    .default("false")
    .transform((v) => v === "true"),
  allowCrossNamespaceHostnames: z
    .enum(["true", "false"])
    .default("false")
    .transform((v) => v === "true"),
  /** GatewayClasses whose `spec.controllerName` is this are served (Gateway API). */
  gatewayClassController: z
    .string()
    .regex(
      /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/[A-Za-z0-9/\-._~%!$&'()*+,;=:]+$/,
      "must be DOMAIN/PATH, e.g. wsgate.io/gateway-controller",
    )
    .max(253)
    .default("wsgate.io/gateway-controller"),
  /**
   * Data-plane worker threads: a count, or `auto` (the CPUs the process may use, see
   * src/workers/cpus.ts; the default). 1 serves on the main thread, with no worker at all.
   */
  workers: z
    .string()
    .default("auto")
    .transform((text, ctx) => {
      if (text === "auto") return "auto" as const;
      const n = Number(text);
      if (!/^\d+$/.test(text) || n < 1 || n > 64) {
        ctx.addIssue({ code: "custom", message: "must be auto or a number of threads from 1 to 64" });
        return z.NEVER;
      }
      return n;
    }),
  /** No Gateway API informers at all (no RBAC for gateway.networking.k8s.io needed). */
  disableGatewayApi: z
    .enum(["true", "false"])
    .default("false")
    .transform((v) => v === "true"),
  /** Serve class-less Ingresses even when no IngressClass of ours is the cluster default. */
  watchIngressWithoutClass: z
    .enum(["true", "false"])
    .default("false")
    .transform((v) => v === "true"),
  /** No Ingress/IngressClass informers at all (no RBAC for networking.k8s.io needed). */
  disableIngress: z
    .enum(["true", "false"])
    .default("false")
    .transform((v) => v === "true"),
  /** A file whose bytes (at least 16) key the session affinity cookies; replicas given the same file agree. */
  affinityKeyFile: z.string().min(1, "--affinity-key-file needs a file").optional(),
  /**
   * Cluster mode: the Opaque Secret (data key `key`) holding the affinity cookie key. The
   * leader creates it with a random key when missing; every replica reads it.
   */
  affinityKeySecret: z
    .string()
    .regex(
      /^[a-z0-9]([-a-z0-9]*[a-z0-9])?\/[a-z0-9]([-.a-z0-9]*[a-z0-9])?$/,
      "must be NAMESPACE/NAME of an Opaque Secret",
    )
    .optional(),
  /** `namespace/name` of wsgate's own Service: its addresses go to Ingresses' status.loadBalancer. */
  publishService: z
    .string()
    .regex(
      /^[a-z0-9]([-a-z0-9]*[a-z0-9])?\/[a-z0-9]([-.a-z0-9]*[a-z0-9])?$/,
      "must be NAMESPACE/NAME of wsgate's Service",
    )
    .optional(),
});

export type ServeConfig = Readonly<z.output<typeof serveSchema>>;

/** The flags of `wsgate serve`: flag name → config key. */
const SERVE_FLAGS = {
  manifests: "manifests",
  kubeconfig: "kubeconfig",
  namespace: "namespaces",
  "leader-election-namespace": "leaderElectionNamespace",
  "leader-election-id": "leaderElectionId",
  "leader-election-lease-duration": "leaderElectionLeaseDuration",
  "http-listen": "httpListen",
  "https-listen": "httpsListen",
  "admin-listen": "adminListen",
  "ingress-class": "ingressClass",
  "default-tls-secret": "defaultTlsSecret",
  "log-level": "logLevel",
  "status-show-clients": "statusShowClients",
  "otlp-endpoint": "otlpEndpoint",
  "trace-sample-ratio": "traceSampleRatio",
  "trusted-proxies": "trustedProxies",
  "proxy-protocol": "proxyProtocol",
  "shutdown-drain": "shutdownDrain",
  "header-timeout": "headerTimeout",
  "client-address-header": "clientAddressHeader",
  "underscores-in-headers": "underscoresInHeaders",
  http2: "http2",
  "allow-cross-namespace-hostnames": "allowCrossNamespaceHostnames",
  "gateway-class-controller": "gatewayClassController",
  "disable-gateway-api": "disableGatewayApi",
  "watch-ingress-without-class": "watchIngressWithoutClass",
  "disable-ingress": "disableIngress",
  "publish-service": "publishService",
  "affinity-key-file": "affinityKeyFile",
  "affinity-key-secret": "affinityKeySecret",
  workers: "workers",
} as const;

/** Flags that take no value. */
const BOOLEAN_FLAGS = new Set([
  "http2",
  "status-show-clients",
  "proxy-protocol",
  "underscores-in-headers",
  "allow-cross-namespace-hostnames",
  "disable-gateway-api",
  "watch-ingress-without-class",
  "disable-ingress",
]);
/** Flags that may be given several times (their environment variable takes a comma-separated list). */
const REPEATABLE_FLAGS = new Set(["namespace"]);

export const SERVE_HELP = `Usage: wsgate serve [--manifests DIR | --kubeconfig FILE] [options]

Serve WebSocket (and plain HTTP) traffic routed by WebSocketRoute resources.

Without --manifests, wsgate runs in cluster mode: it watches WebSocketRoutes,
Services, EndpointSlices and kubernetes.io/tls Secrets through the Kubernetes API
and (on the replica holding the leader Lease) writes route status and Events.

Options (each also read from WSGATE_<FLAG>, e.g. WSGATE_HTTP_LISTEN):
  --manifests DIR          standalone mode: YAML manifests (WebSocketRoute, Service,
                           EndpointSlice, Secret) in DIR are the only source; watched
  --kubeconfig FILE        cluster mode: API server and credentials (default: KUBECONFIG,
                           else the Pod's service account)
  --namespace NS           watch only this namespace; repeat for several (default: all;
                           WSGATE_NAMESPACE takes a comma-separated list)
  --leader-election-namespace NS
                           namespace of the leader Lease (default: the Pod's namespace,
                           the kubeconfig context's, else default)
  --leader-election-id NAME
                           name of the leader Lease (default wsgate-<ingress class>)
  --leader-election-lease-duration DURATION
                           a standby takes over this long after the leader's last
                           renewal (default 15s)
  --http-listen HOST:PORT  traffic listener (default 0.0.0.0:8080)
  --https-listen HOST:PORT TLS traffic listener; certificates from the routes'
                           spec.tls Secrets, chosen by SNI (default 0.0.0.0:8443)
  --default-tls-secret NS/NAME
                           kubernetes.io/tls Secret served when the client sends
                           no SNI or one no route has a certificate for
  --admin-listen HOST:PORT the status page (/, JSON at /status), /metrics /healthz /readyz
                           /debug/config (default 0.0.0.0:9090); keep it cluster-internal
  --status-show-clients    list client addresses per route on the status page (off by
                           default: client addresses are personal data)
  --otlp-endpoint URL      export OpenTelemetry traces over OTLP/HTTP to this collector
                           (http://collector:4318, or the full .../v1/traces URL); off
                           by default
  --trace-sample-ratio R   fraction of new traces recorded, 0 to 1 (default 1); a
                           client's traceparent sampled flag is followed
  --ingress-class NAME     serve routes of this class and routes with none (default wsgate)
  --log-level LEVEL        fatal|error|warn|info|debug|trace|silent (default info)
  --trusted-proxies CIDR,… peers whose client-address header (and PROXY protocol
                           header) is believed; nobody's by default
  --client-address-header X-Forwarded-For|Forwarded|X-Real-IP
                           the one header that names the client behind a trusted
                           proxy, walked right to left (default X-Forwarded-For)
  --proxy-protocol         expect a PROXY protocol v1/v2 header on every connection
                           (behind a cloud load balancer that sends one); with
                           --trusted-proxies, only from those peers
  --header-timeout DURATION
                           accept → complete request headers, on every listener
                           (default 10s); slower clients are disconnected
  --http2[=false]          offer HTTP/2 (ALPN h2) on the HTTPS listener, with WebSockets
                           over HTTP/2 (RFC 8441); on by default, --http2=false turns
                           it off (HTTP/1.1 only)
  --underscores-in-headers keep client header names containing "_" (dropped by
                           default: many servers fold "_" into "-")
  --allow-cross-namespace-hostnames
                           let routes in several namespaces share a hostname (the
                           ingress-nginx behaviour); by default a hostname belongs
                           to the namespace of its oldest route
  --gateway-class-controller NAME
                           serve Gateways of GatewayClasses with this controllerName
                           (default wsgate.io/gateway-controller); Gateway API kinds
                           are watched once their CRDs are installed
  --disable-gateway-api    do not watch Gateway API kinds at all
  --watch-ingress-without-class
                           serve Ingresses without a class even when no IngressClass
                           of wsgate's (controller wsgate.io/ingress-controller) is
                           the cluster default
  --disable-ingress        do not watch Ingresses and IngressClasses at all
  --publish-service NS/NAME wsgate's own Service: its load balancer addresses (else
                           its cluster IP) are written to served Ingresses'
                           status.loadBalancer
  --affinity-key-file FILE  key of the session affinity cookies (sessionAffinity Cookie):
                           the file's bytes, at least 16; replicas given the same file
                           read each other's cookies (default: a random key per
                           process: replicas then disagree, and a session moves)
  --affinity-key-secret NS/NAME
                           cluster mode: that key from an Opaque Secret (data key
                           "key"), read by every replica; the leader creates it with a
                           random key when missing (needs get and create on Secrets
                           in NS)
  --shutdown-drain DURATION on SIGTERM, close connections with 1001 spread over this
                           window, then exit (default 30s)
  --workers N|auto         data-plane threads serving the same ports (reusePort); auto
                           (default): the CPUs the process may use, capped by its cgroup
                           CPU quota (a Pod's resources.limits.cpu); 1 serves on the
                           main thread, with no worker thread
  -h, --help               show this help
`;

export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

/** `WSGATE_HTTP_LISTEN` for `http-listen`. */
export function envName(flag: string): string {
  return `WSGATE_${flag.toUpperCase().replaceAll("-", "_")}`;
}

/**
 * Builds the serve configuration from argv (after `serve`) and the environment.
 * Flags win over the environment.
 * @throws ConfigError with a readable message on unknown flags or bad values.
 */
export function parseServeConfig(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): ServeConfig {
  let values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  // A boolean flag may be written `--flag=true|false` (`--http2=false` turns a default off).
  const explicit: Record<string, boolean> = {};
  const args = argv.filter((arg) => {
    const m = /^--([a-z0-9-]+)=(true|false)$/.exec(arg);
    if (!m || !BOOLEAN_FLAGS.has(m[1] as string)) return true;
    explicit[m[1] as string] = m[2] === "true";
    return false;
  });
  try {
    ({ values } = parseArgs({
      args,
      options: Object.fromEntries(
        Object.keys(SERVE_FLAGS).map((flag) => [
          flag,
          {
            type: BOOLEAN_FLAGS.has(flag) ? ("boolean" as const) : ("string" as const),
            ...(REPEATABLE_FLAGS.has(flag) ? { multiple: true } : {}),
          },
        ]),
      ),
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new ConfigError(`${(err as Error).message}\n\n${SERVE_HELP}`, { cause: err });
  }
  Object.assign(values, explicit);
  const raw: Record<string, string> = {};
  for (const [flag, key] of Object.entries(SERVE_FLAGS)) {
    const value = values[flag] ?? env[envName(flag)];
    if (typeof value === "boolean") raw[key] = String(value);
    else if (Array.isArray(value)) raw[key] = value.join(",");
    else if (typeof value === "string" && value !== "") raw[key] = value;
  }
  if (raw.manifests !== undefined) {
    const clusterOnly = ["kubeconfig", "namespace"].filter(
      (flag) => raw[SERVE_FLAGS[flag as keyof typeof SERVE_FLAGS]],
    );
    if (clusterOnly.length > 0) {
      throw new ConfigError(
        `--manifests (standalone mode) cannot be combined with ${clusterOnly.map((f) => `--${f}`).join(", ")} (cluster mode); pick one`,
      );
    }
  } else if (raw.kubeconfig === undefined && env.KUBECONFIG) {
    // Cluster mode outside a Pod: the usual KUBECONFIG, as kubectl reads it.
    raw.kubeconfig = env.KUBECONFIG;
  }
  const result = serveSchema.safeParse(raw);
  if (!result.success) {
    const flagOf = (key: string): string =>
      `--${Object.entries(SERVE_FLAGS).find(([, k]) => k === key)?.[0] ?? key}`;
    const lines = formatIssues(result.error.issues).map((line) => {
      const [key, ...rest] = line.split(": ");
      return `${flagOf(key ?? "")}: ${rest.join(": ")}`;
    });
    throw new ConfigError(lines.join("\n"));
  }
  return Object.freeze(result.data);
}
