import { createHash } from 'node:crypto';
import type { ConnectionStatus, ServiceState, ServiceStatus } from '../interfaces/service-status.interface.js';
import type { DashboardSnapshot } from './dashboard-snapshot.js';
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
@media (max-width:640px){
header{padding:12px 14px;gap:8px 12px}main{padding:14px 12px 28px}
.cards{grid-template-columns:repeat(2,minmax(0,1fr));gap:8px;margin-bottom:14px}.card{padding:10px 12px}.card .value{font-size:20px}
.table-wrap{overflow:visible;background:none;border:0;border-radius:0}
table,tbody{display:block;width:100%;min-width:0}thead{display:none}
tr{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);background:var(--card);border:1px solid var(--line);border-radius:8px;margin-bottom:10px;overflow:hidden}
td,td.num,tr:last-child td{display:block;text-align:left;white-space:normal;padding:5px 12px;border:0;overflow-wrap:anywhere}
td::before{content:attr(data-label);display:block;color:var(--muted);font-size:10.5px;font-weight:600;text-transform:uppercase;letter-spacing:.4px}
td:first-child,td[data-label="Last error"],td.actions{grid-column:1/-1}
td:first-child{position:static;padding:9px 12px;margin-bottom:4px;background:#fafbfd;box-shadow:none;border-bottom:1px solid var(--line)}td:first-child::before{content:none}
td.actions{white-space:normal;margin-top:4px;padding:8px 12px 4px;border-top:1px solid var(--line)}
tr td:last-child{padding-bottom:9px}
details summary,details pre,.conn-error{max-width:100%}
}
`;

// Constant (settings come from data attributes), so that the Content-Security-Policy can pin its hash.
const SCRIPT = `(() => {
  const body = document.body;
  const refreshMs = Number(body.dataset.refreshMs) || 2000;
  const indicator = document.getElementById('refresh-status');
  let timer;
  const schedule = () => { clearTimeout(timer); timer = setTimeout(refresh, refreshMs); };
  async function refresh() {
    try {
      const response = await fetch(location.href, { headers: { Accept: 'text/html' }, cache: 'no-store' });
      if (!response.ok) throw new Error('HTTP ' + response.status);
      const next = new DOMParser().parseFromString(await response.text(), 'text/html').querySelector('main');
      if (!next) throw new Error('no <main> in the response');
      const open = new Set([...document.querySelectorAll('details[open]')].map((d) => d.dataset.key));
      next.querySelectorAll('details').forEach((d) => { if (open.has(d.dataset.key)) d.open = true; });
      document.querySelector('main').replaceWith(document.adoptNode(next));
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
    const button = event.target.closest('button[data-action]');
    if (!button) return;
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
<body data-refresh-ms="${page.refreshMs}" data-base="${page.basePath}">
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
      <th>Last run</th><th class="num">Duration</th><th>Next run</th><th class="num">Queue</th><th>Last error</th>${page.readOnly ? '' : html`<th>Actions</th>`}
    </tr></thead>
    <tbody>${services.map((s) => renderRow(s, page, now, host.state))}</tbody>
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
function renderRow(s: ServiceStatus, page: PageContext, now: number, host: DashboardSnapshot['host']['state']): SafeHtml {
  const state = shownState(s);
  return html`<tr data-service="${s.name}">
      <td data-label="Service"><div class="name">${s.name}</div>${s.schedule ? html`<div class="sub" title="${s.schedule}">${schedule(s.schedule)}</div>` : ''}${s.backend ? html`<div class="sub">${s.backend}</div>` : ''}</td>
      <td data-label="Kind"><span class="badge kind">${s.kind}</span></td>
      <td data-label="State"><span class="badge state-${state}"${state === s.state ? '' : html` title="started; no item in flight"`}>${state}</span>${s.paused ? html` <span class="badge paused">paused</span>` : ''}${connections(s.connections, now)}</td>
      <td data-label="Runs" class="num">${s.runs}${s.missedTicks ? html`<div class="sub">${s.missedTicks} missed</div>` : ''}</td>
      <td data-label="Failures" class="num">${s.failures ? html`<span class="fail">${s.failures}</span>` : '0'}${s.consecutiveFailures > 1 ? html`<div class="sub">${s.consecutiveFailures} in a row</div>` : ''}</td>
      <td data-label="Last run">${when(s.lastStartedAt, now)}</td>
      <td data-label="Duration" class="num">${s.lastDurationMs === undefined ? '—' : duration(s.lastDurationMs)}</td>
      <td data-label="Next run">${s.nextRunAt ? when(s.nextRunAt, now) : '—'}</td>
      <td data-label="Queue" class="num">${s.kind === 'queue' ? html`${s.depth ?? 0} queued<div class="sub">${s.inFlight ?? 0} in flight${s.processed === undefined ? '' : ` · ${s.processed} done`}</div>` : '—'}</td>
      <td data-label="Last error">${
        s.lastError
          ? html`<details data-key="${s.name}"><summary title="${s.lastError.message}">${s.lastError.message}</summary><pre>${s.lastError.stack ?? s.lastError.message}</pre><div class="sub">${when(s.lastError.at, now)}</div></details>`
          : '—'
      }</td>${page.readOnly ? '' : html`<td class="actions" data-label="Actions">${actions(s, host)}</td>`}
    </tr>`;
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
