// Uploaded datasets with their profiles; start a pipeline from one.
import { useState } from 'react';
import { api } from '../api.js';
import DatasetProfile from '../components/DatasetProfile.jsx';
import { Card, Empty, ErrorBox, Loading } from '../components/ui.jsx';
import { fmtAgo, fmtBytes, fmtNum } from '../format.js';
import { useApi } from '../hooks.js';
import { Link } from '../router.jsx';

function Profile({ id }) {
  const ds = useApi(`/v1/datasets/${encodeURIComponent(id)}`);
  if (ds.error) return <ErrorBox error={ds.error} />;
  if (!ds.data) return <Loading what="Loading the profile" />;
  return <DatasetProfile dataset={ds.data} />;
}

export default function Datasets() {
  const list = useApi('/v1/datasets');
  const [open, setOpen] = useState(null);
  const [error, setError] = useState(null);
  const all = [...(list.data?.datasets || [])].sort((a, b) => b.created_at_ms - a.created_at_ms);
  const remove = async (d) => {
    if (!window.confirm(`Delete dataset ${d.name}? Pipelines and models made from it stay.`)) return;
    setError(null);
    try {
      await api(`/v1/datasets/${encodeURIComponent(d.id)}`, { method: 'DELETE' });
      list.reload();
    } catch (e) {
      setError(e);
    }
  };
  return (
    <div className="page">
      <header className="page-head">
        <div>
          <h1>Datasets</h1>
          <p className="muted">Tables you uploaded, each stored once and profiled at upload.</p>
        </div>
        <Link to="/pipelines/new" className="btn btn-primary">
          Upload a dataset
        </Link>
      </header>
      <ErrorBox error={list.error || error} />
      {list.loading && !list.data && <Loading what="Loading datasets" />}
      {list.data && !all.length && (
        <Card>
          <Empty>
            No datasets yet. <Link to="/pipelines/new">Upload one</Link> to start a pipeline.
          </Empty>
        </Card>
      )}
      {all.length > 0 && (
        <Card className="flush">
          <div className="table-wrap">
            <table className="table">
              <thead>
                <tr>
                  <th>Name</th>
                  <th className="num">Rows</th>
                  <th className="num">Columns</th>
                  <th className="num hide-narrow">Size</th>
                  <th className="hide-narrow">Uploaded</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {all.map((d) => (
                  <tr key={d.id} className={open === d.id ? 'selected clickable' : 'clickable'} onClick={() => setOpen(open === d.id ? null : d.id)}>
                    <td>
                      <strong>{d.name}</strong>
                      <div className="muted small mono">{d.id}</div>
                    </td>
                    <td className="num">{fmtNum(d.rows)}</td>
                    <td className="num">{d.columns}</td>
                    <td className="num hide-narrow">{fmtBytes(d.size_bytes)}</td>
                    <td className="hide-narrow">{fmtAgo(d.created_at_ms)}</td>
                    <td>
                      <button
                        type="button"
                        className="btn btn-small btn-ghost"
                        onClick={(e) => {
                          e.stopPropagation();
                          remove(d);
                        }}
                      >
                        Delete
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </Card>
      )}
      {open && (
        <Card title={all.find((d) => d.id === open)?.name} subtitle="Column types, missing values and distributions">
          <Profile id={open} />
        </Card>
      )}
    </div>
  );
}
