#!/usr/bin/env -S node --max-semi-space-size=8
/**
 * The `wsgate` command: `serve`, `validate` and `convert`. Reads argv and the environment
 * once, handles signals, and exits with a meaningful status.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { ConfigError, SERVE_HELP, parseServeConfig } from "../config/config.js";
import { createLogger } from "../observability/logger.js";
import { CONVERT_EXIT, convertManifests, type ConvertInput, type ConvertTarget } from "./convert.js";
import { startServe } from "./serve.js";
import { validateFiles } from "./validate.js";

const HELP = `Usage: wsgate <command> [options]

Commands:
  serve      run the gateway (see wsgate serve --help)
  validate   check manifests offline: wsgate validate FILE...; exit 1 on errors
  convert    Ingress (+ ingress-nginx annotations) → WebSocketRoutes: wsgate convert
             [FILE...] (none or -: stdin); exit 3 if something could not be carried over
  version    print the version (also --version)
`;

/** The version of the package this build came from (dist/cli/main.js → package.json). */
function version(): string {
  const manifest = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  return manifest.version;
}

async function serve(argv: string[]): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(SERVE_HELP);
    return 0;
  }
  const config = parseServeConfig(argv, process.env);
  const logger = createLogger(config.logLevel);
  const running = await startServe(config, logger);
  return new Promise((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) return;
      stopping = true;
      logger.info({ event: "shutdown", signal }, "stopping: listeners close, connections end");
      running.stop().then(
        () => resolve(0),
        (err: unknown) => {
          logger.error({ err }, "shutdown failed");
          resolve(1);
        },
      );
    };
    process.once("SIGTERM", onSignal);
    process.once("SIGINT", onSignal);
  });
}

const VALIDATE_HELP = `Usage: wsgate validate [--ingress-class NAME] [--allow-cross-namespace-hostnames] FILE...

Checks manifests against the schema and compiles them; exit 1 on errors.
The flags are serve's: they change what compiles, so pass the ones the gateway runs with.
`;

function validate(argv: string[]): number {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        help: { type: "boolean", short: "h" },
        "ingress-class": { type: "string" },
        "allow-cross-namespace-hostnames": { type: "boolean" },
      },
    });
  } catch (err) {
    process.stderr.write(`wsgate validate: ${(err as Error).message}\n\n${VALIDATE_HELP}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help || positionals.length === 0) {
    process.stdout.write(VALIDATE_HELP);
    return values.help ? 0 : 2;
  }
  const report = validateFiles(positionals, {
    ingressClass: values["ingress-class"],
    allowCrossNamespaceHostnames: values["allow-cross-namespace-hostnames"],
  });
  (report.ok ? process.stdout : process.stderr).write(`${report.lines.join("\n")}\n`);
  return report.ok ? 0 : 1;
}

const CONVERT_HELP = `Usage: wsgate convert [FILE...] [--to websocketroute|gateway-api]

Reads Ingress manifests (files, or stdin when none or -) and prints equivalent
WebSocketRoutes, with a "# dropped:" comment for each annotation, path or field that
could not be carried over. Services in the input resolve named ports.
--to gateway-api prints a GatewayClass, a Gateway per namespace (wsgate's listeners;
an HTTPS listener per TLS hostname) and per route an HTTPRoute + WebSocketPolicy,
from the Ingresses and WebSocketRoutes of the input.
Exit status: 0 all converted, 3 something dropped, 1 unreadable or invalid input.
`;

function convert(argv: string[]): number {
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(CONVERT_HELP);
    return 0;
  }
  const files: string[] = [];
  let to: ConvertTarget = "websocketroute";
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === "--to" || arg.startsWith("--to=")) {
      const target = arg === "--to" ? argv[++i] : arg.slice("--to=".length);
      if (target === "websocketroute" || target === "gateway-api") {
        to = target;
        continue;
      }
      process.stderr.write(`wsgate convert: --to ${target ?? ""}: websocketroute or gateway-api\n`);
      return 2;
    }
    files.push(arg);
  }
  const inputs: ConvertInput[] = [];
  for (const file of files.length === 0 ? ["-"] : files) {
    try {
      inputs.push({ name: file, text: readFileSync(file === "-" ? 0 : file, "utf8") });
    } catch (err) {
      process.stderr.write(`wsgate convert: ${file}: cannot read: ${(err as Error).message}\n`);
      return CONVERT_EXIT.failed;
    }
  }
  const result = convertManifests(inputs, to);
  process.stdout.write(result.output);
  for (const e of result.errors) process.stderr.write(`wsgate convert: ${e}\n`);
  if (result.errors.length > 0) return CONVERT_EXIT.failed;
  if (result.ingresses === 0) {
    process.stderr.write(
      `wsgate convert: no Ingress${to === "gateway-api" ? " or WebSocketRoute" : ""} in the input\n`,
    );
    return CONVERT_EXIT.failed;
  }
  return result.dropped ? CONVERT_EXIT.dropped : CONVERT_EXIT.converted;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case "serve":
      return serve(rest);
    case "validate":
      return validate(rest);
    case "convert":
      return convert(rest);
    case "version":
    case "--version":
      process.stdout.write(`wsgate ${version()}\n`);
      return 0;
    case undefined:
    case "--help":
    case "-h":
    case "help":
      process.stdout.write(HELP);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`unknown command "${command}"\n\n${HELP}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(
      `wsgate: ${err instanceof ConfigError ? err.message : ((err as Error).stack ?? String(err))}\n`,
    );
    process.exit(err instanceof ConfigError ? 2 : 1);
  },
);
