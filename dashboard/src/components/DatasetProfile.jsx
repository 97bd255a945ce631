// A dataset's profile: per column its kind, missing share, and a distribution (a histogram for
// numbers, the most frequent values for categories). Small inline SVG/HTML bars keep a wide
// table with dozens of columns light.
import { fmtNum, fmtPercent } from '../format.js';

const KIND_HINT = {
  numeric: 'numbers',
  categorical: 'a small set of repeated values',
  boolean: 'true/false',
  datetime: 'dates or times',
  text: 'free text',
  id_like: 'an identifier (unique per row, carries no signal)',
  idlike: 'an identifier (unique per row, carries no signal)',
};

function Histogram({ histogram, label }) {
  const counts = histogram?.counts || [];
  if (!counts.length) return null;
  const max = Math.max(...counts, 1);
  const w = 120;
  const h = 32;
  const bw = w / counts.length;
  return (
    <svg className="spark" width={w} height={h} viewBox={`0 0 ${w} ${h}`} role="img" aria-label={label}>
      {counts.map((c, i) => (
        <rect key={i} x={i * bw + 0.5} y={h - (c / max) * h} width={Math.max(1, bw - 1)} height={(c / max) * h}>
          <title>
            {fmtNum(histogram.edges?.[i])} – {fmtNum(histogram.edges?.[i + 1])}: {c}
          </title>
        </rect>
      ))}
    </svg>
  );
}

function TopValues({ values, rows }) {
  if (!values?.length) return null;
  const shown = values.slice(0, 4);
  const max = Math.max(...shown.map((v) => v.count), 1);
  return (
    <div className="topvals">
      {shown.map((v) => (
        <div key={String(v.value)} className="topval" title={`${v.value}: ${v.count} rows`}>
          <span className="topval-label">{String(v.value)}</span>
          <span className="topval-bar">
            <span style={{ width: `${(v.count / max) * 100}%` }} />
          </span>
          <span className="muted small num">{rows ? fmtPercent(v.count / rows, 0) : v.count}</span>
        </div>
      ))}
    </div>
  );
}

export function columnKind(c) {
  return String(c.kind || '').replace('-', '_');
}

export default function DatasetProfile({ dataset, target, onPickTarget }) {
  const profile = dataset?.profile || {};
  const cols = profile.column_profiles || [];
  const schema = dataset?.schema?.columns || [];
  const rows = profile.rows ?? dataset?.rows;
  const byName = Object.fromEntries(cols.map((c) => [c.name, c]));
  const columns = schema.length ? schema.map((s) => ({ ...s, ...(byName[s.name] || {}) })) : cols;
  return (
    <div className="profile" data-testid="dataset-profile">
      <div className="profile-summary">
        <span>
          <strong>{fmtNum(rows)}</strong> rows
        </span>
        <span>
          <strong>{columns.length}</strong> columns
        </span>
        {profile.missing_share != null && (
          <span>
            <strong>{fmtPercent(profile.missing_share)}</strong> of cells missing
          </span>
        )}
      </div>
      <div className="table-wrap">
        <table className="table profile-table">
          <thead>
            <tr>
              <th>Column</th>
              <th>Type</th>
              <th>Missing</th>
              <th className="num hide-narrow">Distinct</th>
              <th>Distribution</th>
              {onPickTarget && <th />}
            </tr>
          </thead>
          <tbody>
            {columns.map((c) => {
              const kind = columnKind(c);
              const isTarget = c.name === target;
              return (
                <tr key={c.name} className={isTarget ? 'selected' : ''}>
                  <td>
                    <strong className="mono">{c.name}</strong>
                    {isTarget && <span className="badge badge-running">target</span>}
                  </td>
                  <td>
                    <span className={`type type-${kind}`} title={`${kind}: ${KIND_HINT[kind] || kind}`}>
                      {kind}
                    </span>
                    {c.dtype && c.dtype !== kind && <div className="muted small">{c.dtype}</div>}
                  </td>
                  <td>
                    <div className="missing" title={`${c.missing ?? 0} missing values`}>
                      <span className="missing-bar">
                        <span style={{ width: `${Math.min(100, (c.missing_share || 0) * 100)}%` }} />
                      </span>
                      <span className="small num">{fmtPercent(c.missing_share || 0)}</span>
                    </div>
                  </td>
                  <td className="num hide-narrow">
                    {c.distinct != null ? `${fmtNum(c.distinct)}${c.distinct_capped ? '+' : ''}` : '—'}
                  </td>
                  <td>
                    {c.numeric ? (
                      <div className="dist">
                        <Histogram histogram={c.numeric.histogram} label={`Distribution of ${c.name}`} />
                        <div className="muted small">
                          {fmtNum(c.numeric.min, 3)} … {fmtNum(c.numeric.max, 3)} · mean {fmtNum(c.numeric.mean, 3)}
                        </div>
                      </div>
                    ) : (
                      <TopValues values={c.top_values} rows={rows} />
                    )}
                  </td>
                  {onPickTarget && (
                    <td>
                      <button
                        type="button"
                        className={isTarget ? 'btn btn-small btn-primary' : 'btn btn-small'}
                        onClick={() => onPickTarget(c.name)}
                      >
                        {isTarget ? 'Target' : 'Predict this'}
                      </button>
                    </td>
                  )}
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </div>
  );
}
