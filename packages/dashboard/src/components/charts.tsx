/**
 * @module charts
 * Two small SVG charts (no chart library: a few dozen lines keep the bundle lean):
 * stacked bars of values per status, and lines with gaps where a bucket has no value.
 * Colours come from the theme's CSS variables, so both themes read well.
 */

const width = 300;
const height = 120;
const pad = { left: 34, right: 6, top: 6, bottom: 16 };

export const statusColors: Record<string, string> = {
  Completed: "var(--ok)",
  Failed: "var(--bad)",
  Running: "var(--accent)",
  Queued: "var(--warn)",
  Cancelled: "var(--idle)",
  Skipped: "var(--muted)",
};

function niceMax(value: number): number {
  if (value <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const m of [1, 2, 2.5, 5, 10]) if (value <= m * power) return m * power;
  return 10 * power;
}

function Axes({ max, format, labels }: { max: number; format: (v: number) => string; labels: [string, string] }) {
  const bottom = height - pad.bottom;
  return (
    <g>
      <line className="axis" x1={pad.left} x2={width - pad.right} y1={bottom} y2={bottom} />
      <line className="axis" x1={pad.left} x2={pad.left} y1={pad.top} y2={bottom} />
      <text x={pad.left - 4} y={pad.top + 8} textAnchor="end">
        {format(max)}
      </text>
      <text x={pad.left - 4} y={bottom} textAnchor="end">
        0
      </text>
      <text x={pad.left} y={height - 3}>
        {labels[0]}
      </text>
      <text x={width - pad.right} y={height - 3} textAnchor="end">
        {labels[1]}
      </text>
    </g>
  );
}

/** Bars per bucket, one segment per key, stacked. */
export function StackedBars(props: {
  label: string;
  rows: Array<Record<string, number>>;
  keys: string[];
  labels: [string, string];
  format: (v: number) => string;
}) {
  const totals = props.rows.map((r) => props.keys.reduce((a, k) => a + (r[k] ?? 0), 0));
  const max = niceMax(Math.max(0, ...totals));
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const barW = plotW / Math.max(1, props.rows.length);
  const present = props.keys.filter((k) => props.rows.some((r) => (r[k] ?? 0) > 0));
  return (
    <figure className="chart-figure" style={{ margin: 0 }}>
      <svg viewBox={`0 0 ${width} ${height}`} role="img" aria-label={props.label}>
        <Axes max={max} format={props.format} labels={props.labels} />
        {props.rows.map((row, i) => {
          let y = height - pad.bottom;
          return (
            // biome-ignore lint/suspicious/noArrayIndexKey: buckets are positional
            <g key={i}>
              {props.keys.map((k) => {
                const v = row[k] ?? 0;
                if (v <= 0) return null;
                const h = (v / max) * plotH;
                y -= h;
                return (
                  <rect key={k} x={pad.left + i * barW + 0.5} y={y} width={Math.max(0.5, barW - 1)} height={h} fill={statusColors[k] ?? "var(--idle)"}>
                    <title>{`${k}: ${props.format(v)}`}</title>
                  </rect>
                );
              })}
            </g>
          );
        })}
      </svg>
      <figcaption className="legend">
        {present.length === 0 ? <span>no runs</span> : null}
        {present.map((k) => (
          <span key={k}>
            <span className="swatch" style={{ background: statusColors[k] }} />
            {k}
          </span>
        ))}
      </figcaption>
    </figure>
  );
}

/** Lines over the buckets; a null value leaves a gap. */
export function Lines(props: {
  label: string;
  series: Array<{ name: string; color: string; values: Array<number | null> }>;
  labels: [string, string];
  format: (v: number) => string;
  max?: number;
}) {
  const all = props.series.flatMap((s) => s.values.filter((v): v is number => v !== null));
  const max = props.max ?? niceMax(Math.max(0, ...all));
  const n = Math.max(1, ...props.series.map((s) => s.values.length));
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const x = (i: number) => pad.left + ((i + 0.5) / n) * plotW;
  const y = (v: number) => height - pad.bottom - (Math.min(v, max) / max) * plotH;
  return (
    <figure className="chart-figure" style={{ margin: 0 }}>
      <svg viewBox={`0 0 ${width} ${height}`} role="img" aria-label={props.label}>
        <Axes max={max} format={props.format} labels={props.labels} />
        {props.series.map((s) => {
          // runs of consecutive values, each drawn as one path; a lone value as a dot
          const parts: Array<Array<[number, number]>> = [];
          let part: Array<[number, number]> = [];
          s.values.forEach((v, i) => {
            if (v === null) {
              if (part.length) parts.push(part);
              part = [];
            } else part.push([x(i), y(v)]);
          });
          if (part.length) parts.push(part);
          return (
            <g key={s.name} data-series={s.name}>
              {parts.map((p) =>
                p.length === 1 ? (
                  <circle key={`${p[0]?.[0]}`} cx={p[0]?.[0]} cy={p[0]?.[1]} r={2} fill={s.color} />
                ) : (
                  <polyline key={`${p[0]?.[0]}`} points={p.map(([px, py]) => `${px},${py}`).join(" ")} fill="none" stroke={s.color} strokeWidth={1.5} />
                ),
              )}
            </g>
          );
        })}
      </svg>
      <figcaption className="legend">
        {props.series.map((s) => (
          <span key={s.name}>
            <span className="swatch" style={{ background: s.color }} />
            {s.name}
          </span>
        ))}
      </figcaption>
    </figure>
  );
}

export function ms(v: number): string {
  if (v < 1000) return `${Math.round(v)} ms`;
  if (v < 60_000) return `${(v / 1000).toFixed(1)} s`;
  return `${(v / 60_000).toFixed(1)} min`;
}
