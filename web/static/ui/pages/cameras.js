// Cameras (staff): every camera with its partner pseudonym, sharing and recording state;
// `/cameras/<id>` shows one camera's details with links to its recordings. Administrators
// find ONVIF cameras (WS-Discovery on a named interface, or one address) and enrol cameras on
// a partner's behalf here.

import { api, can } from '../api.js';
import { h, pageTitle, table, refill, utc, field, form } from '../dom.js';
import { enrollForm } from '../enroll.js';
import { placeSection } from '../register.js';

/** Where a camera is, as far as the caller may see: its address, or its position. */
const where = (c) => c.address || (c.lat !== null && c.lat !== undefined ? `${c.lat.toFixed(5)}, ${c.lon.toFixed(5)}` : '');

export async function render(ctx) {
  if (ctx.rest) return detail(ctx, Number(ctx.rest));
  const render = (c) => {
    const hl = c.health || {};
    return [h('a', { href: `/cameras/${c.id}` }, c.name), c.partner, where(c), c.sharing,
      h('td', { class: hl.state || '' }, c.paused ? 'paused by partner' : hl.state || (c.sharing === 'registry' ? 'registry only' : 'not recording')),
      hl.fps ?? '', hl.last_error || ''];
  };
  const list = table('cameras', ['Camera', 'Partner', 'Where', 'Sharing', 'State', 'fps', 'Last error'], await api('GET', '/api/cameras'), render, 'No camera is enrolled.');
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
    const enrol = enrollForm({ partners, onDone: async (cam) => { done.textContent = `${cam.name} enrolled.`; await refresh(false); } });
    if (can('partners.manage')) ctx.view.append(discovery(enrol));
    ctx.view.append(h('section', { 'aria-labelledby': 'enroll-title' }, h('h2', { id: 'enroll-title' }, 'Enroll a camera for a partner'), enrol, done));
    const place = await placeSection(() => [], () => refresh(false), { partners });
    ctx.view.append(place.section);
    place.shown();
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
    ['Partner', c.partner], ['Where', where(c) || '—'], ['Kind', c.kind || '—'], ['View', c.view ? `facing ${c.view.bearing_deg}°, ${c.view.fov_deg}° wide, ${c.view.range_m} m` : '—'], ['Source', c.source], ['Sharing', c.sharing],
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

/**
 * Finding ONVIF cameras: WS-Discovery on the interface the administrator names (never every
 * interface: partner networks are shared with equipment the recorder must not talk to), or a
 * probe of one address. A found camera's address can be put into the enrolment form.
 */
function discovery(enrol) {
  const results = h('div', { id: 'discovered', 'aria-live': 'polite' });
  const f = form({ id: 'discover-form', class: 'inline' }, [
    h('fieldset', { class: 'how' }, h('legend', {}, 'Where to look'),
      ['interface', 'unicast'].map((v) => h('div', { class: 'pick' },
        h('input', { type: 'radio', name: 'mode', id: `dm-${v}`, value: v, checked: v === 'interface' }),
        h('label', { for: `dm-${v}` }, v === 'interface' ? 'On a network interface (multicast)' : 'At one address (unicast)')))),
    field('Interface name or address', h('input', { name: 'target', id: 'dm-target', required: true }), 'e.g. eth1, or 192.0.2.10'),
  ], async (v) => {
    results.replaceChildren(h('p', { role: 'status' }, h('progress', { 'aria-label': 'Listening for cameras' }), ' Listening for answers (3 s)…'));
    let found;
    try {
      found = await api('POST', '/api/onvif/discover', { [v.mode]: v.target.trim() });
    } catch (e) {
      results.replaceChildren();
      throw e;
    }
    const use = (d) => {
      const addr = d.xaddrs.map((x) => { try { return new URL(x); } catch (_) { return null; } }).find((u) => u && !u.hostname.startsWith('['));
      if (!addr) return '';
      const hostPort = addr.port ? `${addr.hostname}:${addr.port}` : addr.hostname;
      return h('button', { type: 'button', onclick: () => {
        enrol.querySelector('#how-onvif').click();
        enrol.querySelector('#en-onvif').value = hostPort;
        enrol.querySelector('#en-name').focus();
      } }, `Enroll ${d.name || hostPort}`);
    };
    results.replaceChildren(h('p', { role: 'status' }, `${found.length} camera${found.length === 1 ? '' : 's'} answered.`),
      table('discovered-list', ['Name', 'Location', 'Hardware', 'Addresses', 'Answered from', ''], found,
        (d) => [d.name || '', d.location || '', d.hardware || '', d.xaddrs.join(' '), d.from || '', h('td', {}, use(d))], 'No camera answered.'));
  }, 'Search');
  return h('section', { 'aria-labelledby': 'discover-title' }, h('h2', { id: 'discover-title' }, 'Find ONVIF cameras'), f, results);
}
