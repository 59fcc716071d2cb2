// Falco priorities: lower number = more severe (falco_common.cpp).
export const PRIORITY_NAMES = ['Emergency', 'Alert', 'Critical', 'Error', 'Warning', 'Notice', 'Informational', 'Debug'] as const;

/** Case-insensitive name (plus `info`) to number, or undefined. */
export function parsePriority(s: string): number | undefined {
  const l = s.toLowerCase();
  if (l === 'info') return 6;
  const i = PRIORITY_NAMES.findIndex((n) => n.toLowerCase() === l);
  return i < 0 ? undefined : i;
}

export function priorityName(p: number): string {
  return PRIORITY_NAMES[p];
}
