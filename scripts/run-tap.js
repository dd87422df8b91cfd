#!/usr/bin/env node
// Runs the compiled tap test files of the named tiers (unit, integration, e2e)
// one file at a time, shows their TAP output, and ends with the plain line
// "N passed, N failed" that CI reads. A file that exits non-zero without a
// failing subtest counts as one failure, so a crash is never silent.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const tiers = process.argv.slice(2);
const only = process.env.PGSWARM_TEST_FILTER || '';
const fileTimeoutMs = Number(process.env.PGSWARM_TEST_FILE_TIMEOUT_MIN || '25') * 60000;
let passed = 0;
let failed = 0;
const failures = [];

for (const tier of tiers) {
  const dir = path.join(root, 'dist', 'test', tier);
  const files = fs.existsSync(dir)
    ? fs.readdirSync(dir).filter((f) => f.endsWith('.test.js') && f.includes(only)).sort()
    : [];
  if (files.length === 0) {
    console.log(`# tier ${tier}: no test files found in ${dir}`);
    failed++;
    failures.push(`${tier}: no test files`);
    continue;
  }
  for (const f of files) {
    const file = path.join(dir, f);
    console.log(`# ---- ${tier}/${f}`);
    const started = Date.now();
    const r = spawnSync(process.execPath, [file], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      maxBuffer: 256 * 1024 * 1024,
      env: { ...process.env, TAP_TIMEOUT: process.env.TAP_TIMEOUT || '0' },
      // A test file that never exits (a handle left open) must fail, not hang CI.
      timeout: fileTimeoutMs,
      killSignal: 'SIGKILL',
    });
    if (r.error && r.error.code === 'ETIMEDOUT') {
      failures.push(`${tier}/${f}: killed after ${fileTimeoutMs / 60000} min (PGSWARM_TEST_FILE_TIMEOUT_MIN)`);
    }
    process.stdout.write(r.stdout || '');
    if (r.stderr) process.stdout.write(r.stderr.split('\n').map((l) => `# stderr: ${l}`).join('\n') + '\n');
    let p = 0;
    let fl = 0;
    for (const line of (r.stdout || '').split('\n')) {
      if (/^ok \d+/.test(line)) p++;
      else if (/^not ok \d+/.test(line)) {
        fl++;
        failures.push(`${tier}/${f}: ${line}`);
      }
    }
    if (r.status !== 0 && fl === 0) {
      fl = 1;
      failures.push(`${tier}/${f}: exited ${r.status ?? r.signal} without a failing subtest`);
    }
    passed += p;
    failed += fl;
    console.log(`# ${tier}/${f}: ${p} passed, ${fl} failed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
}
if (failures.length) {
  console.log('# failures:');
  for (const x of failures) console.log(`#   ${x}`);
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
