// The `--emulate-wan` matrix: its syntax, its errors, and the per-peer emulation it maps to.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  emulationFor,
  formatRttMatrix,
  missingPairs,
  pairLink,
  parseDurationMs,
  parseRttMatrix,
  WAN_MATRIX_PAIRS_MAX,
  WAN_RTT_PLUS_JITTER_MS_MAX,
  WanEmulationSyntaxError,
} from './wan_emulation.js';

const THREE_DCS = 'us-east:eu-west=80ms,us-east:ap-south=200ms,eu-west:ap-south=150ms';

test('a three-DC matrix parses; pairs are unordered', () => {
  const m = parseRttMatrix(THREE_DCS);
  assert.equal(m.size, 3);
  assert.deepEqual(pairLink(m, 'eu-west', 'us-east'), { a: 'us-east', b: 'eu-west', rttMs: 80, jitterMs: 0, lossRate: 0 });
  assert.equal(pairLink(m, 'ap-south', 'us-east')?.rttMs, 200);
  assert.equal(pairLink(m, 'us-east', 'us-east'), null);
});

test('durations, jitter and loss', () => {
  assert.equal(parseDurationMs('80ms', 'x'), 80);
  assert.equal(parseDurationMs('0.2s', 'x'), 200);
  assert.equal(parseDurationMs('12.5', 'x'), 12.5);
  const m = parseRttMatrix(' a:b = 100ms/20ms/1.5% , a:a=1ms , b:c=50ms/2% ');
  assert.deepEqual(pairLink(m, 'a', 'b'), { a: 'a', b: 'b', rttMs: 100, jitterMs: 20, lossRate: 0.015 });
  assert.deepEqual(pairLink(m, 'a', 'a'), { a: 'a', b: 'a', rttMs: 1, jitterMs: 0, lossRate: 0 });
  assert.deepEqual(pairLink(m, 'c', 'b'), { a: 'b', b: 'c', rttMs: 50, jitterMs: 0, lossRate: 0.02 });
  assert.deepEqual(parseRttMatrix(formatRttMatrix(m)), m, 'format round-trips');
  assert.equal(parseRttMatrix('').size, 0);
});

test('each direction adds half the round trip and half the jitter; unknown DCs and unlisted pairs are not emulated', () => {
  const m = parseRttMatrix('us-east:eu-west=80ms/10ms/1%');
  assert.deepEqual(emulationFor(m, 'us-east', 'eu-west'), { delayMs: 40, jitterMs: 5, lossRate: 0.01 });
  assert.deepEqual(emulationFor(m, 'eu-west', 'us-east'), { delayMs: 40, jitterMs: 5, lossRate: 0.01 });
  assert.equal(emulationFor(m, 'us-east', 'us-east'), null);
  assert.equal(emulationFor(m, 'us-east', ''), null, 'a peer whose DC is not published yet');
  assert.equal(emulationFor(m, '', 'eu-west'), null);
  assert.equal(emulationFor(m, 'us-east', 'ap-south'), null);
});

test('missingPairs names the distinct-DC pairs a topology needs and the matrix lacks', () => {
  const m = parseRttMatrix('us-east:eu-west=80ms');
  assert.deepEqual(missingPairs(m, ['us-east', 'eu-west', 'us-east']), []);
  assert.deepEqual(missingPairs(m, ['us-east', 'eu-west', 'ap-south']), ['ap-south:us-east', 'ap-south:eu-west']);
  assert.deepEqual(missingPairs(parseRttMatrix(THREE_DCS), ['us-east', 'eu-west', 'ap-south']), []);
});

test('bad matrices are refused with an error naming the entry', () => {
  const rows: [string, RegExp][] = [
    ['us-east-eu-west=80ms', /expected two DCs/],
    ['us-east:eu-west', /expected DC_A:DC_B=RTT/],
    ['us-east:eu-west=fast', /"fast" is not a duration/],
    ['us-east:eu-west=-5ms', /not a duration/],
    ['us-east:eu-west=80ms/5ms/3ms', /"3ms" is not a loss percentage/],
    ['us-east:eu-west=80ms/1%/5ms', /"1%" is not a duration/],
    ['us-east:eu-west=80ms/5ms/101%', /above 100%/],
    ['us-east:eu-west=80ms/1/2/3%', /at most RTT\/JITTER\/LOSS%/],
    ['us-east:eu-west=80ms,eu-west:us-east=90ms', /pair eu-west:us-east is given twice/],
    ['us east:eu-west=80ms', /"us east" is not a DC name/],
    [':eu-west=80ms', /"" is not a DC name/],
    [`a:b=${WAN_RTT_PLUS_JITTER_MS_MAX}ms/1ms`, /at most/],
    [Array.from({ length: WAN_MATRIX_PAIRS_MAX + 1 }, (_, i) => `a${i}:b=1ms`).join(','), /at most 64/],
  ];
  for (const [text, expected] of rows) {
    assert.throws(() => parseRttMatrix(text), (err: unknown) => {
      assert.ok(err instanceof WanEmulationSyntaxError, `${text}: ${String(err)}`);
      assert.equal(err.code, 'ERR_WAN_EMULATION_SYNTAX');
      assert.match(err.message, expected, text);
      return true;
    });
  }
  assert.doesNotThrow(() => parseRttMatrix(`a:b=${WAN_RTT_PLUS_JITTER_MS_MAX}ms`), 'the bound itself is allowed');
});
