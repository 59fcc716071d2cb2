// The kube-apiserver audit Policy (audit.k8s.io/v1, k8s.io/apiserver pkg/apis/audit/v1
// types.go): what `peregrine policy` reads, evaluates and writes.
import type { Loc } from '../rules/yaml-source.js';

export const LEVELS = ['None', 'Metadata', 'Request', 'RequestResponse'] as const;
export type Level = (typeof LEVELS)[number];

export const STAGES = ['RequestReceived', 'ResponseStarted', 'ResponseComplete', 'Panic'] as const;
export type Stage = (typeof STAGES)[number];

/** None < Metadata < Request < RequestResponse. */
export function levelRank(l: Level): number {
  return LEVELS.indexOf(l);
}

export function isLevel(s: string): s is Level {
  return (LEVELS as readonly string[]).includes(s);
}

export function isStage(s: string): s is Stage {
  return (STAGES as readonly string[]).includes(s);
}

export interface GroupResources {
  /** "" is the core group, "*" every group. */
  group: string;
  /** `pods`, `pods/log`, `pods/*`, `*\/scale`, `*`; empty: every resource of the group. */
  resources: string[];
  resourceNames: string[];
}

/** One rule; an empty list means "any" (as in the apiserver, where an empty list is unset). */
export interface PolicyRule {
  level: Level;
  users: string[];
  userGroups: string[];
  verbs: string[];
  namespaces: string[];
  resources: GroupResources[];
  nonResourceURLs: string[];
  omitStages: Stage[];
  /** Unset: the policy's default. */
  omitManagedFields?: boolean;
  /** Where the rule starts in its file (for reports). */
  loc?: Loc;
}

export interface Policy {
  rules: PolicyRule[];
  omitStages: Stage[];
  omitManagedFields: boolean;
  /** The file it came from, and where its `rules`, `omitStages` and `omitManagedFields` keys are. */
  file: string;
  rulesLoc?: Loc;
  omitStagesLoc?: Loc;
  omitManagedFieldsLoc?: Loc;
}

/** A resource request's target (authorizer.Attributes), "" where absent. */
export interface ResourceAttributes {
  namespace: string;
  apiGroup: string;
  resource: string;
  subresource: string;
  name: string;
}

/** What a policy rule selects on: the request's authorizer attributes. */
export interface RequestAttributes {
  user: string;
  groups: readonly string[];
  verb: string;
  /** Resource requests; undefined for non-resource requests (the path then decides). */
  resource: ResourceAttributes | undefined;
  /** The URL path (no query). */
  path: string;
}

/** The apiserver's RequestAuditConfig: how a request is logged. */
export interface AuditConfig {
  /** Index of the first matching policy rule, -1 when none matches (the default: None). */
  rule: number;
  level: Level;
  /** The union of the policy's and the rule's omitStages. */
  omitStages: ReadonlySet<Stage>;
  omitManagedFields: boolean;
}

export function emptyRule(level: Level): PolicyRule {
  return { level, users: [], userGroups: [], verbs: [], namespaces: [], resources: [], nonResourceURLs: [], omitStages: [] };
}

/** `FILE:line` of a policy rule (or of the policy's `rules` key for the default). */
export function ruleWhere(p: Policy, rule: number): string {
  const loc = rule >= 0 ? p.rules[rule].loc : p.rulesLoc;
  return loc ? `${loc.file}:${loc.line}` : `${p.file}${rule >= 0 ? ` rule ${rule + 1}` : ''}`;
}
