// Event time, parsed exactly as the k8saudit plugin does: Go's
// time.Parse(time.RFC3339Nano, stageTimestamp), then UnixNano() stored as uint64.

const LAYOUT = '2006-01-02T15:04:05.999999999Z07:00';

export class TimeParseError extends Error {}

function q(s: string): string {
  return JSON.stringify(s);
}

function cannot(value: string, rest: string, elem: string): TimeParseError {
  return new TimeParseError(`parsing time ${q(value)} as ${q(LAYOUT)}: cannot parse ${q(rest)} as ${q(elem)}`);
}

function isDigit(s: string, i: number): boolean {
  const c = s.charCodeAt(i);
  return c >= 48 && c <= 57;
}

function daysIn(month: number, year: number): number {
  if (month === 2) return (year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0)) ? 29 : 28;
  return [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1];
}

/** Days since 1970-01-01 of a proleptic Gregorian date. */
export function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** Go's UnixNano (int64, wrapping) stored as uint64, from seconds and nanoseconds. */
export function eventNanos(sec: number, nsec: number): bigint {
  return BigInt.asUintN(64, BigInt(sec) * 1_000_000_000n + BigInt(nsec));
}

/** Parsed time: seconds since the epoch and nanoseconds. */
export interface EventTime {
  sec: number;
  nsec: number;
}

const DIGIT = (b: number): number => b - 48;
const DATE_DIGITS = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18];
const ZONE_DIGITS = [1, 2, 4, 5];

/**
 * Fast path for the usual `YYYY-MM-DDTHH:MM:SS[.fff…](Z|±HH:MM)` bytes (what Go's own
 * RFC 3339 fast path accepts); returns false when the general parser must decide.
 */
export function parseEventTimeBytes(buf: Buffer, s: number, e: number, out: EventTime): boolean {
  const len = e - s;
  if (len < 20) return false;
  for (let j = 0; j < DATE_DIGITS.length; j++) {
    const c = buf[s + DATE_DIGITS[j]];
    if (c < 48 || c > 57) return false;
  }
  if (buf[s + 4] !== 0x2d || buf[s + 7] !== 0x2d || buf[s + 10] !== 0x54 || buf[s + 13] !== 0x3a || buf[s + 16] !== 0x3a) return false;
  const year = DIGIT(buf[s]) * 1000 + DIGIT(buf[s + 1]) * 100 + DIGIT(buf[s + 2]) * 10 + DIGIT(buf[s + 3]);
  const month = DIGIT(buf[s + 5]) * 10 + DIGIT(buf[s + 6]);
  const day = DIGIT(buf[s + 8]) * 10 + DIGIT(buf[s + 9]);
  const hour = DIGIT(buf[s + 11]) * 10 + DIGIT(buf[s + 12]);
  const min = DIGIT(buf[s + 14]) * 10 + DIGIT(buf[s + 15]);
  const sec = DIGIT(buf[s + 17]) * 10 + DIGIT(buf[s + 18]);
  if (month < 1 || month > 12 || day < 1 || day > daysIn(month, year) || hour > 23 || min > 59 || sec > 59) return false;
  let i = s + 19;
  let nsec = 0;
  if (buf[i] === 0x2e && i + 1 < e && buf[i + 1] >= 48 && buf[i + 1] <= 57) {
    i++;
    let digits = 0;
    while (i < e && buf[i] >= 48 && buf[i] <= 57) {
      if (digits < 9) { nsec = nsec * 10 + DIGIT(buf[i]); digits++; }
      i++;
    }
    for (; digits < 9; digits++) nsec *= 10;
  }
  let offset = 0;
  if (i === e - 1 && buf[i] === 0x5a) {
    // Z
  } else if (i === e - 6 && (buf[i] === 0x2b || buf[i] === 0x2d) && buf[i + 3] === 0x3a) {
    for (let j = 0; j < ZONE_DIGITS.length; j++) {
      const c = buf[i + ZONE_DIGITS[j]];
      if (c < 48 || c > 57) return false;
    }
    const hh = DIGIT(buf[i + 1]) * 10 + DIGIT(buf[i + 2]);
    const mm = DIGIT(buf[i + 4]) * 10 + DIGIT(buf[i + 5]);
    if (hh > 23 || mm > 59) return false;
    offset = (hh * 60 + mm) * 60 * (buf[i] === 0x2d ? -1 : 1);
  } else {
    return false;
  }
  out.sec = daysFromCivil(year, month, day) * 86400 + hour * 3600 + min * 60 + sec - offset;
  out.nsec = nsec;
  return true;
}

/**
 * Parses an RFC 3339 timestamp with Go's rules (including its leniencies: one-digit
 * hours, ',' before the fraction, more than nine fraction digits truncated).
 * Returns the event time in nanoseconds as Falco stores it (uint64).
 */
export function parseEventTime(value: string, out?: EventTime): bigint {
  let v = value;
  const getnum = (fixed: boolean): number => {
    if (!isDigit(v, 0)) return -1;
    if (!isDigit(v, 1)) {
      if (fixed) return -1;
      const n = v.charCodeAt(0) - 48;
      v = v.slice(1);
      return n;
    }
    const n = (v.charCodeAt(0) - 48) * 10 + (v.charCodeAt(1) - 48);
    v = v.slice(2);
    return n;
  };
  const lit = (s: string): void => {
    if (!v.startsWith(s)) throw cannot(value, v, s);
    v = v.slice(s.length);
  };
  const range = (what: string): TimeParseError => new TimeParseError(`parsing time ${q(value)}: ${what} out of range`);

  if (v.length < 4 || !isDigit(v, 0) || !isDigit(v, 1) || !isDigit(v, 2) || !isDigit(v, 3)) throw cannot(value, v, '2006');
  const year = Number(v.slice(0, 4));
  v = v.slice(4);
  lit('-');
  let rest = v;
  const month = getnum(true);
  if (month < 0) throw cannot(value, rest, '01');
  if (month < 1 || month > 12) throw range('month');
  lit('-');
  rest = v;
  const day = getnum(true);
  if (day < 0) throw cannot(value, rest, '02');
  lit('T');
  rest = v;
  const hour = getnum(false);
  if (hour < 0) throw cannot(value, rest, '15');
  if (hour >= 24) throw range('hour');
  lit(':');
  rest = v;
  const min = getnum(true);
  if (min < 0) throw cannot(value, rest, '04');
  if (min >= 60) throw range('minute');
  lit(':');
  rest = v;
  const sec = getnum(true);
  if (sec < 0) throw cannot(value, rest, '05');
  if (sec >= 60) throw range('second');
  let nsec = 0;
  if (v.length >= 2 && (v[0] === '.' || v[0] === ',') && isDigit(v, 1)) {
    let i = 0;
    while (i + 1 < v.length && isDigit(v, i + 1)) i++;
    const digits = v.slice(1, Math.min(1 + i, 10));
    nsec = Number(digits) * 10 ** (9 - digits.length);
    v = v.slice(1 + i);
  }
  let offset = 0;
  rest = v;
  if (v.length >= 1 && v[0] === 'Z') {
    v = v.slice(1);
  } else {
    if (v.length < 6 || v[3] !== ':') throw cannot(value, rest, 'Z07:00');
    const sign = v[0];
    const hh = v.slice(1, 3);
    const mm = v.slice(4, 6);
    if (!isDigit(hh, 0) || !isDigit(hh, 1) || !isDigit(mm, 0) || !isDigit(mm, 1)) throw cannot(value, rest, 'Z07:00');
    const hr = Number(hh);
    const mi = Number(mm);
    if (hr > 24) throw range('time zone offset hour');
    if (mi > 60) throw range('time zone offset minute');
    if (sign !== '+' && sign !== '-') throw cannot(value, rest, 'Z07:00');
    offset = (hr * 60 + mi) * 60 * (sign === '-' ? -1 : 1);
    v = v.slice(6);
  }
  if (v.length > 0) throw new TimeParseError(`parsing time ${q(value)}: extra text: ${q(v)}`);
  if (day < 1 || day > daysIn(month, year)) throw new TimeParseError(`parsing time ${q(value)}: day out of range`);
  const secs = daysFromCivil(year, month, day) * 86400 + hour * 3600 + min * 60 + sec - offset;
  if (out) {
    out.sec = secs;
    out.nsec = nsec;
  }
  return eventNanos(secs, nsec);
}

const NS = 1_000_000_000n;

function pad(n: number | bigint, w: number): string {
  return String(n).padStart(w, '0');
}

/** Falco's `time` field: UTC, nanoseconds, `Z` (formats.cpp, gmtime of the seconds). */
export function isoTime(ts: bigint): string {
  const sec = BigInt.asIntN(64, ts / NS);
  const ns = ts % NS;
  return `${civilUtc(sec)}.${pad(ns, 9)}Z`;
}

function civilUtc(sec: bigint): string {
  let days = sec / 86400n;
  let rem = sec % 86400n;
  if (rem < 0n) { rem += 86400n; days -= 1n; }
  const [y, m, d] = civilFromDays(Number(days));
  const r = Number(rem);
  return `${pad(y, 4)}-${pad(m, 2)}-${pad(d, 2)}T${pad(Math.floor(r / 3600), 2)}:${pad(Math.floor(r / 60) % 60, 2)}:${pad(r % 60, 2)}`;
}

export function civilFromDays(z: number): [number, number, number] {
  z += 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp + (mp < 10 ? 3 : -9);
  return [era * 400 + yoe + (m <= 2 ? 1 : 0), m, d];
}

/**
 * Seconds east of UTC of the local zone now. libsinsp uses the offset of the current
 * moment (not of the event) for every event time it prints.
 */
export function localOffsetSeconds(now: Date = new Date()): number {
  return -now.getTimezoneOffset() * 60;
}

/** libsinsp ts_to_string: `HH:MM:SS[.nnnnnnnnn]`, optionally prefixed by the date. */
export function localTimeString(ts: bigint, zoneOffset: number, withDate: boolean, withNs: boolean): string {
  const sec = ts / NS;
  const nsec = ts % NS;
  const shifted = BigInt.asUintN(64, sec + BigInt(zoneOffset));
  const s = Number(shifted % 86400n);
  let out = '';
  if (withDate) {
    const day = BigInt.asIntN(64, shifted - BigInt(s));
    out = civilUtc(day).slice(0, 10) + ' ';
  }
  out += `${pad(Math.floor(s / 3600), 2)}:${pad(Math.floor((s % 3600) / 60), 2)}:${pad(s % 60, 2)}`;
  if (withNs) out += '.' + pad(nsec, 9);
  return out;
}

/** libsinsp ts_to_iso_8601: UTC with a numeric zone. */
export function iso8601Time(ts: bigint): string {
  const sec = BigInt.asIntN(64, ts / NS);
  return `${civilUtc(sec)}.${pad(ts % NS, 9)}+0000`;
}
