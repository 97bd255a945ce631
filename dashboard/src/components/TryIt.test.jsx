// The try-it form is generated from the deployment's input schema and posts a typed row.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import TryIt from './TryIt.jsx';

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  sessionStorage.clear();
});

const deployment = {
  name: 'titanic-survived',
  input: {
    target: 'survived',
    task: 'binary',
    columns: [
      { name: 'age', dtype: 'float64', kind: 'numeric' },
      { name: 'sex', dtype: 'categorical', kind: 'categorical' },
    ],
  },
};
const profile = {
  column_profiles: [
    { name: 'age', numeric: { quantiles: [[0.5, 28]] } },
    { name: 'sex', top_values: [{ value: 'male', count: 5 }, { value: 'female', count: 3 }] },
  ],
};

describe('TryIt', () => {
  it('builds one field per input column, pre-filled from the profile', () => {
    render(<TryIt deployment={deployment} profile={profile} />);
    expect(screen.getByLabelText(/age/).value).toBe('28');
    expect(screen.getByLabelText(/age/).type).toBe('number');
    expect(screen.getByLabelText(/sex/).value).toBe('male');
    expect(screen.getByRole('button', { name: 'Predict survived' })).toBeTruthy();
  });

  it('posts the typed row with the key and shows the prediction with probabilities', async () => {
    sessionStorage.setItem('microlearn.apiKey', 'mlk_test');
    const calls = [];
    vi.stubGlobal('fetch', async (url, init) => {
      calls.push({ url, init });
      return new Response(
        JSON.stringify({ model_id: 'md_1', predictions: [{ prediction: 'yes', proba_no: 0.2, proba_yes: 0.8 }] }),
        { status: 200, headers: { 'content-type': 'application/json' } },
      );
    });
    render(<TryIt deployment={deployment} profile={profile} />);
    fireEvent.change(screen.getByLabelText(/age/), { target: { value: '' } });
    fireEvent.click(screen.getByRole('button', { name: 'Predict survived' }));
    await waitFor(() => expect(screen.getByTestId('prediction').textContent).toContain('yes'));
    expect(calls).toHaveLength(1);
    expect(calls[0].url).toBe('/v1/deployments/titanic-survived/predict');
    expect(calls[0].init.headers.Authorization).toBe('Bearer mlk_test');
    expect(JSON.parse(calls[0].init.body)).toEqual({ age: null, sex: 'male' });
    expect(screen.getByTestId('prediction').textContent).toContain('80.0%');
  });

  it('shows the server’s problem and marks the field it names', async () => {
    vi.stubGlobal('fetch', async () =>
      new Response(JSON.stringify({ type: 'urn:microlearn:problem:invalid-rows', detail: "row 0: field 'age' must be a number", field: 'age' }), {
        status: 422,
        headers: { 'content-type': 'application/problem+json' },
      }),
    );
    render(<TryIt deployment={deployment} profile={profile} />);
    fireEvent.click(screen.getByRole('button', { name: 'Predict survived' }));
    await waitFor(() => expect(screen.getByRole('alert').textContent).toContain("field 'age' must be a number"));
    expect(screen.getByLabelText(/age/).getAttribute('aria-invalid')).toBe('true');
  });
});
