/**
 * docs/troubleshooting.md explains every reason the code can report: a reason added to
 * the code without a row in the table fails here. Reasons are collected from their single
 * sources: the `RejectionReason` union of dataplane/events.ts and the Ingress notice
 * reason unions (read with the TypeScript compiler: they are types), and the `Reason` /
 * `GatewayReason` constants.
 */
import { readFileSync } from "node:fs";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { Reason } from "../src/api/conditions.js";
import { GatewayReason } from "../src/routing/gateway-api/conditions.js";

const doc = readFileSync(new URL("../docs/troubleshooting.md", import.meta.url), "utf8");

/** The string literals of a union type node (members that are not literals are skipped). */
function literals(node: ts.TypeNode): string[] {
  const members = ts.isUnionTypeNode(node) ? node.types : [node];
  return members.flatMap((m) =>
    ts.isLiteralTypeNode(m) && ts.isStringLiteral(m.literal) ? [m.literal.text] : [],
  );
}

function parse(path: string): ts.SourceFile {
  const text = readFileSync(new URL(`../${path}`, import.meta.url), "utf8");
  return ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true);
}

/** The string literals of `export type RejectionReason = "a" | "b" | …`. */
function rejectionReasons(): string[] {
  for (const statement of parse("src/dataplane/events.ts").statements) {
    if (ts.isTypeAliasDeclaration(statement) && statement.name.text === "RejectionReason") {
      return literals(statement.type);
    }
  }
  throw new Error("src/dataplane/events.ts has no RejectionReason type");
}

/** The string literals of the `reason` property of `interface name` in `path`. */
function reasonProperty(path: string, name: string): string[] {
  for (const statement of parse(path).statements) {
    if (!ts.isInterfaceDeclaration(statement) || statement.name.text !== name) continue;
    for (const member of statement.members) {
      if (ts.isPropertySignature(member) && member.name.getText() === "reason" && member.type) {
        return literals(member.type);
      }
    }
  }
  throw new Error(`${path} has no interface ${name} with a reason`);
}

/** The first cells of the table under the heading `## title`. */
function tableReasons(title: string): Set<string> {
  const start = doc.indexOf(`\n## ${title}\n`);
  if (start < 0) throw new Error(`docs/troubleshooting.md has no section "## ${title}"`);
  const end = doc.indexOf("\n## ", start + 1);
  const section = doc.slice(start, end < 0 ? undefined : end);
  const reasons = new Set<string>();
  for (const m of section.matchAll(/^\| `([A-Za-z_]+)` \|(.+)\|$/gm)) {
    const cells = m[2]!.split(" | ");
    // A row that explains: every cell filled in.
    if (cells.every((c) => c.trim() !== "")) reasons.add(m[1]!);
  }
  return reasons;
}

describe("docs/troubleshooting.md", () => {
  it("explains every handshake and request rejection reason, so that no refusal an operator sees is a mystery", () => {
    const reasons = rejectionReasons();
    expect(reasons.length).toBeGreaterThan(15);
    const documented = tableReasons("Handshake and request rejections");
    expect(reasons.filter((r) => !documented.has(r))).toEqual([]);
    // And nothing stale: a row for a reason the code no longer has misleads.
    expect([...documented].filter((r) => !reasons.includes(r))).toEqual([]);
  });

  it("explains every WebSocketRoute condition reason, so that kubectl describe always leads somewhere", () => {
    const documented = tableReasons("WebSocketRoute conditions");
    const reasons = Object.values(Reason);
    expect(reasons.filter((r) => !documented.has(r))).toEqual([]);
    expect([...documented].filter((r) => !(reasons as string[]).includes(r))).toEqual([]);
  });

  it("explains every Event reason of an Ingress not served as written", () => {
    const documented = tableReasons("Ingress Events");
    const reasons = [
      ...reasonProperty("src/routing/ingress/annotations.ts", "AnnotationNotice"),
      ...reasonProperty("src/routing/ingress/translate.ts", "IngressNotice"),
    ];
    expect(reasons.length).toBeGreaterThan(8);
    expect(reasons.filter((r) => !documented.has(r))).toEqual([]);
    expect([...documented].filter((r) => !reasons.includes(r))).toEqual([]);
  });

  it("explains every Gateway API condition reason wsgate writes", () => {
    const documented = tableReasons("Gateway API conditions");
    const reasons = Object.values(GatewayReason);
    expect(reasons.filter((r) => !documented.has(r))).toEqual([]);
    expect([...documented].filter((r) => !(reasons as string[]).includes(r))).toEqual([]);
  });
});
