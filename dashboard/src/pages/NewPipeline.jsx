// Upload a table (or pick one uploaded before), choose the column to predict, a time budget and
// optionally the plugins, then start a pipeline.
import { useEffect, useMemo, useState } from 'react';
import { api } from '../api.js';
import DatasetProfile, { columnKind } from '../components/DatasetProfile.jsx';
import { Card, ErrorBox, Loading } from '../components/ui.jsx';
import { fmtBytes, fmtNum } from '../format.js';
import { useApi } from '../hooks.js';
import { navigate } from '../router.jsx';

const ACCEPT = '.csv,.tsv,.json,.ndjson,.parquet';

const METRICS = {
  classification: ['roc_auc', 'log_loss', 'accuracy', 'balanced_accuracy', 'f1', 'mcc'],
  regression: ['rmse', 'mae', 'r2', 'mape'],
};

/** What the server will likely infer for a target column (it decides; this is a hint). */
export function guessTask(column) {
  if (!column) return null;
  const kind = columnKind(column);
  if (kind === 'boolean') return 'binary';
  if (kind === 'categorical' || kind === 'text') {
    if (column.distinct === 2) return 'binary';
    return 'multiclass';
  }
  if (kind === 'numeric') {
    if (column.distinct === 2) return 'binary';
    return 'regression';
  }
  return null;
}

/** A sensible default target: a column named like a label, else the last column. */
export function defaultTarget(columns) {
  if (!columns?.length) return '';
  const names = ['target', 'label', 'class', 'y', 'outcome', 'survived', 'species', 'price', 'churn'];
  const hit = columns.find((c) => names.includes(c.name.toLowerCase()));
  return (hit || columns[columns.length - 1]).name;
}

/** The JSON body of `POST /v1/pipelines` from the form's state (empty fields left out). */
export function pipelineRequest(form) {
  const body = { dataset_id: form.datasetId, target: form.target };
  const num = (v) => (v === '' || v == null ? undefined : Number(v));
  if (num(form.budget) != null) body.budget_secs = num(form.budget);
  if (num(form.seed) != null) body.seed = num(form.seed);
  if (num(form.maxTrials) != null) body.max_trials = num(form.maxTrials);
  if (num(form.testFraction) != null) body.test_fraction = num(form.testFraction);
  if (form.metric) body.metric = form.metric;
  if (form.deployment) body.deployment = form.deployment.trim();
  if (form.preparers?.length) body.preparers = form.preparers;
  if (form.selector) body.selector = form.selector;
  if (form.evaluators?.length) body.evaluators = form.evaluators;
  if (form.deployer) body.deployer = form.deployer;
  return body;
}

function Uploader({ onUploaded }) {
  const [file, setFile] = useState(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [drag, setDrag] = useState(false);

  const upload = async (f) => {
    setBusy(true);
    setError(null);
    try {
      const form = new FormData();
      form.append('file', f, f.name);
      const ds = await api('/v1/datasets', { method: 'POST', body: form, query: { name: f.name } });
      onUploaded(ds);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  const pick = (f) => {
    if (!f) return;
    setFile(f);
    upload(f);
  };

  return (
    <div>
      <label
        className={drag ? 'dropzone drag' : 'dropzone'}
        onDragOver={(e) => {
          e.preventDefault();
          setDrag(true);
        }}
        onDragLeave={() => setDrag(false)}
        onDrop={(e) => {
          e.preventDefault();
          setDrag(false);
          pick(e.dataTransfer.files?.[0]);
        }}
      >
        <input
          type="file"
          accept={ACCEPT}
          data-testid="dataset-file"
          onChange={(e) => pick(e.target.files?.[0])}
          disabled={busy}
        />
        <div className="dropzone-text">
          <strong>{busy ? `Uploading ${file?.name}…` : 'Drop a file here or click to choose one'}</strong>
          <span className="muted small">CSV, TSV, JSON, NDJSON or Parquet, with a header row · one row per example</span>
          {file && !busy && (
            <span className="small">
              {file.name} ({fmtBytes(file.size)})
            </span>
          )}
        </div>
      </label>
      <ErrorBox error={error} title="The file could not be used" />
    </div>
  );
}

function PluginPicker({ plugins, kind, multiple, value, onChange, help }) {
  const options = plugins.filter((p) => p.kind === kind);
  if (!options.length) return null;
  if (multiple) {
    return (
      <fieldset className="field">
        <legend>{kind}s</legend>
        {options.map((p) => (
          <label key={p.id} className="check" title={p.description}>
            <input
              type="checkbox"
              checked={value.includes(p.id)}
              onChange={(e) => onChange(e.target.checked ? [...value, p.id] : value.filter((v) => v !== p.id))}
            />
            <span>
              <strong>{p.id}</strong> <span className="muted small">{p.version}</span>
              <div className="muted small">{p.description}</div>
            </span>
          </label>
        ))}
        {help && <div className="muted small">{help}</div>}
      </fieldset>
    );
  }
  return (
    <label className="field">
      <span>{kind}</span>
      <select value={value} onChange={(e) => onChange(e.target.value)}>
        <option value="">default</option>
        {options.map((p) => (
          <option key={p.id} value={p.id}>
            {p.id} {p.version} — {p.description}
          </option>
        ))}
      </select>
    </label>
  );
}

export default function NewPipeline() {
  const datasets = useApi('/v1/datasets');
  const pluginList = useApi('/v1/plugins');
  const plugins = pluginList.data?.plugins || [];
  const [dataset, setDataset] = useState(null);
  const [loadingDs, setLoadingDs] = useState(false);
  const [form, setForm] = useState({
    target: '',
    budget: 30,
    seed: '',
    maxTrials: '',
    testFraction: '',
    metric: '',
    deployment: '',
    preparers: null,
    selector: '',
    evaluators: [],
    deployer: '',
  });
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const set = (k) => (v) => setForm((f) => ({ ...f, [k]: v }));

  // Default preparer chain: what the server would use (`standard`), shown ticked.
  useEffect(() => {
    if (form.preparers == null && plugins.length) {
      const std = plugins.find((p) => p.kind === 'preparer' && p.id === 'standard');
      setForm((f) => ({ ...f, preparers: std ? ['standard'] : [] }));
    }
  }, [plugins, form.preparers]);

  const choose = async (id) => {
    if (!id) {
      setDataset(null);
      return;
    }
    setLoadingDs(true);
    try {
      setDataset(await api(`/v1/datasets/${encodeURIComponent(id)}`));
    } catch (e) {
      setError(e);
    } finally {
      setLoadingDs(false);
    }
  };
  const columns = useMemo(() => {
    const prof = Object.fromEntries((dataset?.profile?.column_profiles || []).map((c) => [c.name, c]));
    return (dataset?.schema?.columns || []).map((c) => ({ ...c, ...(prof[c.name] || {}) }));
  }, [dataset]);
  useEffect(() => {
    if (dataset) setForm((f) => ({ ...f, target: defaultTarget(columns) }));
  }, [dataset, columns]);

  const targetCol = columns.find((c) => c.name === form.target);
  const task = guessTask(targetCol);
  const metricChoices = task === 'regression' ? METRICS.regression : METRICS.classification;

  const start = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const body = pipelineRequest({ ...form, datasetId: dataset.id });
      const p = await api('/v1/pipelines', { method: 'POST', body });
      navigate(`/pipelines/${p.id}`);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  return (
    <div className="page">
      <header className="page-head">
        <div>
          <h1>New pipeline</h1>
          <p className="muted">Three steps: a table, the column to predict, and how long to search.</p>
        </div>
      </header>

      <Card title="1 · Data" subtitle="Upload a table, or reuse one you uploaded before.">
        <div className="grid-2">
          <Uploader onUploaded={(ds) => setDataset(ds)} />
          <label className="field">
            <span>Or choose an uploaded dataset</span>
            <select
              data-testid="dataset-select"
              value={dataset?.id || ''}
              onChange={(e) => choose(e.target.value)}
              disabled={!datasets.data?.datasets?.length}
            >
              <option value="">{datasets.data?.datasets?.length ? 'Choose…' : 'none uploaded yet'}</option>
              {(datasets.data?.datasets || []).map((d) => (
                <option key={d.id} value={d.id}>
                  {d.name} · {fmtNum(d.rows)} rows × {d.columns} columns
                </option>
              ))}
            </select>
          </label>
        </div>
        {loadingDs && <Loading what="Reading the dataset" />}
      </Card>

      {dataset && (
        <form onSubmit={start}>
          <Card
            title="2 · What to predict"
            subtitle={`${dataset.name}: ${fmtNum(dataset.rows)} rows. Pick the target column; every other column is an input.`}
          >
            <div className="grid-3">
              <label className="field">
                <span>Target column</span>
                <select data-testid="target-select" value={form.target} onChange={(e) => set('target')(e.target.value)}>
                  {columns.map((c) => (
                    <option key={c.name} value={c.name}>
                      {c.name} ({columnKind(c)})
                    </option>
                  ))}
                </select>
              </label>
              <div className="field">
                <span>Task (inferred)</span>
                <div className="task-hint" data-testid="task-hint">
                  {task === 'regression' && 'Regression: predict a number'}
                  {task === 'binary' && 'Binary classification: predict one of two classes'}
                  {task === 'multiclass' && `Multiclass classification: predict one of ${targetCol?.distinct ?? 'several'} classes`}
                  {!task && 'The server decides from the column’s values'}
                </div>
              </div>
            </div>
            <details className="profile-details" open>
              <summary>Column profile</summary>
              <DatasetProfile dataset={dataset} target={form.target} onPickTarget={set('target')} />
            </details>
          </Card>

          <Card title="3 · Search" subtitle="The search stops when its time is up; refits and evaluation add a little after.">
            <div className="grid-3">
              <label className="field">
                <span>Time budget (seconds)</span>
                <input
                  type="number"
                  min="1"
                  max="86400"
                  step="1"
                  data-testid="budget"
                  value={form.budget}
                  onChange={(e) => set('budget')(e.target.value)}
                  required
                />
              </label>
              <label className="field">
                <span>Metric to optimise</span>
                <select value={form.metric} onChange={(e) => set('metric')(e.target.value)}>
                  <option value="">automatic ({task === 'regression' ? 'rmse' : task === 'binary' ? 'roc_auc' : 'log_loss'})</option>
                  {metricChoices
                    .filter((m) => m !== 'roc_auc' || task !== 'multiclass')
                    .map((m) => (
                      <option key={m} value={m}>
                        {m}
                      </option>
                    ))}
                </select>
              </label>
              <label className="field">
                <span>Seed (for a repeatable run)</span>
                <input type="number" min="0" step="1" placeholder="0" value={form.seed} onChange={(e) => set('seed')(e.target.value)} />
              </label>
            </div>
            <details className="advanced">
              <summary>Advanced: plugins, trials, split, deployment</summary>
              <div className="grid-3">
                <label className="field">
                  <span>Most trials</span>
                  <input type="number" min="1" step="1" placeholder="no limit" value={form.maxTrials} onChange={(e) => set('maxTrials')(e.target.value)} />
                </label>
                <label className="field">
                  <span>Held-out share</span>
                  <input type="number" min="0.05" max="0.5" step="0.05" placeholder="0.25" value={form.testFraction} onChange={(e) => set('testFraction')(e.target.value)} />
                </label>
                <label className="field">
                  <span>Deployment name</span>
                  <input
                    type="text"
                    placeholder="dataset-target"
                    pattern="[A-Za-z0-9._\-]{1,64}"
                    value={form.deployment}
                    onChange={(e) => set('deployment')(e.target.value)}
                  />
                </label>
              </div>
              <div className="grid-2">
                <PluginPicker
                  plugins={plugins}
                  kind="preparer"
                  multiple
                  value={form.preparers || []}
                  onChange={set('preparers')}
                  help="Run in the order ticked. None ticked: the default chain."
                />
                <PluginPicker
                  plugins={plugins}
                  kind="evaluator"
                  multiple
                  value={form.evaluators}
                  onChange={set('evaluators')}
                  help="None ticked: the evaluators for the task."
                />
                <PluginPicker plugins={plugins} kind="selector" value={form.selector} onChange={set('selector')} />
                <PluginPicker plugins={plugins} kind="deployer" value={form.deployer} onChange={set('deployer')} />
              </div>
            </details>
            <ErrorBox error={error} title="The pipeline was not started" />
            <div className="form-actions">
              <button type="submit" className="btn btn-primary btn-large" disabled={busy || !form.target} data-testid="start-pipeline">
                {busy ? 'Starting…' : `Start pipeline (${form.budget || '?'} s)`}
              </button>
            </div>
          </Card>
        </form>
      )}
    </div>
  );
}
