// Formatting and the shared vocabulary of the UI: stage order and colours, model-kind colours,
// what each metric means.

export const STAGES = ['ingest', 'preparing', 'selecting', 'optimizing', 'training', 'evaluating', 'deploying'];

export const STAGE_LABELS = {
  ingest: 'Ingest',
  preparing: 'Prepare',
  selecting: 'Select',
  optimizing: 'Optimize',
  training: 'Train',
  evaluating: 'Evaluate',
  deploying: 'Deploy',
};

export const STAGE_HELP = {
  ingest: 'Read the file, infer column types and the task, split off held-out rows.',
  preparing: 'Preparer plugins learn how to clean and encode the columns (on training rows only).',
  selecting: 'The selector plugin picks candidate model kinds and how much of the budget each gets.',
  optimizing: 'Hyperparameter search: many trials, each a model trained and scored on validation rows.',
  training: 'The best trial of each kind is refit on all training rows.',
  evaluating: 'Evaluator plugins score the refit models on the held-out rows (metrics and curves).',
  deploying: 'The deployer plugin decides whether a model replaces the current deployment.',
};

export const STAGE_COLORS = {
  ingest: '#8b9bb4',
  preparing: '#5b8def',
  selecting: '#9b7be8',
  optimizing: '#f0a030',
  training: '#2bb3a3',
  evaluating: '#e0679a',
  deploying: '#3aa55d',
};

const KIND_PALETTE = {
  gbdt: '#1f77b4',
  random_forest: '#2ca02c',
  extra_trees: '#98c94a',
  linear: '#ff7f0e',
  knn: '#9467bd',
  mlp: '#d62728',
  ensemble: '#17becf',
};
const EXTRA = ['#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#393b79', '#ad494a'];

/** A stable colour per model kind (known kinds fixed, others hashed into a spare palette). */
export function kindColor(kind) {
  if (KIND_PALETTE[kind]) return KIND_PALETTE[kind];
  let h = 0;
  for (const c of String(kind)) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return EXTRA[h % EXTRA.length];
}

export const KIND_LABELS = {
  gbdt: 'Gradient-boosted trees',
  random_forest: 'Random forest',
  extra_trees: 'Extra trees',
  linear: 'Linear / logistic',
  knn: 'k-nearest neighbours',
  mlp: 'Neural network (MLP)',
  ensemble: 'Ensemble',
};

export const METRIC_HELP = {
  roc_auc: 'Area under the ROC curve: how well the model ranks positives above negatives. 1 is perfect, 0.5 is chance.',
  log_loss: 'Log loss: how confident and right the predicted probabilities are. Lower is better; 0 is perfect.',
  accuracy: 'Share of rows predicted correctly.',
  balanced_accuracy: 'Accuracy averaged over classes, so rare classes count as much as common ones.',
  f1: 'F1: balance of precision and recall (macro-averaged over classes for several classes).',
  mcc: 'Matthews correlation: −1 to 1, robust to unbalanced classes. 0 is chance.',
  rmse: 'Root mean squared error, in the target’s unit. Lower is better.',
  mae: 'Mean absolute error, in the target’s unit. Lower is better.',
  r2: 'R²: share of the target’s variance explained. 1 is perfect, 0 is predicting the mean.',
  mape: 'Mean absolute percentage error. Lower is better.',
};

const LOWER_BETTER = new Set(['log_loss', 'rmse', 'mae', 'mape', 'mse', 'cost']);

/** Whether smaller values of `metric` are better (the API also says so per metric). */
export function lowerIsBetter(metric, direction) {
  if (direction) return direction === 'minimize';
  return LOWER_BETTER.has(metric);
}

export function fmtNum(v, digits = 4) {
  if (v == null || Number.isNaN(v)) return '—';
  if (typeof v !== 'number') return String(v);
  if (!Number.isFinite(v)) return v > 0 ? '∞' : '−∞';
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(2);
  // Group thousands only from 10 000 on, so years and small counts read naturally.
  if (Number.isInteger(v)) return a >= 10000 ? v.toLocaleString('en-US') : String(v);
  return Number(v.toFixed(digits)).toString();
}

export function fmtDuration(secs) {
  if (secs == null || Number.isNaN(secs)) return '—';
  if (secs < 1) return `${Math.round(secs * 1000)} ms`;
  if (secs < 60) return `${secs.toFixed(secs < 10 ? 1 : 0)} s`;
  const m = Math.floor(secs / 60);
  const s = Math.round(secs % 60);
  if (m < 60) return `${m} min ${s} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function fmtTime(ms) {
  if (!ms) return '—';
  return new Date(ms).toLocaleTimeString('en-GB', { hour12: false });
}

export function fmtDateTime(ms) {
  if (!ms) return '—';
  const d = new Date(ms);
  return `${d.toLocaleDateString('en-CA')} ${d.toLocaleTimeString('en-GB', { hour12: false })}`;
}

export function fmtAgo(ms, now = Date.now()) {
  if (!ms) return '—';
  const s = Math.max(0, (now - ms) / 1000);
  if (s < 60) return `${Math.round(s)} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return fmtDateTime(ms);
}

export function fmtBytes(n) {
  if (n == null) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

export function fmtPercent(share, digits = 1) {
  if (share == null) return '—';
  return `${(share * 100).toFixed(digits)}%`;
}

/** Status of a pipeline as a badge class: running stages share one look. */
export function statusClass(status) {
  if (status === 'done') return 'ok';
  if (status === 'failed') return 'bad';
  if (status === 'cancelled') return 'muted';
  if (status === 'created') return 'waiting';
  return 'running';
}

export function isTerminal(status) {
  return status === 'done' || status === 'failed' || status === 'cancelled';
}

/** A compact `a=1 b=x …` rendering of a params object. */
export function fmtParams(params, max = 4) {
  if (!params || typeof params !== 'object') return '';
  const entries = Object.entries(params);
  const shown = entries.slice(0, max).map(([k, v]) => `${k}=${typeof v === 'number' ? fmtNum(v, 3) : JSON.stringify(v)}`);
  return shown.join(' ') + (entries.length > max ? ' …' : '');
}

/** The metric object named `name` in a list of `{name, value, direction}`. */
export function metricOf(list, name) {
  return (list || []).find((m) => m.name === name);
}
