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

  constructor(readonly opts: AlertFormatOptions) {}

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
    const fields = new Map<string, string>();
    rule.output.collectJson(ev, fields);
    fields.set(this.opts.timeIso8601 ? 'evt.time.iso8601' : 'evt.time', BigInt.asIntN(64, ev.time()).toString());
    // nlohmann's object is a std::map: keys in UTF-8 byte order.
    const keys = [...fields.keys()].sort(strcmp);
    let of = '{';
    for (let i = 0; i < keys.length; i++) {
      if (i > 0) of += ',';
      of += JSON.stringify(keys[i]) + ':' + fields.get(keys[i]);
    }
    of += '}';
    return `{"hostname":${JSON.stringify(this.opts.hostname)},"output":${JSON.stringify(output)},"output_fields":${of},`
      + `"priority":${JSON.stringify(rule.priorityName)},"rule":${JSON.stringify(rule.name)},"source":${JSON.stringify(rule.source)},`
      + `"tags":[${rule.tags.map((t) => JSON.stringify(t)).join(',')}],"time":${JSON.stringify(isoTime(ev.time()))}}`;
  }
}
