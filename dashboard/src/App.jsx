import { useEffect, useState } from 'react';
import { api, getKey, setKey } from './api.js';
import { Link, match, navigate, useLocation } from './router.jsx';
import SignIn from './pages/SignIn.jsx';
import Pipelines from './pages/Pipelines.jsx';
import NewPipeline from './pages/NewPipeline.jsx';
import PipelineDetail from './pages/PipelineDetail.jsx';
import Deployments from './pages/Deployments.jsx';
import Datasets from './pages/Datasets.jsx';
import Plugins from './pages/Plugins.jsx';

const NAV = [
  { to: '/', label: 'Pipelines', active: (p) => p === '/' || (p.startsWith('/pipelines/') && p !== '/pipelines/new') },
  { to: '/pipelines/new', label: 'New pipeline', active: (p) => p === '/pipelines/new' },
  { to: '/deployments', label: 'Deployments', active: (p) => p.startsWith('/deployments') },
  { to: '/datasets', label: 'Datasets', active: (p) => p.startsWith('/datasets') },
  { to: '/plugins', label: 'Plugins', active: (p) => p.startsWith('/plugins') },
];

function useSignedIn() {
  const [key, setK] = useState(getKey);
  useEffect(() => {
    const update = () => setK(getKey());
    window.addEventListener('microlearn:auth', update);
    return () => window.removeEventListener('microlearn:auth', update);
  }, []);
  return key;
}

function Page({ path }) {
  let m;
  if (path === '/') return <Pipelines />;
  if (path === '/pipelines/new') return <NewPipeline />;
  if ((m = match('/pipelines/:id', path))) return <PipelineDetail id={m.id} />;
  if (path === '/deployments') return <Deployments />;
  if ((m = match('/deployments/:name', path))) return <Deployments focus={m.name} />;
  if (path === '/datasets') return <Datasets />;
  if (path === '/plugins') return <Plugins />;
  return (
    <div className="page">
      <h1>Page not found</h1>
      <p>
        There is no page at <code>{path}</code>. <Link to="/">Back to the pipelines</Link>.
      </p>
    </div>
  );
}

export default function App() {
  const key = useSignedIn();
  const { path } = useLocation();
  const [me, setMe] = useState(null);
  const [menuOpen, setMenuOpen] = useState(false);

  useEffect(() => {
    if (!key) {
      setMe(null);
      return;
    }
    api('/v1/me').then(setMe, () => setMe(null));
  }, [key]);
  useEffect(() => setMenuOpen(false), [path]);

  if (!key) return <SignIn />;
  if (path === '/signin') {
    navigate('/', { replace: true });
    return null;
  }
  return (
    <div className="shell">
      <aside className={menuOpen ? 'sidebar open' : 'sidebar'}>
        <div className="brand">
          <Link to="/" className="brand-link">
            <img src="/favicon.svg" alt="" width="28" height="28" />
            <span>MicroLearn</span>
          </Link>
          <button type="button" className="menu-toggle" aria-label="Menu" onClick={() => setMenuOpen((o) => !o)}>
            ☰
          </button>
        </div>
        <nav className="nav">
          {NAV.map((n) => (
            <Link key={n.to} to={n.to} className={n.active(path) ? 'nav-link active' : 'nav-link'}>
              {n.label}
            </Link>
          ))}
        </nav>
        <div className="whoami">
          {me && (
            <div className="small" data-testid="tenant">
              Tenant <strong>{me.tenant}</strong>
              {me.admin && <span className="badge badge-muted">admin</span>}
            </div>
          )}
          <button
            type="button"
            className="btn btn-ghost btn-small"
            onClick={() => {
              // The next key may belong to another tenant: start it at the overview, not on a
              // page of this tenant's resources.
              navigate('/', { replace: true });
              setKey(null);
            }}
          >
            Sign out
          </button>
        </div>
      </aside>
      <main className="content">
        <Page path={path} />
      </main>
    </div>
  );
}
