// libsinsp's generic event fields (evt.*) that apply to plugin events.
import { hostname } from 'node:os';
import type { Extractor } from '../events/view.js';
import { iso8601Time, localOffsetSeconds, localTimeString } from '../events/time.js';
import { eventText } from './json-plugin.js';
import { type FieldDef, NO_ARG } from './types.js';

const NS = 1_000_000_000n;

export const HOSTNAME = process.env.PEREGRINE_HOSTNAME || process.env.FALCO_HOSTNAME || hostname();

const f = (name: string, type: FieldDef['type'], desc: string, fn: Extractor): FieldDef =>
  ({ name, type, desc, list: false, arg: NO_ARG, build: () => fn });

export const EVENT_FIELDS: FieldDef[] = [
  f('evt.num', 'uint64', 'event number.', (ev) => BigInt(ev.num)),
  f('evt.time', 'string', 'event timestamp as a time string that includes the nanosecond part.',
    (ev) => localTimeString(ev.time(), localOffsetSeconds(), false, true)),
  f('evt.time.s', 'string', 'event timestamp as a time string with no nanoseconds.',
    (ev) => localTimeString(ev.time(), localOffsetSeconds(), false, false)),
  f('evt.time.iso8601', 'string', 'event timestamp in ISO 8601 format, including nanoseconds and time zone offset (in UTC).',
    (ev) => iso8601Time(ev.time())),
  f('evt.datetime', 'string', 'event timestamp as a time string that includes the date.',
    (ev) => localTimeString(ev.time(), localOffsetSeconds(), true, true)),
  f('evt.datetime.s', 'string', 'event timestamp as a datetime string with no nanoseconds.',
    (ev) => localTimeString(ev.time(), localOffsetSeconds(), true, false)),
  f('evt.rawtime', 'abstime', 'absolute event timestamp, i.e. nanoseconds from epoch.', (ev) => ev.time()),
  f('evt.rawtime.s', 'abstime', 'integer part of the event timestamp (e.g. seconds since epoch).', (ev) => ev.time() / NS),
  f('evt.rawtime.ns', 'abstime', 'fractional part of the absolute event timestamp.', (ev) => ev.time() % NS),
  f('evt.pluginname', 'string', 'if the event comes from a plugin-defined event source, the name of the plugin that generated it.',
    () => 'k8saudit'),
  f('evt.plugininfo', 'string', 'if the event comes from a plugin-defined event source, a summary of the event as formatted by the plugin.',
    (ev) => eventText(ev)),
  f('evt.source', 'string', 'the name of the source that produced the event.', () => 'k8s_audit'),
  f('evt.is_async', 'bool', "'true' for asynchronous events, 'false' otherwise.", () => false),
  f('evt.asynctype', 'string', "If the event is asynchronous, the type of the event (e.g. 'container').", () => undefined),
  f('evt.hostname', 'string', 'The hostname of the underlying host.', () => HOSTNAME),
];
