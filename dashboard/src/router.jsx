// A small history router: the app has a handful of pages, so a path matcher and pushState are
// all it needs. The server answers every non-API path with index.html, so deep links and
// reloads work.
import { useEffect, useState } from 'react';

export function navigate(to, { replace = false } = {}) {
  if (to === window.location.pathname + window.location.search) return;
  if (replace) window.history.replaceState(null, '', to);
  else window.history.pushState(null, '', to);
  window.dispatchEvent(new Event('microlearn:navigate'));
  if (!replace) window.scrollTo(0, 0);
}

/** The current location as `{path, query}`; re-renders on navigation. */
export function useLocation() {
  const read = () => ({
    path: window.location.pathname,
    query: new URLSearchParams(window.location.search),
  });
  const [loc, setLoc] = useState(read);
  useEffect(() => {
    const update = () => setLoc(read());
    window.addEventListener('popstate', update);
    window.addEventListener('microlearn:navigate', update);
    return () => {
      window.removeEventListener('popstate', update);
      window.removeEventListener('microlearn:navigate', update);
    };
  }, []);
  return loc;
}

/** Match `path` against patterns like `/pipelines/:id`; returns the params or null. */
export function match(pattern, path) {
  const p = pattern.split('/').filter(Boolean);
  const s = path.split('/').filter(Boolean);
  if (p.length !== s.length) return null;
  const params = {};
  for (let i = 0; i < p.length; i += 1) {
    if (p[i].startsWith(':')) params[p[i].slice(1)] = decodeURIComponent(s[i]);
    else if (p[i] !== s[i]) return null;
  }
  return params;
}

/** Replace some query parameters of the current page without a new history entry. */
export function setQuery(changes) {
  const q = new URLSearchParams(window.location.search);
  for (const [k, v] of Object.entries(changes)) {
    if (v == null || v === '') q.delete(k);
    else q.set(k, v);
  }
  const s = q.toString();
  navigate(`${window.location.pathname}${s ? `?${s}` : ''}`, { replace: true });
}

export function Link({ to, children, className, title, ...rest }) {
  return (
    <a
      href={to}
      className={className}
      title={title}
      onClick={(e) => {
        if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
        e.preventDefault();
        navigate(to);
      }}
      {...rest}
    >
      {children}
    </a>
  );
}
