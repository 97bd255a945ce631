// A form generated from a deployment's input schema that calls predict. Fields start at a
// typical value from the training data's profile (median, most frequent value), so one click
// gives a prediction; an empty field is sent as null (a missing value).
import { useEffect, useMemo, useState } from 'react';
import { api } from '../api.js';
import { fmtNum, fmtPercent } from '../format.js';

/** A typical value of a column from the dataset profile, as a form string. */
export function typicalValue(column, profile) {
  const prof = profile?.column_profiles?.find((c) => c.name === column.name);
  if (column.dtype === 'float64' || column.dtype === 'int64') {
    const median = prof?.numeric?.quantiles?.find(([q]) => q === 0.5)?.[1] ?? prof?.numeric?.mean;
    if (median == null) return '';
    return String(column.dtype === 'int64' ? Math.round(median) : Number(median.toPrecision(6)));
  }
  if (column.dtype === 'boolean') {
    const top = prof?.top_values?.[0]?.value;
    return top == null ? 'true' : String(top);
  }
  if (column.dtype === 'timestamp') return '';
  return prof?.top_values?.[0]?.value != null ? String(prof.top_values[0].value) : '';
}

/** The row object to send: typed by the schema, empty fields as null. */
export function buildRow(columns, values) {
  const row = {};
  for (const c of columns) {
    const raw = values[c.name];
    if (raw == null || raw === '') {
      row[c.name] = null;
    } else if (c.dtype === 'float64' || c.dtype === 'int64') {
      row[c.name] = Number(raw);
    } else if (c.dtype === 'boolean') {
      row[c.name] = raw === 'true';
    } else {
      row[c.name] = raw;
    }
  }
  return row;
}

function Result({ result, task }) {
  const pred = result?.predictions?.[0];
  if (!pred) return null;
  const probs = Object.entries(pred)
    .filter(([k]) => k.startsWith('proba_'))
    .map(([k, v]) => [k.slice(6), v])
    .sort((a, b) => b[1] - a[1]);
  return (
    <div className="prediction" data-testid="prediction" aria-live="polite">
      <div className="muted small">Prediction</div>
      <div className="prediction-value">{typeof pred.prediction === 'number' ? fmtNum(pred.prediction) : String(pred.prediction)}</div>
      {probs.length > 0 && (
        <div className="probs">
          {probs.map(([label, p]) => (
            <div key={label} className="prob">
              <span className="prob-label">{label}</span>
              <span className="prob-bar">
                <span style={{ width: `${p * 100}%` }} />
              </span>
              <span className="num small">{fmtPercent(p)}</span>
            </div>
          ))}
        </div>
      )}
      {task === 'regression' && <div className="muted small">predicted value of the target</div>}
      <div className="muted small">by model {result.model_id}</div>
    </div>
  );
}

export default function TryIt({ deployment, profile }) {
  const input = deployment.input;
  const columns = useMemo(() => input?.columns || [], [input]);
  const [values, setValues] = useState({});
  const [result, setResult] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    setValues(Object.fromEntries(columns.map((c) => [c.name, typicalValue(c, profile)])));
  }, [columns, profile]);

  if (!input) {
    return <p className="muted">The deployment’s model is not loaded, so there is no form. Check the server log.</p>;
  }
  const row = buildRow(columns, values);
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      setResult(await api(`/v1/deployments/${encodeURIComponent(deployment.name)}/predict`, { method: 'POST', body: row }));
    } catch (err) {
      setError(err);
      setResult(null);
    } finally {
      setBusy(false);
    }
  };
  const curl = `curl -H "Authorization: Bearer $KEY" -H 'content-type: application/json' \\\n  -X POST ${window.location.origin}/v1/deployments/${deployment.name}/predict \\\n  -d '${JSON.stringify(row)}'`;

  return (
    <form className="tryit" onSubmit={submit} data-testid="tryit-form">
      <div className="tryit-fields">
        {columns.map((c) => {
          const prof = profile?.column_profiles?.find((p) => p.name === c.name);
          const id = `f-${deployment.name}-${c.name}`;
          const bad = error?.field === c.name;
          const common = {
            id,
            name: c.name,
            value: values[c.name] ?? '',
            onChange: (e) => setValues((v) => ({ ...v, [c.name]: e.target.value })),
            'aria-invalid': bad || undefined,
            className: bad ? 'invalid' : undefined,
          };
          let control;
          if (c.dtype === 'float64' || c.dtype === 'int64') {
            control = <input type="number" step={c.dtype === 'int64' ? 1 : 'any'} placeholder="missing" {...common} />;
          } else if (c.dtype === 'boolean') {
            control = (
              <select {...common}>
                <option value="true">true</option>
                <option value="false">false</option>
                <option value="">missing</option>
              </select>
            );
          } else if (c.dtype === 'timestamp') {
            control = <input type="text" placeholder="2024-01-31 12:00:00" {...common} />;
          } else {
            control = (
              <>
                <input type="text" list={`${id}-values`} placeholder="missing" {...common} />
                <datalist id={`${id}-values`}>
                  {(prof?.top_values || []).map((v) => (
                    <option key={String(v.value)} value={String(v.value)} />
                  ))}
                </datalist>
              </>
            );
          }
          return (
            <label key={c.name} className="field" htmlFor={id}>
              <span>
                {c.name} <span className="muted small">{c.kind}</span>
              </span>
              {control}
            </label>
          );
        })}
      </div>
      <div className="tryit-side">
        <button type="submit" className="btn btn-primary" disabled={busy} data-testid="predict">
          {busy ? 'Predicting…' : `Predict ${input.target}`}
        </button>
        {error && (
          <div className="error-box" role="alert">
            {error.message}
          </div>
        )}
        <Result result={result} task={input.task} />
        <details>
          <summary className="small">The same call with curl</summary>
          <pre className="small">{curl}</pre>
        </details>
      </div>
    </form>
  );
}
