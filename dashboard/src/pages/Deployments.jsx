// Deployments: the model each serves, its traffic split (both sides of a canary with their own
// counters), request count and latency, a try-it form built from the model's input schema,
// promotion of a canary and rollback to the previous model.
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

/** The traffic split: one segment per model, canary first, each with its own counters. */
export function TrafficSplit({ traffic, mode }) {
  const sides = traffic?.length ? traffic : [];
  const canary = sides.length > 1;
  return (
    <div className="traffic" data-testid="traffic">
      <div className="traffic-bar">
        {sides.map((t) => (
          <span
            key={t.model_id}
            className={`traffic-${t.role}`}
            style={{ width: `${t.percent}%` }}
            title={`${t.model_id}: ${t.percent}% of requests`}
          >
            {t.percent}%
          </span>
        ))}
      </div>
      {canary ? (
        <div className="table-wrap">
          <table className="traffic-table small">
            <thead>
              <tr>
                <th>side</th>
                <th>model</th>
                <th className="num">share</th>
                <th className="num">requests</th>
                <th className="num">errors</th>
                <th className="num">mean latency</th>
              </tr>
            </thead>
            <tbody>
              {sides.map((t) => (
                <tr key={t.model_id}>
                  <td className="nowrap">
                    <span className={`dot traffic-${t.role}`} /> {t.role}
                  </td>
                  <td className="mono">{t.model_id}</td>
                  <td className="num">{t.percent}%</td>
                  <td className="num">{fmtNum(t.requests)}</td>
                  <td className="num">{fmtNum(t.errors)}</td>
                  <td className="num">{t.requests ? fmtMicros(t.mean_latency_us) : '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      <div className="small muted">
        {canary
          ? `Canary: ${sides[0].percent}% of requests go to the new model, the rest to the model it replaces. Send an X-Routing-Key header to keep a caller on one side.`
          : 'All requests go to the current model.'}{' '}
        Mode: {mode || 'rest'}.
      </div>
    </div>
  );
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

  const traffic = stats.data?.traffic || d.traffic;
  const act = async (what, question) => {
    if (!window.confirm(question)) return;
    setBusy(what);
    setError(null);
    try {
      await api(`/v1/deployments/${encodeURIComponent(d.name)}/${what}`, { method: 'POST' });
      onChanged();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  const rollback = () =>
    act('rollback', d.canary ? `End the canary and serve ${previous} to every request?` : `Serve ${previous} again instead of ${d.model_id}?`);
  const promote = () => act('promote', `Send every request to ${d.model_id}?`);

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
        <>
          {d.canary && (
            <button
              type="button"
              className="btn btn-small btn-primary"
              disabled={!!busy}
              onClick={promote}
              title={`Send every request to ${d.model_id}`}
              data-testid="promote"
            >
              {busy === 'promote' ? 'Promoting…' : 'Promote canary'}
            </button>
          )}
          <button
            type="button"
            className="btn btn-small"
            disabled={!previous || !!busy}
            onClick={rollback}
            title={previous ? `Serve ${previous} again` : 'There is no earlier model to roll back to'}
            data-testid="rollback"
          >
            {busy === 'rollback' ? 'Rolling back…' : d.canary ? 'End canary' : 'Roll back'}
          </button>
        </>
      }
    >
      <ErrorBox error={error} />
      <div className="deploy-grid">
        <div>
          <h3>{d.canary ? 'Canary model' : 'Current model'}</h3>
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
          <TrafficSplit traffic={traffic} mode={dec.mode} />
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
