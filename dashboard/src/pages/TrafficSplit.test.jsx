// The traffic split shows both sides of a canary with their own counters, and one bar when a
// single model takes every request.
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, render, screen } from '@testing-library/react';
import { TrafficSplit } from './Deployments.jsx';

afterEach(cleanup);

describe('TrafficSplit', () => {
  it('lists the canary and the stable model with share, requests and latency', () => {
    render(
      <TrafficSplit
        mode="rest"
        traffic={[
          { model_id: 'mdl-new', role: 'canary', percent: 20, requests: 40, errors: 1, mean_latency_us: 850 },
          { model_id: 'mdl-old', role: 'stable', percent: 80, requests: 160, errors: 0, mean_latency_us: 1500 },
        ]}
      />,
    );
    const rows = screen.getAllByRole('row').slice(1).map((r) => r.textContent);
    expect(rows[0]).toContain('canary');
    expect(rows[0]).toContain('mdl-new');
    expect(rows[0]).toContain('20%');
    expect(rows[0]).toContain('850 µs');
    expect(rows[1]).toContain('mdl-old');
    expect(rows[1]).toContain('80%');
    expect(rows[1]).toContain('1.5 ms');
    expect(screen.getByTestId('traffic').textContent).toContain('20% of requests go to the new model');
  });

  it('shows one full bar and no table without a canary', () => {
    render(<TrafficSplit traffic={[{ model_id: 'mdl-a', role: 'current', percent: 100, requests: 3, errors: 0, mean_latency_us: 90 }]} />);
    expect(screen.queryByRole('table')).toBeNull();
    expect(screen.getByTitle('mdl-a: 100% of requests').style.width).toBe('100%');
    expect(screen.getByTestId('traffic').textContent).toContain('All requests go to the current model.');
  });
});
