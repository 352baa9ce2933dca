'use strict';
// End-to-end test: `jitbot demo` driven through Microsoft 365 Agents Playground.
//
// Riley Responder asks for access in the personal chat, the approval card
// arrives in the approvers' General channel, Alex Approver clicks Approve
// (Action.Execute invoke sent through the Playground's internal JSON route),
// Riley is told access was granted, and after the grant expires Riley is told
// it ended and the card shows it expired.
//
// Run: e2e/run.sh (or `npm test` in e2e/ after `npm ci`).
// Env: JITBOT_BIN     use this binary instead of building ./cmd/jitbot
//      E2E_KEEP_TMP=1 keep the temporary directory (logs, database)
//      E2E_VERBOSE=1  print the report (events, logs) on success too
// See PROTOCOL.md for the routes and payloads used here.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, execFile } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const WebSocket = require('ws');

const REPO = path.resolve(__dirname, '..');
const CONFIG_FILE = path.join(REPO, '.m365agentsplayground.yml');
const PLAYGROUND_CLI = require.resolve('@microsoft/m365agentsplayground/cli.js');

// What `jitbot demo` hard-codes; the Playground config must agree.
const EXPECT = {
  tenantId: '4f3c2b1a-0d9e-4c8b-9a7f-6e5d4c3b2a10',
  botId: '9b1c7f5e-2d4a-4e8b-8c6f-1a2b3c4d5e6f',
  rileyAad: '11111111-1111-4111-8111-111111111111',
  alexAad: '22222222-2222-4222-8222-222222222222',
  generalChannel: '19:jitbot-approvers@thread.tacv2',
};
const CARD = 'application/vnd.microsoft.card.adaptive';
const REQUEST_TEXT = 'request demo 20s INC-4711 e2e check';

const BUILD_TIMEOUT_MS = 15 * 60_000;
const START_TIMEOUT_MS = 30_000;
const STEP_TIMEOUT_MS = 20_000;
const EXPIRY_TIMEOUT_MS = 60_000;
const POLL_MS = 200;

// ---------------------------------------------------------------- helpers

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function canConnect(port) {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

// A child process whose output is kept for the failure report.
class Proc {
  constructor(name, cmd, args, opts) {
    this.name = name;
    this.output = '';
    this.exited = null;
    // detached: its own process group, so stop() reaches any children too.
    this.child = spawn(cmd, args, { ...opts, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (d) => { this.output += d.toString(); };
    this.child.stdout.on('data', keep);
    this.child.stderr.on('data', keep);
    this.child.on('error', (e) => { this.output += `\n[spawn error] ${e.message}\n`; this.exited = { code: -1 }; });
    this.child.on('exit', (code, signal) => { this.exited = { code, signal }; });
    this.closed = new Promise((r) => this.child.on('close', r));
  }

  assertRunning() {
    if (this.exited) {
      throw new Error(`${this.name} exited early (code ${this.exited.code}, signal ${this.exited.signal})`);
    }
  }

  async stop() {
    if (this.exited || !this.child.pid) return;
    const pid = this.child.pid;
    try { process.kill(-pid, 'SIGTERM'); } catch { /* gone */ }
    const done = await Promise.race([this.closed.then(() => true), sleep(5000).then(() => false)]);
    if (!done) {
      try { process.kill(-pid, 'SIGKILL'); } catch { /* gone */ }
      await Promise.race([this.closed, sleep(2000)]);
    }
  }
}

// waitFor polls fn until it returns a truthy value or the time is up.
async function waitFor(what, fn, timeoutMs, procs = []) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const p of procs) p.assertRunning();
    const v = await fn();
    if (v) return v;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(POLL_MS);
  }
}

// Every string a message shows: its text and the text of its cards.
function shownText(msg) {
  const out = [];
  const walk = (v, key) => {
    if (typeof v === 'string') {
      if (['text', 'title', 'value', 'fallbackText', 'speak'].includes(key)) out.push(v);
    } else if (Array.isArray(v)) {
      v.forEach((x) => walk(x, key));
    } else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) walk(x, k);
    }
  };
  if (typeof msg.text === 'string') out.push(msg.text);
  walk(msg.attachments || [], '');
  return out.join('\n');
}

function cardOf(msg) {
  const a = (msg.attachments || []).find((x) => x.contentType === CARD);
  return a && a.content;
}

// Action.Execute actions anywhere in a card (actions, ActionSets, ...).
function executeActions(card) {
  const found = [];
  const walk = (v) => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') {
      if (v.type === 'Action.Execute') found.push(v);
      Object.values(v).forEach(walk);
    }
  };
  walk(card);
  return found;
}

// The Playground's websocket stream: createMessage / updateMessage / typing.
class Stream {
  constructor(url) {
    this.events = [];
    this.ws = new WebSocket(url);
    this.ws.on('message', (d) => {
      try { this.events.push({ at: new Date().toISOString(), ...JSON.parse(d.toString()) }); } catch { /* ignore */ }
    });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', resolve);
      this.ws.once('error', reject);
    });
  }

  find(pred) {
    return this.events.find((e) => e.message && pred(e));
  }

  close() {
    try { this.ws.terminate(); } catch { /* ignore */ }
  }
}

async function getJSON(url) {
  const r = await fetch(url, { signal: AbortSignal.timeout(STEP_TIMEOUT_MS) });
  const body = await r.text();
  if (!r.ok) throw new Error(`GET ${url}: HTTP ${r.status} ${body}`);
  return JSON.parse(body);
}

async function postJSON(url, payload) {
  const r = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(payload),
    signal: AbortSignal.timeout(STEP_TIMEOUT_MS),
  });
  const body = await r.text();
  let json;
  try { json = body ? JSON.parse(body) : undefined; } catch { json = undefined; }
  return { status: r.status, body, json };
}

function buildJitbot(out) {
  return new Promise((resolve, reject) => {
    execFile('go', ['build', '-o', out, './cmd/jitbot'], { cwd: REPO, timeout: BUILD_TIMEOUT_MS, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`go build ./cmd/jitbot failed: ${err.message}\n${stdout}${stderr}`));
        else resolve(out);
      });
  });
}

// Which optional flags this jitbot's demo knows (from `jitbot demo -h`).
function demoFlags(bin) {
  return new Promise((resolve) => {
    execFile(bin, ['demo', '-h'], { timeout: 10_000 }, (_err, stdout, stderr) => resolve(`${stdout}${stderr}`));
  });
}

// ---------------------------------------------------------------- the test

test('jitbot demo: request, approve in the channel, grant, expiry (Agents Playground)', { timeout: BUILD_TIMEOUT_MS + 5 * 60_000 }, async (t) => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'jitbot-e2e-'));
  const procs = [];
  let stream;
  let pgDir;
  const trail = []; // what the test sent and got, for the report
  const note = (what, v) => trail.push(`${what}: ${typeof v === 'string' ? v : JSON.stringify(v)}`);
  const report = () => {
    const lines = [];
    lines.push('==== e2e report: what was sent and seen ====');
    lines.push(...trail);
    if (stream) {
      lines.push('---- Playground websocket events ----');
      for (const e of stream.events) lines.push(JSON.stringify(e));
    }
    for (const p of procs) {
      lines.push(`---- ${p.name} output (exit: ${JSON.stringify(p.exited)}) ----`);
      lines.push(p.output);
    }
    const pgLog = pgDir && path.join(pgDir, 'devTools', 'm365agentsplayground.log');
    if (pgLog && fs.existsSync(pgLog)) {
      lines.push('---- devTools/m365agentsplayground.log ----');
      lines.push(fs.readFileSync(pgLog, 'utf8'));
    }
    return lines.join('\n');
  };

  try {
    // 1. The binary.
    let bin = process.env.JITBOT_BIN;
    if (bin) {
      bin = path.resolve(bin);
    } else {
      t.diagnostic('building ./cmd/jitbot');
      bin = await buildJitbot(path.join(tmp, 'jitbot'));
    }

    const botPort = await freePort();
    let pgPort = await freePort();
    while (pgPort === botPort) pgPort = await freePort();
    const serviceUrl = `http://localhost:${pgPort}/_connector`;

    // 2. jitbot demo.
    const help = await demoFlags(bin);
    const args = ['demo', '--listen', `127.0.0.1:${botPort}`, '--database', `sqlite:${path.join(tmp, 'demo.db')}`];
    if (help.includes('-service-url')) args.push('--service-url', serviceUrl);
    note('jitbot args', args.join(' '));
    const bot = new Proc('jitbot demo', bin, args, { cwd: tmp, env: process.env });
    procs.push(bot);
    await waitFor(`jitbot to listen on 127.0.0.1:${botPort}`, () => canConnect(botPort), START_TIMEOUT_MS, [bot]);

    // 3. The Playground, in its own working directory with our config.
    pgDir = path.join(tmp, 'playground');
    fs.mkdirSync(pgDir);
    fs.copyFileSync(CONFIG_FILE, path.join(pgDir, '.m365agentsplayground.yml'));
    const pg = new Proc('Agents Playground', process.execPath, [
      PLAYGROUND_CLI, 'start', '-e', `http://127.0.0.1:${botPort}/api/messages`, '-c', 'msteams',
      '-p', String(pgPort), '--disable-telemetry',
    ], {
      cwd: pgDir,
      env: {
        ...process.env,
        APPLICATION_INSIGHTS_NO_STATSBEAT: 'true',
        TEAMSAPPTESTER_BROWSER: 'none',
        M365_AGENTS_PLAYGROUND_CONFIG_PATH: path.join(pgDir, '.m365agentsplayground.yml'),
      },
    });
    procs.push(pg);
    const listening = await waitFor('the Playground to listen', () => /Listening on (\d+)/.exec(pg.output), START_TIMEOUT_MS, [pg, bot]);
    assert.equal(Number(listening[1]), pgPort, `the Playground fell back to port ${listening[1]} (asked for ${pgPort})`);
    const base = `http://127.0.0.1:${pgPort}`;
    // An invalid config still prints "Listening" and then exits: /_internal/v1/config
    // (which also waits for the bot's endpoint to answer) proves it is up.
    const { config } = await waitFor('GET /_internal/v1/config', async () => {
      pg.assertRunning();
      try { return await getJSON(`${base}/_internal/v1/config`); } catch { return null; }
    }, START_TIMEOUT_MS, [pg, bot]);
    await sleep(300);
    pg.assertRunning();

    assert.equal(config.tenantId, EXPECT.tenantId, 'tenantId');
    assert.equal(config.bot.id, EXPECT.botId, 'bot id');
    assert.equal(config.currentUser.aadObjectId, EXPECT.rileyAad, 'current user is Riley');
    const alex = config.users.find((u) => u.name === 'Alex Approver');
    assert.ok(alex, 'Alex Approver is in the config');
    assert.equal(alex.aadObjectId, EXPECT.alexAad);
    const riley = config.currentUser;
    const personalChat = config.personalChat.id;
    const general = config.teams[0].channels.find((c) => c.name === 'General');
    assert.equal(general.id, EXPECT.generalChannel, 'General channel id');
    const channel = general.id;

    stream = new Stream(`ws://127.0.0.1:${pgPort}/_ws_conversation/v1/conversations/stream`);
    await stream.opened;

    // 4. Riley asks in the personal chat.
    const sent = await postJSON(`${base}/_conversation/v1/conversations/${encodeURIComponent(personalChat)}/messages`, {
      text: REQUEST_TEXT, textFormat: 'plain', from: { id: riley.id },
    });
    note('send request', sent);
    assert.equal(sent.status, 200, `sending the request: ${sent.body}`);

    // 5. The approval card in the channel, and the reply to Riley.
    const approval = await waitFor('the approval card in the General channel', () => stream.find((e) =>
      e.action === 'createMessage' && e.actionConversationId === channel &&
      executeActions(cardOf(e.message)).some((a) => a.verb === 'approve')), STEP_TIMEOUT_MS, procs);
    note('approval card', approval);
    const card = cardOf(approval.message);
    const verbs = executeActions(card).map((a) => a.verb);
    assert.ok(verbs.includes('approve') && verbs.includes('deny'), `card actions: ${verbs}`);
    const approve = executeActions(card).find((a) => a.verb === 'approve');
    assert.ok(approve.data && approve.data.requestId, 'the Approve action carries data.requestId');
    assert.ok(approval.message.postConversationId, 'the card opened a thread (postConversationId)');
    assert.match(shownText(approval.message), /Riley Responder/, 'the card names the requester');
    const thread = approval.message.postConversationId;
    const cardId = approval.message.messageId;

    const ack = await waitFor('"sent to the approvers" in the personal chat', () => stream.find((e) =>
      e.action === 'createMessage' && e.actionConversationId === personalChat &&
      /sent to (the )?approvers/i.test(shownText(e.message))), STEP_TIMEOUT_MS, procs);
    note('ack', ack);

    // 5b. Each viewer's own card: the refresh invoke a listed client sends. The demo's requester may
    // approve their own request (and cancel it); Dana, in no approver group, sees it read-only.
    assert.ok(card.refresh && card.refresh.action.verb === 'refresh', 'the card has a refresh action');
    assert.deepEqual(card.refresh.userIds, [riley.id, alex.id], 'refresh.userIds: the requester, then the approvers in the team');
    const dana = config.users.find((u) => u.name === 'Dana Security');
    const refreshAs = (userId) => postJSON(`${base}/_conversation/v1/invoke`, {
      name: 'adaptiveCard/action',
      value: { action: { type: 'Action.Execute', verb: 'refresh', data: card.refresh.action.data }, trigger: 'automatic' },
      conversation: { id: thread },
      replyToId: cardId,
      from: { id: userId },
    });
    for (const [who, userId, want] of [['Riley', riley.id, ['approve', 'deny', 'cancelRequest']], ['Alex', alex.id, ['approve', 'deny']], ['Dana', dana.id, []]]) {
      const r = await refreshAs(userId);
      note(`refresh as ${who}`, r);
      assert.equal(r.status, 200, `refresh as ${who}: ${r.body}`);
      assert.equal(r.json && r.json.type, CARD, `refresh as ${who} answers a card: ${r.body}`);
      assert.deepEqual(executeActions(r.json.value).map((a) => a.verb).filter((v) => v !== 'refresh'), want, `${who}'s buttons`);
      assert.match(JSON.stringify(r.json.value), /Pending/, `${who}'s card shows the state`);
    }

    // 5c. Dana's Approve is refused (and audited): the answer is her read-only card saying why.
    const refused = await postJSON(`${base}/_conversation/v1/invoke`, {
      name: 'adaptiveCard/action',
      value: { action: { type: 'Action.Execute', id: approve.id, verb: 'approve', data: approve.data }, trigger: 'manual' },
      conversation: { id: thread },
      replyToId: cardId,
      from: { id: dana.id },
    });
    note('invoke approve as Dana', refused);
    assert.equal(refused.json && refused.json.type, CARD, `a refused click answers a card: ${refused.body}`);
    assert.deepEqual(executeActions(refused.json.value).map((a) => a.verb).filter((v) => v !== 'refresh'), [], "Dana's card has no buttons");
    assert.match(JSON.stringify(refused.json.value), /not an approver for demo/, 'the card says why');

    // 6. Alex Approver clicks Approve.
    const inv = await postJSON(`${base}/_conversation/v1/invoke`, {
      name: 'adaptiveCard/action',
      value: { action: { type: 'Action.Execute', id: approve.id, verb: 'approve', data: approve.data }, trigger: 'manual' },
      conversation: { id: thread },
      replyToId: cardId,
      from: { id: alex.id },
    });
    note('invoke approve', inv);
    assert.equal(inv.status, 200, `invoke failed: ${inv.body}`);
    assert.equal(inv.json && inv.json.type, CARD, `the invoke response is a card: ${inv.body}`);
    const invokeCard = JSON.stringify(inv.json.value);
    assert.match(invokeCard, /approved|active/i, `the card after Approve: ${invokeCard}`);
    assert.ok(!executeActions(inv.json.value).some((a) => a.verb === 'approve'), 'no Approve button after approval');

    // 7. Riley is told; the card shows approved/active.
    const granted = await waitFor('"Access granted" in the personal chat', () => stream.find((e) =>
      e.action === 'createMessage' && e.actionConversationId === personalChat &&
      /access granted/i.test(shownText(e.message))), STEP_TIMEOUT_MS, procs);
    note('granted', granted);
    const cardUpdates = () => stream.events.filter((e) =>
      e.action === 'updateMessage' && e.message && e.message.messageId === cardId);
    const active = cardUpdates().find((e) => /approved|active/i.test(shownText(e.message)));
    if (active) note('card update (active)', active);
    else t.diagnostic('no card update before expiry; the invoke response showed the approved card');

    // 8. Expiry: Riley is told, the card shows expired.
    const ended = await waitFor('"has ended" in the personal chat', () => stream.find((e) =>
      e.action === 'createMessage' && e.actionConversationId === personalChat &&
      /has ended/i.test(shownText(e.message))), EXPIRY_TIMEOUT_MS, procs);
    note('ended', ended);
    const expired = await waitFor('the approval card updated to expired', () => cardUpdates().find((e) =>
      /expired/i.test(shownText(e.message))), STEP_TIMEOUT_MS, procs);
    note('card update (expired)', expired);
    assert.equal(expired.actionConversationId, channel, 'the update is for the card in the General channel');
    assert.ok(!executeActions(cardOf(expired.message)).some((a) => a.verb === 'approve'), 'no Approve button on the expired card');

    // Nothing went wrong in the bot's replies (the Playground rejects bad activities with 4xx).
    for (const p of procs) p.assertRunning();
    if (process.env.E2E_VERBOSE) console.error(report());
  } catch (err) {
    console.error(report());
    throw err;
  } finally {
    if (stream) stream.close();
    await Promise.all(procs.map((p) => p.stop()));
    if (!process.env.E2E_KEEP_TMP) fs.rmSync(tmp, { recursive: true, force: true });
    else t.diagnostic(`kept ${tmp}`);
  }
});
