#!/usr/bin/env node
'use strict';

// screenshots renders every golden card in cards/testdata with Microsoft's
// Adaptive Cards renderer (npm adaptivecards, the version cardcheck pins) in
// headless Chromium, with a Teams-like light host config, and writes one PNG
// per card, named after its golden file, plus docs/cards/README.md, the index
// (each image with one line on the state it shows, from card-states.json).
//
// Usage (in e2e/, after npm ci):  npm run screenshots
//        node screenshots.js [--cards DIR] [--out DIR] [--chromium PATH]
// Defaults: ../cards/testdata, ../docs/cards, $CHROMIUM or /usr/bin/chromium
// (Debian's chromium; playwright-core downloads no browser).
//
// The images are regenerated from whatever golden files exist: PNGs of golden
// files that are gone are removed, and a golden file without a line in
// card-states.json is still rendered and listed, with a warning; a card the
// renderer cannot parse gets no image, is left out of the index, and makes
// the script exit 1.
// DATE/TIME functions are rendered by the renderer itself, in en-US and UTC,
// so the images do not depend on the machine's locale or zone.
// Exit status: 1 when a card failed to parse or render, 2 on bad usage.

const fs = require('node:fs');
const path = require('node:path');

const HERE = __dirname;
const STATES_FILE = path.join(HERE, 'card-states.json');
const WIDTH = 540; // the card's width in CSS pixels (the PNG adds the margin)
const MARGIN = 12;

// Text colours of Teams' light theme, on every container style.
const FOREGROUND = {
  default: { default: '#242424', subtle: '#616161' },
  dark: { default: '#242424', subtle: '#616161' },
  light: { default: '#FFFFFF', subtle: '#F0F0F0' },
  accent: { default: '#5B5FC7', subtle: '#7F85F5' },
  good: { default: '#0E700E', subtle: '#107C10' },
  warning: { default: '#835B00', subtle: '#8A6A00' },
  attention: { default: '#C4314B', subtle: '#D13438' },
};

// Teams' light theme, approximately: Teams' font and sizes, its text colours,
// spacing and actions. Fonts fall back to what the machine has.
const HOST_CONFIG = {
  supportsInteractivity: true,
  fontTypes: {
    default: {
      fontFamily: "'Segoe UI', 'Liberation Sans', 'DejaVu Sans', sans-serif",
      fontSizes: { small: 12, default: 14, medium: 14, large: 18, extraLarge: 24 },
      fontWeights: { lighter: 200, default: 400, bolder: 600 },
    },
    monospace: {
      fontFamily: "Consolas, 'Liberation Mono', 'DejaVu Sans Mono', monospace",
      fontSizes: { small: 12, default: 14, medium: 14, large: 18, extraLarge: 24 },
      fontWeights: { lighter: 200, default: 400, bolder: 600 },
    },
  },
  spacing: { small: 8, default: 12, medium: 16, large: 20, extraLarge: 24, padding: 16 },
  separator: { lineThickness: 1, lineColor: '#E0E0E0' },
  imageSizes: { small: 32, medium: 52, large: 100 },
  containerStyles: {
    default: {
      backgroundColor: '#FFFFFF',
      foregroundColors: FOREGROUND,
    },
    emphasis: {
      backgroundColor: '#F5F5F5',
      foregroundColors: FOREGROUND,
    },
    accent: { backgroundColor: '#E8EBFA', foregroundColors: FOREGROUND },
    good: { backgroundColor: '#E7F2DA', foregroundColors: FOREGROUND },
    warning: { backgroundColor: '#FBF6D9', foregroundColors: FOREGROUND },
    attention: { backgroundColor: '#FCF4F6', foregroundColors: FOREGROUND },
  },
  actions: {
    maxActions: 6,
    spacing: 'default',
    buttonSpacing: 8,
    showCard: { actionMode: 'inline', inlineTopMargin: 16 },
    actionsOrientation: 'horizontal',
    actionAlignment: 'left',
  },
  adaptiveCard: { allowCustomStyle: true },
  imageSet: { imageSize: 'medium', maxImageHeight: 100 },
  factSet: {
    title: { color: 'default', size: 'default', isSubtle: false, weight: 'bolder', wrap: true, maxWidth: 150 },
    value: { color: 'default', size: 'default', isSubtle: false, weight: 'default', wrap: true },
    spacing: 12,
  },
  inputs: {
    label: {
      requiredInputs: { weight: 'bolder', suffix: ' *', suffixColor: 'attention' },
      optionalInputs: { weight: 'bolder' },
    },
    errorMessage: { size: 'small', color: 'attention' },
  },
  textBlock: { headingLevel: 2 },
};

// What the renderer leaves to the host: Teams' buttons, inputs and card frame.
const CSS = `
  html, body { margin: 0; padding: 0; background: #F5F5F5; }
  #frame { display: inline-block; padding: ${MARGIN}px; }
  #host { width: ${WIDTH}px; background: #FFFFFF; border: 1px solid #E0E0E0; border-radius: 6px;
          box-shadow: 0 1px 2px rgba(0,0,0,0.14); overflow: hidden; }
  .ac-pushButton { font-family: 'Segoe UI', 'Liberation Sans', 'DejaVu Sans', sans-serif; font-size: 14px; font-weight: 600; color: #242424; background: #FFFFFF;
                   border: 1px solid #D1D1D1; border-radius: 4px; min-height: 32px; padding: 4px 12px;
                   cursor: pointer; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
  .ac-pushButton.style-positive { background: #5B5FC7; border-color: #5B5FC7; color: #FFFFFF; }
  .ac-pushButton.style-destructive { color: #C4314B; border-color: #C4314B; }
  .ac-input { font-family: 'Segoe UI', 'Liberation Sans', 'DejaVu Sans', sans-serif; font-size: 14px; color: #242424; box-sizing: border-box; }
  .ac-textInput, .ac-numberInput, .ac-dateInput, .ac-timeInput, .ac-multichoiceInput {
    background: #FFFFFF; border: 1px solid #D1D1D1; border-bottom-color: #616161; border-radius: 4px;
    padding: 5px 8px; min-height: 32px; width: 100%; }
  .ac-textInput.ac-multiline { min-height: 64px; resize: none; }
  .ac-input-container { width: 100%; }
  .ac-choiceSetInput-expanded label, .ac-choiceSetInput-multiSelect label { font-size: 14px; color: #242424; }
  .ac-textBlock p, .ac-richTextBlock p { margin: 0; }
  .ac-textBlock ul, .ac-textBlock ol { margin: 0; padding-left: 20px; }
  .ac-textBlock a, .ac-textRun a { color: #5B5FC7; }
`;

function usage(msg) {
  console.error(`screenshots: ${msg}\nusage: node screenshots.js [--cards DIR] [--out DIR] [--chromium PATH]`);
  process.exit(2);
}

function parseArgs(argv) {
  const opts = {
    cards: path.join(HERE, '..', 'cards', 'testdata'),
    out: path.join(HERE, '..', 'docs', 'cards'),
    chromium: process.env.CHROMIUM || '/usr/bin/chromium',
  };
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i].replace(/^--/, '');
    if (!['cards', 'out', 'chromium'].includes(key) || i + 1 >= argv.length) usage(`unknown or incomplete argument ${argv[i]}`);
    opts[key] = path.resolve(argv[++i]);
  }
  return opts;
}

// The sections of the index, by the golden file's name; the first match wins.
const SECTIONS = [
  { title: 'Approval card (approvers\' channel)', match: (n) => n.startsWith('approval_') },
  { title: 'Requester\'s cards (personal chat)', match: (n) => /^(submitted|granted|notice|feedback|expiry|extended)/.test(n) },
  { title: 'Commands', match: (n) => /^(form|profiles|status|audit|help)/.test(n) },
  { title: 'Security alerts (security channel)', match: (n) => n.startsWith('alert_') },
  { title: 'Other cards', match: () => true },
];

// order lists the names as the index shows them: by section, then in the
// order of card-states.json, then the undescribed ones by name.
function order(names, states) {
  const known = Object.keys(states);
  const rank = (n) => (known.includes(n) ? known.indexOf(n) : known.length);
  const out = [];
  for (const s of SECTIONS) {
    const mine = names.filter((n) => s.match(n) && !out.some((o) => o.names.includes(n)));
    mine.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
    if (mine.length > 0) out.push({ title: s.title, names: mine });
  }
  return out;
}

function writeIndex(outDir, sections, states, playgroundShots) {
  const lines = [
    '# What users see: every card state',
    '',
    'Each image is a golden card of `cards/testdata/` (the JSON the bot sends, checked by `go test ./cards`),',
    'rendered by Microsoft\'s Adaptive Cards renderer (npm `adaptivecards`, as pinned in `e2e/package-lock.json`)',
    'in headless Chromium with a Teams-like light host config; DATE/TIME functions are rendered in en-US, UTC.',
    'Teams itself draws the same card with its own fonts and chrome, so details (font, button shape) differ.',
    'The golden cards use fixed example data (Jane Doe asks for `prod-db`; Alex Approver decides).',
    '',
    'Regenerate after changing a card (needs Debian\'s `chromium`: `apt-get install -y chromium`):',
    '',
    '```sh',
    'go test ./cards -update          # the golden files, when a card changed',
    'cd e2e && npm ci && npm run screenshots',
    '```',
    '',
    'The script renders whatever golden files exist, removes the images of those that are gone, and takes the',
    'line under each heading from `e2e/card-states.json` (add one there for a new golden file).',
    '',
  ];
  if (playgroundShots.length > 0) {
    lines.push('The end-to-end flow as the Agents Playground shows it is under [playground/](playground/README.md).', '');
  }
  for (const s of sections) {
    lines.push(`## ${s.title}`, '');
    for (const n of s.names) {
      lines.push(`### ${n}`, '', states[n] || '(not described yet: add a line for it to `e2e/card-states.json`)', '',
        `![${n}](${n}.png)`, '');
    }
  }
  fs.writeFileSync(path.join(outDir, 'README.md'), lines.join('\n'));
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const { chromium } = require('playwright-core');
  const states = JSON.parse(fs.readFileSync(STATES_FILE, 'utf8'));
  const names = fs.readdirSync(opts.cards).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5)).sort();
  if (names.length === 0) usage(`no .json files in ${opts.cards}`);
  if (!fs.existsSync(opts.chromium)) usage(`no browser at ${opts.chromium} (apt-get install -y chromium, or --chromium PATH)`);
  fs.mkdirSync(opts.out, { recursive: true });

  const browser = await chromium.launch({ executablePath: opts.chromium, args: BROWSER_ARGS });
  let failed = 0;
  const rendered = [];
  try {
    const context = await browser.newContext({
      locale: 'en-US', timezoneId: 'UTC', deviceScaleFactor: 1, viewport: { width: WIDTH + 2 * MARGIN + 40, height: 800 },
    });
    const page = await context.newPage();
    await page.setContent(`<!doctype html><html><head><meta charset="utf-8"><style>${CSS}</style></head>
      <body><div id="frame"><div id="host"></div></div></body></html>`);
    await page.addScriptTag({ path: require.resolve('markdown-it/dist/markdown-it.min.js') });
    await page.addScriptTag({ path: require.resolve('adaptivecards/dist/adaptivecards.min.js') });
    await page.evaluate((hostConfig) => {
      const md = window.markdownit({ html: false, linkify: false, breaks: true });
      window.AdaptiveCards.AdaptiveCard.onProcessMarkdown = (text, result) => {
        result.outputHtml = md.render(text);
        result.didProcess = true;
      };
      window.jitbotHostConfig = new window.AdaptiveCards.HostConfig(hostConfig);
    }, HOST_CONFIG);

    for (const name of names) {
      let json;
      try {
        json = JSON.parse(fs.readFileSync(path.join(opts.cards, `${name}.json`), 'utf8'));
      } catch (err) {
        console.error(`${name}: not JSON: ${err.message}`);
        failed++;
        fs.rmSync(path.join(opts.out, `${name}.png`), { force: true });
        continue;
      }
      const problems = await page.evaluate((card) => {
        const AC = window.AdaptiveCards;
        const host = document.getElementById('host');
        host.replaceChildren();
        const ac = new AC.AdaptiveCard();
        ac.hostConfig = window.jitbotHostConfig;
        const ctx = new AC.SerializationContext(new AC.Version(1, 5));
        ac.parse(card, ctx);
        const out = [];
        for (let i = 0; i < ctx.eventCount; i++) out.push(ctx.getEventAt(i).message);
        const el = ac.render();
        if (!el) return [...out, 'render() returned nothing'];
        host.appendChild(el);
        // A DATE/TIME function the renderer left as written would show as code.
        if (/\{\{(DATE|TIME)\(/.test(host.innerText)) out.push('a DATE/TIME function was not rendered');
        return out;
      }, json);
      if (problems.length > 0) {
        for (const p of problems) console.error(`${name}: ${p}`);
        failed++;
        fs.rmSync(path.join(opts.out, `${name}.png`), { force: true }); // no image of an older card
        continue;
      }
      await page.evaluate(() => document.fonts.ready);
      await page.locator('#frame').screenshot({ path: path.join(opts.out, `${name}.png`) });
      rendered.push(name);
    }
  } finally {
    await browser.close();
  }

  // Images of golden files that are gone.
  for (const f of fs.readdirSync(opts.out)) {
    if (f.endsWith('.png') && !names.includes(f.slice(0, -4))) {
      fs.rmSync(path.join(opts.out, f));
      console.log(`removed ${f} (no golden file)`);
    }
  }
  const undescribed = rendered.filter((n) => !states[n]);
  for (const n of undescribed) console.error(`warning: ${n} has no line in e2e/card-states.json`);
  const playgroundDir = path.join(opts.out, 'playground');
  const playgroundShots = fs.existsSync(playgroundDir) ? fs.readdirSync(playgroundDir).filter((f) => f.endsWith('.png')) : [];
  writeIndex(opts.out, order(rendered, states), states, playgroundShots);
  console.log(`screenshots: ${names.length - failed} passed, ${failed} failed`);
  return failed > 0 ? 1 : 0;
}

// Debian's chromium, headless and offline, as the shared notes describe.
const BROWSER_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

if (require.main === module) {
  main().then((code) => { process.exitCode = code; }, (err) => {
    console.error(`screenshots: ${err.stack || err}`);
    process.exitCode = 1;
  });
}

module.exports = { BROWSER_ARGS, CSS, HOST_CONFIG };
