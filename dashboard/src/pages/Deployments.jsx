// Deployments: the model each serves, its traffic share, request count and latency, a try-it
// form built from the model's input schema, and rollback to the previous model.
import { useMemo, useState } from 'react';
import { api } from '../api.js';
import ChartCanvas from '../components/ChartCanvas.jsx';
import TryIt from '../components/TryIt.jsx';
import { Card, Empty, ErrorBox, KindTag, Loading, Stat } from '../components/ui.jsx';
import { fmtAgo, fmtNum } from '../format.js';
import { useApi } from '../hooks.js';
import { Link } from '../router.jsx';

function fmtMicros(us) {
  if (us == null) return '—';
  if (us < 1000) return `${Math.round(us)} µs`;
  if (us < 1e6) return `${Number((us / 1000).toPrecision(3))} ms`;
  return `${(us / 1e6).toFixed(2)} s`;
}

/** Per-bucket counts from the cumulative histogram the API returns. */
export function bucketCounts(hist) {
  let prev = 0;
  return (hist || []).map((b) => {
    const n = b.count - prev;
    prev = b.count;
    return { label: b.le === '+Inf' ? '> 250 ms' : `≤ ${fmtMicros(b.le)}`, n };
  });
}

function LatencyChart({ stats }) {
  const buckets = useMemo(() => bucketCounts(stats?.latency_histogram_us), [stats]);
  const data = useMemo(
    () => ({
      labels: buckets.map((b) => b.label),
      datasets: [{ label: 'requests', data: buckets.map((b) => b.n), backgroundColor: '#2bb3a3', borderRadius: 3 }],
    }),
    [buckets],
  );
  const options = useMemo(
    () => ({
      plugins: { legend: { display: false } },
      scales: { y: { beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: 'requests' } }, x: { title: { display: true, text: 'server time per request' } } },
    }),
    [],
  );
  return <ChartCanvas type="bar" data={data} options={options} height={200} label="Latency histogram" testId="latency-chart" />;
}

function DeploymentCard({ d, onChanged }) {
  const stats = useApi(`/v1/deployments/${encodeURIComponent(d.name)}/stats`, { every: 3000 });
  const model = useApi(`/v1/models/${encodeURIComponent(d.model_id)}`);
  const pipeline = useApi(model.data ? `/v1/pipelines/${encodeURIComponent(model.data.pipeline_id)}` : null);
  const dataset = useApi(pipeline.data ? `/v1/datasets/${encodeURIComponent(pipeline.data.dataset_id)}` : null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const s = stats.data?.stats;
  const m = model.data;
  const dec = d.decision || {};
  const previous = d.history?.[d.history.length - 1];

  const rollback = async () => {
    if (!window.confirm(`Serve ${previous} again instead of ${d.model_id}?`)) return;
    setBusy(true);
    setError(null);
    try {
      await api(`/v1/deployments/${encodeURIComponent(d.name)}/rollback`, { method: 'POST' });
      onChanged();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Card
      id={`deployment-${d.name}`}
      className="deployment"
      title={
        <>
          <span className="mono">{d.name}</span>{' '}
          <span className={`badge badge-${d.loaded ? 'ok' : 'bad'}`}>{d.loaded ? 'serving' : 'not loaded'}</span>
        </>
      }
      subtitle={`updated ${fmtAgo(d.updated_at_ms)} · ${dec.reason || ''}`}
      actions={
        <button
          type="button"
          className="btn btn-small"
          disabled={!previous || busy}
          onClick={rollback}
          title={previous ? `Serve ${previous} again` : 'There is no earlier model to roll back to'}
          data-testid="rollback"
        >
          {busy ? 'Rolling back…' : 'Roll back'}
        </button>
      }
    >
      <ErrorBox error={error} />
      <div className="deploy-grid">
        <div>
          <h3>Current model</h3>
          <div className="model-line">
            {m ? <KindTag kind={m.kind} /> : null} <code>{d.model_id}</code>
          </div>
          {m && (
            <div className="small">
              from{' '}
              <Link to={`/pipelines/${m.pipeline_id}?tab=leaderboard&model=${m.id}`}>
                {dataset.data?.name || m.pipeline_id} → {m.target}
              </Link>
              {m.test_metrics?.length > 0 && (
                <span className="muted">
                  {' '}
                  · held-out {m.metric} {fmtNum(m.test_metrics.find((t) => t.name === m.metric)?.value)}
                </span>
              )}
            </div>
          )}
          <h3>Traffic</h3>
          <div className="traffic">
            <div className="traffic-bar">
              <span style={{ width: `${dec.traffic_percent ?? 100}%` }}>{dec.traffic_percent ?? 100}%</span>
            </div>
            <div className="small muted">
              {dec.traffic_percent != null && dec.traffic_percent < 100
                ? `The deployer asked for a ${dec.traffic_percent}% canary; this host serves every request from the current model.`
                : 'All requests go to the current model.'}{' '}
              Mode: {dec.mode || 'rest'}.
            </div>
          </div>
          {d.history?.length > 0 && (
            <>
              <h3>Earlier models</h3>
              <ol className="history small mono">
                {[...d.history].reverse().map((h) => (
                  <li key={h}>{h}</li>
                ))}
              </ol>
            </>
          )}
        </div>
        <div>
          <h3>Requests</h3>
          {s ? (
            <>
              <div className="stats">
                <Stat label="requests" value={fmtNum(s.requests)} />
                <Stat label="errors" value={fmtNum(s.errors)} hint="calls answered with an error (bad rows, …)" />
                <Stat label="rows scored" value={fmtNum(s.rows)} />
                <Stat label="mean latency" value={s.requests ? fmtMicros(s.mean_latency_us) : '—'} hint="server time per call" />
              </div>
              <LatencyChart stats={s} />
            </>
          ) : (
            <Loading what="Loading stats" />
          )}
        </div>
      </div>
      <h3>Try it</h3>
      <p className="muted small">Fill in a row (pre-filled with typical values from the training data) and ask the deployed model.</p>
      <TryIt deployment={d} profile={dataset.data?.profile} />
    </Card>
  );
}

export default function Deployments({ focus }) {
  const list = useApi('/v1/deployments');
  const all = list.data?.deployments || [];
  const shown = focus ? all.filter((d) => d.name === focus) : all;
  return (
    <div className="page">
      <header className="page-head">
        <div>
          {focus && (
            <div className="crumbs small">
              <Link to="/deployments">Deployments</Link> / <span className="mono">{focus}</span>
            </div>
          )}
          <h1>{focus ? focus : 'Deployments'}</h1>
          <p className="muted">
            A deployment is a name that serves one model over <code>POST /v1/deployments/&#123;name&#125;/predict</code>. Pipelines deploy their winner
            automatically when the deployer plugin agrees.
          </p>
        </div>
      </header>
      <ErrorBox error={list.error} />
      {list.loading && !list.data && <Loading what="Loading deployments" />}
      {list.data && !shown.length && (
        <Card>
          <Empty>
            {focus ? (
              <>
                No deployment named <code>{focus}</code>. <Link to="/deployments">See all deployments</Link>.
              </>
            ) : (
              <>
                Nothing is deployed yet. Run a pipeline: its best model is deployed when it finishes. <Link to="/pipelines/new">New pipeline</Link>
              </>
            )}
          </Empty>
        </Card>
      )}
      {shown.map((d) => (
        <DeploymentCard key={d.name} d={d} onChanged={list.reload} />
      ))}
    </div>
  );
}
