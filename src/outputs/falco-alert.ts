// Falco's alert: the output line and the JSON object falcosidekick and friends consume
// (falco userspace/engine/formats.cpp): keys sorted, output_fields sorted and always
// holding evt.time, tags sorted, time in UTC with nanoseconds.
import type { EventView } from '../events/view.js';
import { isoTime, iso8601Time, localOffsetSeconds, localTimeString } from '../events/time.js';
import type { CompiledRule } from '../rules/ruleset.js';
import { strcmp } from '../rules/matchers.js';

export interface AlertFormatOptions {
  hostname: string;
  /** Falco's time_format_iso_8601: ISO prefix instead of local HH:MM:SS. */
  timeIso8601: boolean;
}


export class AlertFormatter {
  private zoneOffset = localOffsetSeconds();
  private zoneCheckedAt = Date.now();

  private readonly head: string;

  constructor(readonly opts: AlertFormatOptions) {
    this.head = `{"hostname":${JSON.stringify(opts.hostname)},"output":`;
  }

  private zone(): number {
    // libsinsp uses the zone offset of "now"; refresh it now and then (DST changes).
    const now = Date.now();
    if (now - this.zoneCheckedAt > 60_000) {
      this.zoneOffset = localOffsetSeconds();
      this.zoneCheckedAt = now;
    }
    return this.zoneOffset;
  }

  /** The `output` text: `<time>: <Priority> <rule output>`. */
  text(rule: CompiledRule, ev: EventView): string {
    const time = this.opts.timeIso8601 ? iso8601Time(ev.time()) : localTimeString(ev.time(), this.zone(), false, true);
    return `${time}: ${rule.priorityName} ${rule.output.render(ev)}`;
  }

  /** The Falco JSON alert, one line. */
  json(rule: CompiledRule, ev: EventView, output = this.text(rule, ev)): string {
    const layout = this.layout(rule);
    const time = ev.time();
    const timeNs = BigInt.asIntN(64, time).toString();
    let of = '';
    for (let i = 0; i < layout.members.length; i++) {
      const r = layout.fields[i];
      of += layout.members[i] + (r < 0 ? timeNs : rule.output.fieldJson(r, ev, timeNs));
    }
    return this.head + JSON.stringify(output) + ',"output_fields":{' + of + '},' + layout.tail + JSON.stringify(isoTime(time)) + '}';
  }

  /** Per rule (a reload brings new rule objects; the old ones' layouts go with them). */
  private readonly layouts = new WeakMap<CompiledRule, AlertLayout>();

  /** What is the same in every alert of a rule, built on its first alert. */
  private layout(rule: CompiledRule): AlertLayout {
    let l = this.layouts.get(rule);
    if (l !== undefined) return l;
    // output_fields always holds the time; an output field of the same name gives way to it.
    const timeKey = this.opts.timeIso8601 ? 'evt.time.iso8601' : 'evt.time';
    const byName = new Map<string, number>();
    rule.output.resolutions.forEach((r, i) => byName.set(r.name, i));
    byName.set(timeKey, -1);
    // nlohmann's object is a std::map: keys in UTF-8 byte order.
    const names = [...byName.keys()].sort(strcmp);
    l = {
      members: names.map((n, i) => `${i > 0 ? ',' : ''}${JSON.stringify(n)}:`),
      fields: names.map((n) => byName.get(n)!),
      tail: `"priority":${JSON.stringify(rule.priorityName)},"rule":${JSON.stringify(rule.name)},"source":${JSON.stringify(rule.source)},`
        + `"tags":[${rule.tags.map((t) => JSON.stringify(t)).join(',')}],"time":`,
    };
    this.layouts.set(rule, l);
    return l;
  }
}

interface AlertLayout {
  /** output_fields members in key order: `"name":` (after a comma but for the first). */
  members: string[];
  /** Per member: the rule output's field index, or -1 for the event time. */
  fields: number[];
  /** From "priority" to "time":. */
  tail: string;
}
