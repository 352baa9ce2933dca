#!/usr/bin/env node
'use strict';

// manifestcheck validates Teams app manifests against the official JSON
// schema bundled in npm @microsoft/app-manifest (pinned in
// package-lock.json). It needs no network: the schema named by a manifest's
// $schema must be one the package bundles (teams v1.0 to v1.30 except v1.18,
// and devPreview); any other schema is reported as a failure, never fetched.
//
// Usage: node check.js FILE_OR_DIR...   (default: ../../manifest/testdata/manifest.json)
//
// A directory is searched for manifest.json files, not recursively. A
// manifest fails on: JSON that does not parse, a missing or unbundled
// $schema, a manifestVersion that is not the schema's version, and every
// error the package's validator (AppManifestUtils.validateAgainstSchema)
// reports.
//
// It prints one line per problem ("file: problem"), then
// "manifestcheck: N passed, M failed", and exits 1 when any manifest failed
// (2 when it could not run at all).
//
// fs-extra is a dependency of this tool only because @microsoft/app-manifest
// requires it at run time without declaring it.

const fs = require('fs');
const path = require('path');
const { AppManifestUtils } = require('@microsoft/app-manifest');

const PKG_DIR = path.dirname(require.resolve('@microsoft/app-manifest/package.json'));
const PKG_VERSION = require('@microsoft/app-manifest/package.json').version;

async function main(argv) {
  const targets = argv.length > 0 ? argv : [path.join(__dirname, '..', '..', 'manifest', 'testdata', 'manifest.json')];
  const files = [];
  for (const t of targets) {
    let st;
    try {
      st = fs.statSync(t);
    } catch (err) {
      console.error(`manifestcheck: ${t}: ${err.message}`);
      return 2;
    }
    if (st.isDirectory()) {
      const f = path.join(t, 'manifest.json');
      if (fs.existsSync(f)) files.push(f);
    } else {
      files.push(t);
    }
  }
  if (files.length === 0) {
    console.error(`manifestcheck: no manifest.json in ${targets.join(', ')}`);
    return 2;
  }

  let passed = 0;
  let failed = 0;
  for (const file of files) {
    const problems = await checkFile(file);
    if (problems.length === 0) {
      passed++;
      continue;
    }
    failed++;
    for (const p of problems) console.log(`${file}: ${p}`);
  }
  console.log(`manifestcheck: ${passed} passed, ${failed} failed`);
  return failed > 0 ? 1 : 0;
}

// checkFile returns the problems of one manifest file (none: it is valid).
async function checkFile(file) {
  let manifest;
  try {
    const text = fs.readFileSync(file, 'utf8').replace(/^\uFEFF/, '');
    manifest = JSON.parse(text);
  } catch (err) {
    return [`not JSON: ${err.message}`];
  }
  if (manifest === null || typeof manifest !== 'object' || Array.isArray(manifest)) {
    return ['not a JSON object'];
  }

  const url = manifest.$schema;
  if (typeof url !== 'string' || url === '') {
    return ['$schema is missing; it names the schema to validate against'];
  }
  const schemaFile = localSchema(url);
  if (!schemaFile) {
    return [`$schema ${url} is not bundled with @microsoft/app-manifest ${PKG_VERSION}; it is not fetched`];
  }
  const schema = readSchema(schemaFile);

  const problems = [];
  const m = /\/teams\/v([^/]+)\//.exec(url);
  if (m && manifest.manifestVersion !== m[1]) {
    problems.push(`manifestVersion ${JSON.stringify(manifest.manifestVersion)} does not match $schema version ${m[1]}`);
  }
  let errors;
  try {
    errors = await AppManifestUtils.validateAgainstSchema(manifest, schema);
  } catch (err) {
    return problems.concat([`validator failed: ${err.message}`]);
  }
  for (const e of errors) problems.push(`schema: ${e.trim()}`);
  return problems;
}

// localSchema maps a schema URL to the bundled file, or undefined when the
// package does not bundle it.
function localSchema(url) {
  const suffix = AppManifestUtils.getLocalSchemaSuffix(url);
  if (!suffix) return undefined;
  const file = path.join(PKG_DIR, 'build', suffix);
  return fs.existsSync(file) ? file : undefined;
}

// readSchema reads a bundled schema the way the package itself does: some
// schema versions carry \a and \v escapes in patterns, which JSON lacks.
function readSchema(file) {
  const raw = fs.readFileSync(file, 'utf8');
  return JSON.parse(raw.replace(/\\a/g, '\\u0007').replace(/\\v/g, '\\u000b'));
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(`manifestcheck: ${err.stack || err}`);
    process.exit(2);
  },
);
