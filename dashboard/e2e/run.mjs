#!/usr/bin/env node
// End-to-end test of the dashboard: a real `microlearn serve` (fresh data directory, free
// port) driven through headless Chromium with playwright-core. A newcomer's path: sign in →
// upload a CSV → choose the target and a short budget → start → watch the timeline progress →
// result, leaderboard and evaluation charts → a canary of another model, promoted, rolled back → predict
// through the try-it form → plugins → datasets → a second tenant sees none of it → narrow
// screen. Any console error, page error or 5xx fails the run. Screenshots of every page go to
// $MICROLEARN_E2E_OUT (default target/dashboard-e2e).
//
//   node dashboard/e2e/run.mjs      (MICROLEARN_BIN, CHROMIUM_PATH, MICROLEARN_E2E_DATASET
//                                    and MICROLEARN_E2E_TARGET override the defaults)
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../..');
const targetDir = process.env.CARGO_TARGET_DIR ? resolve(process.env.CARGO_TARGET_DIR) : join(repo, 'target');
const bin = process.env.MICROLEARN_BIN || join(targetDir, 'release', 'microlearn');
const out = resolve(process.env.MICROLEARN_E2E_OUT || join(repo, 'target', 'dashboard-e2e'));
const chromiumPath =
  process.env.CHROMIUM_PATH || ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find((p) => existsSync(p));

function pickDataset() {
  if (process.env.MICROLEARN_E2E_DATASET) {
    return { file: resolve(process.env.MICROLEARN_E2E_DATASET), target: process.env.MICROLEARN_E2E_TARGET };
  }
  const penguins = resolve(repo, 'tests/data/penguins.csv');
  if (existsSync(penguins)) return { file: penguins, target: 'species', classes: ['Adelie', 'Chinstrap', 'Gentoo'] };
  return { file: join(repo, 'examples/data/titanic.csv'), target: 'survived' };
}
const dataset = pickDataset();
const BUDGET = process.env.MICROLEARN_E2E_BUDGET || '8';

const started = Date.now();
const log = (msg) => console.log(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)} s] ${msg}`);
function check(cond, msg) {
  if (!cond) throw new Error(`check failed: ${msg}`);
}

/** Start the server on a free port; resolve with its URL and the admin key it prints once. */
function startServer(home) {
  const env = { ...process.env, MICROLEARN_LOG: process.env.MICROLEARN_LOG || 'warn' };
  delete env.MICROLEARN_ADMIN_KEY; // the key must come from the first start, as for a new user
  delete env.MICROLEARN_LISTEN;
  const child = spawn(bin, ['--home', home, 'serve', '--listen', '127.0.0.1:0'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  return new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`microlearn serve did not start in 60 s\nstdout:\n${stdout}\nstderr:\n${stderr}`)), 60_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      rej(new Error(`microlearn serve exited with ${code}\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    });
    child.stdout.on('data', (d) => {
      stdout += d;
      const key = stdout.match(/admin API key \(shown once, keep it\): (mlk_[0-9a-f]+)/)?.[1];
      const url = stdout.match(/listening on (http:\/\/\S+)/)?.[1];
      if (key && url) {
        clearTimeout(timer);
        child.removeAllListeners('exit');
        res({ child, key, url, stderr: () => stderr });
      }
    });
  });
}

async function apiCall(base, key, path, body) {
  const resp = await fetch(`${base}${path}`, {
    method: body ? 'POST' : 'GET',
    headers: { Authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = await resp.json();
  if (!resp.ok) throw new Error(`${path}: ${resp.status} ${JSON.stringify(json)}`);
  return json;
}

async function main() {
  check(existsSync(bin), `no microlearn binary at ${bin} (cargo build --release -p microlearn, or set MICROLEARN_BIN)`);
  check(chromiumPath, 'no Chromium found (apt-get install chromium, or set CHROMIUM_PATH)');
  check(existsSync(dataset.file), `no dataset at ${dataset.file}`);
  mkdirSync(out, { recursive: true });
  // Screenshots of an earlier run would pass for this one's.
  for (const f of readdirSync(out)) if (f.endsWith('.png')) rmSync(join(out, f));
  const home = mkdtempSync(join(tmpdir(), 'microlearn-e2e-home-'));
  const profile = mkdtempSync(join(tmpdir(), 'microlearn-e2e-chromium-'));
  const problems = [];
  let allowHttpErrors = false;
  let server;
  let context;
  let page;
  const shot = async (name, opts = {}) => {
    const path = join(out, `${name}.png`);
    const fullPage = opts.fullPage ?? true;
    if (fullPage) await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path, fullPage, ...opts });
    log(`screenshot ${path}`);
  };
  try {
    server = await startServer(home);
    log(`server ${server.url} (home ${home}), binary ${bin}`);
    const res = await fetch(`${server.url}/`);
    check(res.ok && (res.headers.get('content-type') || '').startsWith('text/html'), '/ serves the dashboard');
    check(!(await res.text()).includes('was not built'), 'the binary embeds the built dashboard (run scripts/build-dashboard.sh, then cargo build)');

    context = await chromium.launchPersistentContext(profile, {
      executablePath: chromiumPath,
      headless: true,
      viewport: { width: 1440, height: 900 },
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-dev-shm-usage',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        '--no-default-browser-check',
      ],
    });
    page = context.pages()[0] || (await context.newPage());
    page.setDefaultTimeout(30_000);
    page.on('console', (msg) => {
      if (msg.type() !== 'error') return;
      if (allowHttpErrors && /status of 401/.test(msg.text())) return;
      problems.push(`console error: ${msg.text()}`);
    });
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    page.on('response', (r) => {
      if (r.status() >= 500) problems.push(`HTTP ${r.status()} from ${r.url()}`);
    });
    page.on('dialog', (d) => d.accept());

    // 1. Sign in: a wrong key is refused with a message, the printed admin key works.
    await page.goto(server.url);
    await page.getByLabel('API key').fill('mlk_wrong');
    allowHttpErrors = true;
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('does not know this key').waitFor();
    allowHttpErrors = false;
    await page.getByLabel('API key').fill(server.key);
    await shot('01-sign-in');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Pipelines', exact: true }).waitFor();
    await page.getByText('No pipelines yet').waitFor();
    await page.getByTestId('tenant').getByText('default').waitFor();
    log('signed in with the admin key printed on first start');

    // 2. Upload a CSV, pick the target and a short budget.
    await page.getByRole('link', { name: 'New pipeline' }).first().click();
    await page.getByTestId('dataset-file').setInputFiles(dataset.file);
    await page.getByTestId('target-select').waitFor();
    await page.getByTestId('dataset-profile').waitFor();
    if (dataset.target) await page.getByTestId('target-select').selectOption(dataset.target);
    const target = await page.getByTestId('target-select').inputValue();
    const hint = await page.getByTestId('task-hint').innerText();
    log(`uploaded ${dataset.file}; target ${target}: ${hint}`);
    await page.getByTestId('budget').fill(BUDGET);
    await shot('02-new-pipeline');
    await page.getByTestId('start-pipeline').click();
    await page.waitForURL(/\/pipelines\/pl_/);
    const pipelineId = page.url().match(/pipelines\/(pl_[^?/]+)/)[1];
    log(`started ${pipelineId} with a ${BUDGET} s budget`);

    // 3. The timeline progresses live: the search's bar appears and trial bars accumulate.
    const timeline = page.getByTestId('pipeline-timeline');
    await timeline.locator('rect[data-testid="stage-optimizing"]').waitFor();
    const running = await page.locator('.page-head .badge').getAttribute('data-status');
    await page.waitForFunction(() => document.querySelectorAll('rect[data-testid="trial-bar"]').length > 0);
    const trials1 = await timeline.locator('rect[data-testid="trial-bar"]').count();
    const width1 = Number(await timeline.locator('rect[data-testid="stage-optimizing"]').getAttribute('width'));
    await page.waitForTimeout(2000);
    await shot('03-pipeline-running', { fullPage: false });
    const trials2 = await timeline.locator('rect[data-testid="trial-bar"]').count();
    const status2 = await page.locator('.page-head .badge').getAttribute('data-status');
    const width2 = Number(await timeline.locator('rect[data-testid="stage-optimizing"]').getAttribute('width'));
    log(`while ${running}: ${trials1} → ${trials2} trial bars, optimizing bar ${width1.toFixed(0)} → ${width2.toFixed(0)} px (now ${status2})`);
    check(trials2 > trials1 || status2 !== 'optimizing', 'trial bars accumulate while the search runs');
    check(running === 'optimizing' || running === 'selecting' || running === 'preparing', `saw the pipeline running (status ${running})`);
    await page.locator('.page-head .badge[data-status="done"]').waitFor({ timeout: 180_000 });
    for (const stage of ['ingest', 'preparing', 'selecting', 'optimizing', 'training', 'evaluating', 'deploying']) {
      check((await timeline.locator(`rect[data-testid="stage-${stage}"]`).count()) === 1, `the timeline has a ${stage} bar`);
    }
    await page.getByTestId('trials-chart').locator('canvas').waitFor();
    const reason = await page.getByTestId('decision-reason').innerText();
    log(`done; decision: ${reason}`);
    await shot('04-pipeline-done');
    // Zoom with the wheel, hover a bar for its times, reset.
    const optBox = await timeline.locator('rect[data-testid="stage-optimizing"]').boundingBox();
    await page.mouse.move(optBox.x + optBox.width / 2, optBox.y + optBox.height / 2);
    await page.mouse.wheel(0, -600);
    await page.getByRole('button', { name: 'Reset zoom' }).waitFor();
    const zoomed = await timeline.locator('rect[data-testid="stage-optimizing"]').boundingBox();
    check(zoomed.width > optBox.width * 1.5, `the wheel zooms the time axis (${optBox.width.toFixed(0)} → ${zoomed.width.toFixed(0)} px)`);
    await page.mouse.move(optBox.x + optBox.width / 2 + 3, optBox.y + optBox.height / 2);
    await timeline.locator('.timeline-tip').getByText('Optimize (done)').waitFor();
    await page.getByRole('button', { name: 'Reset zoom' }).click();
    await page.mouse.move(0, 0);
    log(`zoomed the timeline (search bar ${optBox.width.toFixed(0)} → ${zoomed.width.toFixed(0)} px), hovered it, reset`);
    await page.getByRole('tab', { name: /Trials/ }).click();
    check((await page.getByTestId('trials-table').locator('tbody tr').count()) > 0, 'the trials tab lists trials');
    await shot('04b-trials', { fullPage: false });

    // 4. Leaderboard and the selected model's evaluation charts.
    await page.getByRole('tab', { name: /Leaderboard/ }).click();
    await page.getByTestId('leaderboard').waitFor();
    const models = await page.locator('[data-testid^="model-row-"]').count();
    check(models >= 1, 'the leaderboard lists models');
    await page.getByTestId('model-row-1').click();
    await page.getByTestId('evaluation').waitFor();
    const chartIds = ['chart-roc', 'confusion-matrix', 'chart-residuals', 'feature-importance'];
    const present = [];
    for (const id of chartIds) if ((await page.getByTestId(id).count()) > 0) present.push(id);
    check(present.length > 0, 'the evaluation shows charts');
    const canvasId = present.find((id) => id !== 'confusion-matrix') || 'feature-importance';
    const painted = await page.getByTestId(canvasId).locator('canvas').evaluate((c) => {
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n += 1;
      return { w: c.width, h: c.height, painted: n };
    });
    check(painted.painted > 500, `the ${canvasId} canvas is drawn (${JSON.stringify(painted)})`);
    log(`leaderboard: ${models} models; charts: ${present.join(', ')}; ${canvasId} canvas ${painted.w}×${painted.h}, ${painted.painted} painted px`);
    await page.mouse.move(0, 0);
    await shot('05-leaderboard-evaluation');

    // 5. Deployment: the winner was deployed automatically; send 10% of its traffic to another
    //    model from the leaderboard (a canary), watch both sides answer on the deployments
    //    page, promote the canary, then roll back to the winner.
    const canaryButtons = page.getByTestId('leaderboard').getByRole('button', { name: 'Canary 10%' });
    const canSwap = (await canaryButtons.count()) > 0;
    await page.getByRole('tab', { name: /Timeline/ }).click();
    await page.getByTestId('open-deployment').click();
    await page.getByTestId('tryit-form').waitFor();
    const deployment = page.url().split('/deployments/')[1];
    const firstModel = await page.locator('.deployment .model-line code').innerText();
    log(`deployment ${deployment} serves ${firstModel}`);
    if (canSwap) {
      await page.goBack();
      await page.getByRole('tab', { name: /Leaderboard/ }).click();
      await page.getByTestId('leaderboard').getByRole('button', { name: 'Canary 10%' }).first().click();
      await page.getByText('as a canary').waitFor();
      await page.getByRole('link', { name: 'Deployments' }).click();
      await page.getByTestId('promote').waitFor();
      const canaryModel = await page.locator('.deployment .model-line code').innerText();
      check(canaryModel !== firstModel, 'the canary model is the newest of the deployment');
      const sides = page.getByTestId('traffic').locator('tbody tr');
      check((await sides.count()) === 2, 'the traffic table shows the canary and the stable model');
      // Ten calls through the try-it form: exactly one goes to a 10% canary.
      const answeredBy = [];
      for (let i = 0; i < 10; i += 1) {
        const [resp] = await Promise.all([
          page.waitForResponse((r) => r.url().endsWith(`/v1/deployments/${deployment}/predict`)),
          page.getByTestId('predict').click(),
        ]);
        answeredBy.push(resp.headers()['x-microlearn-model']);
      }
      const toCanary = answeredBy.filter((m) => m === canaryModel).length;
      check(toCanary === 1 && answeredBy.filter((m) => m === firstModel).length === 9, `a 10% canary answers 1 of 10 calls (${answeredBy.join(', ')})`);
      await page.waitForFunction(() => {
        const cells = [...document.querySelectorAll('[data-testid="traffic"] tbody tr')].map((r) => Number(r.children[3].innerText.replace(/,/g, '')));
        return cells.length === 2 && cells[0] >= 1 && cells[1] >= 9;
      });
      await shot('06a-canary');
      await page.getByTestId('promote').click();
      await page.getByTestId('promote').waitFor({ state: 'detached' });
      check((await page.locator('.deployment .model-line code').innerText()) === canaryModel, 'promotion keeps the canary model as the current one');
      await page.getByTestId('rollback').click();
      await page.locator('.deployment .model-line code', { hasText: firstModel }).waitFor();
      log(`canary ${canaryModel} took ${toCanary} of 10 calls, was promoted, then rolled back to ${firstModel}`);
    }

    // 6. Predict through the try-it form.
    await page.getByTestId('predict').click();
    const prediction = (await page.getByTestId('prediction').locator('.prediction-value').innerText()).trim();
    check(prediction.length > 0, 'a prediction is shown');
    if (dataset.classes) check(dataset.classes.includes(prediction), `prediction ${prediction} is a class`);
    log(`try-it prediction: ${prediction}`);
    await page.waitForFunction(() => {
      const v = [...document.querySelectorAll('.stat')].find((s) => s.innerText.includes('requests'));
      return v && Number(v.querySelector('.stat-value').innerText.replace(/,/g, '')) >= 1;
    });
    await shot('06-deployment-try-it');

    // 7. Plugins and datasets.
    await page.getByRole('link', { name: 'Plugins' }).click();
    await page.getByTestId('plugins-preparer').waitFor();
    await page.getByTestId('plugin-standard').click();
    await page.getByText('max_onehot').waitFor();
    const pluginCount = await page.locator('[data-testid^="plugin-"]').count();
    log(`plugins page: ${pluginCount} plugins`);
    await shot('07-plugins');
    await page.getByRole('link', { name: 'Datasets' }).click();
    await page.locator('.table tbody tr').first().click();
    await page.getByTestId('dataset-profile').waitFor();
    await shot('08-datasets');

    // 8. The overview follows a running pipeline live (a second one, started through the API).
    const datasets = await apiCall(server.url, server.key, '/v1/datasets');
    const second = await apiCall(server.url, server.key, '/v1/pipelines', {
      dataset_id: datasets.datasets[0].id,
      target,
      budget_secs: 6,
      seed: 1,
      deployment: 'e2e-second',
    });
    await page.getByRole('link', { name: 'Pipelines' }).first().click();
    const overview = page.getByTestId('overview-timeline');
    // Newest first: the second pipeline's bars come first in the chart.
    await overview.locator('rect.seg.running[data-testid="stage-optimizing"]').waitFor({ timeout: 60_000 });
    const searchBar = overview.locator('rect[data-testid="stage-optimizing"]').first();
    const w1 = Number(await searchBar.getAttribute('width'));
    await page.waitForTimeout(1500);
    const w2 = Number(await searchBar.getAttribute('width'));
    check(w2 > w1, `the running pipeline's bar grows on the overview (${w1} → ${w2} px)`);
    check((await page.getByTestId('pipelines-table').locator('.badge-running').count()) >= 1, 'the table shows a running pipeline');
    await shot('09-pipelines-overview-live', { fullPage: false });
    await page.locator(`[data-testid="pipelines-table"] tr:has-text("${second.id}") .badge[data-status="done"]`).waitFor({ timeout: 180_000 });
    check((await overview.locator('rect[data-testid="stage-deploying"]').count()) === 2, 'both pipelines have their full timeline');
    log(`overview: ${second.id} ran live (search bar ${w1.toFixed(0)} → ${w2.toFixed(0)} px), both done`);
    await shot('10-pipelines-overview');

    // A long pipeline cancelled from its page stops and says so.
    const long = await apiCall(server.url, server.key, '/v1/pipelines', {
      dataset_id: datasets.datasets[0].id,
      target,
      budget_secs: 120,
      deployment: 'e2e-cancelled',
    });
    await page.goto(`${server.url}/pipelines/${long.id}`);
    await page.getByTestId('cancel-pipeline').click();
    await page.locator('.page-head .badge[data-status="cancelled"]').waitFor();
    check((await page.getByTestId('cancel-pipeline').count()) === 0, 'a cancelled pipeline offers no cancel button');
    log(`cancelled ${long.id} from its page`);

    // 9. Another tenant's key sees none of it.
    const acme = await apiCall(server.url, server.key, '/v1/tenants', { name: 'acme' });
    const acmeKey = acme.api_key?.key;
    check(acmeKey?.startsWith('mlk_'), 'a tenant key was created');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API key').fill(acmeKey);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('No pipelines yet').waitFor();
    await page.getByTestId('tenant').getByText('acme').waitFor();
    await page.getByRole('link', { name: 'Deployments' }).click();
    await page.getByText('Nothing is deployed yet').waitFor();
    log('tenant acme sees no pipelines and no deployments');

    // 10. A narrow screen: no sideways scrolling, the menu folds.
    await page.getByRole('button', { name: 'Sign out' }).click({ force: true }).catch(() => {});
    await page.evaluate(() => sessionStorage.clear());
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(server.url);
    await page.getByLabel('API key').fill(server.key);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Pipelines', exact: true }).waitFor();
    await page.goto(`${server.url}/pipelines/${pipelineId}`);
    await page.getByTestId('winner').waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    check(overflow <= 1, `no horizontal scrolling on a 390 px screen (${overflow} px too wide)`);
    await shot('11-narrow-pipeline');
    await page.goto(`${server.url}/deployments`);
    await page.getByTestId('tryit-form').first().waitFor();
    const overflow2 = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    check(overflow2 <= 1, `deployments fit a 390 px screen (${overflow2} px too wide)`);
    await shot('12-narrow-deployments');

    check(problems.length === 0, `no console or page errors:\n  ${problems.join('\n  ')}`);
    log(`PASS: dashboard end-to-end (${((Date.now() - started) / 1000).toFixed(1)} s), screenshots in ${out}`);
  } catch (e) {
    if (page) await page.screenshot({ path: join(out, 'failure.png'), fullPage: true }).catch(() => {});
    console.error(`FAIL: ${e.message}`);
    if (problems.length) console.error(`console/page errors:\n  ${problems.join('\n  ')}`);
    if (server) console.error(`server stderr:\n${server.stderr().slice(-4000)}`);
    process.exitCode = 1;
  } finally {
    await context?.close().catch(() => {});
    if (server) {
      server.child.kill('SIGTERM');
      await new Promise((r) => {
        const t = setTimeout(() => {
          server.child.kill('SIGKILL');
          r();
        }, 10_000);
        server.child.on('exit', () => {
          clearTimeout(t);
          r();
        });
      });
    }
    rmSync(home, { recursive: true, force: true });
    rmSync(profile, { recursive: true, force: true });
  }
}

main();
