// Unit tests of the dashboard's data handling: SSE parsing, formatting, timeline layout,
// trial merging, curve grouping and request building.
import { describe, expect, it } from 'vitest';
import { ApiError, sseParser } from './api.js';
import { fmtDuration, fmtNum, kindColor, lowerIsBetter } from './format.js';
import { assignLanes, relativeTick, timeDomain } from './components/Timeline.jsx';
import { bestSoFar, trialEnd } from './components/TrialsChart.jsx';
import { groupCurves } from './components/Evaluation.jsx';
import { buildRow, typicalValue } from './components/TryIt.jsx';
import { mergeTrials } from './pages/PipelineDetail.jsx';
import { pipelineRows } from './pages/Pipelines.jsx';
import { bucketCounts } from './pages/Deployments.jsx';
import { defaultTarget, guessTask, pipelineRequest } from './pages/NewPipeline.jsx';

describe('sseParser', () => {
  it('assembles events split across chunks and skips keep-alive comments', () => {
    const parse = sseParser();
    expect(parse('id: 3\nevent: stage_started\nda')).toEqual([]);
    expect(parse('ta: {"seq":3}\n\n: keep-alive\n\nid: 4\r\nevent: end\r\ndata: {}\r\n\r\n')).toEqual([
      { id: '3', event: 'stage_started', data: '{"seq":3}' },
      { id: '4', event: 'end', data: '{}' },
    ]);
  });

  it('joins multi-line data with newlines', () => {
    const parse = sseParser();
    expect(parse('data: a\ndata: b\n\n')).toEqual([{ id: null, event: 'message', data: 'a\nb' }]);
  });
});

describe('ApiError', () => {
  it('exposes the problem kind and field', () => {
    const e = new ApiError(422, {
      type: 'urn:microlearn:problem:invalid-rows',
      detail: "row 0: missing field 'age'",
      field: 'age',
    });
    expect(e.kind).toBe('invalid-rows');
    expect(e.field).toBe('age');
    expect(e.message).toBe("row 0: missing field 'age'");
  });
});

describe('format', () => {
  it('formats numbers, durations and directions', () => {
    expect(fmtNum(0.123456)).toBe('0.1235');
    expect(fmtNum(2008)).toBe('2008');
    expect(fmtNum(123456)).toBe('123,456');
    expect(fmtNum(0.00001)).toBe('1.00e-5');
    expect(fmtNum(null)).toBe('—');
    expect(fmtDuration(0.0123)).toBe('12 ms');
    expect(fmtDuration(7.25)).toBe('7.3 s');
    expect(fmtDuration(125)).toBe('2 min 5 s');
    expect(lowerIsBetter('log_loss')).toBe(true);
    expect(lowerIsBetter('roc_auc')).toBe(false);
    expect(lowerIsBetter('custom', 'minimize')).toBe(true);
    expect(kindColor('some_new_kind')).toBe(kindColor('some_new_kind'));
    expect(kindColor('gbdt')).not.toBe(kindColor('mlp'));
  });
});

describe('timeline layout', () => {
  it('stacks overlapping intervals into lanes and reuses free ones', () => {
    const { lanes, count } = assignLanes([
      { start: 0, end: 10 },
      { start: 5, end: 15 },
      { start: 11, end: 20 },
      { start: 16, end: 18 },
    ]);
    expect(lanes).toEqual([0, 1, 0, 1]);
    expect(count).toBe(2);
  });

  it('caps the lanes and overlaps beyond the cap', () => {
    const items = Array.from({ length: 5 }, () => ({ start: 0, end: 10 }));
    const { lanes, count } = assignLanes(items, 3);
    expect(count).toBe(3);
    expect(Math.max(...lanes)).toBe(2);
  });

  it('spans every segment, running ones up to now', () => {
    const [lo, hi] = timeDomain([{ segments: [{ start: 1000, end: 2000 }, { start: 2000, end: null }] }], 5000);
    expect(lo).toBeLessThan(1000);
    expect(hi).toBeGreaterThan(5000);
  });

  it('labels relative ticks with the precision the zoom needs', () => {
    expect(relativeTick(1)(0.25)).toBe('0.25 s');
    expect(relativeTick(1)(7.4)).toBe('7.4 s');
    expect(relativeTick(1)(8)).toBe('8 s');
    expect(relativeTick(10)(2)).toBe('2 s');
    expect(relativeTick(600)(125)).toBe('2:05');
  });

  it('draws one bar per stage, the running one open-ended', () => {
    const rows = pipelineRows([
      {
        id: 'pl_1',
        dataset_name: 'd.csv',
        target: 'y',
        status: 'optimizing',
        updated_at_ms: 50,
        stages: [
          { stage: 'ingest', started_at_ms: 0, finished_at_ms: 10 },
          { stage: 'optimizing', started_at_ms: 10, finished_at_ms: null },
        ],
      },
    ]);
    expect(rows[0].label).toBe('d.csv → y');
    expect(rows[0].segments.map((s) => [s.key, s.end, s.running])).toEqual([
      ['ingest', 10, false],
      ['optimizing', null, true],
    ]);
  });
});

describe('trials', () => {
  const rec = (number, score, extra = {}) => ({
    number,
    kind: 'gbdt',
    status: 'complete',
    score,
    started_at_ms: 1000 * number,
    duration_secs: 0.5,
    ...extra,
  });

  it('prefers stored records over live events and keeps trial order', () => {
    const merged = mergeTrials([rec(1, 0.5)], [{ number: 1, score: 0.4, at_ms: 5 }, { number: 2, score: 0.3, at_ms: 9 }]);
    expect(merged.map((t) => [t.number, t.score])).toEqual([
      [1, 0.5],
      [2, 0.3],
    ]);
  });

  it('tracks the best score so far, ignoring pruned and failed trials', () => {
    const trials = [rec(0, 0.9), rec(1, 0.5), rec(2, 0.1, { status: 'pruned' }), rec(3, 0.7), rec(4, null, { status: 'failed' }), rec(5, 0.3)];
    expect(bestSoFar(trials, true).map((b) => b.number)).toEqual([0, 1, 5]);
    expect(bestSoFar(trials, false).map((b) => b.number)).toEqual([0]);
    expect(trialEnd(rec(2, 0.1))).toBe(2500);
    expect(trialEnd({ at_ms: 77 })).toBe(77);
  });
});

describe('evaluation', () => {
  it('groups per-class curves into one chart per family', () => {
    const c = (name) => ({ name, x: [0, 1], y: [0, 1], x_label: 'x', y_label: 'y', style: 'line' });
    const groups = groupCurves([c('roc:a'), c('pr:a'), c('roc:b'), c('calibration')]);
    expect(groups.map((g) => [g.family, g.curves.map((x) => x.series)])).toEqual([
      ['roc', ['a', 'b']],
      ['pr', ['a']],
      ['calibration', [null]],
    ]);
  });

  it('turns the cumulative latency histogram into per-bucket counts', () => {
    const b = bucketCounts([
      { le: 50, count: 1 },
      { le: 100, count: 4 },
      { le: '+Inf', count: 5 },
    ]);
    expect(b.map((x) => x.n)).toEqual([1, 3, 1]);
    expect(b[2].label).toBe('> 250 ms');
  });
});

describe('try-it form values', () => {
  const profile = {
    column_profiles: [
      { name: 'age', numeric: { quantiles: [[0.5, 29.5]], mean: 30 } },
      { name: 'n', numeric: { quantiles: [[0.5, 2.6]] } },
      { name: 'sex', top_values: [{ value: 'male', count: 10 }] },
    ],
  };
  const columns = [
    { name: 'age', dtype: 'float64' },
    { name: 'n', dtype: 'int64' },
    { name: 'sex', dtype: 'categorical' },
    { name: 'ok', dtype: 'boolean' },
    { name: 'when', dtype: 'timestamp' },
  ];

  it('starts at typical values from the profile', () => {
    expect(columns.map((c) => typicalValue(c, profile))).toEqual(['29.5', '3', 'male', 'true', '']);
  });

  it('types the row by the schema and sends empty fields as null', () => {
    expect(buildRow(columns, { age: '41.5', n: '2', sex: 'female', ok: 'false', when: '' })).toEqual({
      age: 41.5,
      n: 2,
      sex: 'female',
      ok: false,
      when: null,
    });
  });
});

describe('new pipeline', () => {
  it('guesses the task and a target, and builds the request', () => {
    expect(guessTask({ kind: 'categorical', distinct: 3 })).toBe('multiclass');
    expect(guessTask({ kind: 'boolean' })).toBe('binary');
    expect(guessTask({ kind: 'numeric', distinct: 500 })).toBe('regression');
    expect(defaultTarget([{ name: 'a' }, { name: 'Survived' }, { name: 'b' }])).toBe('Survived');
    expect(defaultTarget([{ name: 'a' }, { name: 'b' }])).toBe('b');
    expect(
      pipelineRequest({ datasetId: 'ds_1', target: 'y', budget: '8', seed: '', metric: '', preparers: ['standard'], evaluators: [], deployment: ' d1 ' }),
    ).toEqual({ dataset_id: 'ds_1', target: 'y', budget_secs: 8, preparers: ['standard'], deployment: 'd1' });
  });
});
