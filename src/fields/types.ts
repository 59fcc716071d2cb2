import type { EventView, Extractor } from '../events/view.js';
import type { FieldPlan } from '../events/plan.js';

/** What a field's extractor is built with: the ruleset's field plan, to declare reads. */
export interface BuildContext {
  plan: FieldPlan;
}

export type FieldType = 'string' | 'uint64' | 'abstime' | 'reltime' | 'bool';

export interface ArgSpec {
  /** An argument may be given. */
  allowed: boolean;
  /** An argument must be given. */
  required: boolean;
  /** The argument is a non-negative index (digits only). */
  index: boolean;
  /** The argument is a free-form key. */
  key: boolean;
}

export interface FieldArg {
  present: boolean;
  /** The raw argument text (keys). */
  key: string;
  /** Parsed index, or -1. */
  index: number;
}

export interface FieldDef {
  name: string;
  desc: string;
  type: FieldType;
  list: boolean;
  arg: ArgSpec;
  /** Builds the extractor; declares in ctx.plan what the field reads. */
  build(arg: FieldArg, ctx: BuildContext): Extractor;
  /**
   * For fields whose value is exactly one Get-chain string of the event: the plan slot
   * holding it, so constants compared with the field can be matched natively.
   */
  symbolSlot?(arg: FieldArg, ctx: BuildContext): number;
  /** The field has no value for events without an auditID (the k8saudit plugin's rule). */
  needsAuditId?: boolean;
  /** Has a value for every event (so `exists` on it is true without reading it). */
  always?: boolean;
  /** `field = value` decided without building the field's text. */
  textIs?(value: string): (ev: EventView) => boolean;
  /**
   * For list fields that are exactly the plugin's arrayAsStringsSkipNil(getValuesRecursive(
   * path, index)) of an event with an auditID: the path and index filter (-1: none), so
   * the native prefilter can walk them.
   */
  listPath?(arg: FieldArg): { keys: string[]; index: number };
}

/**
 * Predicates of `field = value` that compare the event time (from textIs): the time they
 * accept, for the native prefilter; NaN when no usual time (seconds in (0, 9e9)) equals it.
 */
export const TIME_EQUALS = new WeakMap<(ev: EventView) => boolean, { sec: number; nsec: number }>();

export const NO_ARG: ArgSpec = { allowed: false, required: false, index: false, key: false };
export const INDEX_ARG: ArgSpec = { allowed: true, required: false, index: true, key: false };
export const KEY_ARG: ArgSpec = { allowed: true, required: true, index: false, key: true };
