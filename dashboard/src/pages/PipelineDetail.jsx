// One pipeline: live stage timeline with its trials, score-over-time chart, which model won and
// why, the leaderboard with evaluation charts, the dataset profile and the event log.
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { api, followEvents, getKey } from '../api.js';
import DatasetProfile from '../components/DatasetProfile.jsx';
import Evaluation from '../components/Evaluation.jsx';
import Timeline, { assignLanes } from '../components/Timeline.jsx';
import TrialsChart, { trialEnd } from '../components/TrialsChart.jsx';
import { Card, Empty, ErrorBox, KindTag, Loading, MetricName, StatusBadge, Tabs } from '../components/ui.jsx';
import {
  STAGE_COLORS,
  STAGE_HELP,
  STAGE_LABELS,
  STAGES,
  fmtDateTime,
  fmtDuration,
  fmtNum,
  fmtParams,
  fmtTime,
  isTerminal,
  kindColor,
  lowerIsBetter,
  metricOf,
} from '../format.js';
import { useApi, useNow, useThrottled } from '../hooks.js';
import { Link, navigate, setQuery, useLocation } from '../router.jsx';
import { StageLegend } from './Pipelines.jsx';

const MAX_LOG = 800;

/** Merge trial records with live `trial_finished` events (records win: they are complete). */
export function mergeTrials(records, live) {
  const byNumber = new Map();
  for (const t of live) byNumber.set(t.number, t);
  for (const t of records) byNumber.set(t.number, t);
  return [...byNumber.values()].sort((a, b) => a.number - b.number);
}

function stageState(p, stage) {
  const s = (p.stages || []).find((x) => x.stage === stage);
  if (!s) return { state: 'pending' };
  if (s.error) return { state: s.error === 'cancelled' ? 'cancelled' : 'failed', s };
  if (s.finished_at_ms != null) return { state: 'done', s };
  if (isTerminal(p.status)) return { state: 'cancelled', s };
  return { state: 'running', s };
}

function StageSteps({ p, now, notes }) {
  return (
    <ol className="steps" data-testid="stage-steps">
      {STAGES.map((stage) => {
        const { state, s } = stageState(p, stage);
        const secs = s ? ((s.finished_at_ms ?? now) - s.started_at_ms) / 1000 : null;
        return (
          <li key={stage} className={`step step-${state}`} title={`${STAGE_HELP[stage]}${notes[stage] ? `\n\n${notes[stage]}` : ''}`}>
            <span className="step-dot" style={{ '--c': STAGE_COLORS[stage] }} />
            <span className="step-name">{STAGE_LABELS[stage]}</span>
            <span className="step-time muted small">{state === 'pending' ? 'waiting' : fmtDuration(secs)}</span>
          </li>
        );
      })}
    </ol>
  );
}

function BudgetBar({ p, now }) {
  const opt = (p.stages || []).find((s) => s.stage === 'optimizing');
  const budget = p.config?.budget_secs;
  if (!opt || opt.finished_at_ms != null || !budget || isTerminal(p.status)) return null;
  // The search gets 80% of the budget (the engine keeps the rest for refits and evaluation).
  const search = budget * 0.8;
  const elapsed = (now - opt.started_at_ms) / 1000;
  const share = Math.min(1, elapsed / search);
  return (
    <div className="budget" data-testid="budget-bar">
      <div className="budget-track">
        <div className="budget-fill" style={{ width: `${share * 100}%` }} />
      </div>
      <span className="small muted">
        searching: {fmtDuration(elapsed)} of about {fmtDuration(search)}
      </span>
    </div>
  );
}

/** "Which model won and why", in words a newcomer can follow. */
function Outcome({ p, board, trials, deployerId }) {
  const models = board?.models || [];
  if (!models.length) return null;
  const metric = models[0].metric;
  const dir = metricOf(models[0].test_metrics, metric)?.direction;
  const lower = lowerIsBetter(metric, dir);
  const decision = board.decision || p.decision;
  const promoted = decision?.action?.promote;
  const winner = models.find((m) => m.model_id === (promoted || p.best_model)) || models.find((m) => m.best) || models[0];
  const score = (m) => metricOf(m.test_metrics, metric)?.value;
  const sorted = [...models].sort((a, b) => (lower ? score(a) - score(b) : score(b) - score(a)));
  const vals = sorted.map(score).filter(Number.isFinite);
  const lo = Math.min(...vals);
  const hi = Math.max(...vals);
  const kinds = new Set(trials.map((t) => t.kind));
  const folds = Math.max(0, ...trials.map((t) => t.fold_scores?.length || 0));
  return (
    <Card className="outcome" title="Result" subtitle="Which model won, and why">
      <div className="outcome-grid">
        <div className="winner" data-testid="winner">
          <div className="muted small">{promoted ? 'Deployed model' : 'Best model'}</div>
          <div className="winner-kind">
            <KindTag kind={winner.kind} />
          </div>
          <div className="winner-score">
            {fmtNum(score(winner))} <MetricName name={metric} direction={dir} />
          </div>
          <div className="muted small">on {p.test_rows ? `${p.test_rows} ` : ''}held-out rows it never saw in training</div>
          {p.deployment && promoted && (
            <Link to={`/deployments/${p.deployment}`} className="btn btn-small btn-primary" data-testid="open-deployment">
              Try it: {p.deployment}
            </Link>
          )}
        </div>
        <div className="why">
          <p>
            The search tried <strong>{trials.length}</strong> configurations of <strong>{kinds.size}</strong> model kinds, each scored on
            training rows it was not fitted on ({folds > 1 ? `${folds}-fold cross-validation` : 'a validation split'}). The best were then
            refit on all training rows and scored on held-out rows. The {deployerId ? <code>{deployerId}</code> : 'deployer'} plugin decides
            what to deploy:
          </p>
          <blockquote data-testid="decision-reason">{decision?.reason || 'no decision recorded'}</blockquote>
          <div className="compare">
            {sorted.map((m) => {
              const v = score(m);
              const span = hi - lo || Math.abs(hi) || 1;
              // Bars show how far each model is from the worst: longer is better either way.
              const frac = Number.isFinite(v) ? 0.15 + 0.85 * (lower ? (hi - v) / span : (v - lo) / span) : 0;
              return (
                <div key={m.model_id} className="compare-row">
                  <span className="compare-label">
                    <KindTag kind={m.kind} />
                    {m.model_id === winner.model_id && <span title="deployed"> ★</span>}
                  </span>
                  <span className="compare-bar">
                    <span style={{ width: `${frac * 100}%`, background: kindColor(m.kind) }} />
                  </span>
                  <span className="num small">{fmtNum(v)}</span>
                </div>
              );
            })}
            <div className="muted small">
              held-out {metric} ({lower ? 'lower' : 'higher'} is better)
            </div>
          </div>
        </div>
      </div>
    </Card>
  );
}

function Leaderboard({ p, board, selected, onSelect }) {
  const models = board?.models || [];
  const [deploying, setDeploying] = useState(null);
  const [error, setError] = useState(null);
  const [deployed, setDeployed] = useState(null);
  const deployments = useApi('/v1/deployments');
  const current = (deployments.data?.deployments || []).find((d) => d.name === p.deployment);
  if (!models.length) {
    return <Empty>{isTerminal(p.status) ? 'No model was trained.' : 'Models appear here once the search ends and the winners are refit.'}</Empty>;
  }
  const metricNames = models[0].test_metrics.map((m) => m.name);
  // A canary share sends that part of the traffic to the model while the serving one keeps
  // the rest; the deployments page compares the two and promotes or ends the canary.
  const deploy = async (m, canaryPercent) => {
    const name = p.deployment || `${p.target}-model`;
    setDeploying(m.model_id);
    setError(null);
    try {
      const body = canaryPercent ? { model_id: m.model_id, traffic_percent: canaryPercent } : { model_id: m.model_id };
      if (current) await api(`/v1/deployments/${encodeURIComponent(name)}`, { method: 'PUT', body });
      else await api('/v1/deployments', { method: 'POST', body: { name, model_id: m.model_id } });
      setDeployed({ name, model: m.model_id, canary: current ? canaryPercent : null });
      deployments.reload();
    } catch (e) {
      setError(e);
    } finally {
      setDeploying(null);
    }
  };
  return (
    <div>
      <p className="muted small">
        Ranked by validation {models[0].metric}. Click a row for its evaluation charts. ★ marks the model serving{' '}
        {p.deployment ? <code>{p.deployment}</code> : 'the deployment'}.
      </p>
      <div className="table-wrap">
        <table className="table" data-testid="leaderboard">
          <thead>
            <tr>
              <th>#</th>
              <th>Model</th>
              <th className="num">
                valid <MetricName name={models[0].metric} />
              </th>
              {metricNames.map((n) => (
                <th key={n} className="num hide-narrow">
                  <MetricName name={n} direction={metricOf(models[0].test_metrics, n)?.direction} />
                </th>
              ))}
              <th className="num hide-narrow">fit</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {models.map((m) => {
              const serving = current?.model_id === m.model_id;
              return (
                <tr
                  key={m.model_id}
                  className={`clickable${selected === m.model_id ? ' selected' : ''}`}
                  onClick={() => onSelect(m.model_id)}
                  data-testid={`model-row-${m.rank}`}
                >
                  <td>{m.rank}</td>
                  <td>
                    <KindTag kind={m.kind} />
                    {serving && <span title="serving"> ★</span>}
                    <div className="muted small mono" title={JSON.stringify(m.params, null, 1)}>
                      {fmtParams(m.params, 3)}
                    </div>
                  </td>
                  <td className="num">{fmtNum(m.validation_score)}</td>
                  {metricNames.map((n) => (
                    <td key={n} className="num hide-narrow">
                      {fmtNum(metricOf(m.test_metrics, n)?.value)}
                    </td>
                  ))}
                  <td className="num hide-narrow">{fmtDuration(m.fit_seconds)}</td>
                  <td>
                    {serving ? (
                      <span className="badge badge-ok">serving</span>
                    ) : (
                      <span className="btn-row">
                        <button
                          type="button"
                          className="btn btn-small"
                          disabled={deploying != null}
                          onClick={(e) => {
                            e.stopPropagation();
                            deploy(m);
                          }}
                        >
                          {deploying === m.model_id ? 'Deploying…' : 'Deploy'}
                        </button>
                        {current && (
                          <button
                            type="button"
                            className="btn btn-small"
                            disabled={deploying != null}
                            title={`Send 10% of ${current.name}'s requests to this model, the rest to ${current.model_id}`}
                            onClick={(e) => {
                              e.stopPropagation();
                              deploy(m, 10);
                            }}
                          >
                            Canary 10%
                          </button>
                        )}
                      </span>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      <ErrorBox error={error} title="Not deployed" />
      {deployed && (
        <div className="notice" role="status">
          <code>{deployed.model}</code> now serves {deployed.canary ? `${deployed.canary}% of ` : ''}
          <Link to={`/deployments/${deployed.name}`}>{deployed.name}</Link>
          {deployed.canary ? ' as a canary' : ''}.
        </div>
      )}
    </div>
  );
}

function ModelPanel({ modelId }) {
  const model = useApi(modelId ? `/v1/models/${modelId}` : null);
  const evaluation = useApi(modelId ? `/v1/models/${modelId}/evaluation` : null);
  if (!modelId) return null;
  const m = model.data;
  return (
    <Card
      title={m ? `${m.kind} · ${m.id}` : modelId}
      subtitle={m ? `Refit in ${fmtDuration(m.fit_seconds)} from trial #${m.trial}; bundle ${fmtNum(m.bundle_bytes)} bytes` : undefined}
      actions={
        m && (
          <a className="btn btn-small btn-ghost" href={`/v1/models/${m.id}/bundle`} onClick={(e) => downloadBundle(e, m.id)}>
            Download bundle
          </a>
        )
      }
    >
      <ErrorBox error={model.error || evaluation.error} />
      {(model.loading || evaluation.loading) && !evaluation.data && <Loading what="Loading the evaluation" />}
      {m && (
        <details className="params">
          <summary>Hyperparameters</summary>
          <pre>{JSON.stringify(m.params, null, 2)}</pre>
        </details>
      )}
      {evaluation.data && <Evaluation evaluation={evaluation.data} model={m} />}
    </Card>
  );
}

/** The bundle needs the key header, so it is fetched and saved rather than linked. */
async function downloadBundle(e, id) {
  e.preventDefault();
  const resp = await fetch(`/v1/models/${id}/bundle`, { headers: { Authorization: `Bearer ${getKey()}` } });
  if (!resp.ok) return;
  const url = URL.createObjectURL(await resp.blob());
  const a = document.createElement('a');
  a.href = url;
  a.download = `${id}.mlbundle`;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function TrialsTable({ trials, lower }) {
  const [sort, setSort] = useState('score');
  const [limit, setLimit] = useState(100);
  const rows = useMemo(() => {
    const r = [...trials];
    if (sort === 'score') {
      r.sort((a, b) => {
        const sa = Number.isFinite(a.score) ? a.score : lower ? Infinity : -Infinity;
        const sb = Number.isFinite(b.score) ? b.score : lower ? Infinity : -Infinity;
        return lower ? sa - sb : sb - sa;
      });
    } else r.sort((a, b) => a.number - b.number);
    return r;
  }, [trials, sort, lower]);
  const hasFidelity = trials.some((t) => t.fidelity != null);
  const hasFolds = trials.some((t) => t.fold_scores?.length);
  return (
    <div>
      <div className="chart-tools">
        <span className="muted small">{trials.length} trials</span>
        <label className="small">
          Sort by{' '}
          <select value={sort} onChange={(e) => setSort(e.target.value)}>
            <option value="score">score (best first)</option>
            <option value="number">trial number</option>
          </select>
        </label>
      </div>
      <div className="table-wrap">
        <table className="table compact" data-testid="trials-table">
          <thead>
            <tr>
              <th className="num">#</th>
              <th>Kind</th>
              <th>Status</th>
              <th className="num">Score</th>
              {hasFidelity && <th className="num">Fidelity</th>}
              {hasFolds && <th className="hide-narrow">Fold scores</th>}
              <th className="num hide-narrow">Time</th>
              <th className="hide-narrow">Params</th>
            </tr>
          </thead>
          <tbody>
            {rows.slice(0, limit).map((t) => (
              <tr key={t.number}>
                <td className="num">{t.number}</td>
                <td>
                  <KindTag kind={t.kind} />
                  {t.warm_start && <span className="muted small" title="a known-good starting configuration"> warm</span>}
                </td>
                <td>
                  <span className={`badge badge-${t.status === 'complete' ? 'ok' : t.status === 'failed' ? 'bad' : 'muted'}`} title={t.error || ''}>
                    {t.status}
                  </span>
                </td>
                <td className="num">{fmtNum(t.score)}</td>
                {hasFidelity && <td className="num">{fmtNum(t.fidelity, 2)}</td>}
                {hasFolds && <td className="hide-narrow small mono">{(t.fold_scores || []).map((s) => fmtNum(s, 3)).join(' · ')}</td>}
                <td className="num hide-narrow">{fmtDuration(t.duration_secs)}</td>
                <td className="hide-narrow small mono" title={JSON.stringify(t.params)}>
                  {fmtParams(t.params, 4)}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {rows.length > limit && (
        <button type="button" className="btn btn-ghost" onClick={() => setLimit((l) => l + 200)}>
          Show more ({rows.length - limit} left)
        </button>
      )}
    </div>
  );
}

function EventLog({ events }) {
  if (!events.length) return <Empty>No events yet.</Empty>;
  return (
    <div className="table-wrap">
      <table className="table compact" data-testid="event-log">
        <thead>
          <tr>
            <th>Time</th>
            <th>Event</th>
            <th>Message</th>
          </tr>
        </thead>
        <tbody>
          {events.map((e) => (
            <tr key={e.seq}>
              <td className="mono small">{fmtTime(e.at_ms)}</td>
              <td>
                <span className={`badge badge-${e.kind === 'log' && e.data?.level === 'error' ? 'bad' : 'muted'}`}>{e.kind}</span>
              </td>
              <td className="small">{e.message}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export default function PipelineDetail({ id }) {
  const { query } = useLocation();
  const tab = query.get('tab') || 'timeline';
  const pipe = useApi(`/v1/pipelines/${encodeURIComponent(id)}`);
  const p = pipe.data;
  const dataset = useApi(p ? `/v1/datasets/${encodeURIComponent(p.dataset_id)}` : null);
  const terminal = p ? isTerminal(p.status) : false;
  const pastSearch = p && (terminal || (p.stages || []).some((s) => s.stage === 'evaluating' || s.stage === 'deploying'));
  const board = useApi(pastSearch ? `/v1/pipelines/${encodeURIComponent(id)}/leaderboard` : null);
  const [records, setRecords] = useState([]);
  const [live, setLive] = useState([]);
  const [events, setEvents] = useState([]);
  const [cancelling, setCancelling] = useState(false);
  const [actionError, setActionError] = useState(null);
  const now = useNow(500, Boolean(p) && !terminal);

  const loadTrials = useCallback(async () => {
    try {
      const r = await api(`/v1/pipelines/${encodeURIComponent(id)}/trials`);
      setRecords(r.trials || []);
    } catch {
      // The pipeline's own error is shown; a missing trial list is not worth a second one.
    }
  }, [id]);
  const refreshPipeline = useThrottled(pipe.reload, 500);
  const refreshTrials = useThrottled(loadTrials, 5000);

  useEffect(() => {
    setRecords([]);
    setLive([]);
    setEvents([]);
    loadTrials();
  }, [id, loadTrials]);

  // Live: events are buffered and applied a few times a second, so a replay of thousands of
  // trial events on open costs a handful of renders.
  const buffer = useRef([]);
  useEffect(() => {
    const flush = setInterval(() => {
      if (!buffer.current.length) return;
      const batch = buffer.current;
      buffer.current = [];
      const trialsIn = batch
        .filter((e) => e.kind === 'trial_finished' && e.data && e.data.number != null)
        .map((e) => ({ ...e.data, at_ms: e.at_ms }));
      if (trialsIn.length) setLive((l) => [...l, ...trialsIn]);
      const others = batch.filter((e) => e.kind !== 'trial_finished');
      if (others.length) setEvents((l) => [...l, ...others].slice(-MAX_LOG));
    }, 250);
    const stop = followEvents(id, {
      onEvent: (e) => {
        buffer.current.push(e);
        if (e.kind === 'stage_started' || e.kind === 'stage_finished' || e.kind === 'deployment') {
          refreshPipeline();
          if (e.data?.stage === 'optimizing' && e.kind === 'stage_finished') loadTrials();
        } else if (e.kind === 'trial_finished') refreshTrials();
      },
      onEnd: () => {
        pipe.reload();
        loadTrials();
      },
    });
    return () => {
      stop();
      clearInterval(flush);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [id]);
  useEffect(() => {
    if (terminal || pastSearch) board.reload();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [terminal, pastSearch, p?.status]);

  const trials = useMemo(() => mergeTrials(records, live), [records, live]);
  const metric = trials[0]?.metric || board.data?.models?.[0]?.metric || p?.config?.metric;
  const direction = metricOf(board.data?.models?.[0]?.test_metrics, metric)?.direction;
  const lower = lowerIsBetter(metric, direction);
  const notes = useMemo(() => {
    const n = {};
    for (const e of events) if (e.kind === 'stage_finished' && e.data?.stage) n[e.data.stage] = e.message;
    return n;
  }, [events]);
  const t0 = p?.stages?.[0]?.started_at_ms ?? p?.created_at_ms ?? 0;

  const rows = useMemo(() => {
    if (!p) return [];
    const out = [];
    for (const stage of STAGES) {
      const { state, s } = stageState(p, stage);
      out.push({
        id: stage,
        label: STAGE_LABELS[stage],
        title: STAGE_HELP[stage],
        segments: s
          ? [
              {
                key: stage,
                start: s.started_at_ms,
                end: s.finished_at_ms ?? (terminal ? p.updated_at_ms : null),
                running: state === 'running',
                color: state === 'failed' ? '#d64545' : STAGE_COLORS[stage],
                testid: `stage-${stage}`,
                tooltip: [`${STAGE_LABELS[stage]} (${state})`, ...(notes[stage] ? [notes[stage]] : []), ...(s.error ? [`error: ${s.error}`] : [])],
              },
            ]
          : [],
      });
      if (stage === 'optimizing' && trials.length) {
        const items = trials
          .map((t) => {
            const end = trialEnd(t);
            const start = t.started_at_ms ?? (end != null ? end - (t.duration_secs ?? 0.05) * 1000 : null);
            return start == null ? null : { t, start, end: Math.max(end ?? start, start + 1) };
          })
          .filter(Boolean);
        const { lanes, count } = assignLanes(items, 10);
        out.push({
          id: 'trials',
          label: `Trials (${trials.length})`,
          title: 'Each bar is one trial, coloured by model kind; stacked bars ran at the same time.',
          lanes: count,
          laneHeight: 7,
          segments: items.map((it, i) => ({
            key: `t${it.t.number}`,
            start: it.start,
            end: it.end,
            lane: lanes[i],
            color: kindColor(it.t.kind),
            opacity: it.t.status === 'pruned' ? 0.35 : it.t.status === 'failed' ? 0.2 : 0.9,
            stroke: it.t.status === 'failed' ? '#d64545' : null,
            testid: 'trial-bar',
            tooltip: [
              `Trial #${it.t.number} · ${it.t.kind} · ${it.t.status}`,
              `score ${fmtNum(it.t.score)}${it.t.fidelity != null ? ` at fidelity ${fmtNum(it.t.fidelity, 2)}` : ''}`,
              fmtParams(it.t.params, 4),
            ].filter(Boolean),
          })),
        });
      }
    }
    return out;
  }, [p, trials, notes, terminal]);

  const cancel = async () => {
    if (!window.confirm('Cancel this pipeline? Trials already finished are kept; nothing more is trained.')) return;
    setCancelling(true);
    setActionError(null);
    try {
      await api(`/v1/pipelines/${encodeURIComponent(id)}/cancel`, { method: 'POST' });
      pipe.reload();
    } catch (e) {
      setActionError(e);
    } finally {
      setCancelling(false);
    }
  };

  if (pipe.error && !p) {
    return (
      <div className="page">
        <ErrorBox error={pipe.error} title={pipe.error.status === 404 ? 'No such pipeline for this key' : undefined} />
        <Link to="/">Back to the pipelines</Link>
      </div>
    );
  }
  if (!p) return <Loading what="Loading the pipeline" />;

  const ds = dataset.data;
  const selected = query.get('model') || board.data?.decision?.action?.promote || p.best_model || board.data?.models?.[0]?.model_id;
  const testRows = notes.ingest?.match(/(\d+) test rows/)?.[1];
  const tabs = [
    { id: 'timeline', label: 'Timeline' },
    { id: 'trials', label: 'Trials', count: trials.length },
    { id: 'leaderboard', label: 'Leaderboard', count: board.data?.models?.length },
    { id: 'data', label: 'Data' },
    { id: 'log', label: 'Log' },
  ];

  return (
    <div className="page">
      <header className="page-head">
        <div>
          <div className="crumbs small">
            <Link to="/">Pipelines</Link> / <span className="mono">{p.id}</span>
          </div>
          <h1>
            {ds?.name || p.dataset_id} → <code>{p.target}</code> <StatusBadge status={p.status} />
          </h1>
          <p className="muted small">
            {p.task ? `${p.task} · ` : ''}budget {fmtDuration(p.config?.budget_secs)} · started {fmtDateTime(p.stages?.[0]?.started_at_ms || p.created_at_ms)}
            {terminal && p.stages?.length ? ` · took ${fmtDuration((p.updated_at_ms - p.stages[0].started_at_ms) / 1000)}` : ''}
          </p>
        </div>
        <div className="head-actions">
          {!terminal && (
            <button type="button" className="btn btn-danger" onClick={cancel} disabled={cancelling} data-testid="cancel-pipeline">
              {cancelling ? 'Cancelling…' : 'Cancel'}
            </button>
          )}
        </div>
      </header>
      <ErrorBox error={actionError} />
      {p.error && (
        <div className="error-box" role="alert">
          <strong>The pipeline failed</strong>
          <div>{p.error}</div>
        </div>
      )}
      <Card className="progress-card">
        <StageSteps p={p} now={now} notes={notes} />
        <BudgetBar p={p} now={now} />
      </Card>
      <Outcome p={{ ...p, test_rows: testRows }} board={board.data} trials={trials} deployerId={p.config?.deployer?.id} />
      <Tabs tabs={tabs} active={tab} onChange={(t) => setQuery({ tab: t === 'timeline' ? null : t })} />

      {tab === 'timeline' && (
        <>
          <Card title="Stages and trials" actions={<StageLegend />}>
            <Timeline rows={rows} now={now} testId="pipeline-timeline" origin={t0} />
            {Object.keys(notes).length > 0 && (
              <ul className="notes">
                {STAGES.filter((s) => notes[s]).map((s) => (
                  <li key={s}>
                    <span className="swatch" style={{ background: STAGE_COLORS[s] }} /> {notes[s]}
                  </li>
                ))}
              </ul>
            )}
          </Card>
          <Card title="Score over time" subtitle="Every trial’s validation score when it finished; the line is the best so far.">
            {trials.length ? (
              <TrialsChart trials={trials} t0={t0} metric={metric} lowerBetter={lower} />
            ) : (
              <Empty>{terminal ? 'No trials ran.' : 'Trials appear here as soon as the search starts.'}</Empty>
            )}
          </Card>
        </>
      )}
      {tab === 'trials' && (
        <Card title="Trials">
          <TrialsTable trials={trials} lower={lower} />
        </Card>
      )}
      {tab === 'leaderboard' && (
        <>
          <Card title="Leaderboard">
            {board.loading && !board.data ? (
              <Loading what="Loading the leaderboard" />
            ) : (
              <Leaderboard p={p} board={board.data} selected={selected} onSelect={(m) => setQuery({ model: m })} />
            )}
          </Card>
          {board.data?.models?.length > 0 && <ModelPanel modelId={selected} />}
        </>
      )}
      {tab === 'data' && (
        <Card title={`Dataset ${ds?.name || p.dataset_id}`} subtitle="As profiled at upload: column types, missing values and distributions.">
          {ds ? <DatasetProfile dataset={ds} target={p.target} /> : <Loading what="Loading the dataset" />}
        </Card>
      )}
      {tab === 'log' && (
        <Card title="Event log" subtitle="Stage changes, plugin progress and messages, as streamed live.">
          <EventLog events={events} />
        </Card>
      )}
      {!terminal && tab !== 'timeline' && (
        <p className="muted small">
          Live: <button type="button" className="linklike" onClick={() => navigate(`/pipelines/${p.id}`)}>back to the timeline</button>
        </p>
      )}
    </div>
  );
}
