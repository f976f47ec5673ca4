/**
 * A log-log line chart as SVG elements, for the sweep (sweep.ts). Log-log so that growth rates
 * read as slopes: a figure linear in N rises one decade per decade of N.
 */
export interface Series {
  name: string;
  points: Array<[number, number]>;
  /** Floors are drawn dashed. */
  dashed?: boolean;
}

const WIDTH = 720;
const HEIGHT = 320;
const MARGIN = { left: 70, right: 170, top: 30, bottom: 40 };
const COLOURS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f'];

const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function lineChart(title: string, unit: string, all: Series[]): string {
  // A log scale has no place for zero (a CPU figure under /proc's 10 ms resolution): such points are left out.
  const series = all.map((s) => ({ ...s, points: s.points.filter(([x, y]) => x > 0 && y > 0) })).filter((s) => s.points.length > 0);
  const xs = series.flatMap((s) => s.points.map(([x]) => x));
  const ys = series.flatMap((s) => s.points.map(([, y]) => y));
  if (xs.length === 0) return `<text x="${MARGIN.left}" y="${MARGIN.top}">${escape(title)}: no data</text>`;
  const decade = (v: number, up: boolean) => 10 ** (up ? Math.ceil(Math.log10(v)) : Math.floor(Math.log10(v)));
  const [x0, x1] = [Math.min(...xs), Math.max(...xs) > Math.min(...xs) ? Math.max(...xs) : Math.min(...xs) * 10];
  const [y0, y1] = [decade(Math.min(...ys), false), decade(Math.max(...ys), true)];
  const px = (x: number) => MARGIN.left + ((Math.log10(x) - Math.log10(x0)) / (Math.log10(x1) - Math.log10(x0))) * (WIDTH - MARGIN.left - MARGIN.right);
  const py = (y: number) => HEIGHT - MARGIN.bottom - ((Math.log10(y) - Math.log10(y0)) / (Math.log10(y1) - Math.log10(y0))) * (HEIGHT - MARGIN.top - MARGIN.bottom);
  const out: string[] = [`<text x="${MARGIN.left}" y="18" font-weight="bold">${escape(title)} (log-log)</text>`];
  for (let y = y0; y <= y1; y *= 10) {
    out.push(`<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${py(y)}" y2="${py(y)}" stroke="#ddd"/>`, `<text x="${MARGIN.left - 6}" y="${py(y) + 4}" text-anchor="end">${y}</text>`);
  }
  for (const x of [...new Set(xs)].sort((a, b) => a - b)) {
    out.push(`<line x1="${px(x)}" x2="${px(x)}" y1="${MARGIN.top}" y2="${HEIGHT - MARGIN.bottom}" stroke="#eee"/>`, `<text x="${px(x)}" y="${HEIGHT - MARGIN.bottom + 16}" text-anchor="middle">${x}</text>`);
  }
  out.push(`<text x="${(MARGIN.left + WIDTH - MARGIN.right) / 2}" y="${HEIGHT - 6}" text-anchor="middle">N (proxies)</text>`, `<text x="14" y="${(MARGIN.top + HEIGHT - MARGIN.bottom) / 2}" transform="rotate(-90 14 ${(MARGIN.top + HEIGHT - MARGIN.bottom) / 2})" text-anchor="middle">${escape(unit)}</text>`);
  series.forEach((s, i) => {
    const colour = COLOURS[i % COLOURS.length]!;
    const points = [...s.points].sort((a, b) => a[0] - b[0]);
    out.push(`<polyline fill="none" stroke="${colour}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''} points="${points.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ')}"/>`);
    for (const [x, y] of points) out.push(`<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="3" fill="${colour}"/>`);
    const legendY = MARGIN.top + 10 + i * 18;
    out.push(`<line x1="${WIDTH - MARGIN.right + 12}" x2="${WIDTH - MARGIN.right + 36}" y1="${legendY}" y2="${legendY}" stroke="${colour}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`, `<text x="${WIDTH - MARGIN.right + 42}" y="${legendY + 4}">${escape(s.name)}</text>`);
  });
  return out.join('\n');
}
