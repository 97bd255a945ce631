// Trials as points: validation score against the time each finished, one colour per model
// kind, pruned trials as crosses, and the best score so far as a step line.
import { useMemo, useState } from 'react';
import ChartCanvas from './ChartCanvas.jsx';
import { fmtNum, fmtParams, kindColor } from '../format.js';

/** When a trial finished (ms): its record's start + duration, or the event's time. */
export function trialEnd(t) {
  if (t.started_at_ms != null && t.duration_secs != null) return t.started_at_ms + t.duration_secs * 1000;
  return t.at_ms ?? null;
}

/** The running best of scored trials in finishing order, as step points. */
export function bestSoFar(trials, lowerBetter) {
  const scored = trials
    .filter((t) => t.status !== 'failed' && t.status !== 'pruned' && Number.isFinite(t.score) && trialEnd(t) != null)
    .sort((a, b) => trialEnd(a) - trialEnd(b));
  const out = [];
  let best = null;
  for (const t of scored) {
    if (best == null || (lowerBetter ? t.score < best : t.score > best)) {
      best = t.score;
      out.push({ t: trialEnd(t), score: best, number: t.number });
    }
  }
  return out;
}

export default function TrialsChart({ trials, t0, metric, lowerBetter, height = 300 }) {
  const positive = trials.every((t) => t.score == null || t.score > 0);
  // A log axis by default when scores span more than 20× (log loss of a poor first trial
  // against good later ones), so the good trials are not squashed against the floor.
  const spread = useMemo(() => {
    const s = trials.map((t) => t.score).filter((v) => Number.isFinite(v) && v > 0);
    return s.length ? Math.max(...s) / Math.min(...s) : 1;
  }, [trials]);
  const [logChoice, setLog] = useState(null);
  const logScale = logChoice ?? spread > 20;
  const useLog = logScale && positive;
  const { data, options } = useMemo(() => {
    const kinds = [...new Set(trials.map((t) => t.kind))].sort();
    const datasets = kinds.map((kind) => {
      const pts = trials
        .filter((t) => t.kind === kind && Number.isFinite(t.score) && trialEnd(t) != null)
        .map((t) => ({ x: (trialEnd(t) - t0) / 1000, y: t.score, trial: t }));
      const color = kindColor(kind);
      return {
        label: kind,
        data: pts,
        borderColor: color,
        backgroundColor: (ctx) => (ctx.raw?.trial?.status === 'pruned' ? 'transparent' : `${color}b0`),
        pointStyle: (ctx) => (ctx.raw?.trial?.status === 'pruned' ? 'crossRot' : 'circle'),
        pointRadius: (ctx) => {
          const f = ctx.raw?.trial?.fidelity;
          return ctx.raw?.trial?.status === 'pruned' ? 4 : 2.5 + (f != null ? 1.5 * f : 1.5);
        },
        pointBorderWidth: 1,
        showLine: false,
      };
    });
    const best = bestSoFar(trials, lowerBetter);
    if (best.length) {
      const last = trials.reduce((m, t) => Math.max(m, trialEnd(t) ?? 0), 0);
      const pts = best.map((b) => ({ x: (b.t - t0) / 1000, y: b.score }));
      pts.push({ x: (Math.max(last, best[best.length - 1].t) - t0) / 1000, y: best[best.length - 1].score });
      datasets.push({
        label: 'best so far',
        data: pts,
        borderColor: '#1a202c',
        borderWidth: 1.5,
        stepped: 'before',
        showLine: true,
        pointRadius: 0,
        order: -1,
      });
    }
    return {
      data: { datasets },
      options: {
        parsing: false,
        scales: {
          x: { type: 'linear', min: 0, title: { display: true, text: 'seconds since the pipeline started' } },
          y: {
            type: useLog ? 'logarithmic' : 'linear',
            title: { display: true, text: `validation ${metric || 'score'} (${lowerBetter ? 'lower' : 'higher'} is better)` },
          },
        },
        plugins: {
          legend: { position: 'bottom', labels: { usePointStyle: true, boxWidth: 8 } },
          tooltip: {
            callbacks: {
              label: (ctx) => {
                const t = ctx.raw?.trial;
                if (!t) return `best so far: ${fmtNum(ctx.parsed.y)}`;
                const bits = [`#${t.number} ${t.kind}: ${fmtNum(t.score)}${t.status === 'pruned' ? ' (pruned)' : ''}`];
                if (t.fidelity != null) bits.push(`fidelity ${fmtNum(t.fidelity, 2)}`);
                if (t.fold_scores?.length) bits.push(`folds ${t.fold_scores.map((s) => fmtNum(s, 3)).join(', ')}`);
                return bits;
              },
              afterLabel: (ctx) => fmtParams(ctx.raw?.trial?.params, 3),
            },
          },
        },
      },
    };
  }, [trials, t0, metric, lowerBetter, useLog]);

  const pruned = trials.filter((t) => t.status === 'pruned').length;
  const failed = trials.filter((t) => t.status === 'failed').length;
  return (
    <div data-testid="trials-chart">
      <div className="chart-tools">
        <span className="muted small">
          {trials.length} trials · ● complete{pruned ? ` · ✕ ${pruned} pruned (stopped early)` : ' · ✕ pruned'}
          {failed ? ` · ${failed} failed (not plotted)` : ''}
        </span>
        {positive && (
          <label className="check small">
            <input type="checkbox" checked={logScale} onChange={(e) => setLog(e.target.checked)} /> log scale
          </label>
        )}
      </div>
      <ChartCanvas type="scatter" data={data} options={options} height={height} label="Trial scores over time" />
    </div>
  );
}
