// Small building blocks shared by the pages.
import { KIND_LABELS, METRIC_HELP, fmtNum, kindColor, lowerIsBetter, statusClass } from '../format.js';

export function StatusBadge({ status }) {
  const cls = statusClass(status);
  const label = cls === 'running' ? `running · ${status}` : status;
  return (
    <span className={`badge badge-${cls}`} data-status={status}>
      {cls === 'running' && <span className="pulse" aria-hidden="true" />}
      {label}
    </span>
  );
}

export function KindTag({ kind }) {
  return (
    <span className="kind" title={KIND_LABELS[kind] || kind}>
      <span className="dot" style={{ background: kindColor(kind) }} aria-hidden="true" />
      {kind}
    </span>
  );
}

/** An API error, with the field it names when there is one. */
export function ErrorBox({ error, title }) {
  if (!error) return null;
  return (
    <div className="error-box" role="alert">
      <strong>{title || error.problem?.title || 'Something went wrong'}</strong>
      <div>{error.message}</div>
      {error.field && (
        <div className="muted small">
          field: <code>{error.field}</code>
          {error.problem?.row != null && <> · row {error.problem.row}</>}
        </div>
      )}
    </div>
  );
}

export function Card({ title, actions, children, className = '', subtitle, id }) {
  return (
    <section className={`card ${className}`} id={id}>
      {(title || actions) && (
        <header className="card-head">
          <div>
            {title && <h2>{title}</h2>}
            {subtitle && <p className="muted small">{subtitle}</p>}
          </div>
          {actions && <div className="card-actions">{actions}</div>}
        </header>
      )}
      {children}
    </section>
  );
}

export function Empty({ children }) {
  return <div className="empty">{children}</div>;
}

export function Loading({ what = 'Loading' }) {
  return (
    <div className="loading" role="status">
      <span className="spinner" aria-hidden="true" /> {what}…
    </div>
  );
}

export function Tabs({ tabs, active, onChange }) {
  return (
    <nav className="tabs" role="tablist">
      {tabs.map((t) => (
        <button
          key={t.id}
          type="button"
          role="tab"
          aria-selected={active === t.id}
          className={active === t.id ? 'tab active' : 'tab'}
          onClick={() => onChange(t.id)}
        >
          {t.label}
          {t.count != null && <span className="tab-count">{t.count}</span>}
        </button>
      ))}
    </nav>
  );
}

/** A metric name with its meaning on hover and which way is better. */
export function MetricName({ name, direction }) {
  const lower = lowerIsBetter(name, direction);
  return (
    <span className="metric-name" title={METRIC_HELP[name] || name}>
      {/* Long names (balanced_accuracy) may break after an underscore in narrow headers. */}
      {String(name)
        .split('_')
        .map((part, i, all) => (
          <span key={i}>
            {part}
            {i < all.length - 1 && (
              <>
                _<wbr />
              </>
            )}
          </span>
        ))}
      <span className="muted small"> {lower ? '↓' : '↑'}</span>
    </span>
  );
}

export function Stat({ label, value, hint }) {
  return (
    <div className="stat" title={hint}>
      <div className="stat-value">{value}</div>
      <div className="stat-label">{label}</div>
    </div>
  );
}

export function Num({ v, digits }) {
  return <span className="num">{fmtNum(v, digits)}</span>;
}
