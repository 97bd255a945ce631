// Every pipeline of the tenant: a live Gantt of their stages and a table with status, dataset,
// target and the best score.
import { useEffect, useMemo } from 'react';
import { followEvents } from '../api.js';
import Timeline from '../components/Timeline.jsx';
import { Card, Empty, ErrorBox, KindTag, Loading, MetricName, StatusBadge } from '../components/ui.jsx';
import {
  STAGE_COLORS,
  STAGE_HELP,
  STAGE_LABELS,
  STAGES,
  fmtAgo,
  fmtDuration,
  fmtNum,
  fmtTime,
  isTerminal,
} from '../format.js';
import { useApi, useNow, useThrottled } from '../hooks.js';
import { Link, navigate } from '../router.jsx';

const MAX_ROWS = 30;
const MAX_STREAMS = 3;

/** Timeline rows for pipelines: one bar per stage, the running one growing to now. */
export function pipelineRows(pipelines) {
  return pipelines.map((p) => ({
    id: p.id,
    label: `${p.dataset_name || p.dataset_id} → ${p.target}`,
    title: `${p.id}: ${p.dataset_name || p.dataset_id}, target ${p.target} (${p.status})`,
    onClick: () => navigate(`/pipelines/${p.id}`),
    segments: (p.stages || []).map((s) => ({
      key: s.stage,
      start: s.started_at_ms,
      end: s.finished_at_ms ?? (isTerminal(p.status) ? p.updated_at_ms : null),
      running: s.finished_at_ms == null && !isTerminal(p.status),
      color: s.error ? '#d64545' : STAGE_COLORS[s.stage] || '#999',
      testid: `stage-${s.stage}`,
      tooltip: [
        `${STAGE_LABELS[s.stage] || s.stage} · ${p.dataset_name || p.dataset_id} → ${p.target}`,
        ...(s.error ? [`error: ${s.error}`] : []),
        ...(s.attempts > 1 ? [`${s.attempts} attempts (resumed)`] : []),
      ],
      onClick: () => navigate(`/pipelines/${p.id}?tab=timeline`),
    })),
  }));
}

export function StageLegend() {
  return (
    <div className="legend">
      {STAGES.map((s) => (
        <span key={s} className="legend-item" title={STAGE_HELP[s]}>
          <span className="swatch" style={{ background: STAGE_COLORS[s] }} />
          {STAGE_LABELS[s]}
        </span>
      ))}
    </div>
  );
}

function duration(p, now) {
  const stages = p.stages || [];
  if (!stages.length) return null;
  const start = stages[0].started_at_ms;
  const end = isTerminal(p.status) ? p.updated_at_ms : now;
  return (end - start) / 1000;
}

export default function Pipelines() {
  const list = useApi('/v1/pipelines');
  const pipelines = useMemo(
    () => [...(list.data?.pipelines || [])].sort((a, b) => b.created_at_ms - a.created_at_ms),
    [list.data],
  );
  const active = pipelines.filter((p) => !isTerminal(p.status));
  const now = useNow(1000, active.length > 0);
  const refresh = useThrottled(list.reload, 700);

  // New pipelines (from the CLI or another tab) appear by polling; running ones update from
  // their event streams.
  useEffect(() => {
    const t = setInterval(list.reload, active.length ? 4000 : 15000);
    return () => clearInterval(t);
  }, [list.reload, active.length]);
  const streamIds = active
    .slice(0, MAX_STREAMS)
    .map((p) => p.id)
    .join(',');
  useEffect(() => {
    if (!streamIds) return undefined;
    const stops = streamIds.split(',').map((id) =>
      followEvents(id, {
        onEvent: (e) => {
          if (e.kind !== 'trial_finished' && e.kind !== 'plugin_progress') refresh();
        },
        onEnd: refresh,
      }),
    );
    return () => stops.forEach((s) => s());
  }, [streamIds, refresh]);

  const rows = useMemo(() => pipelineRows(pipelines.slice(0, MAX_ROWS)), [pipelines]);

  return (
    <div className="page">
      <header className="page-head">
        <div>
          <h1>Pipelines</h1>
          <p className="muted">Every AutoML run of your tenant, newest first. Click one to see its trials, leaderboard and charts.</p>
        </div>
        <Link to="/pipelines/new" className="btn btn-primary">
          New pipeline
        </Link>
      </header>
      <ErrorBox error={list.error} />
      {list.loading && !list.data && <Loading what="Loading pipelines" />}
      {list.data && pipelines.length === 0 && (
        <Card>
          <Empty>
            <h2>No pipelines yet</h2>
            <p>Upload a table (CSV, TSV, JSON, NDJSON or Parquet), choose the column to predict, and MicroLearn finds and tunes a model for it.</p>
            <Link to="/pipelines/new" className="btn btn-primary">
              Start your first pipeline
            </Link>
          </Empty>
        </Card>
      )}
      {pipelines.length > 0 && (
        <>
          <Card
            title="Timeline"
            subtitle={
              active.length
                ? `${active.length} running · bars grow live`
                : `Stages of the ${Math.min(pipelines.length, MAX_ROWS)} latest pipelines`
            }
            actions={<StageLegend />}
          >
            <Timeline rows={rows} now={now} testId="overview-timeline" />
          </Card>
          <Card title="All pipelines" className="flush">
            <div className="table-wrap">
              <table className="table" data-testid="pipelines-table">
                <thead>
                  <tr>
                    <th>Status</th>
                    <th>Dataset → target</th>
                    <th className="hide-narrow">Task</th>
                    <th>Best model</th>
                    <th className="num">Best score</th>
                    <th className="num hide-narrow">Trials</th>
                    <th className="num hide-narrow">Duration</th>
                    <th className="hide-narrow">Started</th>
                  </tr>
                </thead>
                <tbody>
                  {pipelines.map((p) => (
                    <tr key={p.id} className="clickable" onClick={() => navigate(`/pipelines/${p.id}`)}>
                      <td>
                        <StatusBadge status={p.status} />
                      </td>
                      <td>
                        <Link to={`/pipelines/${p.id}`} className="strong">
                          {p.dataset_name || p.dataset_id}
                        </Link>{' '}
                        → <code>{p.target}</code>
                        <div className="muted small mono">{p.id}</div>
                        {p.error && <div className="text-bad small">{p.error}</div>}
                      </td>
                      <td className="hide-narrow">{p.task || '—'}</td>
                      <td>{p.best ? <KindTag kind={p.best.kind} /> : <span className="muted">—</span>}</td>
                      <td className="num">
                        {p.best ? (
                          <>
                            {fmtNum(p.best.test_score ?? p.best.validation_score)}{' '}
                            <span className="muted small">
                              <MetricName name={p.best.metric} direction={p.best.direction} />
                            </span>
                          </>
                        ) : (
                          '—'
                        )}
                      </td>
                      <td className="num hide-narrow">{p.trial_count ?? '—'}</td>
                      <td className="num hide-narrow">{fmtDuration(duration(p, now))}</td>
                      <td className="hide-narrow" title={fmtTime(p.created_at_ms)}>
                        {fmtAgo(p.created_at_ms, now)}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </Card>
        </>
      )}
    </div>
  );
}
