/**
 * Which Ingresses are wsgate's: those whose class names an IngressClass with
 * `spec.controller: wsgate.io/ingress-controller`, and class-less ones when
 * `--watch-ingress-without-class` is set or one of wsgate's IngressClasses is the
 * cluster default. Everything else belongs to another controller and is left alone:
 * no routes, no Events.
 */
import {
  DEFAULT_CLASS_ANNOTATION,
  INGRESS_CONTROLLER,
  LEGACY_CLASS_ANNOTATION,
  type Ingress,
  type IngressClass,
} from "../../api/ingress.js";

export interface IngressClassOptions {
  /** `--ingress-class`: with no IngressClass object of that name (standalone manifests), still ours. */
  readonly ingressClass: string;
  /** `--watch-ingress-without-class`. */
  readonly watchIngressWithoutClass?: boolean;
}

/** The class an Ingress names: `spec.ingressClassName`, else the legacy annotation. */
export function classOf(ingress: Ingress): string | undefined {
  return ingress.spec.ingressClassName ?? ingress.metadata.annotations[LEGACY_CLASS_ANNOTATION];
}

/** Decides, for a snapshot's IngressClasses, which Ingresses wsgate serves. */
export class IngressClassFilter {
  readonly #ours = new Set<string>();
  readonly #others = new Set<string>();
  readonly #claimsClassless: boolean;
  readonly #ingressClass: string;

  constructor(classes: readonly IngressClass[], options: IngressClassOptions) {
    let defaultIsOurs = false;
    for (const c of classes) {
      const ours = c.spec.controller === INGRESS_CONTROLLER;
      (ours ? this.#ours : this.#others).add(c.metadata.name);
      if (ours && c.metadata.annotations[DEFAULT_CLASS_ANNOTATION] === "true") defaultIsOurs = true;
    }
    this.#claimsClassless = options.watchIngressWithoutClass === true || defaultIsOurs;
    this.#ingressClass = options.ingressClass;
  }

  serves(ingress: Ingress): boolean {
    const name = classOf(ingress);
    if (name === undefined || name === "") return this.#claimsClassless;
    if (this.#ours.has(name)) return true;
    return !this.#others.has(name) && name === this.#ingressClass;
  }
}
