export { evaluateScores, scoreCurves, countLabels, EvaluationError } from './evaluate.js';
export type { Label, ScoreRow, ScoreMetrics, ScoreCurves, ThresholdChoice, ThresholdRule, EvaluateOptions } from './evaluate.js';
export { renderReport, selectExamples, flattenSettings, historyCharts, escapeHtml } from './report.js';
export type { ReportInput, ReportGroup, ReportExample, SkippedEntry } from './report.js';
export { imageToPng, mapToPng, overlayToPng, mapScale, infernoColour, pngDataUri } from './images.js';
export type { FloatImage, PixelMap } from './images.js';
export { findChromium, screenshotHtml } from './screenshot.js';
export type { ScreenshotOptions } from './screenshot.js';
