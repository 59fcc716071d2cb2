import { describe, expect, it } from 'vitest';
import { checkCase, loadCases, runCase } from './conformance-lib.js';

describe('Falco k8s-audit conformance suite, through peregrine scan', () => {
  for (const c of loadCases()) {
    it.concurrent(c.name, () => {
      expect(checkCase(c, runCase(c))).toEqual([]);
    });
  }
});
