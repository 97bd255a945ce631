// A model's evaluation on the held-out rows: metric tiles, the evaluators' curves grouped into
// charts (ROC, PR, calibration, residuals, …), confusion matrices and feature importance.
import { useMemo } from 'react';
import ChartCanvas from './ChartCanvas.jsx';
import { MetricName } from './ui.jsx';
import { METRIC_HELP, fmtNum } from '../format.js';

const SERIES = ['#1f4fd1', '#e0679a', '#2bb3a3', '#f0a030', '#9b7be8', '#3aa55d', '#d64545', '#5b8def'];

const FAMILIES = {
  roc: {
    title: 'ROC curve',
    help: 'True-positive rate against false-positive rate as the decision threshold falls. Closer to the top-left corner is better; the dashed diagonal is guessing.',
    diagonal: 'chance',
    unit: true,
  },
  pr: {
    title: 'Precision–recall curve',
    help: 'Of the rows flagged, how many are right (precision), against how many of the real ones are found (recall). Higher is better.',
    unit: true,
  },
  calibration: {
    title: 'Calibration',
    help: 'Predicted probability against how often the class really occurred. On the dashed diagonal, a 70% prediction is right 70% of the time.',
    diagonal: 'perfect',
    unit: true,
  },
  residuals: {
    title: 'Residuals',
    help: 'Error (actual − predicted) against the prediction. A shapeless band around 0 is good; a pattern means the model misses something systematic.',
    zeroLine: true,
  },
  predicted_vs_actual: {
    title: 'Predicted vs actual',
    help: 'Each point is a held-out row. Points on the dashed diagonal are perfect predictions.',
    diagonal: 'perfect',
  },
};

/** Group curves named `family:series` (e.g. `roc:Adelie`) into one chart per family. */
export function groupCurves(curves) {
  const groups = new Map();
  for (const c of curves || []) {
    const [family, ...rest] = c.name.split(':');
    const series = rest.join(':') || null;
    if (!groups.has(family)) groups.set(family, { family, curves: [] });
    groups.get(family).curves.push({ ...c, series });
  }
  return [...groups.values()];
}

function CurveChart({ group }) {
  const meta = FAMILIES[group.family] || { title: group.family.replaceAll('_', ' '), help: '' };
  const first = group.curves[0];
  const scatter = first.style === 'scatter';
  const { data, options } = useMemo(() => {
    const datasets = group.curves.map((c, i) => ({
      label: c.series || meta.title,
      data: c.x.map((x, j) => ({ x, y: c.y[j] })),
      borderColor: SERIES[i % SERIES.length],
      backgroundColor: `${SERIES[i % SERIES.length]}${scatter ? '66' : '22'}`,
      showLine: !scatter,
      pointRadius: scatter ? 2 : 0,
      borderWidth: 2,
      tension: 0,
    }));
    let lo = Infinity;
    let hi = -Infinity;
    for (const c of group.curves) {
      for (const v of [...c.x, ...c.y]) {
        if (Number.isFinite(v)) {
          lo = Math.min(lo, v);
          hi = Math.max(hi, v);
        }
      }
    }
    if (meta.diagonal && Number.isFinite(lo)) {
      const a = meta.unit ? 0 : lo;
      const b = meta.unit ? 1 : hi;
      datasets.push({
        label: meta.diagonal,
        data: [
          { x: a, y: a },
          { x: b, y: b },
        ],
        borderColor: '#9aa5b4',
        borderDash: [5, 4],
        borderWidth: 1,
        pointRadius: 0,
        showLine: true,
      });
    }
    if (meta.zeroLine && Number.isFinite(lo)) {
      const xs = group.curves.flatMap((c) => c.x).filter(Number.isFinite);
      datasets.push({
        label: 'zero error',
        data: [
          { x: Math.min(...xs), y: 0 },
          { x: Math.max(...xs), y: 0 },
        ],
        borderColor: '#9aa5b4',
        borderDash: [5, 4],
        borderWidth: 1,
        pointRadius: 0,
        showLine: true,
      });
    }
    const axis = (title) => ({
      type: 'linear',
      title: { display: true, text: title },
      ...(meta.unit ? { min: 0, max: 1 } : {}),
    });
    return {
      data: { datasets },
      options: {
        parsing: false,
        scales: { x: axis(first.x_label), y: axis(first.y_label) },
        plugins: {
          legend: { display: datasets.length > 1, position: 'bottom', labels: { boxWidth: 12 } },
          tooltip: {
            callbacks: {
              label: (ctx) => `${ctx.dataset.label}: (${fmtNum(ctx.parsed.x, 3)}, ${fmtNum(ctx.parsed.y, 3)})`,
            },
          },
        },
      },
    };
  }, [group, meta, first, scatter]);
  return (
    <figure className="chart-card" data-testid={`chart-${group.family}`}>
      <figcaption>
        <strong>{meta.title}</strong>
        <span className="muted small">{meta.help}</span>
      </figcaption>
      <ChartCanvas type="scatter" data={data} options={options} height={280} label={meta.title} />
    </figure>
  );
}

function ConfusionMatrix({ matrix }) {
  const k = matrix.labels.length;
  const values = matrix.values;
  const max = Math.max(...values, 1);
  const rowSums = matrix.labels.map((_, r) => values.slice(r * k, r * k + k).reduce((a, b) => a + b, 0));
  return (
    <figure className="chart-card" data-testid="confusion-matrix">
      <figcaption>
        <strong>Confusion matrix</strong>
        <span className="muted small">
          Rows are the actual class, columns the predicted one: the diagonal holds the correct predictions. Each cell shows the
          count and its share of the row.
        </span>
      </figcaption>
      <div className="table-wrap">
        <table className="confusion">
          <thead>
            <tr>
              <th className="corner">actual ↓ predicted →</th>
              {matrix.labels.map((l) => (
                <th key={l}>{l}</th>
              ))}
            </tr>
          </thead>
          <tbody>
            {matrix.labels.map((actual, r) => (
              <tr key={actual}>
                <th>{actual}</th>
                {matrix.labels.map((pred, c) => {
                  const v = values[r * k + c];
                  const share = rowSums[r] ? v / rowSums[r] : 0;
                  const diag = r === c;
                  const alpha = 0.08 + 0.85 * (v / max);
                  return (
                    <td
                      key={pred}
                      style={{ background: diag ? `rgba(58,165,93,${alpha})` : v ? `rgba(214,69,69,${alpha})` : undefined }}
                      className={alpha > 0.55 ? 'dark' : ''}
                      title={`actual ${actual}, predicted ${pred}: ${v} rows`}
                    >
                      <div className="cm-count">{fmtNum(v)}</div>
                      <div className="cm-share">{(share * 100).toFixed(0)}%</div>
                    </td>
                  );
                })}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </figure>
  );
}

export function FeatureImportance({ importance, max = 20 }) {
  const top = useMemo(() => (importance || []).slice(0, max), [importance, max]);
  const { data, options } = useMemo(
    () => ({
      data: {
        labels: top.map(([name]) => name),
        datasets: [{ label: 'importance', data: top.map(([, v]) => v), backgroundColor: '#5b8def', borderRadius: 3 }],
      },
      options: {
        indexAxis: 'y',
        plugins: { legend: { display: false } },
        scales: { x: { beginAtZero: true, title: { display: true, text: 'importance (share of the model’s total)' } }, y: { ticks: { autoSkip: false } } },
      },
    }),
    [top],
  );
  if (!top.length) return null;
  return (
    <figure className="chart-card wide" data-testid="feature-importance">
      <figcaption>
        <strong>Feature importance</strong>
        <span className="muted small">
          Which prepared inputs the model relies on most{importance.length > max ? ` (top ${max} of ${importance.length})` : ''}. One-hot
          columns appear as <code>column=value</code>.
        </span>
      </figcaption>
      <ChartCanvas type="bar" data={data} options={options} height={Math.max(160, top.length * 22 + 50)} label="Feature importance" />
    </figure>
  );
}

export function MetricTiles({ metrics, highlight }) {
  return (
    <div className="metric-tiles">
      {(metrics || []).map((m) => (
        <div key={m.name} className={m.name === highlight ? 'metric-tile hl' : 'metric-tile'} title={METRIC_HELP[m.name]}>
          <div className="metric-value">{fmtNum(m.value)}</div>
          <div className="metric-label">
            <MetricName name={m.name} direction={m.direction} />
          </div>
        </div>
      ))}
    </div>
  );
}

export default function Evaluation({ evaluation, model }) {
  const evals = evaluation?.evaluations || [];
  return (
    <div className="evaluation" data-testid="evaluation">
      {evals.map(({ evaluator, evaluation: ev }) => (
        <div key={evaluator} className="evaluator">
          <h3>
            Held-out metrics <span className="muted small">from the {evaluator} evaluator</span>
          </h3>
          <MetricTiles metrics={ev.metrics} highlight={model?.metric} />
          <div className="charts-grid">
            {groupCurves(ev.curves).map((g) => (
              <CurveChart key={g.family} group={g} />
            ))}
            {(ev.matrices || []).map((m) => (
              <ConfusionMatrix key={m.name} matrix={m} />
            ))}
          </div>
        </div>
      ))}
      {!evals.length && <p className="muted">No evaluator produced curves for this model.</p>}
      <FeatureImportance importance={model?.feature_importance} />
    </div>
  );
}
