// @aeflow/report/node — what needs Node: a screenshot of a report with headless Chromium.
export { findChromium, screenshotHtml } from './screenshot.js';
export type { ScreenshotOptions } from './screenshot.js';
