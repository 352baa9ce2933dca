'use strict';
// End-to-end test: `jitbot demo` driven through Microsoft 365 Agents Playground.
//
// Riley Responder asks for access in the personal chat, the approval card
// arrives in the approvers' General channel, Alex Approver clicks Approve
// (Action.Execute invoke sent through the Playground's internal JSON route),
// and Riley gets the "access granted" card. Then `status` shows the grant,
// Riley presses I'm done, is told the access ended, and the approval card
// says it was released. A second request is approved and left to expire:
// Riley is told it ended and the card shows it expired.
//
// Run: e2e/run.sh (or `npm test` in e2e/ after `npm ci`).
// Env: JITBOT_BIN          use this binary instead of building ./cmd/jitbot
//      E2E_KEEP_TMP=1      keep the temporary directory (logs, database)
//      E2E_VERBOSE=1       print the report (events, logs) on success too
//      E2E_SCREENSHOTS=DIR also open the Playground's web UI in headless
//                          Chromium (playwright-core, $CHROMIUM or
//                          /usr/bin/chromium) and save a PNG of the chat at
//                          each step in DIR
// See PROTOCOL.md for the routes and payloads used here.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, execFile } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const WebSocket = require('ws');
const { BROWSER_ARGS } = require('./screenshots.js');

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
// The first grant is ended early with I'm done: its duration only has to
// outlast the test. The second runs out: the demo profile's shortest.
const RELEASE_REQUEST = 'request demo 1h INC-4711 e2e release';
const EXPIRY_REQUEST = 'request demo 10s INC-4712 e2e expiry';

const SCREENSHOTS_DIR = process.env.E2E_SCREENSHOTS ? path.resolve(process.env.E2E_SCREENSHOTS) : '';

const BUILD_TIMEOUT_MS = 15 * 60_000;
const START_TIMEOUT_MS = 30_000;
const STEP_TIMEOUT_MS = 20_000;
const EXPIRY_TIMEOUT_MS = 60_000;
const POLL_MS = 200;

// goConst reads a string constant of the cards package, so that the verbs
// and data keys the test presses are the ones the bot defines.
function goConst(name) {
  const src = fs.readFileSync(path.join(REPO, 'cards', 'card.go'), 'utf8');
  const m = new RegExp(`\\b${name}\\s*=\\s*"([^"]*)"`).exec(src);
  if (!m) throw new Error(`cards/card.go defines no constant ${name}`);
  return m[1];
}
const VERB_RELEASE = goConst('VerbRelease');
const DATA_REQUEST_ID = goConst('DataRequestID');

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

// The Playground's own web UI in headless Chromium (E2E_SCREENSHOTS): Riley
// types and clicks there, as a user would, and each step's message is saved
// as a PNG. Approvers still act through the JSON route: the UI signs in as
// the config's current user only.
const PERSONAL_CHAT = 'Personal Chat'; // the UI's name of the bot's personal chat
const SHOT_FILE = /^(release|expiry)-\d+-[a-z-]+\.png$/; // the names shot() gives

class PlaygroundUi {
  static async open(base, dir, t) {
    let chromium;
    try {
      ({ chromium } = require('playwright-core'));
    } catch (err) {
      throw new Error(`E2E_SCREENSHOTS needs npm playwright-core (npm ci in e2e/): ${err.message}`);
    }
    const exe = process.env.CHROMIUM || '/usr/bin/chromium';
    if (!fs.existsSync(exe)) throw new Error(`E2E_SCREENSHOTS needs a browser at ${exe} (apt-get install -y chromium, or set CHROMIUM)`);
    fs.mkdirSync(dir, { recursive: true });
    // The images of an earlier run, so that a renamed step leaves none behind.
    for (const f of fs.readdirSync(dir)) if (SHOT_FILE.test(f)) fs.rmSync(path.join(dir, f));
    const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'jitbot-e2e-chromium-'));
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: exe, headless: true, args: BROWSER_ARGS,
      viewport: { width: 1300, height: 1000 }, locale: 'en-US', timezoneId: 'UTC', deviceScaleFactor: 1,
    });
    const page = context.pages()[0] || await context.newPage();
    page.setDefaultTimeout(STEP_TIMEOUT_MS);
    await page.goto(`${base}/`, { waitUntil: 'load' });
    await page.getByRole('treeitem', { name: PERSONAL_CHAT }).waitFor();
    await page.getByTitle('Hide log panel').click();
    t.diagnostic(`saving Playground screenshots in ${dir}`);
    return new PlaygroundUi(context, page, dir, profile);
  }

  constructor(context, page, dir, profile) {
    this.context = context;
    this.page = page;
    this.dir = dir;
    this.profile = profile;
    this.shots = [];
  }

  async openChat(chat) {
    await this.page.getByRole('treeitem', { name: chat }).click();
  }

  // message is the last message of chat whose text matches re: in a chat
  // the block under a message header, in a channel the post (a card).
  message(chat, re) {
    const all = chat === PERSONAL_CHAT
      ? this.page.locator('[aria-label="Message header"]').locator('xpath=..')
      : this.page.locator('.fui-Card').filter({ has: this.page.locator('[id^="fui-CardHeader"]') });
    return all.filter({ hasText: re }).last();
  }

  // say types text in the personal chat and sends it with Enter; it returns
  // the Playground's answer to the UI's POST.
  async say(text) {
    await this.openChat(PERSONAL_CHAT);
    const box = this.page.locator('[data-lexical-editor="true"]');
    await box.click();
    await this.page.keyboard.type(text);
    const answer = this.page.waitForResponse((r) => r.request().method() === 'POST' && r.url().includes('/_conversation/v1/conversations/'));
    await this.page.keyboard.press('Enter');
    const r = await answer;
    return { status: r.status(), body: await r.text() };
  }

  // click presses the button titled title on the last message of chat
  // matching re; it returns the Playground's answer to the UI's invoke.
  async click(chat, re, title) {
    await this.openChat(chat);
    const button = this.message(chat, re).getByRole('button', { name: title, exact: true });
    const answer = this.page.waitForResponse((r) => r.request().method() === 'POST' && r.url().endsWith('/_conversation/v1/invoke'));
    await button.click();
    const r = await answer;
    return { status: r.status(), body: await r.text() };
  }

  // shot saves the last message of chat matching re as name.png, once the
  // UI shows it: its header and card, cut to the card's width (a channel
  // post spans the pane).
  async shot(name, caption, chat, re) {
    await this.openChat(chat);
    const m = this.message(chat, re);
    await m.waitFor();
    await m.scrollIntoViewIfNeeded();
    await this.page.waitForTimeout(300); // let the card finish laying out
    const box = await m.boundingBox();
    const card = m.locator('[id^="__ac-"]').first();
    const inner = (await card.count()) > 0 ? await card.boundingBox() : null;
    const right = inner ? Math.min(box.x + box.width, inner.x + inner.width + 16) : box.x + box.width;
    await this.page.screenshot({ path: path.join(this.dir, `${name}.png`), clip: { x: box.x, y: box.y, width: right - box.x, height: box.height } });
    this.shots.push({ name, caption });
  }

  // writeIndex writes README.md in the directory: each image and its caption.
  writeIndex() {
    const lines = ['# The end-to-end flow in the Agents Playground', '',
      'Saved by the end-to-end test (`e2e/playground.test.js`) from the Agents Playground\'s web UI in headless',
      'Chromium, while it runs `jitbot demo`: Riley Responder types and clicks in the UI, Alex Approver approves',
      'through the Playground\'s JSON route (the UI is signed in as Riley only). Times are those of the run, in UTC.',
      'The notices under each card ("Full width control is not supported …") are the Playground\'s own.',
      '', 'Regenerate (needs Debian\'s `chromium`):', '', '```sh',
      'cd e2e && npm ci && npm run screenshots:playground', '```', ''];
    for (const s of this.shots) lines.push(`## ${s.caption}`, '', `![${s.name}](${s.name}.png)`, '');
    fs.writeFileSync(path.join(this.dir, 'README.md'), lines.join('\n'));
  }

  async close() {
    try { await this.context.close(); } catch { /* already gone */ }
    fs.rmSync(this.profile, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- the test

test('jitbot demo: request, approve in the channel, status, I\'m done, expiry (Agents Playground)', { timeout: BUILD_TIMEOUT_MS + 5 * 60_000 }, async (t) => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'jitbot-e2e-'));
  const procs = [];
  let stream;
  let ui;
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
    if (SCREENSHOTS_DIR) {
      ui = await PlaygroundUi.open(base, SCREENSHOTS_DIR, t);
    }
    const GENERAL = `${config.teams[0].name} - ${general.name}`;
    const shot = async (name, caption, chat, re) => { if (ui) await ui.shot(name, caption, chat, re); };

    // What the test does, as Riley (the Playground's current user) or as Alex.
    const say = async (text) => {
      const r = ui ? await ui.say(text) : await postJSON(`${base}/_conversation/v1/conversations/${encodeURIComponent(personalChat)}/messages`, {
        text, textFormat: 'plain', from: { id: riley.id },
      });
      note(`say ${JSON.stringify(text)}`, r);
      assert.equal(r.status, 200, `sending ${JSON.stringify(text)}: ${r.body}`);
    };
    // click presses an Action.Execute button of a message, as `who`; the
    // answer is the card that replaces the clicked one. With the UI open,
    // Riley's clicks go through it (the button titled action.title on the
    // last message of uiChat matching uiText).
    const click = async (what, { action, conversation, messageId, who, uiChat, uiText }) => {
      let r;
      if (ui && who === riley) {
        r = await ui.click(uiChat, uiText, action.title);
        try { r.json = JSON.parse(r.body); } catch { r.json = undefined; }
      } else {
        r = await postJSON(`${base}/_conversation/v1/invoke`, {
          name: 'adaptiveCard/action',
          value: { action: { type: 'Action.Execute', id: action.id, verb: action.verb, data: action.data }, trigger: 'manual' },
          conversation: { id: conversation },
          replyToId: messageId,
          from: { id: who.id },
        });
      }
      note(`click ${what}`, r);
      assert.equal(r.status, 200, `${what} failed: ${r.body}`);
      assert.equal(r.json && r.json.type, CARD, `${what}: the invoke response is a card: ${r.body}`);
      return r.json.value;
    };
    // seen waits for a bot message (createMessage/updateMessage) pushed
    // after the stream had `mark` events.
    const seen = (what, mark, pred, timeoutMs = STEP_TIMEOUT_MS) => waitFor(what, () => {
      const e = stream.events.slice(mark).find((x) => x.message && pred(x));
      if (e) note(what, e);
      return e;
    }, timeoutMs, procs);
    const toRiley = (re) => (e) => e.action === 'createMessage' && e.actionConversationId === personalChat &&
      re.test(shownText(e.message));
    const cardUpdate = (cardId, re) => (e) => e.action === 'updateMessage' && e.message.messageId === cardId &&
      re.test(shownText(e.message));
    const releaseOf = (card, requestId) => executeActions(card).find((a) =>
      a.verb === VERB_RELEASE && a.data && a.data[DATA_REQUEST_ID] === requestId);

    // viewers checks each viewer's own card of a pending request: the
    // refresh invoke a client in refresh.userIds sends. The demo's
    // requester may approve their own request (and cancel it); Dana, in no
    // approver group, sees it read-only, and her Approve is refused (and
    // audited) with her read-only card saying why.
    const dana = config.users.find((u) => u.name === 'Dana Security');
    const buttonsOf = (c) => executeActions(c).map((a) => a.verb).filter((v) => v !== 'refresh');
    const viewers = async (card, approve, message) => {
      assert.ok(card.refresh && card.refresh.action.verb === 'refresh', 'the card has a refresh action');
      assert.deepEqual(card.refresh.userIds, [riley.id, alex.id], 'refresh.userIds: the requester, then the approvers in the team');
      const invoke = (verb, data, userId, trigger) => postJSON(`${base}/_conversation/v1/invoke`, {
        name: 'adaptiveCard/action',
        value: { action: { type: 'Action.Execute', verb, data }, trigger },
        conversation: { id: message.postConversationId },
        replyToId: message.messageId,
        from: { id: userId },
      });
      for (const [who, userId, want] of [['Riley', riley.id, ['approve', 'deny', 'cancelRequest']], ['Alex', alex.id, ['approve', 'deny']], ['Dana', dana.id, []]]) {
        const r = await invoke('refresh', card.refresh.action.data, userId, 'automatic');
        note(`refresh as ${who}`, r);
        assert.equal(r.json && r.json.type, CARD, `refresh as ${who} answers a card: ${r.body}`);
        assert.deepEqual(buttonsOf(r.json.value), want, `${who}'s buttons`);
        assert.match(JSON.stringify(r.json.value), /Pending/, `${who}'s card shows the state`);
      }
      const refused = await invoke('approve', approve.data, dana.id, 'manual');
      note('Approve as Dana', refused);
      assert.equal(refused.json && refused.json.type, CARD, `a refused click answers a card: ${refused.body}`);
      assert.deepEqual(buttonsOf(refused.json.value), [], "Dana's card has no buttons");
      assert.match(JSON.stringify(refused.json.value), /not an approver for demo/, 'the card says why');
    };

    // requestApproved: Riley asks in the personal chat, the approval card
    // arrives in the General channel, Alex Approver approves it there, and
    // Riley gets the "access granted" card with its I'm done button.
    const requestApproved = async (text, label) => {
      const mark = stream.events.length;
      await say(text);
      const approval = await seen(`${label}: the approval card in the General channel`, mark, (e) =>
        e.action === 'createMessage' && e.actionConversationId === channel &&
        executeActions(cardOf(e.message)).some((a) => a.verb === 'approve'));
      const card = cardOf(approval.message);
      const verbs = executeActions(card).map((a) => a.verb);
      assert.ok(verbs.includes('approve') && verbs.includes('deny'), `card actions: ${verbs}`);
      const approve = executeActions(card).find((a) => a.verb === 'approve');
      const requestId = approve.data && approve.data[DATA_REQUEST_ID];
      assert.ok(requestId, 'the Approve action carries data.requestId');
      assert.ok(approval.message.postConversationId, 'the card opened a thread (postConversationId)');
      assert.match(shownText(approval.message), /Riley Responder/, 'the card names the requester');
      assert.match(shownText(approval.message), /Pending/, 'the card says the request is pending');
      await viewers(card, approve, approval.message);
      await seen(`${label}: "sent to the approvers" in the personal chat`, mark, toRiley(/sent to (the )?approvers/i));
      await shot(`${label}-1-request-sent`, `${label}: Riley's "request sent to approvers" card in the personal chat`, PERSONAL_CHAT, new RegExp(`Request sent to approvers[\\s\\S]*${requestId}`));
      await shot(`${label}-2-approval-pending`, `${label}: the approval card in the General channel, pending`, GENERAL, new RegExp(`Pending[\\s\\S]*${requestId}`));

      const cardId = approval.message.messageId;
      const decided = await click(`${label}: Approve (Alex Approver)`, {
        action: approve, conversation: approval.message.postConversationId, messageId: cardId, who: alex,
      });
      assert.match(shownText({ attachments: [{ content: decided }] }), /Approved by Alex Approver|Active until/,
        `the card after Approve: ${JSON.stringify(decided)}`);
      assert.ok(!executeActions(decided).some((a) => a.verb === 'approve'), 'no Approve button after approval');
      await shot(`${label}-3-approval-active`, `${label}: the approval card once Alex Approver approved: active`, GENERAL, new RegExp(`Active until[\\s\\S]*${requestId}`));

      const granted = await seen(`${label}: "Access granted" in the personal chat`, mark, (e) =>
        toRiley(/access granted/i)(e) && releaseOf(cardOf(e.message), requestId));
      await shot(`${label}-4-granted`, `${label}: Riley's "access granted" card, with I'm done`, PERSONAL_CHAT, new RegExp(`Access granted[\\s\\S]*${requestId}`));
      return { requestId, cardId, granted, mark };
    };

    // 4. Done early: request, approve, `status`, I'm done.
    const early = await requestApproved(RELEASE_REQUEST, 'release');

    let mark = stream.events.length;
    await say('status');
    const status = await seen('the status card in the personal chat', mark, (e) =>
      toRiley(/Your access/)(e) && shownText(e.message).includes(early.requestId));
    const statusCard = cardOf(status.message);
    assert.ok(statusCard, `status answers with a card: ${JSON.stringify(status.message)}`);
    assert.match(shownText(status.message), /Active access[\s\S]*demo[\s\S]*Active until/,
      'the status card lists the grant under Active access, with its expiry');
    const statusRelease = releaseOf(statusCard, early.requestId);
    await shot('release-5-status', 'release: `status` in the personal chat', PERSONAL_CHAT, new RegExp(`Your access[\\s\\S]*${early.requestId}`));
    assert.ok(statusRelease, `the status card has an I'm done button (verb ${VERB_RELEASE}, data.${DATA_REQUEST_ID} ${early.requestId})`);
    const done = { action: statusRelease, messageId: status.message.messageId, what: "I'm done on the status card",
      uiText: new RegExp(`Your access[\\s\\S]*${early.requestId}`), after: /Your access/ };

    // 5. I'm done: the pressed card no longer offers it, Riley is told the
    // access ended, and the approval card shows it was released.
    mark = stream.events.length;
    const after = await click(done.what, {
      action: done.action, conversation: personalChat, messageId: done.messageId, who: riley, uiChat: PERSONAL_CHAT, uiText: done.uiText,
    });
    assert.ok(!releaseOf(after, early.requestId), `no I'm done button after pressing it: ${JSON.stringify(after)}`);
    assert.match(shownText({ attachments: [{ content: after }] }), /Your access/,
      `the status card answers the click, refreshed: ${JSON.stringify(after)}`);
    await seen('"has ended, as you asked" in the personal chat', mark, toRiley(/Your access to\s+demo\s+has ended, as you asked/));
    await seen('the approval card updated to released', mark, cardUpdate(early.cardId, /Released early by the requester/));
    await shot('release-6-done', 'release: the card Riley pressed I\'m done on, as it stands after', PERSONAL_CHAT, done.after);
    await shot('release-7-ended', 'release: the notice that the access ended', PERSONAL_CHAT, /has ended, as you asked/);
    await shot('release-8-approval-released', 'release: the approval card, released early', GENERAL, new RegExp(`Released early[\\s\\S]*${early.requestId}`));

    // 6. Expiry: a second grant that runs out on its own.
    const short = await requestApproved(EXPIRY_REQUEST, 'expiry');
    mark = short.mark; // from the request on: the screenshots may take a while
    await seen('"has ended" (expired) in the personal chat', mark,
      toRiley(/Your temporary access to\s+demo\s+has ended\.\s+You were removed from its group/), EXPIRY_TIMEOUT_MS);
    const expired = await seen('the approval card updated to expired', mark, cardUpdate(short.cardId, /Expired at/));
    assert.equal(expired.actionConversationId, channel, 'the update is for the card in the General channel');
    assert.ok(!executeActions(cardOf(expired.message)).some((a) => a.verb === 'approve'), 'no Approve button on the expired card');
    await shot('expiry-5-ended', 'expiry: the notice that the access ended', PERSONAL_CHAT, /temporary access to demo has ended/);
    await shot('expiry-6-approval-expired', 'expiry: the approval card, expired', GENERAL, new RegExp(`Expired at[\\s\\S]*${short.requestId}`));

    // Nothing went wrong in the bot's replies (the Playground rejects bad activities with 4xx).
    for (const p of procs) p.assertRunning();
    if (ui) ui.writeIndex();
    if (process.env.E2E_VERBOSE) console.error(report());
  } catch (err) {
    console.error(report());
    throw err;
  } finally {
    if (ui) await ui.close();
    if (stream) stream.close();
    await Promise.all(procs.map((p) => p.stop()));
    if (!process.env.E2E_KEEP_TMP) fs.rmSync(tmp, { recursive: true, force: true });
    else t.diagnostic(`kept ${tmp}`);
  }
});
