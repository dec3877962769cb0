import { createHash } from 'node:crypto';
import type { ConnectionStatus, ServiceState, ServiceStatus } from '../interfaces/service-status.interface.js';
import type { DashboardRun, DashboardUnitHistory } from './dashboard-history.js';
import type { DashboardSnapshot } from './dashboard-snapshot.js';
import { previewJson } from './dashboard-dead-letters.js';
import { html, raw, type SafeHtml } from './html.js';

/** What the page needs besides the snapshot. */
export interface PageContext {
  title: string;
  /** The page's own URL path (routes of the JSON and of actions hang below it). */
  basePath: string;
  readOnly: boolean;
  refreshMs: number;
}

export const ACTION_HEADER = 'X-Hosting-Dashboard';

const STYLE = `
:root{--bg:#f4f6f9;--card:#fff;--ink:#1d2433;--muted:#66708a;--line:#e3e7ee;--accent:#3558d6;
--ok:#1f8a4c;--ok-bg:#e3f5ea;--run:#1f62d6;--run-bg:#e4edfd;--warn:#a15c00;--warn-bg:#fff1dc;--bad:#c0262d;--bad-bg:#fde6e7;--idle:#55607a;--idle-bg:#edf0f5}
*{box-sizing:border-box}body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif}
header{background:#1d2433;color:#fff;padding:14px 28px;display:flex;align-items:center;gap:14px;flex-wrap:wrap}
header h1{font-size:18px;margin:0;font-weight:600;letter-spacing:.2px}header .meta{color:#aeb7cc;font-size:12.5px}
header .spacer{flex:1}header a{color:#cdd6ff;font-size:12.5px}
#refresh-status{font-size:12px;padding:2px 8px;border-radius:10px;background:#2c3547;color:#aeb7cc}
#refresh-status.live::before{content:"";display:inline-block;width:7px;height:7px;border-radius:50%;background:#3ecf78;margin-right:6px;vertical-align:1px}
#refresh-status.offline{background:#5a1d22;color:#ffc9cc}
main{padding:22px 28px 40px;max-width:1500px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:12px;margin-bottom:20px}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:12px 14px}
.card .label{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.5px}.card .value{font-size:24px;font-weight:600;margin-top:2px}
.card.bad .value{color:var(--bad)}.card.ok .value{color:var(--ok)}
.table-wrap{overflow-x:auto;background:var(--card);border:1px solid var(--line);border-radius:8px}
table{width:100%;min-width:1080px;border-collapse:separate;border-spacing:0}
th:first-child,td:first-child{position:sticky;left:0;z-index:1;background:var(--card);box-shadow:inset -1px 0 var(--line)}th:first-child{background:#fafbfd}
th,td{text-align:left;padding:9px 10px;border-bottom:1px solid var(--line);vertical-align:top}
th{background:#fafbfd;color:var(--muted);font-weight:600;font-size:12px;text-transform:uppercase;letter-spacing:.4px;white-space:nowrap}
tr:last-child td{border-bottom:0}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}th.num{text-align:right}
.name{font-weight:600;overflow-wrap:break-word}.sub{color:var(--muted);font-size:12px}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;white-space:nowrap}
.state-running,.host-running{background:var(--run-bg);color:var(--run)}.state-idle{background:var(--ok-bg);color:var(--ok)}
.state-starting,.state-stopping,.host-starting,.host-stopping,.paused{background:var(--warn-bg);color:var(--warn)}
.state-stopped,.state-disabled{background:var(--idle-bg);color:var(--idle)}.state-faulted{background:var(--bad-bg);color:var(--bad)}
.kind{background:var(--idle-bg);color:var(--idle);font-weight:500}
.conns{margin-top:4px;display:flex;flex-wrap:wrap;gap:3px}.conn{font-weight:500;font-size:11px}
.conn-up{background:var(--ok-bg);color:var(--ok)}.conn-connecting{background:var(--warn-bg);color:var(--warn)}.conn-down{background:var(--bad-bg);color:var(--bad)}
.conn-error{color:var(--bad);max-width:260px;overflow-wrap:break-word}
.fail{color:var(--bad);font-weight:600}time{white-space:nowrap}
details summary{cursor:pointer;color:var(--bad);max-width:240px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
details pre{white-space:pre-wrap;word-break:break-word;background:#fbf5f5;border:1px solid #f1d5d7;border-radius:6px;padding:8px;font-size:12px;max-width:560px;max-height:260px;overflow:auto}
button{font:inherit;font-size:12px;padding:3px 9px;border:1px solid var(--line);border-radius:6px;background:#fff;color:var(--accent);cursor:pointer;margin:0 4px 4px 0}
button:hover{border-color:var(--accent)}button:disabled{opacity:.5;cursor:wait}
.empty{padding:28px;text-align:center;color:var(--muted)}footer{color:var(--muted);font-size:12px;margin-top:14px}
td.actions{white-space:nowrap}
tr[hidden]{display:none}
.late{background:var(--warn-bg);color:var(--warn);border:1px solid #f0c98a}
tr.is-late td,tr.is-late td:first-child{background:#fffaf1}tr.is-late td:first-child{box-shadow:inset 3px 0 var(--warn),inset -1px 0 var(--line)}
tr.has-history{cursor:pointer}tr.has-history:hover td{background:#f8faff}tr.has-history.is-late:hover td{background:#fff5e6}
.charts{display:flex;flex-direction:column;gap:4px;min-width:140px}
.chart{display:flex;align-items:center;gap:6px;color:var(--muted);font-size:11px;line-height:1.2;white-space:nowrap}
.chart .caption{width:34px;flex:none}.chart svg{display:block;overflow:visible;flex:none}
.spark polyline{fill:none;stroke:var(--accent);stroke-width:1.5;stroke-linejoin:round;stroke-linecap:round}
.spark .base{stroke:var(--line);stroke-width:1}
.spark-lateness polyline{stroke:var(--warn)}.spark-depth polyline{stroke:#7a4fd1}.spark-throughput polyline{stroke:var(--ok)}
.spark circle{fill:var(--accent)}.spark circle.fail{fill:var(--bad)}
button.history-toggle{display:block;margin:-4px -6px;padding:3px 5px;border-color:transparent;background:none;color:var(--muted);text-align:left}
button.history-toggle:hover{border-color:var(--line);background:#fff}button.history-toggle[aria-expanded="true"]{border-color:var(--accent);background:#fff}
tr.drawer td,tr.drawer td:first-child{position:static;box-shadow:none;background:#fbfcfe;padding:0;border-bottom:1px solid var(--line)}
.drawer-body{position:sticky;left:0;max-width:min(960px,calc(100vw - 60px));padding:10px 14px 12px}
.drawer-body h2{font-size:13px;margin:0 0 6px;font-weight:600}.drawer-body .due{color:var(--warn);margin:0 0 6px;font-size:12.5px}
ol.runs{list-style:none;margin:0;padding:0;max-height:320px;overflow:auto;border:1px solid var(--line);border-radius:6px;background:#fff}
ol.runs li{display:grid;grid-template-columns:250px 70px 64px 84px minmax(0,1fr);gap:4px 12px;padding:4px 10px;border-bottom:1px solid var(--line);font-size:12.5px;align-items:baseline}
ol.runs li:last-child{border-bottom:0}ol.runs .num{text-align:right;font-variant-numeric:tabular-nums}
.outcome-success{background:var(--ok-bg);color:var(--ok)}.outcome-failure{background:var(--bad-bg);color:var(--bad)}.outcome-cancelled{background:var(--idle-bg);color:var(--idle)}
.run-error{color:var(--bad);overflow-wrap:anywhere;white-space:pre-wrap}
.limited{background:var(--warn-bg);color:var(--warn)}
button.dl-toggle{display:inline-block;margin:4px 0 0;color:var(--bad);background:var(--bad-bg);border-color:#f1d5d7;font-weight:600}
button.dl-toggle:hover,button.dl-toggle[aria-expanded="true"]{border-color:var(--bad)}
button.danger{color:var(--bad)}button.danger:hover{border-color:var(--bad)}
ul.progress{list-style:none;margin:4px 0 0;padding:0;font-size:12px}
ul.progress li{display:flex;align-items:center;justify-content:flex-end;gap:6px;margin-top:2px}
ul.progress li button{margin:0;flex:none}ul.progress progress{width:64px;height:8px}
.progress-id{color:var(--muted);max-width:110px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.progress-json{font:11.5px ui-monospace,SFMono-Regular,Menlo,monospace;color:var(--ink);max-width:150px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.dl-head{display:flex;flex-wrap:wrap;align-items:center;gap:4px 10px;margin-bottom:6px}.dl-head h2{margin:0}.dl-head .spacer{flex:1}.dl-head button{margin:0}
.dl-status{margin:0 0 6px}.dl-status:empty{display:none}
ol.dead-letters{list-style:none;margin:0;padding:0;max-height:420px;overflow:auto;border:1px solid var(--line);border-radius:6px;background:#fff}
ol.dead-letters li{padding:6px 10px;border-bottom:1px solid var(--line);font-size:12.5px}ol.dead-letters li:last-child{border-bottom:0}
.dl-line{display:flex;flex-wrap:wrap;align-items:baseline;gap:2px 12px}.dl-id{font-weight:600;overflow-wrap:anywhere}
.dl-data,.dl-stack{margin:4px 0 0;white-space:pre-wrap;word-break:break-all;background:#f7f8fb;border:1px solid var(--line);border-radius:4px;padding:4px 6px;font:11.5px/1.4 ui-monospace,SFMono-Regular,Menlo,monospace;max-height:96px;overflow:auto}
.dl-buttons{margin-top:5px}.dl-pager{display:flex;gap:6px;margin-top:6px}.dl-pager button{margin:0}
@media (max-width:640px){
header{padding:12px 14px;gap:8px 12px}main{padding:14px 12px 28px}
.cards{grid-template-columns:repeat(2,minmax(0,1fr));gap:8px;margin-bottom:14px}.card{padding:10px 12px}.card .value{font-size:20px}
.table-wrap{overflow:visible;background:none;border:0;border-radius:0}
table,tbody{display:block;width:100%;min-width:0}thead{display:none}
tr{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);background:var(--card);border:1px solid var(--line);border-radius:8px;margin-bottom:10px;overflow:hidden}
td,td.num,tr:last-child td{display:block;text-align:left;white-space:normal;padding:5px 12px;border:0;overflow-wrap:anywhere}
td::before{content:attr(data-label);display:block;color:var(--muted);font-size:10.5px;font-weight:600;text-transform:uppercase;letter-spacing:.4px}
td:first-child,td[data-label="Last error"],td[data-label="Recent"],td.actions,tr.drawer td{grid-column:1/-1}
td:first-child{position:static;padding:9px 12px;margin-bottom:4px;background:#fafbfd;box-shadow:none;border-bottom:1px solid var(--line)}td:first-child::before{content:none}
td.actions{white-space:normal;margin-top:4px;padding:8px 12px 4px;border-top:1px solid var(--line)}
tr td:last-child{padding-bottom:9px}
details summary,details pre,.conn-error{max-width:100%}
.charts{flex-direction:row;flex-wrap:wrap;gap:6px 16px}
tr.drawer{margin-top:-10px;border-top:0;border-radius:0 0 8px 8px}tr.drawer td::before{content:none}tr.drawer td:first-child{margin:0;border:0}
.drawer-body{position:static;max-width:100%;padding:8px 12px 10px}
ol.runs li{grid-template-columns:minmax(0,1fr) auto auto;gap:2px 8px}ol.runs .run-error,ol.runs .run-when{grid-column:1/-1}
td[data-label="Queue"]:has(ul.progress){grid-column:1/-1}ul.progress li{justify-content:flex-start}.progress-json{min-width:0;max-width:none;flex:0 1 auto}
.badge.limited{white-space:normal}ol.dead-letters{max-height:none}
}
`;

/** Dead letters the page lists at a time. */
const DEAD_LETTER_PAGE = 20;

// Constant (settings come from data attributes), so that the Content-Security-Policy can pin its hash.
const SCRIPT = `(() => {
  const body = document.body;
  const refreshMs = Number(body.dataset.refreshMs) || 2000;
  const indicator = document.getElementById('refresh-status');
  let timer;
  const schedule = () => { clearTimeout(timer); timer = setTimeout(refresh, refreshMs); };
  // A unit's run-history drawer (found by data attribute, never by a selector built from its name).
  const drawerOf = (root, name) => [...root.querySelectorAll('tr[data-drawer]')].find((d) => d.dataset.drawer === name);
  const setDrawer = (root, name, open) => {
    const drawer = drawerOf(root, name);
    if (!drawer) return;
    drawer.hidden = !open;
    root.querySelectorAll('button[data-drawer-toggle]').forEach((b) => { if (b.dataset.drawerToggle === name) b.setAttribute('aria-expanded', String(open)); });
  };
  const toggleDrawer = (name) => { const drawer = drawerOf(document, name); if (drawer) setDrawer(document, name, drawer.hidden); };
  const post = (url, payload) =>
    fetch(url, { method: 'POST', headers: { '${ACTION_HEADER}': '1', 'Content-Type': 'application/json' }, body: JSON.stringify(payload) });
  // A queue's dead letters: a drawer filled from dead-letters.json a page at a time, as text (textContent, never markup).
  const PAGE = ${DEAD_LETTER_PAGE};
  const canAct = body.dataset.actions === 'on';
  const queueUrl = (name, rest) => body.dataset.base + '/queues/' + encodeURIComponent(name) + '/' + rest;
  const dlDrawerOf = (root, name) => [...root.querySelectorAll('tr[data-dl-drawer]')].find((d) => d.dataset.dlDrawer === name);
  const setDlDrawer = (root, name, open) => {
    const drawer = dlDrawerOf(root, name);
    if (!drawer) return undefined;
    drawer.hidden = !open;
    root.querySelectorAll('button[data-dl-toggle]').forEach((b) => { if (b.dataset.dlToggle === name) b.setAttribute('aria-expanded', String(open)); });
    return drawer;
  };
  const element = (tag, className, text) => {
    const e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const dlStatus = (name, text) => { const drawer = dlDrawerOf(document, name); if (drawer) drawer.querySelector('[data-dl-status]').textContent = text; };
  const dlButton = (action, label, id) => {
    const button = element('button', action === 'discard' ? 'danger' : '', label);
    button.type = 'button';
    button.dataset.dlAction = action;
    button.dataset.dlId = id;
    return button;
  };
  const deadLetterItem = (item) => {
    const li = element('li', 'dead-letter');
    li.dataset.dlId = item.id;
    const line = element('div', 'dl-line');
    const at = element('time', 'sub', String(item.failedAt).replace('T', ' ').slice(0, 19) + ' UTC');
    at.dateTime = item.failedAt;
    line.append(element('span', 'dl-id', item.id), element('span', 'badge kind', item.attempts + (item.attempts === 1 ? ' try' : ' tries')), at);
    const name = item.error.name && item.error.name !== 'Error' ? item.error.name + ': ' : '';
    li.append(line, element('div', 'run-error dl-error', name + item.error.message));
    if (item.error.stack) li.append(element('pre', 'dl-stack', item.error.stack));
    li.append(element('pre', 'dl-data', item.data + (item.dataTruncated ? ' …' : '')));
    if (canAct) {
      const buttons = element('div', 'dl-buttons');
      buttons.append(dlButton('redrive', 'Redrive', item.id), dlButton('discard', 'Discard', item.id));
      li.append(buttons);
    }
    return li;
  };
  const showDeadLetters = (drawer, page) => {
    drawer.dataset.offset = String(page.offset);
    drawer.dataset.loaded = String(page.total);
    const items = page.items.map(deadLetterItem);
    drawer.querySelector('[data-dl-list]').replaceChildren(...(items.length ? items : [element('li', 'sub dl-empty', page.total ? 'No dead letters on this page.' : 'No dead letters.')]));
    drawer.querySelector('[data-dl-range]').textContent = page.items.length
      ? (page.offset + 1) + '–' + (page.offset + page.items.length) + ' of ' + page.total + ', newest first'
      : page.total + ' in all';
    drawer.querySelector('[data-dl-page="newer"]').disabled = page.offset === 0;
    drawer.querySelector('[data-dl-page="older"]').disabled = page.offset + page.items.length >= page.total;
    drawer.querySelectorAll('button[data-dl-all]').forEach((b) => (b.disabled = page.total === 0));
  };
  async function loadDeadLetters(name, offset) {
    try {
      const response = await fetch(queueUrl(name, 'dead-letters.json?offset=' + offset + '&limit=' + PAGE), { cache: 'no-store' });
      const page = await response.json();
      if (!response.ok) throw new Error(page.message || 'HTTP ' + response.status);
      // Past the end (the last ones went meanwhile): the last page there is.
      if (page.items.length === 0 && page.total > 0 && offset > 0) return loadDeadLetters(name, Math.floor((page.total - 1) / PAGE) * PAGE);
      const drawer = dlDrawerOf(document, name); // a refresh may have replaced it meanwhile
      if (drawer) showDeadLetters(drawer, page);
    } catch (error) {
      dlStatus(name, 'Could not load the dead letters: ' + error.message);
    }
  }
  const toggleDeadLetters = (name) => {
    const drawer = dlDrawerOf(document, name);
    if (!drawer) return;
    const open = drawer.hidden;
    setDlDrawer(document, name, open);
    if (open) loadDeadLetters(name, Number(drawer.dataset.offset) || 0);
  };
  async function deadLetterAction(button) {
    const name = button.closest('tr[data-dl-drawer]').dataset.dlDrawer;
    const action = button.dataset.dlAction;
    const id = button.dataset.dlId;
    const verb = action === 'redrive' ? 'Redrive' : 'Discard';
    if (id === undefined) {
      const count = dlDrawerOf(document, name).dataset.loaded || '';
      const question = verb + ' all ' + count + ' dead letter' + (count === '1' ? '' : 's') + ' of ' + name + '?';
      if (!confirm(question + (action === 'discard' ? ' They cannot be brought back.' : ''))) return;
    }
    button.disabled = true;
    try {
      const response = await post(queueUrl(name, 'dead-letters/' + action), id === undefined ? {} : { id });
      const result = await response.json();
      if (!response.ok) throw new Error(result.message || 'HTTP ' + response.status);
      dlStatus(name, (action === 'redrive' ? 'Redriven: ' : 'Discarded: ') + result.count);
    } catch (error) {
      dlStatus(name, verb + ' failed: ' + error.message);
    }
    await loadDeadLetters(name, Number(dlDrawerOf(document, name).dataset.offset) || 0);
    refresh();
  }
  async function refresh() {
    try {
      const response = await fetch(location.href, { headers: { Accept: 'text/html' }, cache: 'no-store' });
      if (!response.ok) throw new Error('HTTP ' + response.status);
      const next = new DOMParser().parseFromString(await response.text(), 'text/html').querySelector('main');
      if (!next) throw new Error('no <main> in the response');
      const open = new Set([...document.querySelectorAll('details[open]')].map((d) => d.dataset.key));
      next.querySelectorAll('details').forEach((d) => { if (open.has(d.dataset.key)) d.open = true; });
      [...document.querySelectorAll('tr[data-drawer]')].filter((d) => !d.hidden).forEach((d) => setDrawer(next, d.dataset.drawer, true));
      // Open dead-letter drawers stay open with their list as shown; reloaded when the count changed.
      const reload = [];
      [...document.querySelectorAll('tr[data-dl-drawer]')].filter((d) => !d.hidden).forEach((old) => {
        const fresh = setDlDrawer(next, old.dataset.dlDrawer, true);
        if (!fresh) return;
        fresh.dataset.offset = old.dataset.offset || '0';
        if (old.dataset.loaded !== undefined) fresh.dataset.loaded = old.dataset.loaded;
        fresh.querySelector('td').replaceChildren(...old.querySelector('td').childNodes);
        if (fresh.dataset.dlCount !== old.dataset.loaded) reload.push(fresh);
      });
      document.querySelector('main').replaceWith(document.adoptNode(next));
      reload.forEach((d) => loadDeadLetters(d.dataset.dlDrawer, Number(d.dataset.offset)));
      indicator.textContent = 'live';
      indicator.className = 'live';
      body.dataset.refreshes = String(Number(body.dataset.refreshes || 0) + 1);
    } catch (error) {
      indicator.textContent = 'offline: ' + error.message;
      indicator.className = 'offline';
    }
    schedule();
  }
  document.addEventListener('click', async (event) => {
    const toggle = event.target.closest('button[data-drawer-toggle]');
    if (toggle) return toggleDrawer(toggle.dataset.drawerToggle);
    const dlToggle = event.target.closest('button[data-dl-toggle]');
    if (dlToggle) return toggleDeadLetters(dlToggle.dataset.dlToggle);
    const dlDrawer = event.target.closest('tr[data-dl-drawer]');
    const dlClose = event.target.closest('button[data-dl-close]');
    if (dlClose) return setDlDrawer(document, dlDrawer.dataset.dlDrawer, false);
    const pager = event.target.closest('button[data-dl-page]');
    if (pager) {
      const offset = Number(dlDrawer.dataset.offset) || 0;
      return loadDeadLetters(dlDrawer.dataset.dlDrawer, pager.dataset.dlPage === 'older' ? offset + PAGE : Math.max(0, offset - PAGE));
    }
    const dlAction = event.target.closest('button[data-dl-action]');
    if (dlAction) return deadLetterAction(dlAction);
    const cancel = event.target.closest('button[data-cancel-id]');
    if (cancel) {
      cancel.disabled = true;
      try { await post(queueUrl(cancel.dataset.name, 'cancel'), { id: cancel.dataset.cancelId }); } finally { refresh(); }
      return;
    }
    const button = event.target.closest('button[data-action]');
    if (!button) {
      const row = event.target.closest('tr.has-history');
      if (row && !event.target.closest('a, button, details') && !String(getSelection() || '')) toggleDrawer(row.dataset.service);
      return;
    }
    button.disabled = true;
    const url = body.dataset.base + '/services/' + encodeURIComponent(button.dataset.name) + '/' + button.dataset.action;
    try { await fetch(url, { method: 'POST', headers: { '${ACTION_HEADER}': '1' } }); } finally { refresh(); }
  });
  schedule();
})();`;

const hash = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

/** The page's Content-Security-Policy: only its own script and style run, it talks only to its origin. */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  `script-src ${hash(SCRIPT)}`,
  `style-src ${hash(STYLE)}`,
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** The whole HTML page; every value from the registry is escaped by the `html` tag. */
export function renderDashboardPage(snapshot: DashboardSnapshot, page: PageContext): string {
  const now = snapshot.generatedAt.getTime();
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>${page.title} · hosted services</title>
<noscript><meta http-equiv="refresh" content="${Math.max(1, Math.round(page.refreshMs / 1000))}"></noscript>
<style>${raw(STYLE)}</style>
</head>
<body data-refresh-ms="${page.refreshMs}" data-base="${page.basePath}"${page.readOnly ? '' : html` data-actions="on"`}>
<header>
  <h1>${page.title}</h1>
  <span class="meta">hosted services · pid ${snapshot.host.pid}</span>
  <span class="spacer"></span>
  <a href="${page.basePath}/status.json">status.json</a>
  <span id="refresh-status" class="live">live</span>
</header>
${renderMain(snapshot, page, now)}
<script>${raw(SCRIPT)}</script>
</body>
</html>
`.value;
}

function renderMain(snapshot: DashboardSnapshot, page: PageContext, now: number): SafeHtml {
  const { services, host } = snapshot;
  const count = (predicate: (s: ServiceStatus) => boolean) => services.filter(predicate).length;
  const faulted = count((s) => s.state === 'faulted');
  const queued = services.reduce((sum, s) => sum + (s.depth ?? 0), 0);
  const inFlight = services.reduce((sum, s) => sum + (s.kind === 'queue' ? s.inFlight ?? 0 : 0), 0);
  const failures = services.reduce((sum, s) => sum + s.failures, 0);
  const history = snapshot.history;
  const columns = 11 + (history ? 1 : 0) + (page.readOnly ? 0 : 1);
  return html`<main>
  <section class="cards">
    <div class="card"><div class="label">Host</div><div class="value"><span class="badge host-${host.state}">${host.state}</span></div><div class="sub">up ${duration(host.uptimeMs)}</div></div>
    <div class="card"><div class="label">Services</div><div class="value">${services.length}</div></div>
    <div class="card"><div class="label">Running now</div><div class="value" data-count="running">${count((s) => shownState(s) === 'running')}</div></div>
    <div class="card ${faulted ? 'bad' : 'ok'}"><div class="label">Faulted</div><div class="value">${faulted}</div></div>
    <div class="card"><div class="label">Queued / in flight</div><div class="value">${queued} / ${inFlight}</div></div>
    <div class="card ${failures ? 'bad' : ''}"><div class="label">Failures</div><div class="value">${failures}</div></div>
  </section>
  ${
    services.length === 0
      ? html`<div class="empty">No hosted services registered.</div>`
      : html`<div class="table-wrap"><table>
    <thead><tr>
      <th>Service</th><th>Kind</th><th>State</th><th class="num">Runs</th><th class="num">Failures</th>
      <th>Last run</th><th class="num">Duration</th>${history ? html`<th>Recent</th>` : ''}<th>Next run</th><th class="num">Queue</th><th>Last error</th>${page.readOnly ? '' : html`<th>Actions</th>`}
    </tr></thead>
    <tbody>${services.map((s) => renderRow(s, page, now, host.state, history && (history[s.name] ?? { runs: [] }), columns))}</tbody>
  </table></div>`
  }
  <footer>Updated <time datetime="${snapshot.generatedAt.toISOString()}">${snapshot.generatedAt.toISOString().replace('T', ' ').slice(0, 19)} UTC</time>${page.readOnly ? ' · read-only' : ''}</footer>
</main>`;
}

/**
 * The state the page shows: the registry's, except that a started queue with no item in flight is
 * `idle` (as a periodic task between ticks), so that "Running now" counts only units at work.
 */
function shownState(s: ServiceStatus): ServiceState {
  return s.kind === 'queue' && s.state === 'running' && !s.inFlight ? 'idle' : s.state;
}

// Each cell carries its column's heading (`data-label`): at phone widths the rows become cards
// and the heading is written before the value.
function renderRow(
  s: ServiceStatus,
  page: PageContext,
  now: number,
  host: DashboardSnapshot['host']['state'],
  history: DashboardUnitHistory | undefined,
  columns: number,
): SafeHtml {
  const state = shownState(s);
  const rowClass = [history ? 'has-history' : '', s.late ? 'is-late' : ''].filter(Boolean).join(' ');
  return html`<tr data-service="${s.name}"${rowClass ? html` class="${rowClass}"` : ''}>
      <td data-label="Service"><div class="name">${s.name}</div>${s.schedule ? html`<div class="sub" title="${s.schedule}">${schedule(s.schedule)}</div>` : ''}${s.backend ? html`<div class="sub">${s.backend}</div>` : ''}</td>
      <td data-label="Kind"><span class="badge kind">${s.kind}</span></td>
      <td data-label="State"><span class="badge state-${state}"${state === s.state ? '' : html` title="started; no item in flight"`}>${state}</span>${s.paused ? html` <span class="badge paused">paused</span>` : ''}${s.late ? html` <span class="badge late" title="${lateTitle(s)}">late</span>` : ''}${rateLimited(s, now)}${connections(s.connections, now)}</td>
      <td data-label="Runs" class="num">${s.runs}${s.missedTicks ? html`<div class="sub">${s.missedTicks} missed</div>` : ''}</td>
      <td data-label="Failures" class="num">${s.failures ? html`<span class="fail">${s.failures}</span>` : '0'}${s.consecutiveFailures > 1 ? html`<div class="sub">${s.consecutiveFailures} in a row</div>` : ''}</td>
      <td data-label="Last run">${when(s.lastStartedAt, now)}</td>
      <td data-label="Duration" class="num">${s.lastDurationMs === undefined ? '—' : duration(s.lastDurationMs)}</td>
      ${history ? html`<td data-label="Recent"><button type="button" class="history-toggle" data-drawer-toggle="${s.name}" aria-expanded="false" title="History: the last ${s.kind === 'queue' ? 'deliveries' : 'runs'}, with their errors">${charts(s, history)}</button></td>` : ''}
      <td data-label="Next run">${s.nextRunAt ? when(s.nextRunAt, now) : '—'}</td>
      <td data-label="Queue" class="num">${s.kind === 'queue' ? queueCell(s, page) : '—'}</td>
      <td data-label="Last error">${
        s.lastError
          ? html`<details data-key="${s.name}"><summary title="${s.lastError.message}">${s.lastError.message}</summary><pre>${s.lastError.stack ?? s.lastError.message}</pre><div class="sub">${when(s.lastError.at, now)}</div></details>`
          : '—'
      }</td>${page.readOnly ? '' : html`<td class="actions" data-label="Actions">${actions(s, host)}</td>`}
    </tr>${history ? drawer(s, history, now, columns) : ''}${s.kind === 'queue' && s.deadLetters !== undefined ? deadLetterDrawer(s, page, columns) : ''}`;
}

/** "rate limited until 12:34:56" (UTC) while a queue's deliveries wait for its limiter or a `RateLimitedError`. */
function rateLimited(s: ServiceStatus, now: number): SafeHtml | string {
  const until = s.rateLimitedUntil;
  if (!until || until.getTime() <= now) return '';
  const iso = until.toISOString();
  return html` <span class="badge limited" data-rate-limited="${iso}" title="deliveries wait until ${iso} (${relative(until.getTime() - now)})">rate limited until ${iso.slice(11, 19)}</span>`;
}

/** A queue's counts; its dead letters (a button opening their drawer) and cancelled items when any; its items' progress. */
function queueCell(s: ServiceStatus, page: PageContext): SafeHtml {
  const dead = s.deadLetters ?? 0;
  return html`${s.depth ?? 0} queued<div class="sub">${s.inFlight ?? 0} in flight${s.processed === undefined ? '' : ` · ${s.processed} done`}</div>${
    s.cancelled ? html`<div class="sub" data-cancelled="${s.cancelled}">${s.cancelled} cancelled</div>` : ''
  }${
    dead
      ? html`<button type="button" class="dl-toggle" data-dl-toggle="${s.name}" aria-expanded="false" title="Items that failed their last try: list, redrive, discard">${dead} dead letter${dead === 1 ? '' : 's'}</button>`
      : ''
  }${s.progress?.length ? html`<ul class="progress">${s.progress.map((p) => progressItem(s.name, p, page.readOnly))}</ul>` : ''}`;
}

const MAX_SHOWN_ID = 24;

/** A running item's progress: a bar for a number from 0 to 100, the number for another, JSON (cut) for an object. */
function progressItem(queue: string, p: NonNullable<ServiceStatus['progress']>[number], readOnly: boolean): SafeHtml {
  const id = p.id.length > MAX_SHOWN_ID ? `${p.id.slice(0, MAX_SHOWN_ID - 1)}…` : p.id;
  let value: SafeHtml;
  if (typeof p.value === 'number') {
    const shown = String(Math.round(p.value * 10) / 10);
    value =
      p.value >= 0 && p.value <= 100
        ? html`<progress max="100" value="${p.value}">${shown}%</progress><span class="num">${shown}%</span>`
        : html`<span class="num">${shown}</span>`;
  } else {
    const full = previewJson(p.value, 1_000);
    const short = previewJson(p.value, 80);
    value = html`<code class="progress-json" title="${full.text}${full.truncated ? '…' : ''}">${short.text}${short.truncated ? '…' : ''}</code>`;
  }
  const cancel = readOnly ? '' : html`<button type="button" class="danger" data-cancel-id="${p.id}" data-name="${queue}" title="Cancel item ${p.id}: its signal aborts">Cancel</button>`;
  return html`<li data-progress-id="${p.id}"><span class="progress-id" title="item ${p.id}, try ${p.attempt}">${id}</span>${value}${cancel}</li>`;
}

/** A queue's dead-letter drawer (hidden until opened): the page's script fills it from `dead-letters.json`. */
function deadLetterDrawer(s: ServiceStatus, page: PageContext, columns: number): SafeHtml {
  const all = page.readOnly
    ? ''
    : html`<button type="button" data-dl-action="redrive" data-dl-all>Redrive all</button><button type="button" class="danger" data-dl-action="discard" data-dl-all>Discard all</button>`;
  return html`<tr class="drawer dl-drawer" data-dl-drawer="${s.name}" data-dl-count="${s.deadLetters ?? 0}" hidden><td colspan="${columns}"><div class="drawer-body">
    <div class="dl-head"><h2>Dead letters of ${s.name}</h2><span class="sub" data-dl-range>loading…</span><span class="spacer"></span>${all}<button type="button" data-dl-close>Close</button></div>
    <p class="sub dl-status" data-dl-status role="status"></p>
    <ol class="dead-letters" data-dl-list></ol>
    <div class="dl-pager"><button type="button" data-dl-page="newer" disabled>Newer</button><button type="button" data-dl-page="older" disabled>Older</button></div>
  </div></td></tr>`;
}

/** "due by …; last succeeded …": when a late task should have succeeded by, and when it last did. */
function lateTitle(s: ServiceStatus): string {
  const due = s.dueBy ? `due by ${s.dueBy.toISOString()}` : 'overdue';
  return `${due}; last succeeded ${s.lastSucceededAt ? s.lastSucceededAt.toISOString() : 'never'}`;
}

const CHART_WIDTH = 100;
const CHART_HEIGHT = 18;

/**
 * A sparkline: one point per value, from the left edge to the right, on a scale from 0 to the
 * largest value (drawn here, as inline SVG: no script or library, nothing the CSP has to allow).
 * `marked`: indexes drawn as red dots (failed runs).
 */
function sparkline(chart: string, caption: string, values: readonly number[], describe: string, marked: ReadonlySet<number> = new Set()): SafeHtml | string {
  if (values.length === 0) return '';
  const max = Math.max(...values, 0);
  const x = (i: number) => round(values.length === 1 ? CHART_WIDTH : (i * CHART_WIDTH) / (values.length - 1));
  const y = (v: number) => round(max > 0 ? CHART_HEIGHT - 1 - (Math.max(0, v) / max) * (CHART_HEIGHT - 2) : CHART_HEIGHT - 1);
  const points = values.map((v, i) => `${x(i)},${y(v)}`).join(' ');
  const dots = [...marked].map((i) => html`<circle class="fail" cx="${x(i)}" cy="${y(values[i]!)}" r="2.5"/>`);
  return html`<span class="chart"><span class="caption">${caption}</span><svg class="spark spark-${chart}" data-chart="${chart}" width="${CHART_WIDTH}" height="${CHART_HEIGHT}" viewBox="0 0 ${CHART_WIDTH} ${CHART_HEIGHT}" role="img" aria-label="${describe}"><title>${describe}</title><line class="base" x1="0" y1="${CHART_HEIGHT - 0.5}" x2="${CHART_WIDTH}" y2="${CHART_HEIGHT - 0.5}"/><polyline points="${points}"/>${values.length === 1 ? html`<circle cx="${x(0)}" cy="${y(values[0]!)}" r="2"/>` : ''}${dots}</svg></span>`;
}

const round = (n: number) => Math.round(n * 10) / 10;

/** "last 12 ms · max 80 ms over 50 runs". */
const summary = (values: readonly number[], unit: (n: number) => string, over: string) =>
  `last ${unit(values[values.length - 1]!)} · max ${unit(Math.max(...values))} over ${values.length} ${over}`;

/** The unit's charts: duration and lateness of its runs (tasks, services), throughput and depth over time (queues). */
function charts(s: ServiceStatus, history: DashboardUnitHistory): SafeHtml {
  const runs = history.runs;
  if (s.kind === 'queue') {
    const samples = history.samples ?? [];
    const throughput = samples.slice(1).map((sample, i) => Math.max(0, sample.processed - samples[i]!.processed));
    const depth = samples.map((sample) => sample.depth);
    const interval = samples.length > 1 ? duration(Date.parse(samples[1]!.at) - Date.parse(samples[0]!.at), true) : '';
    const content = html`${sparkline('throughput', 'done', throughput, throughput.length ? summary(throughput, String, `samples (items done per ${interval})`) : '')}${sparkline('depth', 'depth', depth, depth.length ? summary(depth, String, 'samples (items waiting)') : '')}`;
    return html`<span class="charts">${content.value ? content : html`<span class="sub">no samples yet</span>`}</span>`;
  }
  // A background service's run is recorded when `execute` returns (or throws): a running one has none yet.
  if (runs.length === 0) return html`<span class="charts"><span class="sub">${s.kind === 'background' ? 'no run ended yet' : 'no runs yet'}</span></span>`;
  const durations = runs.map((run) => run.durationMs);
  const failed = new Set(runs.flatMap((run, i) => (run.outcome === 'failure' ? [i] : [])));
  const late = runs.flatMap((run) => (run.latenessMs === undefined ? [] : [Math.max(0, run.latenessMs)]));
  const ms = (n: number) => duration(n);
  return html`<span class="charts">${sparkline('duration', 'time', durations, summary(durations, ms, 'runs') + (failed.size ? ` · ${failed.size} failed (red)` : ''), failed)}${
    s.kind === 'periodic' ? sparkline('lateness', 'late', late, late.length ? summary(late, ms, 'scheduled ticks') : '') : ''
  }</span>`;
}

/** The run-history drawer below a unit's row: its last runs, newest first, with their errors (hidden until opened). */
function drawer(s: ServiceStatus, history: DashboardUnitHistory, now: number, columns: number): SafeHtml {
  const runs = history.runs;
  const noun = s.kind === 'queue' ? 'deliveries' : 'runs';
  return html`<tr class="drawer" data-drawer="${s.name}" hidden><td colspan="${columns}"><div class="drawer-body">
    <h2>Last ${runs.length} ${noun} of ${s.name}</h2>
    ${s.late ? html`<p class="due">Late: ${lateTitle(s)}.</p>` : s.dueBy ? html`<p class="sub">Due by ${s.dueBy.toISOString()}</p>` : ''}
    ${runs.length === 0 ? html`<p class="sub">No ${noun} recorded yet.</p>` : html`<ol class="runs">${[...runs].reverse().map((run) => runItem(run, now))}</ol>`}
  </div></td></tr>`;
}

function runItem(run: DashboardRun, now: number): SafeHtml {
  return html`<li class="run" data-outcome="${run.outcome}"><span class="run-when">${when(new Date(run.startedAt), now)} <span class="sub">${run.startedAt.replace('T', ' ').slice(0, 19)}</span></span><span class="num" title="duration">${duration(run.durationMs)}</span><span class="num sub" title="late by">${
    run.latenessMs === undefined ? '' : `+${duration(Math.max(0, run.latenessMs))}`
  }</span><span><span class="badge outcome-${run.outcome}">${run.outcome}</span></span>${run.error === undefined ? html`<span></span>` : html`<span class="run-error">${run.error}</span>`}</li>`;
}

/** A badge per connection to Redis (green up, amber connecting, red down), and the error of each one down. */
function connections(list: ConnectionStatus[] | undefined, now: number): SafeHtml | string {
  if (!list?.length) return '';
  const since = (c: ConnectionStatus) => {
    const at = new Date(c.since);
    return Number.isNaN(at.getTime()) ? '' : ` since ${at.toISOString()} (${relative(at.getTime() - now)})`;
  };
  return html`<div class="conns">${list.map(
    (c) => html`<span class="badge conn conn-${c.state}" data-connection="${c.name}" title="${c.name}: ${c.state}${since(c)}">${c.name} ${c.state}</span>`,
  )}</div>${list
    .filter((c) => c.state === 'down' && c.lastError)
    .map((c) => html`<div class="sub conn-error" data-connection-error="${c.name}">${c.name}: ${c.lastError}</div>`)}`;
}

function actions(s: ServiceStatus, host: DashboardSnapshot['host']['state']): SafeHtml {
  const button = (action: string, label: string) => html`<button type="button" data-action="${action}" data-name="${s.name}">${label}</button>`;
  // A unit turned off in this process takes no action (the registry refuses them).
  if (s.state === 'disabled' && s.kind !== 'queue') return html`—`;
  // HostingRegistry.restart takes a faulted service while the host runs (it refuses the others).
  if (s.kind === 'background') return s.state === 'faulted' && host === 'running' ? button('restart', 'Restart') : html`—`;
  return html`${s.kind === 'periodic' ? button('trigger', 'Run now') : ''}${s.paused ? button('resume', 'Resume') : button('pause', 'Pause')}`;
}

/** `<time>` with a relative label ("12 s ago", "in 3 min") and the exact instant as its title. */
function when(date: Date | undefined, now: number): SafeHtml | string {
  if (!date) return '—';
  const iso = date.toISOString();
  return html`<time datetime="${iso}" title="${iso}">${relative(date.getTime() - now)}</time>`;
}

/** "just now", "12 s ago", "in 3 min". */
function relative(delta: number): string {
  return Math.abs(delta) < 1_000 ? 'just now' : delta < 0 ? `${duration(-delta, true)} ago` : `in ${duration(delta, true)}`;
}

/** `every 3600000 ms` reads `every 1 h`; cron expressions stay as written. */
function schedule(text: string): string {
  const every = /^every (\d+) ms$/.exec(text);
  if (!every) return text;
  const ms = Number(every[1]);
  const units: Array<[number, string]> = [[86_400_000, 'd'], [3_600_000, 'h'], [60_000, 'min'], [1_000, 's']];
  const [size, unit] = units.find(([size]) => ms % size === 0) ?? [1, 'ms'];
  return `every ${ms / size} ${unit}`;
}

/** `850 ms`, `4.2 s`, `3 min 20 s`, `5 h 12 min`, `2 d 3 h`. */
export function duration(ms: number, coarse = false): string {
  if (ms < 1_000) return coarse ? '1 s' : `${Math.round(ms)} ms`;
  if (ms < 60_000) return coarse || ms >= 10_000 ? `${Math.round(ms / 1000)} s` : `${(ms / 1000).toFixed(1)} s`;
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 60) return `${minutes} min ${Math.round((ms % 60_000) / 1000)} s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours} h ${minutes % 60} min`;
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}
