// The web app: navigation built from what `/api/me` says the user may open (the server's
// policy decides; the app holds no copy of the rules), a router over the History API so deep
// links survive a reload and back/forward work, and a periodic refresh of the page on show.
//
// A page module exports `render(ctx)`, which fills `ctx.view` and may return
// `{ refresh(background), leave() }`. `ctx.rest` is the path below the page's own path (e.g.
// the camera id of `/cameras/3`), `ctx.query` its query string.

import { api, session } from './api.js';
import { h } from './dom.js';
import { signIn, signOut } from './session.js';

const PAGES = {
  '/live': () => import('./pages/live.js'),
  '/recordings': () => import('./pages/recordings.js'),
  '/cases': () => import('./pages/cases.js'),
  '/cameras': () => import('./pages/cameras.js'),
  '/map': () => import('./pages/map.js'),
  '/partners': () => import('./pages/partners.js'),
  '/users': () => import('./pages/users.js'),
  '/holds': () => import('./pages/holds.js'),
  '/audit': () => import('./pages/audit.js'),
  '/system': () => import('./pages/system.js'),
  '/portal/cameras': () => import('./pages/portal.js').then((m) => ({ render: m.cameras })),
  '/portal/requests': () => import('./pages/portal.js').then((m) => ({ render: m.requests })),
  '/portal/receipts': () => import('./pages/portal.js').then((m) => ({ render: m.receipts })),
  '/portal/participation': () => import('./pages/portal.js').then((m) => ({ render: m.participation })),
  '/transparency': () => import('./pages/transparency.js'),
  '/submit': () => import('./pages/submit.js'),
  '/call': () => import('./pages/call.js'),
  '/join': () => import('./pages/join.js'),
};
const PUBLIC = ['/transparency', '/submit', '/call', '/join'];

let current = null; // the shown page's { refresh, leave }
let rendering = 0;

/** The page a path belongs to: its own path, and the rest below it. */
function match(path) {
  const base = Object.keys(PAGES).filter((p) => path === p || path.startsWith(`${p}/`)).sort((a, b) => b.length - a.length)[0];
  return base ? { base, rest: path.slice(base.length + 1) } : null;
}

/** Goes to `url` (a path with optional query) inside the app. */
export function navigate(url, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  show();
}

async function show() {
  const token = ++rendering;
  shownUrl = location.pathname + location.search;
  if (current && current.leave) current.leave();
  current = null;
  const path = location.pathname;
  const m = match(path);
  const isPublic = m && PUBLIC.includes(m.base);
  if (isPublic) {
    // A public page opened from the sign-in form: the form goes away (signing in from the
    // header's link comes back to it).
    document.getElementById('login').classList.add('hidden');
    document.getElementById('enrol').classList.add('hidden');
  }
  if (!session.me && !isPublic) {
    session.me = await whoAmI();
    if (!session.me) {
      // Nobody's name or pages stay on screen while the sign-in form is.
      document.getElementById('nav').replaceChildren();
      document.getElementById('who').replaceChildren();
      session.me = await signIn();
    }
    if (token !== rendering) return;
  }
  drawChrome();
  document.getElementById('app').hidden = false;
  const allowed = session.me ? session.me.pages.map((p) => p.path) : [];
  if (path === '/') {
    const home = allowed[0];
    if (home) { navigate(home, { replace: true }); return; }
  }
  // Each render draws into its own element, so a render that is overtaken by a newer one
  // (slow API, quick clicks) never mixes its content into the page shown.
  const view = h('div');
  document.getElementById('view').replaceChildren(view);
  if (!m || (!isPublic && !allowed.includes(m.base))) {
    view.append(h('h1', { tabindex: '-1', id: 'page-title' }, 'Not available'),
      h('p', {}, m ? 'Your account cannot open this page.' : 'There is no such page.'),
      allowed[0] ? h('p', {}, h('a', { href: allowed[0] }, 'Go to your start page')) : '');
    view.querySelector('h1').focus();
    return;
  }
  const mod = await PAGES[m.base]();
  if (token !== rendering) return;
  const ctx = { view, me: session.me, rest: m.rest, query: new URLSearchParams(location.search), navigate };
  let page = null;
  try {
    page = (await mod.render(ctx)) || null;
  } catch (e) {
    // Whatever was thrown says something (an event or a bare value has no message).
    if (token === rendering) view.append(h('p', { class: 'error', role: 'alert' }, (e && e.message) || `This page could not be shown: ${String(e)}`));
  }
  if (token !== rendering) { if (page && page.leave) page.leave(); return; }
  current = page;
  const title = view.querySelector('h1');
  document.title = `${title ? title.textContent : 'VMS'} — Partner-camera VMS`;
  if (title && !view.contains(document.activeElement) && !ctx.keepFocus) title.focus();
}

async function whoAmI() {
  try {
    return await api('GET', '/api/me');
  } catch (e) {
    return null;
  }
}

/** The navigation and the signed-in user's name (or a sign-in link on public pages). */
function drawChrome() {
  const nav = document.getElementById('nav');
  const who = document.getElementById('who');
  const me = session.me;
  const path = location.pathname;
  const items = me ? me.pages : [];
  nav.replaceChildren(h('ul', {}, items.map((p) => h('li', {}, h('a', { href: p.path, 'aria-current': path === p.path || path.startsWith(`${p.path}/`) ? 'page' : false }, p.title)))));
  if (me) {
    who.replaceChildren(`${me.username} (${me.role}) `, h('button', { id: 'logout', type: 'button', onclick: async () => { if (current && current.leave) current.leave(); current = null; await signOut(); session.me = null; history.pushState(null, '', '/'); show(); } }, 'Sign out'));
  } else {
    who.replaceChildren(h('a', { href: '/' }, 'Sign in'));
  }
}

// In-app links: same-origin, not the API or a download, no modifier key.
document.addEventListener('click', (ev) => {
  const a = ev.target.closest && ev.target.closest('a[href]');
  if (!a || ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
  const url = new URL(a.href, location.href);
  if (url.hash && url.pathname === location.pathname) return; // in-page links (skip link)
  if (url.origin !== location.origin || a.hasAttribute('download') || a.target || url.pathname.startsWith('/api/') || url.pathname.startsWith('/ui/')) return;
  ev.preventDefault();
  navigate(url.pathname + url.search);
});
// Back and forward re-render; a change of the hash alone (the skip link) does not.
let shownUrl = null;
window.addEventListener('popstate', () => {
  if (location.pathname + location.search !== shownUrl) show();
});

// A session that idles out (any call answers 401): the sign-in prompt, then the same page.
let prompting = false;
session.onSignedOut = async () => {
  if (prompting || !session.me) return;
  prompting = true;
  if (current && current.leave) current.leave();
  current = null;
  session.me = null;
  session.me = await signIn('Your session has ended. Sign in again to return to this page.');
  prompting = false;
  show();
};

// The shown page's periodic refresh: one at a time; a failure is said in the header (the
// tables on show may be stale) and cleared by the next success.
let refreshing = false;
setInterval(async () => {
  const page = current;
  if (refreshing || !page || !page.refresh || !session.me) return;
  refreshing = true;
  const note = document.getElementById('refresh-status');
  try {
    await page.refresh(true);
    note.textContent = '';
  } catch (e) {
    if (page === current && e.status !== 401) note.textContent = `Could not refresh this page: ${e.message}`;
  } finally {
    refreshing = false;
  }
}, 3000);

show();
