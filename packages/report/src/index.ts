// @aeflow/report — the run report: one self-contained HTML page (ECharts SVG charts, PNG image
// grids), heat-map PNGs. Browser-safe: no Node built-in is imported here (PNGs by fast-png, base64
// by hand); the headless-Chromium screenshot is in `@aeflow/report/node`.
export { renderReport, selectExamples, flattenSettings, historyCharts, escapeHtml, scoreCurves } from './report.js';
export type { ReportInput, ReportGroup, ReportExample, SkippedEntry, ReportRow, ReportMetrics, ReportCrossValidation, ScoreCurves, Label } from './report.js';
export { imageToPng, mapToPng, overlayToPng, mapScale, infernoColour, pngDataUri, base64 } from './images.js';
export type { FloatImage, PixelMap } from './images.js';
export { renderChart, rocChart, prChart, histogramChart, lineChart } from './charts.js';
export type { Histogram, LineSeries, XY } from './charts.js';
