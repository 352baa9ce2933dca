#!/usr/bin/env node
'use strict';

// cardcheck validates jitbot's Adaptive Cards with Microsoft's own parser
// (npm adaptivecards, pinned in package-lock.json) at version 1.5, the
// version Teams renders. It needs no network and no browser.
//
// Usage: node check.js DIR_OR_FILE...   (default: ../../cards/testdata)
//
// A card fails on: JSON that does not parse, a type other than AdaptiveCard,
// a declared version missing or newer than 1.5, and everything the parser
// reports while reading the card at 1.5 or validating it afterwards
// (unknown element or action types, invalid values, properties newer than
// 1.5, duplicate ids, inputs without ids, ...). The parser ignores property
// names it does not know; cardcheck reports those too, so a misspelt
// property cannot hide.
//
// It prints one line per problem ("file: problem"), then
// "cardcheck: N passed, M failed", and exits 1 when any card failed.

const fs = require('fs');
const path = require('path');
// Under Node the package's main entry fails; its bundled build works.
const AC = require('adaptivecards/dist/adaptivecards.js');

const TARGET = new AC.Version(1, 5);

// Keys the parser reads through custom code rather than its property
// schemas, and Teams' own extension of the card.
const CONTAINER_KEYS = new Set(['body', 'actions', 'items', 'columns', 'inlines', 'card', 'fallback']);
const HOST_KEYS = new Set(['msteams']);

function main(argv) {
  const targets = argv.length > 0 ? argv : [path.join(__dirname, '..', '..', 'cards', 'testdata')];
  const files = [];
  for (const t of targets) {
    let st;
    try {
      st = fs.statSync(t);
    } catch (err) {
      console.error(`cardcheck: ${t}: ${err.message}`);
      return 2;
    }
    if (st.isDirectory()) {
      for (const name of fs.readdirSync(t).sort()) {
        if (name.endsWith('.json')) files.push(path.join(t, name));
      }
    } else {
      files.push(t);
    }
  }
  if (files.length === 0) {
    console.error(`cardcheck: no .json files in ${targets.join(', ')}`);
    return 2;
  }

  let passed = 0;
  let failed = 0;
  for (const file of files) {
    const problems = checkFile(file);
    if (problems.length === 0) {
      passed++;
      continue;
    }
    failed++;
    for (const p of problems) console.log(`${file}: ${p}`);
  }
  console.log(`cardcheck: ${passed} passed, ${failed} failed`);
  return failed > 0 ? 1 : 0;
}

// checkFile returns the problems of one card file (none: it is valid).
function checkFile(file) {
  let json;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    return [`not JSON: ${err.message}`];
  }
  return checkCard(json);
}

// checkCard returns the problems of one card's JSON value.
function checkCard(json) {
  const problems = [];
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    return ['not a JSON object'];
  }
  if (json.type !== 'AdaptiveCard') {
    problems.push(`type is ${JSON.stringify(json.type)}, want "AdaptiveCard"`);
  }

  const context = new AC.SerializationContext(TARGET);
  const version = typeof json.version === 'string' ? AC.Version.parse(json.version, context) : undefined;
  if (!version || !version.isValid) {
    problems.push(`version ${JSON.stringify(json.version)} is not a valid card version`);
  } else if (version.compareTo(TARGET) > 0) {
    problems.push(`version ${version.toString()} is newer than ${TARGET.toString()}, which Teams renders`);
  }
  context.clearEvents();

  const card = new AC.AdaptiveCard();
  card.parse(json, context);
  for (let i = 0; i < context.eventCount; i++) {
    problems.push(describe('parse', context.getEventAt(i)));
  }
  for (const event of card.validateProperties().validationEvents) {
    problems.push(describe('validate', event));
  }
  unknownProperties(json, '$', problems);
  return problems;
}

function describe(phase, event) {
  const name = AC.ValidationEvent[event.event] || `event ${event.event}`;
  return `${phase}: ${name}: ${event.message}`;
}

// unknownProperties reports keys of typed objects (the card, its elements,
// actions and text runs) that the parser's schema for that type does not
// know.
function unknownProperties(value, where, problems) {
  if (Array.isArray(value)) {
    value.forEach((v, i) => unknownProperties(v, `${where}[${i}]`, problems));
    return;
  }
  if (value === null || typeof value !== 'object') return;
  const known = typeof value.type === 'string' ? schemaKeys(value.type) : undefined;
  for (const [key, child] of Object.entries(value)) {
    if (known && !known.has(key) && !CONTAINER_KEYS.has(key) && !HOST_KEYS.has(key)) {
      problems.push(`unknown property "${key}" of ${value.type} at ${where}`);
    }
    if (HOST_KEYS.has(key)) continue;
    unknownProperties(child, `${where}.${key}`, problems);
  }
}

const schemaCache = new Map();

// schemaKeys returns the property names the parser knows for a type, or
// undefined for a type it does not know (the parser reports that itself).
function schemaKeys(typeName) {
  if (schemaCache.has(typeName)) return schemaCache.get(typeName);
  let instance;
  if (typeName === 'AdaptiveCard') {
    instance = new AC.AdaptiveCard();
  } else if (typeName === 'TextRun') {
    instance = new AC.TextRun();
  } else {
    const reg = AC.GlobalRegistry.elements.findByName(typeName) || AC.GlobalRegistry.actions.findByName(typeName);
    if (reg) instance = new reg.objectType();
  }
  let keys;
  if (instance) {
    keys = new Set();
    const schema = instance.getSchema();
    for (let i = 0; i < schema.getCount(); i++) keys.add(schema.getItemAt(i).name);
  }
  schemaCache.set(typeName, keys);
  return keys;
}

if (require.main === module) {
  process.exitCode = main(process.argv.slice(2));
}

module.exports = { checkCard };
