/**
 * What the gateway asks of the relay for one route: the request headers offered
 * upstream (whether permessage-deflate may be negotiated at all) and the relay's
 * options once the backend answered 101. Kept apart from the gateway so the
 * message-limit policy lives in one place.
 */
import type { RouteSettings } from "../routing/table.js";
import type { RelayOptions } from "./relay.js";
import { answeredExtensions, type BackendHead } from "./upstream/response-head.js";

/**
 * The upstream handshake headers for a route. On a route with `maxMessageBytes`
 * and `permessageDeflate: Strip` (the default), `permessage-deflate` offers are
 * removed from `Sec-WebSocket-Extensions`: the backend cannot negotiate it, so
 * every message crosses the proxy uncompressed and the frame scanner counts its
 * real size. Other extensions are passed on unchanged.
 */
export function offeredHeaders(headers: string[], settings: RouteSettings): string[] {
  if (!stripsDeflate(settings)) return headers;
  const out: string[] = [];
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i] as string;
    const value = headers[i + 1] as string;
    if (name.toLowerCase() !== "sec-websocket-extensions") {
      out.push(name, value);
      continue;
    }
    const kept = value
      .split(",")
      .map((offer) => offer.trim())
      .filter((offer) => offer !== "" && extensionName(offer) !== "permessage-deflate");
    if (kept.length > 0) out.push(name, kept.join(", "));
  }
  return out;
}

/** True when the route's limit is enforced by keeping permessage-deflate off the connection. */
export function stripsDeflate(settings: RouteSettings): boolean {
  const { maxMessageBytes, permessageDeflate } = settings.limits;
  return maxMessageBytes !== undefined && maxMessageBytes > 0 && permessageDeflate !== "Inflate";
}

/** The extension token of one offer or response element (`permessage-deflate; x=1` → `permessage-deflate`). */
export function extensionName(element: string): string {
  return (element.split(";")[0] ?? "").trim().toLowerCase();
}

/**
 * How long one side may take no bytes while the relay holds some for it (see
 * `RelayOptions.stallTimeoutMs`). 60 s, nginx's `proxy_send_timeout`: far beyond a
 * slow but live reader, short enough that a vanished one does not hold its peer.
 */
export const STALL_TIMEOUT_MS = 60_000;

/** The relay's options for a connection the backend accepted with `response`. */
export function relayOptionsFor(
  settings: RouteSettings,
  response: BackendHead,
  base: Pick<RelayOptions, "closeTimeoutMs" | "clock" | "stallTimeoutMs">,
): RelayOptions {
  const extensions = answeredExtensions(response);
  const maxMessageBytes = settings.limits.maxMessageBytes ?? 0;
  // Inflate whenever deflate was negotiated on a limited route: with `Inflate` by choice,
  // with `Strip` only if a backend answered an extension it was never offered.
  const deflate =
    extensions !== "" &&
    extensions.split(",").some((element) => extensionName(element) === "permessage-deflate");
  return {
    maxMessageBytes,
    extensions,
    inflate: maxMessageBytes > 0 && deflate,
    closeTimeoutMs: base.closeTimeoutMs,
    stallTimeoutMs: base.stallTimeoutMs ?? STALL_TIMEOUT_MS,
    clock: base.clock,
  };
}
