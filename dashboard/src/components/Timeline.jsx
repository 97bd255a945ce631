// A Gantt chart drawn with D3: one row per pipeline (overview) or per stage plus a trials lane
// (pipeline page). Scroll or pinch to zoom the time axis, drag to pan, hover a bar for its
// times. Running bars grow to "now" on every render.
import { useEffect, useLayoutEffect, useRef, useState } from 'react';
import * as d3 from 'd3';
import { fmtDuration, fmtTime } from '../format.js';

const AXIS_H = 26;

/** Spread intervals over the fewest lanes so overlapping ones (parallel trials) stack. */
export function assignLanes(items, maxLanes = 8) {
  const order = items.map((it, i) => i).sort((a, b) => items[a].start - items[b].start);
  const ends = [];
  const lanes = new Array(items.length);
  for (const i of order) {
    const it = items[i];
    let lane = ends.findIndex((e) => e <= it.start);
    if (lane < 0) {
      if (ends.length < maxLanes) {
        lane = ends.length;
        ends.push(it.end);
      } else {
        // Every lane is busy: put it where the earliest bar ends, overlapping it.
        lane = ends.indexOf(Math.min(...ends));
      }
    }
    ends[lane] = Math.max(ends[lane] ?? 0, it.end);
    lanes[i] = lane;
  }
  return { lanes, count: Math.max(1, ends.length) };
}

/** The time span covering every segment, padded so bars do not touch the edges. */
export function timeDomain(rows, now) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const r of rows) {
    for (const s of r.segments) {
      lo = Math.min(lo, s.start);
      hi = Math.max(hi, s.end ?? now);
    }
  }
  if (!Number.isFinite(lo)) return [now - 60_000, now];
  const span = Math.max(hi - lo, 1000);
  return [lo - span * 0.02, hi + span * 0.04];
}

function useWidth(ref) {
  const [w, setW] = useState(800);
  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return undefined;
    const update = () => setW(Math.max(280, el.clientWidth));
    update();
    const ro = new ResizeObserver(update);
    ro.observe(el);
    return () => ro.disconnect();
  }, [ref]);
  return w;
}

/** Tick labels in seconds (or m:ss) since `origin`, with as many decimals as the zoom needs. */
export function relativeTick(span) {
  return (s) => {
    if (span >= 180) {
      const m = Math.floor(s / 60);
      return `${m}:${String(Math.round(s - m * 60)).padStart(2, '0')}`;
    }
    const text = s.toFixed(span < 2 ? 2 : span < 20 ? 1 : 0);
    return `${text.includes('.') ? text.replace(/0+$/, '').replace(/\.$/, '') : text} s`;
  };
}

/**
 * `origin` (ms) switches the axis to seconds since that instant (a pipeline's start); without
 * it the axis shows clock times (the overview, where pipelines are far apart).
 */
export default function Timeline({ rows, now = Date.now(), laneHeight = 20, labelWidth, emptyText, testId = 'timeline', origin }) {
  const wrap = useRef(null);
  const svgRef = useRef(null);
  const tipRef = useRef(null);
  const zoomRef = useRef(d3.zoomIdentity);
  const [zoomed, setZoomed] = useState(false);
  const width = useWidth(wrap);
  const narrow = width < 560;
  const labelW = labelWidth ?? (narrow ? 96 : 170);
  const rowHeights = rows.map((r) => (r.lanes || 1) * (r.laneHeight || laneHeight) + 10);
  const height = AXIS_H + rowHeights.reduce((a, b) => a + b, 0) + 6;
  const rowsRef = useRef(rows);
  rowsRef.current = rows;

  useEffect(() => {
    const svg = d3.select(svgRef.current);
    const plotW = Math.max(50, width - labelW - 12);
    const [lo, hi] = timeDomain(rows, now);
    const relative = origin != null;
    const base = relative
      ? d3.scaleLinear().domain([(lo - origin) / 1000, (hi - origin) / 1000]).range([0, plotW])
      : d3.scaleTime().domain([lo, hi]).range([0, plotW]);
    const tip = d3.select(tipRef.current);

    svg.attr('width', width).attr('height', height);
    let root = svg.select('g.root');
    if (root.empty()) {
      root = svg.append('g').attr('class', 'root');
      root.append('g').attr('class', 'labels');
      root.append('g').attr('class', 'axis');
      root.append('clipPath').attr('id', `${testId}-clip`).append('rect');
      root.append('g').attr('class', 'plot').attr('clip-path', `url(#${testId}-clip)`);
      root.append('rect').attr('class', 'zoom-catcher');
    }
    root.select(`clipPath rect`).attr('x', 0).attr('y', 0).attr('width', plotW).attr('height', height);
    const offsets = [];
    rowHeights.reduce((acc, h, i) => {
      offsets[i] = acc;
      return acc + h;
    }, AXIS_H);

    // Row labels and stripes.
    const labels = root.select('g.labels');
    const lab = labels
      .selectAll('g.row-label')
      .data(rows, (r) => r.id)
      .join((enter) => {
        const g = enter.append('g').attr('class', 'row-label');
        g.append('rect').attr('class', 'stripe');
        g.append('text').attr('class', 'label');
        return g;
      });
    lab.attr('transform', (r, i) => `translate(0,${offsets[i]})`);
    lab
      .select('rect.stripe')
      .attr('x', 0)
      .attr('width', width)
      .attr('height', (r, i) => rowHeights[i])
      .attr('class', (r, i) => (i % 2 ? 'stripe odd' : 'stripe'));
    lab
      .select('text.label')
      .attr('x', 8)
      .attr('y', (r, i) => rowHeights[i] / 2 + 4)
      .text((r) => {
        const max = Math.floor((labelW - 14) / 6.6);
        return r.label.length > max ? `${r.label.slice(0, max - 1)}…` : r.label;
      })
      .classed('clickable', (r) => Boolean(r.onClick))
      .on('click', (e, r) => r.onClick?.())
      .selectAll('title')
      .data((r) => [r.title || r.label])
      .join('title')
      .text((t) => t);

    const plot = root.select('g.plot').attr('transform', `translate(${labelW},0)`);
    root.select('g.axis').attr('transform', `translate(${labelW},${AXIS_H - 4})`);
    root
      .select('rect.zoom-catcher')
      .attr('x', labelW)
      .attr('y', 0)
      .attr('width', plotW)
      .attr('height', height)
      .attr('fill', 'transparent')
      .style('cursor', 'grab')
      .lower();
    root.select('rect.zoom-catcher').raise();
    plot.raise();

    const segs = [];
    rows.forEach((r, i) => {
      const lh = r.laneHeight || laneHeight;
      r.segments.forEach((s, j) => {
        segs.push({ ...s, key: `${r.id}/${s.key ?? j}`, y: offsets[i] + 5 + (s.lane || 0) * lh, h: lh - (r.lanes > 1 ? 1 : 4) });
      });
    });

    const draw = (t) => {
      const xs = t.rescaleX(base);
      const x = relative ? (ms) => xs((ms - origin) / 1000) : xs;
      const [d0, d1] = xs.domain();
      const span = relative ? d1 - d0 : (d1 - d0) / 1000;
      const tick = relative
        ? relativeTick(span)
        : d3.timeFormat(span < 86400 ? (span < 120 ? '%H:%M:%S' : '%H:%M') : '%b %d %H:%M');
      const axis = d3.axisTop(xs).ticks(Math.max(2, Math.floor(plotW / 130))).tickFormat(tick).tickSizeOuter(0);
      root.select('g.axis').call(axis);
      root.select('g.axis').selectAll('text').attr('class', 'axis-text');
      plot
        .selectAll('rect.seg')
        .data(segs, (s) => s.key)
        .join('rect')
        .attr('class', (s) => `seg${s.running ? ' running' : ''}${s.dashed ? ' dashed' : ''}`)
        .attr('data-testid', (s) => s.testid || null)
        .attr('x', (s) => x(s.start))
        .attr('y', (s) => s.y)
        .attr('width', (s) => Math.max(2, x(s.end ?? now) - x(s.start)))
        .attr('height', (s) => Math.max(2, s.h))
        .attr('rx', (s) => (s.h > 8 ? 3 : 1))
        .attr('fill', (s) => s.color)
        .attr('fill-opacity', (s) => s.opacity ?? 1)
        .attr('stroke', (s) => s.stroke || null)
        .on('mousemove', (e, s) => {
          const box = wrap.current.getBoundingClientRect();
          const lines = [
            ...(s.tooltip || []),
            `${fmtTime(s.start)} → ${s.end ? fmtTime(s.end) : 'now'} (${fmtDuration(((s.end ?? now) - s.start) / 1000)})`,
          ];
          tip
            .style('display', 'block')
            .style('left', `${Math.min(e.clientX - box.left + 12, box.width - 240)}px`)
            .style('top', `${e.clientY - box.top + 14}px`)
            .html('')
            .selectAll('div')
            .data(lines)
            .join('div')
            .attr('class', (d, i) => (i === 0 ? 'tip-title' : 'tip-line'))
            .text((d) => d);
        })
        .on('mouseleave', () => tip.style('display', 'none'))
        .on('click', (e, s) => s.onClick?.());
    };

    const zoom = d3
      .zoom()
      .scaleExtent([1, 20000])
      .extent([
        [0, 0],
        [plotW, height],
      ])
      .translateExtent([
        [0, 0],
        [plotW, height],
      ])
      .filter((e) => !e.button && (e.type !== 'wheel' || !e.shiftKey))
      .on('zoom', (e) => {
        zoomRef.current = e.transform;
        setZoomed(e.transform.k !== 1 || e.transform.x !== 0);
        draw(e.transform);
      });
    const catcher = svg.select('g.root');
    catcher.call(zoom).on('dblclick.zoom', null);
    // Keep the user's zoom across live re-renders.
    catcher.property('__zoom', zoomRef.current);
    draw(zoomRef.current);
    svgRef.current.__reset = () => catcher.transition().duration(250).call(zoom.transform, d3.zoomIdentity);
  });

  if (!rows.length) return <div className="empty">{emptyText || 'Nothing to show yet.'}</div>;
  return (
    <div className="timeline" ref={wrap} data-testid={testId}>
      <div className="timeline-tools">
        <span className="muted small">Scroll to zoom · drag to pan · hover for times</span>
        {zoomed && (
          <button type="button" className="btn btn-ghost btn-small" onClick={() => svgRef.current.__reset?.()}>
            Reset zoom
          </button>
        )}
      </div>
      <svg ref={svgRef} role="img" aria-label="Timeline of pipeline stages" />
      <div className="timeline-tip" ref={tipRef} />
    </div>
  );
}
