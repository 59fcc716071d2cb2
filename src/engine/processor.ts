// Evaluates whole JSON documents (an Event, an EventList, or an array of them):
// parse → split into events → run the ruleset → format alerts. One instance per
// thread; it owns its node table and event view and reuses them for every document.
import { NodeTable } from '../events/nodes.js';
import { EventView } from '../events/view.js';
import { EventCollector, DEFAULT_MAX_EVENT_SIZE } from '../events/audit.js';
import { ErrorCode, type ErrorCodeValue } from '../errors.js';
import type { CompiledRule, Ruleset } from '../rules/ruleset.js';
import { AlertFormatter, type AlertFormatOptions } from '../outputs/falco-alert.js';
import { type JsonBackend, jsBackend, JsonInputError, type PreparedPlan } from './backend.js';
import { Rows, STAGE_TIMESTAMP_SLOT } from '../events/plan.js';

export interface Alert {
  rule: CompiledRule;
  /** Falco JSON, one line. */
  json: string;
  /** The output text (`<time>: <Priority> <message>`). */
  text: string;
  /** Event time, ns. */
  ts: bigint;
}

export interface DocumentIssue {
  code: ErrorCodeValue;
  message: string;
  /** Item index within the document, -1 for the document itself. */
  item: number;
}

export interface DocumentResult {
  events: number;
  alerts: number;
  issues: DocumentIssue[];
}

export interface ProcessorOptions {
  format: AlertFormatOptions;
  maxEventSize?: number;
  backend?: JsonBackend;
  /** Also render the text output (scan --format text). */
  wantText?: boolean;
}

export class Processor {
  private table = new NodeTable(4096);
  private view: EventView;
  private collector = new EventCollector();
  /** Slot of stageTimestamp in the prepared plan, or -1. */
  private stageSlot = -1;
  private stageRow = 0;
  private readonly stageTimestampOf = (root: number): number => {
    // Event roots are visited in document order, as rows are.
    const rows = this.rows!;
    const count = rows.count;
    let r = this.stageRow;
    while (r < count && rows.rowNode(r) < root) r++;
    this.stageRow = r;
    if (r < count && rows.rowNode(r) === root) return rows.data[rows.slotBase(r) + this.stageSlot];
    return -2;
  };
  private matched: CompiledRule[] = [];
  private formatter: AlertFormatter;
  private eventNum = 0;
  private plan: PreparedPlan | undefined;
  private rows: Rows | undefined;
  readonly backend: JsonBackend;

  constructor(private ruleset: Ruleset, private readonly opts: ProcessorOptions) {
    this.backend = opts.backend ?? jsBackend;
    this.view = this.newView(ruleset);
    this.formatter = new AlertFormatter(opts.format);
  }

  private newView(ruleset: Ruleset): EventView {
    const view = new EventView(this.table, ruleset.slots.count);
    this.plan = this.backend.preparePlan?.(ruleset.slots.plan);
    this.rows = this.plan ? new Rows(this.plan.slotCount) : undefined;
    this.stageSlot = -1;
    this.collector.stageTimestampOf = undefined;
    if (this.plan) {
      view.recorded = this.plan.recorded;
      view.symbols = this.plan.symbols;
      const slot = STAGE_TIMESTAMP_SLOT;
      if (this.plan.recorded[slot] === 1) {
        this.stageSlot = slot;
        this.collector.stageTimestampOf = this.stageTimestampOf;
      }
    }
    return view;
  }

  /** Swaps the ruleset between documents (reload). */
  setRuleset(ruleset: Ruleset): void {
    this.ruleset = ruleset;
    this.view = this.newView(ruleset);
  }

  get rules(): Ruleset {
    return this.ruleset;
  }

  /**
   * Evaluates the document in buf[start, end). Alerts are handed to `onAlert` in event
   * order; problems are returned, never thrown.
   */
  process(buf: Buffer, start: number, end: number, onAlert: (a: Alert) => void, cluster?: string): DocumentResult {
    return this.run(buf, start, end, onAlert, cluster, false);
  }

  /**
   * Evaluates one event given as its own JSON object: an EventList item, accepted
   * whatever its `kind`, exactly as the plugin treats items of an EventList.
   */
  processItem(buf: Buffer, start: number, end: number, onAlert: (a: Alert) => void, cluster?: string): DocumentResult {
    return this.run(buf, start, end, onAlert, cluster, true);
  }

  private run(buf: Buffer, start: number, end: number, onAlert: (a: Alert) => void, cluster: string | undefined, item: boolean): DocumentResult {
    const issues: DocumentIssue[] = [];
    let root: number;
    try {
      root = this.plan && this.backend.parsePlanned
        ? this.backend.parsePlanned(this.table, buf, start, end, this.plan, this.rows!)
        : this.backend.parse(this.table, buf, start, end);
    } catch (e) {
      if (e instanceof JsonInputError) {
        issues.push({ code: ErrorCode.INPUT_JSON, message: e.message, item: -1 });
        return { events: 0, alerts: 0, issues };
      }
      throw e;
    }
    const max = this.opts.maxEventSize ?? DEFAULT_MAX_EVENT_SIZE;
    const collector = this.collector;
    this.stageRow = 0;
    if (item) collector.collectItem(this.table, root, max);
    else collector.collect(this.table, root, max);
    for (const i of collector.issues) issues.push({ code: i.code, message: i.message, item: i.item });
    let alerts = 0;
    const view = this.view;
    const matched = this.matched;
    const rows = this.plan ? this.rows : undefined;
    const rowCount = rows ? rows.count : 0;
    let r = 0;
    const events = collector.events;
    for (let k = 0; k < collector.count; k++) {
      const ev = events[k];
      // Rows and events are both in document order.
      let row = -1;
      if (rows !== undefined) {
        while (r < rowCount && rows.rowNode(r) < ev.root) r++;
        if (r < rowCount && rows.rowNode(r) === ev.root) row = r;
      }
      view.load(this.table, ev.root, ev.sec, ev.nsec, ++this.eventNum, cluster, rows, row);
      const n = this.ruleset.match(view, matched);
      for (let i = 0; i < n; i++) {
        const rule = matched[i];
        const text = this.formatter.text(rule, view);
        onAlert({ rule, text, json: this.formatter.json(rule, view, text), ts: view.time() });
        alerts++;
      }
    }
    return { events: collector.count, alerts, issues };
  }
}
