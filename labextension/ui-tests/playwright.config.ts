import { defineConfig } from '@playwright/test';

// Galata's settings for JupyterLab (its fixtures come with `test` from @jupyterlab/galata),
// with Debian's Chromium rather than a browser Playwright downloads.
export default defineConfig({
  reporter: [['list']],
  outputDir: '../../tests/.artifacts/galata',
  retries: 0,
  workers: 1,
  timeout: 180_000,
  use: {
    baseURL: 'http://127.0.0.1:8888',
    viewport: { width: 1024, height: 768 },
    timezoneId: 'Europe/London',
    trace: 'retain-on-failure',
    launchOptions: {
      executablePath: process.env.TIFFIN_CHROMIUM ?? '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu']
    }
  }
});
