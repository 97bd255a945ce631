// Installed plugins by kind (shared ones and the tenant's own), each with its version, WIT API
// and configuration schema; upload a new one (manifest + component).
import { useState } from 'react';
import { api } from '../api.js';
import { Card, Empty, ErrorBox, Loading } from '../components/ui.jsx';
import { fmtBytes } from '../format.js';
import { useApi } from '../hooks.js';

const KINDS = [
  ['preparer', 'Preparers', 'Clean and encode the columns before training; a chain of them runs in order.'],
  ['selector', 'Selectors', 'Choose the candidate model kinds and how the time budget is shared between them.'],
  ['evaluator', 'Evaluators', 'Compute metrics and curves on held-out rows; one of them can be the optimisation objective.'],
  ['deployer', 'Deployers', 'Decide whether a new model replaces the deployed one.'],
];

function SchemaView({ id }) {
  const info = useApi(`/v1/plugins/${encodeURIComponent(id)}`);
  if (info.loading) return <Loading what="Loading" />;
  if (info.error) return <ErrorBox error={info.error} />;
  const p = info.data?.plugins?.[0];
  const props = p?.config_schema?.properties || {};
  const names = Object.keys(props);
  if (!names.length) return <p className="muted small">This plugin takes no configuration.</p>;
  return (
    <table className="table compact">
      <thead>
        <tr>
          <th>Option</th>
          <th>Type</th>
          <th>Default</th>
          <th>Meaning</th>
        </tr>
      </thead>
      <tbody>
        {names.map((n) => (
          <tr key={n}>
            <td className="mono">{n}</td>
            <td className="small">{props[n].enum ? props[n].enum.join(' | ') : props[n].type || '—'}</td>
            <td className="mono small">{props[n].default != null ? JSON.stringify(props[n].default) : '—'}</td>
            <td className="small">{props[n].description || ''}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function PluginRow({ p, onRemoved }) {
  const [open, setOpen] = useState(false);
  const [error, setError] = useState(null);
  const remove = async () => {
    if (!window.confirm(`Remove plugin ${p.id}? Running pipelines keep the version they started with.`)) return;
    try {
      await api(`/v1/plugins/${encodeURIComponent(p.id)}`, { method: 'DELETE' });
      onRemoved();
    } catch (e) {
      setError(e);
    }
  };
  return (
    <>
      <tr className="clickable" onClick={() => setOpen((o) => !o)} data-testid={`plugin-${p.id}`}>
        <td>
          <strong className="mono">{p.id}</strong>
          {p.scope === 'tenant' && <span className="badge badge-running">yours</span>}
        </td>
        <td className="mono small">{p.version}</td>
        <td className="mono small hide-narrow">{p.api || '—'}</td>
        <td className="small hide-narrow">{p.author || <span className="muted">not declared</span>}</td>
        <td className="small">{p.description}</td>
        <td className="small num hide-narrow" title={`memory cap ${p.memory_mib} MiB, deadline ${p.timeout_ms} ms`}>
          {fmtBytes(p.size_bytes)}
        </td>
        <td>{open ? '▾' : '▸'}</td>
      </tr>
      {open && (
        <tr className="detail-row">
          <td colSpan={7}>
            <div className="plugin-detail">
              <div className="small muted">
                sha256 <span className="mono">{p.sha256}</span> · memory cap {p.memory_mib} MiB · deadline {p.timeout_ms} ms
              </div>
              <SchemaView id={p.id} />
              {p.scope === 'tenant' && (
                <button type="button" className="btn btn-small btn-danger" onClick={remove}>
                  Remove
                </button>
              )}
              <ErrorBox error={error} />
            </div>
          </td>
        </tr>
      )}
    </>
  );
}

function Upload({ onUploaded }) {
  const [manifest, setManifest] = useState(null);
  const [component, setComponent] = useState(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [done, setDone] = useState(null);
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setDone(null);
    try {
      const form = new FormData();
      form.append('manifest', manifest, manifest.name);
      form.append('component', component, component.name);
      const p = await api('/v1/plugins', { method: 'POST', body: form });
      setDone(p);
      onUploaded();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form onSubmit={submit} className="upload-plugin">
      <div className="grid-3">
        <label className="field">
          <span>Manifest (plugin.toml)</span>
          <input type="file" accept=".toml" onChange={(e) => setManifest(e.target.files?.[0] || null)} required />
        </label>
        <label className="field">
          <span>Component (.wasm)</span>
          <input type="file" accept=".wasm" onChange={(e) => setComponent(e.target.files?.[0] || null)} required />
        </label>
        <div className="field">
          <span>&nbsp;</span>
          <button type="submit" className="btn btn-primary" disabled={busy || !manifest || !component}>
            {busy ? 'Validating…' : 'Upload plugin'}
          </button>
        </div>
      </div>
      <p className="muted small">
        The server checks the component’s sha256 against the manifest and type-checks it against its WIT world before accepting it. An
        uploaded plugin is visible to your tenant only. <code>microlearn plugin new</code> and <code>microlearn plugin build</code> make both files.
      </p>
      <ErrorBox error={error} title="The plugin was not installed" />
      {done && (
        <div className="notice" role="status">
          Installed <strong>{done.id}</strong> {done.version} ({done.kind}).
        </div>
      )}
    </form>
  );
}

export default function Plugins() {
  const list = useApi('/v1/plugins');
  const plugins = list.data?.plugins || [];
  return (
    <div className="page">
      <header className="page-head">
        <div>
          <h1>Plugins</h1>
          <p className="muted">
            Four pipeline stages are WebAssembly components that run sandboxed (no files, network or clock) under memory and time limits. Anyone can
            replace them without rebuilding MicroLearn.
          </p>
        </div>
      </header>
      <ErrorBox error={list.error} />
      {list.loading && !list.data && <Loading what="Loading plugins" />}
      {KINDS.map(([kind, title, help]) => {
        const ofKind = plugins.filter((p) => p.kind === kind);
        return (
          <Card key={kind} title={title} subtitle={help} className="flush">
            {ofKind.length ? (
              <div className="table-wrap">
                <table className="table" data-testid={`plugins-${kind}`}>
                  <thead>
                    <tr>
                      <th>Plugin</th>
                      <th>Version</th>
                      <th className="hide-narrow">WIT</th>
                      <th className="hide-narrow">Author</th>
                      <th>Description</th>
                      <th className="num hide-narrow">Size</th>
                      <th />
                    </tr>
                  </thead>
                  <tbody>
                    {ofKind.map((p) => (
                      <PluginRow key={`${p.kind}/${p.id}`} p={p} onRemoved={list.reload} />
                    ))}
                  </tbody>
                </table>
              </div>
            ) : (
              <Empty>No {kind} is installed.</Empty>
            )}
          </Card>
        );
      })}
      <Card title="Upload a plugin">
        <Upload onUploaded={list.reload} />
      </Card>
    </div>
  );
}
