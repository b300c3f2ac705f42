// Cameras (staff): every camera with its partner pseudonym, sharing and recording state;
// `/cameras/<id>` shows one camera's details with links to its recordings. Administrators
// enrol cameras on a partner's behalf here.

import { api, can } from '../api.js';
import { h, pageTitle, table, refill, utc } from '../dom.js';
import { enrollForm } from '../enroll.js';

export async function render(ctx) {
  if (ctx.rest) return detail(ctx, Number(ctx.rest));
  const render = (c) => {
    const hl = c.health || {};
    return [h('a', { href: `/cameras/${c.id}` }, c.name), c.partner, c.location, c.sharing,
      h('td', { class: hl.state || '' }, c.paused ? 'paused by partner' : hl.state || (c.sharing === 'registry' ? 'registry only' : 'not recording')),
      hl.fps ?? '', hl.last_error || ''];
  };
  const list = table('cameras', ['Camera', 'Partner', 'Location', 'Sharing', 'State', 'fps', 'Last error'], await api('GET', '/api/cameras'), render, 'No camera is enrolled.');
  const filter = h('input', { type: 'search', id: 'cameras-filter', 'aria-controls': 'cameras' });
  filter.addEventListener('input', () => applyFilter());
  const applyFilter = () => {
    const q = filter.value.trim().toLowerCase();
    for (const tr of list.querySelectorAll('tbody tr')) tr.hidden = q !== '' && !tr.textContent.toLowerCase().includes(q);
  };
  ctx.view.append(pageTitle('Cameras'), h('div', { class: 'field' }, h('label', { for: filter.id }, 'Find a camera'), filter), list);
  if (can('camera.enroll')) {
    const partners = await api('GET', '/api/partners');
    const done = h('p', { role: 'status', class: 'ok' });
    ctx.view.append(h('section', { 'aria-labelledby': 'enroll-title' }, h('h2', { id: 'enroll-title' }, 'Enroll a camera for a partner'),
      enrollForm({ partners, onDone: async (cam) => { done.textContent = `${cam.name} enrolled.`; await refresh(false); } }), done));
  }
  async function refresh(background) {
    refill(list, await api('GET', '/api/cameras', undefined, { background }), render, 'No camera is enrolled.');
    applyFilter();
  }
  return { refresh };
}

async function detail(ctx, id) {
  const c = await api('GET', `/api/cameras/${id}`);
  const hl = c.health || {};
  const facts = [
    ['Partner', c.partner], ['Location', c.location || '—'], ['Source', c.source], ['Sharing', c.sharing],
    ['Keeps video', `${c.retention_days} days`], ['Privacy masks', String(c.masks)],
    ['State', c.paused ? 'paused by partner' : hl.state || 'not recording'], ['Codec', hl.codec || '—'],
    ['Frames recorded', hl.frames_recorded ?? '—'], ['Last frame', hl.last_frame_utc_us ? `${utc(hl.last_frame_utc_us)} UTC` : '—'],
    ['Clock drift', hl.drift_ms === undefined ? '—' : `${hl.drift_ms} ms`], ['Last error', hl.last_error || '—'],
  ];
  const links = [];
  if (can('video.playback') && c.sharing !== 'registry') links.push(h('a', { href: `/recordings?cameras=${c.id}` }, 'Recordings of this camera'));
  if (can('video.live') && c.sharing === 'live') links.push(h('a', { href: '/live' }, 'Live view'));
  ctx.view.append(pageTitle(`Camera ${c.name}`), h('dl', { class: 'facts', id: 'camera-facts' }, facts.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, String(v))])),
    h('p', {}, links.flatMap((a, i) => (i ? [' · ', a] : [a]))), h('p', {}, h('a', { href: '/cameras' }, 'All cameras')));
}
