// A thin React wrapper around Chart.js: one chart per canvas, updated in place when the data
// change (no re-creation, so live charts do not flicker), destroyed on unmount.
import { useEffect, useRef } from 'react';
import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Filler,
  Legend,
  LineController,
  LineElement,
  LinearScale,
  LogarithmicScale,
  PointElement,
  ScatterController,
  Tooltip,
} from 'chart.js';

Chart.register(
  BarController,
  BarElement,
  CategoryScale,
  Filler,
  Legend,
  LineController,
  LineElement,
  LinearScale,
  LogarithmicScale,
  PointElement,
  ScatterController,
  Tooltip,
);
Chart.defaults.font.family = getComputedStyle(document.documentElement).getPropertyValue('--font').trim() || 'system-ui, sans-serif';
Chart.defaults.color = '#4a5568';
Chart.defaults.borderColor = '#e6e9ef';
Chart.defaults.animation = false;
Chart.defaults.maintainAspectRatio = false;

export default function ChartCanvas({ type, data, options, height = 260, label, testId }) {
  const canvas = useRef(null);
  const chart = useRef(null);

  useEffect(() => {
    chart.current = new Chart(canvas.current, { type, data, options });
    return () => {
      chart.current?.destroy();
      chart.current = null;
    };
    // The chart is created once per type; data and options are applied below.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [type]);

  useEffect(() => {
    const c = chart.current;
    if (!c) return;
    c.data = data;
    c.options = options || {};
    c.update('none');
  }, [data, options]);

  return (
    <div className="chart-box" style={{ height }} data-testid={testId}>
      <canvas ref={canvas} role="img" aria-label={label} />
    </div>
  );
}
