import * as echarts from 'echarts';

/**
 * Charts for the report, drawn by Apache ECharts' server-side renderer into static SVG strings:
 * the report needs no script and no network to show them, and prints as it looks.
 */

type Option = echarts.EChartsCoreOption;

const PALETTE = ['#2b6cb0', '#c0392b', '#2f855a', '#b7791f', '#6b46c1', '#4a5568'];

/** Renders one ECharts option to an SVG string (no animation, fixed size). */
export function renderChart(option: Option, width = 540, height = 340): string {
  const chart = echarts.init(null, null, { renderer: 'svg', ssr: true, width, height });
  try {
    chart.setOption({ animation: false, color: PALETTE, textStyle: { fontFamily: 'system-ui, sans-serif' }, ...option });
    return chart.renderToSVGString();
  } finally {
    chart.dispose();
  }
}

const baseGrid = { left: 64, right: 24, top: 56, bottom: 56 };

function valueAxis(name: string, min?: number, max?: number): Record<string, unknown> {
  return {
    type: 'value',
    name,
    nameLocation: 'middle',
    nameGap: 34,
    min,
    max,
    splitLine: { lineStyle: { color: '#e2e8f0' } },
    axisLabel: { formatter: (v: number) => formatTick(v), hideOverlap: true },
  };
}

function formatTick(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e4 || a < 1e-3) return v.toExponential(1);
  return String(Number(v.toPrecision(4)));
}

export interface XY {
  x: number[];
  y: number[];
}

function pairs(c: XY): [number, number][] {
  return c.x.map((x, i) => [x, c.y[i] as number]);
}

/** ROC curve with the chance diagonal; the title carries the AUROC and its interval. */
export function rocChart(roc: { fpr: number[]; tpr: number[] }, title: string): string {
  return renderChart({
    title: { text: title, left: 'center', textStyle: { fontSize: 14 } },
    grid: baseGrid,
    xAxis: valueAxis('false-positive rate (1 − specificity)', 0, 1),
    yAxis: valueAxis('true-positive rate (sensitivity)', 0, 1),
    series: [
      { type: 'line', name: 'ROC', data: pairs({ x: roc.fpr, y: roc.tpr }), showSymbol: false, step: false, lineStyle: { width: 2 }, areaStyle: { opacity: 0.08 } },
      { type: 'line', name: 'chance', data: [[0, 0], [1, 1]], showSymbol: false, lineStyle: { type: 'dashed', color: '#a0aec0', width: 1 }, color: '#a0aec0' },
    ],
  });
}

/** Precision–recall curve (as a step function, as AP is computed) with the prevalence line. */
export function prChart(pr: { recall: number[]; precision: number[]; prevalence: number }, title: string): string {
  // The metrics package returns the curve from recall 1 down to 0; draw it left to right.
  const points = pr.recall.map((r, i): [number, number] => [r, pr.precision[i] as number]).reverse();
  return renderChart({
    title: { text: title, left: 'center', textStyle: { fontSize: 14 } },
    grid: baseGrid,
    xAxis: valueAxis('recall (sensitivity)', 0, 1),
    yAxis: valueAxis('precision', 0, 1),
    series: [
      { type: 'line', name: 'PR', data: points, showSymbol: false, step: 'end', lineStyle: { width: 2 } },
      { type: 'line', name: 'prevalence', data: [[0, pr.prevalence], [1, pr.prevalence]], showSymbol: false, lineStyle: { type: 'dashed', color: '#a0aec0', width: 1 }, color: '#a0aec0' },
    ],
  });
}

export interface Histogram {
  name: string;
  values: number[];
}

/**
 * Overlaid histograms on shared bins, each normalised to a density (so classes of different sizes
 * compare), with an optional vertical marker (the decision threshold).
 */
export function histogramChart(groups: Histogram[], options: { title: string; xName: string; marker?: { value: number; label: string } | null; bins?: number; width?: number; height?: number }): string {
  const all = groups.flatMap((g) => g.values).filter((v) => Number.isFinite(v));
  if (options.marker && Number.isFinite(options.marker.value)) all.push(options.marker.value);
  let lo = Math.min(...all);
  let hi = Math.max(...all);
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) {
    lo = 0;
    hi = 1;
  }
  if (hi - lo < 1e-12) {
    lo -= 0.5;
    hi += 0.5;
  }
  const bins = options.bins ?? 30;
  const width = (hi - lo) / bins;
  const series = groups.map((g) => {
    const counts = new Array<number>(bins).fill(0);
    let n = 0;
    for (const v of g.values) {
      if (!Number.isFinite(v)) continue;
      counts[Math.min(bins - 1, Math.max(0, Math.floor((v - lo) / width)))]! += 1;
      n++;
    }
    const data = counts.map((c, i): [number, number] => [lo + (i + 0.5) * width, n > 0 ? c / (n * width) : 0]);
    return {
      type: 'line',
      name: `${g.name} (n = ${n})`,
      data,
      step: 'middle',
      showSymbol: false,
      lineStyle: { width: 1.5 },
      areaStyle: { opacity: 0.25 },
    };
  });
  const marker = options.marker && Number.isFinite(options.marker.value)
    ? {
        markLine: {
          symbol: 'none',
          silent: true,
          lineStyle: { color: '#1a202c', type: 'dashed' },
          label: { formatter: options.marker.label, position: 'end' },
          data: [{ xAxis: options.marker.value }],
        },
      }
    : {};
  if (series[0]) Object.assign(series[0], marker);
  return renderChart({
    title: { text: options.title, left: 'center', textStyle: { fontSize: 14 } },
    legend: { top: 30, itemGap: 18, itemWidth: 18 },
    grid: { ...baseGrid, top: 76 },
    xAxis: { ...valueAxis(options.xName), scale: true },
    yAxis: valueAxis('density'),
    series,
  }, options.width ?? 540, options.height ?? 340);
}

export interface LineSeries {
  name: string;
  points: [number, number][];
}

/** Lines over a shared x axis (training curves, the β sweep), with an optional vertical marker. */
export function lineChart(series: LineSeries[], options: { title: string; xName: string; yName: string; xMin?: number; xMax?: number; yMin?: number; yMax?: number; marker?: { value: number; label: string } | null; logY?: boolean }): string {
  const out = series.map((s, i) => ({
    type: 'line',
    name: s.name,
    data: s.points,
    showSymbol: s.points.length <= 30,
    symbolSize: 5,
    lineStyle: { width: 1.8 },
    ...(i === 0 && options.marker && Number.isFinite(options.marker.value)
      ? {
          markLine: {
            symbol: 'none',
            silent: true,
            lineStyle: { color: '#1a202c', type: 'dashed' },
            label: { formatter: options.marker.label, position: 'end' },
            data: [{ xAxis: options.marker.value }],
          },
        }
      : {}),
  }));
  const yAxis = options.logY ? { ...valueAxis(options.yName), type: 'log' } : valueAxis(options.yName, options.yMin, options.yMax);
  return renderChart({
    title: { text: options.title, left: 'center', textStyle: { fontSize: 14 } },
    legend: series.length > 1 ? { top: 30, itemGap: 18, itemWidth: 18 } : undefined,
    grid: { ...baseGrid, top: series.length > 1 ? 76 : 48 },
    xAxis: valueAxis(options.xName, options.xMin, options.xMax),
    yAxis: { ...yAxis, scale: options.yMin === undefined },
    series: out,
  });
}
