/**
 * `spec.sessionAffinity` compiled for the data plane: the cookie's attributes in the
 * units a `Set-Cookie` header takes, header names lower-cased as Node delivers them,
 * the balance factor as a ratio. Pure, like compile().
 */
import type { SessionAffinity } from "../api/route.js";
import { durationToMs } from "../api/duration.js";

/** The cookie wsgate issues for `type: Cookie`. */
export interface AffinityCookie {
  readonly name: string;
  readonly path: string;
  /** Whole seconds; absent: a session cookie (no Max-Age). */
  readonly maxAgeSeconds?: number;
  readonly sameSite: "Strict" | "Lax" | "None";
  /** Absent: Secure when the client reached the gateway over TLS. */
  readonly secure?: boolean;
}

/** How a route pins a session to an endpoint (dataplane/affinity). */
export type CompiledAffinity =
  | { readonly type: "Cookie"; readonly cookie: AffinityCookie }
  | {
      readonly type: "Header" | "QueryParameter" | "ClientAddress";
      /** The lower-case header name (Header) or the parameter name (QueryParameter); "" for ClientAddress. */
      readonly name: string;
      /** `balanceFactorPercent / 100`: no endpoint above ceil(factor × average) active connections. */
      readonly balanceFactor: number;
    };

/** The data plane's form of a validated `spec.sessionAffinity`. */
export function affinitySettings(spec: SessionAffinity): CompiledAffinity {
  const balanceFactor = spec.balanceFactorPercent / 100;
  switch (spec.type) {
    case "Cookie": {
      const c = spec.cookie ?? { name: "wsgate-affinity", path: "/", sameSite: "Lax" as const };
      // Max-Age is in whole seconds; a sub-second maxAge rounds up rather than to a session cookie.
      const maxAgeSeconds = c.maxAge === undefined ? 0 : Math.ceil(durationToMs(c.maxAge) / 1000);
      return Object.freeze({
        type: "Cookie",
        cookie: Object.freeze({
          name: c.name,
          path: c.path,
          ...(maxAgeSeconds > 0 ? { maxAgeSeconds } : {}),
          sameSite: c.sameSite,
          ...(c.secure !== undefined ? { secure: c.secure } : {}),
        }),
      });
    }
    case "Header":
      return Object.freeze({ type: "Header", name: (spec.header?.name ?? "").toLowerCase(), balanceFactor });
    case "QueryParameter":
      return Object.freeze({ type: "QueryParameter", name: spec.queryParameter?.name ?? "", balanceFactor });
    case "ClientAddress":
      return Object.freeze({ type: "ClientAddress", name: "", balanceFactor });
  }
}
