import { useState } from 'react';
import { api, setKey } from '../api.js';

export default function SignIn() {
  const [key, setValue] = useState('');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e) => {
    e.preventDefault();
    const k = key.trim();
    if (!k) {
      setError('Paste an API key first.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      // Any tenant call checks the key; /v1/me also says which tenant it belongs to.
      await api('/v1/me', { key: k });
      setKey(k);
    } catch (err) {
      setError(err.status === 401 ? 'The server does not know this key. Check that you copied all of it.' : err.message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="signin">
      <form className="signin-card" onSubmit={submit}>
        <div className="signin-brand">
          <img src="/favicon.svg" alt="" width="40" height="40" />
          <div>
            <h1>MicroLearn</h1>
            <p className="muted">AutoML with sandboxed, pluggable stages</p>
          </div>
        </div>
        <label htmlFor="api-key">API key</label>
        <input
          id="api-key"
          name="api-key"
          type="password"
          autoComplete="off"
          placeholder="mlk_…"
          value={key}
          onChange={(e) => setValue(e.target.value)}
          autoFocus
        />
        {error && (
          <div className="error-box" role="alert">
            {error}
          </div>
        )}
        <button className="btn btn-primary" type="submit" disabled={busy}>
          {busy ? 'Checking…' : 'Sign in'}
        </button>
        <div className="signin-help">
          <h2>Where do I get a key?</h2>
          <p>
            The first time <code>microlearn serve</code> starts on a data directory it prints an admin key once:
          </p>
          <pre>admin API key (shown once, keep it): mlk_…</pre>
          <p>
            You can also choose the admin key yourself with <code>MICROLEARN_ADMIN_KEY</code> (or <code>admin_key</code> under{' '}
            <code>[serve]</code> in <code>microlearn.toml</code>). An admin creates keys for other tenants with{' '}
            <code>POST /v1/tenants/&#123;name&#125;/keys</code>. Each key sees only its own tenant’s datasets, pipelines, models and
            deployments.
          </p>
          <p className="muted small">The key stays in this browser tab only and is forgotten when the tab closes.</p>
        </div>
      </form>
    </div>
  );
}
