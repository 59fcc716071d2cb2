// `peregrine policy check`: for every loaded rule, whether an audit Policy feeds it.
// A rule is starved when the policy changes its alerts for every request it can match
// (they are not logged, their stage is omitted, or a body its condition reads is
// dropped, which loses alerts or raises false ones), partly fed when that is so for
// some of them or when only its output loses a field, and fed otherwise.
import type { Ruleset } from '../rules/ruleset.js';
import { type Level, type Policy, type PolicyRule, type Stage, levelRank, ruleWhere } from './model.js';
import {
  type Assign, type Domains, type Effect, type Outcome, FRESH, LeafEvaluator, canMatchBoth, isVariant, NA, RegionSolver, RuleModel, domainsFor, namedValues, outcomes, ruleClasses,
} from './analysis.js';

export type Status = 'fed' | 'partly_fed' | 'starved';

/** One way the policy changes a rule's alerts. */
export interface Detail {
  /** FILE:line of the policy rule responsible (or of the policy's omitStages / rules key). */
  by: string;
  /** The policy rule's index; -1: no rule matches (the default, None). */
  region: number;
  /** shadow: an earlier rule (rule_matching: first) is starved for requests this one can match. */
  effect: Exclude<Effect, 'ok'> | 'shadow';
  /** For shadow: those earlier rules. */
  earlier?: string[];
  level: Level;
  need?: Level;
  fields: string[];
  stages: Stage[];
  /** The requests concerned, described. */
  requests: string[];
}

export interface RuleReport {
  rule: string;
  status: Status;
  by: string | null;
  reason: string;
  details: Detail[];
}

const CONDITION_EFFECTS = new Set<Effect>(['none', 'stage', 'level']);

const few = (xs: string[], n = 4): string => (xs.length > n ? `${xs.slice(0, n).join(', ')}, …` : xs.join(', '));

/**
 * A short description of a class of requests; where the class leaves an attribute open,
 * what the policy rule `r` that logs them selects says it instead.
 */
export function describeRequests(a: Assign, r?: PolicyRule): string {
  const parts: string[] = [];
  const fresh = (x: keyof typeof FRESH, v: string | undefined): boolean => v === FRESH[x];
  // A value made up around a constant (to satisfy startswith and alike) reads as the constant and "…".
  const shown = (v: string): string => (isVariant(v) ? v.replace(/-?peregrine-x-?/g, '…') : v);
  if (a.verb !== undefined) parts.push(fresh('verb', a.verb) ? 'other verbs' : shown(a.verb));
  else if (r?.verbs.length) parts.push(few(r.verbs));
  if (a.isResource === '1' || (a.isResource === undefined && r !== undefined && (r.resources.length > 0 || r.namespaces.length > 0))) {
    let what: string;
    if (a.resource !== undefined) {
      what = fresh('resource', a.resource) ? 'other resources' : shown(a.resource);
      if (a.subresource !== undefined && a.subresource !== '' && a.subresource !== NA) what += '/' + (fresh('subresource', a.subresource) ? '<other>' : shown(a.subresource));
      if (a.apiGroup !== undefined && a.apiGroup !== NA) what += fresh('apiGroup', a.apiGroup) ? ' (other API groups)' : a.apiGroup === '' ? '' : ` (${a.apiGroup})`;
    } else if (r?.resources.length) {
      what = few(r.resources.flatMap((gr) => (gr.resources.length ? gr.resources : ['*']).map((x) => (gr.group && gr.group !== '*' ? `${x} (${gr.group})` : x))));
    } else {
      what = 'any resource';
    }
    parts.push(what);
    if (a.namespace !== undefined && a.namespace !== NA) parts.push(a.namespace === '' ? '(cluster scope)' : fresh('namespace', a.namespace) ? 'in other namespaces' : `in ${shown(a.namespace)}`);
    else if (r?.namespaces.length) parts.push(`in ${few(r.namespaces.map((n) => n || '(cluster scope)'))}`);
    if (a.name !== undefined && a.name !== '' && a.name !== NA) parts.push(fresh('name', a.name) ? 'other names' : `named ${shown(a.name)}`);
  } else if (a.isResource === '0' || (a.isResource === undefined && r?.nonResourceURLs.length)) {
    if (a.path !== undefined && a.path !== NA) parts.push(fresh('path', a.path) ? 'other non-resource URLs' : shown(a.path));
    else parts.push(r?.nonResourceURLs.length ? few(r.nonResourceURLs) : 'non-resource URLs');
  }
  // Who sends them matters to the report only where that policy rule selects on it.
  if (r?.users.length || r?.userGroups.length) {
    if (a.user !== undefined) parts.push(fresh('user', a.user) ? 'by other users' : `by ${shown(a.user)}`);
    else if (r.users.length) parts.push(`by ${few(r.users)}`);
    if (a.groups !== undefined && a.groups !== '[]') parts.push(fresh('groups', a.groups) ? 'in other groups' : `in groups ${(JSON.parse(a.groups) as string[]).join(', ')}`);
    else if (r.userGroups.length) parts.push(`in groups ${few(r.userGroups)}`);
  }
  if (parts.length === 0) return 'any request';
  return parts.join(' ');
}

function byOf(p: Policy, o: Outcome): string {
  if (o.effect === 'stage' && p.omitStages.includes(o.stage) && p.omitStagesLoc) return `${p.omitStagesLoc.file}:${p.omitStagesLoc.line}`;
  if (o.effect !== 'none' && o.effect !== 'stage' && o.need !== undefined && levelRank(o.need) <= levelRank(o.level)
    && o.region >= 0 && p.rules[o.region].omitManagedFields === undefined && p.omitManagedFieldsLoc) {
    return `${p.omitManagedFieldsLoc.file}:${p.omitManagedFieldsLoc.line}`;
  }
  return ruleWhere(p, o.region);
}

export function describeDetail(d: Detail): string {
  const req = d.requests.slice(0, 3).join('; ') + (d.requests.length > 3 ? `; and ${d.requests.length - 3} more` : '');
  const stages = d.stages.length === 4 ? '' : ` (stage ${d.stages.join(', ')})`;
  const mf = d.need !== undefined && levelRank(d.need) <= levelRank(d.level);
  const needs = mf ? 'managed fields, which it omits (omitManagedFields)' : `${d.fields.join(', ')} (needs ${d.need})`;
  switch (d.effect) {
    case 'none':
      return d.region < 0 ? `${req}${stages}: no policy rule matches them (the default level is None)` : `${req}${stages}: logged at None by ${d.by}`;
    case 'stage':
      return `${req}: stage ${d.stages.join(', ')} omitted by ${d.by}`;
    case 'level':
      return `${req}${stages}: logged at ${d.level} by ${d.by}, the condition reads ${mf ? needs : `${d.fields.join(', ')}, which needs ${d.need}`}`;
    case 'output':
      return `${req}${stages}: logged at ${d.level} by ${d.by}, the output prints ${mf ? needs : `${d.fields.join(', ')}, which needs ${d.need}`}`;
    case 'shadow':
      return `${req}${stages}: first matched by ${d.earlier!.map((x) => `'${x}'`).join(', ')}, starved there by ${d.by} (with rule_matching first, this rule's alerts change with ${d.earlier!.length === 1 ? 'it' : 'them'})`;
  }
}

function aggregate(p: Policy, os: Outcome[]): Detail[] {
  const groups = new Map<string, Detail>();
  for (const o of os) {
    if (o.effect === 'ok') continue;
    const by = byOf(p, o);
    const key = [by, o.region, o.effect, o.level, o.need ?? '', o.fields.join(',')].join('\u0001');
    let d = groups.get(key);
    if (d === undefined) {
      d = { by, region: o.region, effect: o.effect, level: o.level, need: o.need, fields: o.fields, stages: [], requests: [] };
      groups.set(key, d);
    }
    if (!d.stages.includes(o.stage)) d.stages.push(o.stage);
    const { stage: _s, ...rest } = o.assign;
    const r = describeRequests(rest, o.region >= 0 ? p.rules[o.region] : undefined);
    if (!d.requests.includes(r)) d.requests.push(r);
  }
  const out = [...groups.values()];
  for (const d of out) d.stages.sort((a, b) => STAGE_ORDER.indexOf(a) - STAGE_ORDER.indexOf(b));
  return out;
}

const STAGE_ORDER: Stage[] = ['RequestReceived', 'ResponseStarted', 'ResponseComplete', 'Panic'];

/** The rules of a ruleset and what they read, prepared once for several policies. */
export class RulesetModel {
  readonly ev = new LeafEvaluator();
  readonly models: RuleModel[];

  constructor(readonly ruleset: Ruleset) {
    this.models = ruleset.rules.map((r) => new RuleModel(r, this.ev));
  }
}

/** Every rule's outcomes under the policy. */
type Named = { resource: Set<string> | undefined; verb: Set<string> | undefined };

export function analyse(rm: RulesetModel, p: Policy): Array<{ model: RuleModel; outcomes: Outcome[]; classes: number; domains: Domains; named: Named }> {
  const solver = new RegionSolver(p);
  return rm.models.map((m) => {
    const d = domainsFor(m, p);
    const classes = ruleClasses(m, d);
    const named = { resource: namedValues(classes, 'resource', d), verb: namedValues(classes, 'verb', d) };
    return { model: m, outcomes: outcomes(m, classes, p, d, solver), classes: classes.length, domains: d, named };
  });
}

export interface CheckOptions {
  /**
   * Falco's rule_matching: with `first` (the default, as in scan), an event alerts for
   * the first rule it matches only, so a rule's alerts also change where an earlier rule
   * is starved for the same requests.
   */
  ruleMatching: 'first' | 'all';
}

export function checkPolicy(rm: RulesetModel, p: Policy, opts: CheckOptions = { ruleMatching: 'first' }): RuleReport[] {
  const all = analyse(rm, p);
  // Outcomes of earlier rules whose alerts change: with rule_matching first, a later rule
  // that can match the same requests may then alert where it did not, or no longer.
  const earlier: Array<{ rule: string; model: RuleModel; named: Named }> = [];
  const solver = new RegionSolver(p);
  return all.map(({ model, outcomes: os, classes, named }) => {
    const never = classes === 0;
    const name = model.rule.name;
    const shadows: Detail[] = [];
    if (opts.ruleMatching === 'first' && os.length > 0) {
      for (const e of earlier) {
        // Rules that name different resources or verbs never meet.
        if ((['resource', 'verb'] as const).some((x) => {
          const ea = e.named[x];
          const b = named[x];
          return ea !== undefined && b !== undefined && ![...ea].some((v) => b.has(v));
        })) continue;
        // A request both can match (enumerated together, until one is found) whose logging starves the earlier rule.
        const joint = RuleModel.conjunction(e.model, model);
        const jd = domainsFor(joint, p);
        let hit: Outcome[] = [];
        ruleClasses(joint, jd, 20_000, {}, (c) => {
          if (!canMatchBoth(e.model, model, c.assign)) return false;
          const r = e.model.eval(c.assign);
          hit = outcomes(e.model, [{ assign: c.assign, v: r.v, deps: [...new Set(r.deps)] }], p, jd, solver).filter((o) => CONDITION_EFFECTS.has(o.effect));
          return hit.length > 0;
        });
        if (hit.length === 0) continue;
        const first = aggregate(p, hit)[0];
        const same = shadows.find((x) => x.by === first.by && x.requests.join() === first.requests.join());
        if (same) same.earlier!.push(e.rule);
        else shadows.push({ ...first, effect: 'shadow', earlier: [e.rule], fields: [] });
      }
    }
    const affectedHere = os.filter((o) => CONDITION_EFFECTS.has(o.effect));
    if (affectedHere.length > 0) earlier.push({ rule: name, model, named });
    if (os.length === 0) {
      return { rule: name, status: 'fed', by: null, reason: model.never || never ? 'its condition is never true' : 'it matches no request the apiserver logs', details: [] };
    }
    const affected = os.filter((o) => o.effect !== 'ok');
    const details = [...aggregate(p, affected), ...shadows];
    if (details.length === 0) return { rule: name, status: 'fed', by: null, reason: 'every request it can match is logged with what it reads', details };
    const starved = affected.length > 0 && os.every((o) => CONDITION_EFFECTS.has(o.effect));
    const conditionDetails = details.filter((d) => d.effect !== 'output');
    const main = conditionDetails[0] ?? details[0];
    let reason: string;
    if (starved) {
      reason = details.map(describeDetail).join(' | ');
    } else if (conditionDetails.length > 0) {
      reason = `partly: ${details.map(describeDetail).join(' | ')}`;
    } else {
      reason = `only its output: ${details.map(describeDetail).join(' | ')}`;
    }
    return { rule: name, status: starved ? 'starved' : 'partly_fed', by: main.by, reason, details };
  });
}
