// Inline SVG line chart: time on x, values on y, one polyline (and its points) per series.

import {
  svg, h, fmtNum, fmtTick, fmtTime, tableWrap,
} from './dom.js';

const W = 760;
const H = 260;
const PAD = { l: 64, r: 16, t: 14, b: 30 };

function niceStep(span, target) {
  const raw = span / Math.max(1, target);
  const mag = 10 ** Math.floor(Math.log10(raw || 1));
  const n = raw / mag;
  const step = n <= 1 ? 1 : n <= 2 ? 2 : n <= 2.5 ? 2.5 : n <= 5 ? 5 : 10;
  return step * mag;
}

function compact(v) {
  const a = Math.abs(v);
  if (a >= 1e9) return `${+(v / 1e9).toFixed(1)}G`;
  if (a >= 1e6) return `${+(v / 1e6).toFixed(1)}M`;
  if (a >= 1e4) return `${+(v / 1e3).toFixed(0)}k`;
  if (a >= 1e3) return `${+(v / 1e3).toFixed(1)}k`;
  return `${+v.toFixed(2)}`;
}

/**
 * series: [{key, label, color, points: [{t: ms, v: number}]}] (points in time order).
 * valuesOpen / onValuesToggle(open): whether the value table starts unfolded, and who hears of it.
 * Returns a <figure> with the SVG, a legend, and the values drawn as a table (folded under
 * "Values in this chart"): the text alternative of the picture, for screen readers and for anyone
 * who wants the exact numbers.
 */
export function lineChart(series, {
  title = 'chart', unit = '', valuesOpen = false, onValuesToggle = null,
} = {}) {
  const all = series.flatMap((s) => s.points);
  const fig = h('figure', { class: 'chart' });
  if (all.length === 0) return fig;
  let t0 = Math.min(...all.map((p) => p.t));
  let t1 = Math.max(...all.map((p) => p.t));
  if (t1 === t0) {
    t0 -= 60000;
    t1 += 60000;
  }
  let v0 = Math.min(...all.map((p) => p.v));
  let v1 = Math.max(...all.map((p) => p.v));
  if (v1 === v0) {
    v1 += Math.max(1, Math.abs(v1) * 0.05);
    v0 -= Math.max(1, Math.abs(v0) * 0.05);
  }
  const step = niceStep(v1 - v0, 4);
  v0 = Math.floor(v0 / step) * step;
  v1 = Math.ceil(v1 / step) * step;
  const x = (t) => PAD.l + ((t - t0) / (t1 - t0)) * (W - PAD.l - PAD.r);
  const y = (v) => H - PAD.b - ((v - v0) / (v1 - v0)) * (H - PAD.t - PAD.b);

  const root = svg('svg', {
    viewBox: `0 0 ${W} ${H}`, class: 'chart-svg', role: 'img', 'aria-label': title, preserveAspectRatio: 'xMidYMid meet',
  });
  const grid = svg('g', { class: 'chart-grid' });
  for (let v = v0; v <= v1 + step / 2; v += step) {
    grid.appendChild(svg('line', { x1: PAD.l, x2: W - PAD.r, y1: y(v), y2: y(v) }));
    grid.appendChild(svg('text', { x: PAD.l - 8, y: y(v) + 4, 'text-anchor': 'end', class: 'chart-tick' }, compact(v) + unit));
  }
  const ticks = 5;
  let lastLabel = '';
  for (let i = 0; i <= ticks; i++) {
    const t = t0 + ((t1 - t0) * i) / ticks;
    const label = fmtTick(t, t1 - t0);
    if (label === lastLabel) continue; // a short span: the same minute twice
    lastLabel = label;
    grid.appendChild(svg('text', {
      x: x(t), y: H - 8, 'text-anchor': i === 0 ? 'start' : i === ticks ? 'end' : 'middle', class: 'chart-tick',
    }, label));
  }
  grid.appendChild(svg('line', { class: 'chart-axis', x1: PAD.l, x2: W - PAD.r, y1: H - PAD.b, y2: H - PAD.b }));
  root.appendChild(grid);

  for (const s of series) {
    if (!s.points.length) continue;
    const g = svg('g', { class: 'chart-series', 'data-series': s.key });
    const pts = s.points.map((p) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(' ');
    g.appendChild(svg('polyline', { points: pts, fill: 'none', stroke: s.color, 'stroke-width': 2, 'stroke-linejoin': 'round' }));
    const showDots = s.points.length <= 120;
    for (const p of s.points) {
      const c = svg('circle', {
        class: 'chart-point', cx: x(p.t).toFixed(1), cy: y(p.v).toFixed(1), r: showDots ? 3 : 0,
        fill: s.color, 'data-value': p.v, 'data-t': p.t,
      }, svg('title', null, `${s.label}: ${fmtNum(p.v)}${unit} — ${fmtTime(p.t)}`));
      g.appendChild(c);
    }
    root.appendChild(g);
  }
  fig.appendChild(root);
  fig.appendChild(h('figcaption', { class: 'chart-legend' }, series.filter((s) => s.points.length).map((s) => {
    const last = s.points[s.points.length - 1];
    return h('span', { class: 'legend-item' },
      h('span', { class: 'legend-swatch', style: { background: s.color } }),
      s.label, ' ', h('b', { class: 'num' }, fmtNum(last.v)));
  })));
  const values = valueTable(series, { title, unit });
  values.open = valuesOpen; // a re-render with a new reading keeps the table open or closed
  if (onValuesToggle) values.addEventListener('toggle', () => onValuesToggle(values.open));
  fig.appendChild(values);
  return fig;
}

/** One row per time, one column per series: what the chart shows, as text. */
function valueTable(series, { title, unit }) {
  const shown = series.filter((s) => s.points.length);
  const byTime = new Map();
  for (const s of shown) {
    for (const p of s.points) {
      if (!byTime.has(p.t)) byTime.set(p.t, {});
      byTime.get(p.t)[s.key] = p.v;
    }
  }
  const times = [...byTime.keys()].sort((a, b) => a - b);
  const table = h('table', { class: 'table table-compact', testid: 'chart-values' },
    h('caption', { class: 'sr-only' }, title),
    h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Time'),
      shown.map((s) => h('th', { scope: 'col', class: 'num', dataset: { series: s.key } }, s.label)))),
    h('tbody', null, times.map((t) => h('tr', null, h('th', { scope: 'row', class: 'nowrap' }, fmtTime(t)),
      shown.map((s) => {
        const v = byTime.get(t)[s.key];
        return h('td', { class: 'num' }, v === undefined ? '—' : `${fmtNum(v)}${unit}`);
      })))));
  return h('details', { class: 'chart-values' }, h('summary', null, `Values in this chart (${times.length})`),
    tableWrap(table, `${title}: values`));
}
